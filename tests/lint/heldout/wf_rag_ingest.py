"""Ingest a document folder into a vector store: chunk, embed, upsert; skip unchanged files."""

import hashlib
import os
from pathlib import Path

import nbdurable as nd
from openai import OpenAI

oai = OpenAI()
DOCS = Path(os.getenv("DOCS_DIR", "./docs"))
getenv = os.environ.get
CHUNK = 1200


def chunk_file(path: str) -> list[str]:
    text = Path(path).read_text(encoding="utf-8", errors="ignore")
    return [text[i : i + CHUNK] for i in range(0, len(text), CHUNK)]


def embed(chunks: list[str]) -> list[list[float]]:
    resp = oai.embeddings.create(model="text-embedding-3-small", input=chunks)
    return [d.embedding for d in resp.data]


def upsert(collection: str, path: str, vectors: list[list[float]], chunks: list[str]) -> int:
    import chromadb

    col = chromadb.HttpClient(host="localhost", port=8000).get_or_create_collection(collection)
    ids = [f"{path}#{i}" for i in range(len(chunks))]
    col.upsert(ids=ids, embeddings=vectors, documents=chunks)
    return len(ids)


def digest(path: str) -> str:
    return hashlib.sha1(Path(path).read_bytes()).hexdigest()


@nd.function(id="ingest", trigger="docs/changed")
async def ingest(ctx: nd.Context) -> dict:
    collection = getenv("COLLECTION", "docs")  # <- ND311
    paths = [str(p) for p in DOCS.rglob("*.md")]  # <- ND301
    seen = await ctx.step.run("seen", load_manifest)
    current = {p: await ctx.step.run(f"digest-{i}", digest, p) for i, p in enumerate(sorted(paths))}
    changed = current.keys() - seen.keys()
    total = 0
    for path in changed:  # <- ND501
        chunks = await ctx.step.run(f"chunk:{path}", chunk_file, path)  # <- ND701
        vectors = await ctx.step.run(f"embed:{path}", embed, chunks)  # <- ND701
        total += await ctx.step.run(f"upsert:{path}", upsert, collection, path, vectors, chunks)  # <- ND701
    await ctx.step.run("manifest", save_manifest, current)
    return {"changed": len(changed), "chunks": total}


def load_manifest() -> dict:
    import json

    p = DOCS / ".manifest.json"
    return json.loads(p.read_text()) if p.exists() else {}


def save_manifest(current: dict) -> None:
    import json

    (DOCS / ".manifest.json").write_text(json.dumps(current))
