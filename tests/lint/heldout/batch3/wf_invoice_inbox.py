"""Invoices dropped in the shared inbox folder: OCR, pull out the fields with an LLM, file them."""

import glob
import json
import os
import shutil
from pathlib import Path

import nbdurable as nd

INBOX = Path("/srv/invoices/inbox")
DONE = Path("/srv/invoices/done")
extractor = nd.ai.openai("gpt-4o-mini")

FIELDS_PROMPT = (
    "Extract vendor, invoice_number, date (YYYY-MM-DD), currency and total from this invoice text. "
    "Answer with a JSON object only.\n\n{text}"
)


def ocr(path: str) -> str:
    import pytesseract
    from pdf2image import convert_from_path

    return "\n".join(pytesseract.image_to_string(img) for img in convert_from_path(path, dpi=200))


def ocr_large(path: str) -> str:
    import pytesseract
    from pdf2image import convert_from_path

    pages = convert_from_path(path, dpi=150, first_page=1, last_page=3)
    return "\n".join(pytesseract.image_to_string(img) for img in pages)


def archive(paths: list[str]) -> int:
    for p in paths:
        shutil.move(p, DONE / os.path.basename(p))
    return len(paths)


def fields_body(text: str) -> dict:
    return {"messages": [{"role": "user", "content": FIELDS_PROMPT.format(text=text[:12000])}], "temperature": 0}


@nd.function(id="invoice-inbox")
async def invoice_inbox(ctx: nd.Context) -> list[dict]:
    files = sorted(glob.glob(str(INBOX / "*.pdf")))  # <- ND301
    results = []
    for i, path in enumerate(files):
        text = await ctx.step.run(f"ocr-{i}", ocr, path)
        resp = await ctx.step.ai.infer(f"fields-{i}", model=extractor, body=fields_body(text))
        fields = json.loads(resp["choices"][0]["message"]["content"])
        fields["file"] = os.path.basename(path)
        results.append(fields)
    print(f"{len(os.listdir(DONE))} invoices filed before this batch")
    Path("last_inbox_run.json").write_text(json.dumps(results, indent=2))
    await ctx.step.run("archive", archive, files)
    return results


@nd.function(id="invoice-inbox-named")
async def invoice_inbox_named(ctx: nd.Context) -> list[dict]:
    """Variant with readable step names on the timeline."""
    results = []
    for path in sorted(INBOX.glob("*.pdf")):  # <- ND301
        text = await ctx.step.run(f"ocr-{path.stem}", ocr, str(path))  # <- ND701
        resp = await ctx.step.ai.infer(f"fields-{path.stem}", model=extractor, body=fields_body(text))  # <- ND701
        results.append(json.loads(resp["choices"][0]["message"]["content"]))
    return results


@nd.function(id="invoice-one", trigger="invoices/uploaded")
async def invoice_one(ctx: nd.Context) -> dict:
    path = INBOX / ctx.event.data["filename"]
    size_kb = path.stat().st_size // 1024  # <- ND301
    if size_kb > 5000:
        text = await ctx.step.run(f"ocr-large-{path.stem}", ocr_large, str(path))
    else:
        text = await ctx.step.run(f"ocr-{path.stem}", ocr, str(path))
    resp = await ctx.step.ai.infer(f"fields-{path.stem}", model=extractor, body=fields_body(text))
    await ctx.step.run("archive", archive, [str(path)])
    return json.loads(resp["choices"][0]["message"]["content"])
