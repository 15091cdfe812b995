"""Extract fields from scanned invoices in a folder, validate, and book them."""

import glob
import hashlib
import os
from pathlib import Path

import nbdurable as nd
from pydantic import BaseModel

INBOX = Path(os.environ.get("INVOICE_INBOX", "inbox"))
model = nd.ai.openai("gpt-4o")


class Invoice(BaseModel):
    vendor: str
    number: str
    total: float
    currency: str


def extract(pdf_path: str) -> Invoice:
    text = Path(pdf_path).read_bytes().decode("latin-1", "ignore")
    return Invoice(vendor="?", number="?", total=0.0, currency="EUR") if not text else parse_invoice(text)


def parse_invoice(text: str) -> Invoice:
    fields = dict(line.split(":", 1) for line in text.splitlines() if ":" in line)
    return Invoice(vendor=fields.get("Vendor", "?"), number=fields.get("No", "?"),
                   total=float(fields.get("Total", 0)), currency=fields.get("Currency", "EUR"))


def book(invoice: Invoice) -> str:
    return f"booked {invoice.number}"


@nd.function(id="invoices", trigger="invoices/scan")
async def process_invoices(ctx: nd.Context) -> list[str]:
    files = sorted(glob.glob(str(INBOX / "*.pdf")))  # <- ND301
    booked = []
    for n, pdf in enumerate(files):
        key = hashlib.sha256(pdf.encode()).hexdigest()[:12]
        invoice = await ctx.step.run(f"extract-{key}", extract, pdf, output_type=Invoice)  # <- ND701
        if invoice.total <= 0:
            ctx.logger.warning("invoice %d (%s) has no total", n, pdf)
            continue
        check = await ctx.step.ai.infer(
            f"check-{n}",
            model=model,
            body={"messages": [{"role": "user", "content": f"Is this invoice plausible? {invoice.model_dump_json()}"}]},
        )
        if "yes" in check["choices"][0]["message"]["content"].lower():
            booked.append(await ctx.step.run(f"book-{n}", book, invoice))
    return booked
