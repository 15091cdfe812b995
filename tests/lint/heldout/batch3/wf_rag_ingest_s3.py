"""RAG ingestion: PDFs in the knowledge-base bucket -> text -> chunks -> embeddings -> pgvector."""

import hashlib
import io
import uuid

import boto3
import psycopg
from openai import OpenAI
from pypdf import PdfReader

import nbdurable as nd

BUCKET = "acme-knowledge-base"
DSN = "postgresql://rag@db.internal/rag"
NAMESPACE = uuid.UUID("6c1f0c6e-3c1a-4c4e-9d7e-2b0a9f6f3a11")

s3 = boto3.client("s3")
oai = OpenAI()


def extract_text(key: str) -> str:
    body = s3.get_object(Bucket=BUCKET, Key=key)["Body"].read()
    reader = PdfReader(io.BytesIO(body))
    return "\n".join(page.extract_text() or "" for page in reader.pages)


def chunk(text: str, size: int = 1200, overlap: int = 200) -> list[str]:
    out, start = [], 0
    while start < len(text):
        out.append(text[start : start + size])
        start += size - overlap
    return out


def embed(chunks: list[str]) -> list[list[float]]:
    resp = oai.embeddings.create(model="text-embedding-3-small", input=chunks)
    return [d.embedding for d in resp.data]


def upsert(doc_id: str, chunks: list[str], vectors: list[list[float]]) -> int:
    with psycopg.connect(DSN) as conn, conn.cursor() as cur:
        for i, (c, v) in enumerate(zip(chunks, vectors)):
            cur.execute(
                "INSERT INTO chunks (id, doc_id, ord, body, embedding) VALUES (%s, %s, %s, %s, %s) "
                "ON CONFLICT (id) DO UPDATE SET body = EXCLUDED.body, embedding = EXCLUDED.embedding",
                (str(uuid.uuid5(NAMESPACE, f"{doc_id}:{i}")), doc_id, i, c, v),
            )
    return len(chunks)


def record_batch(batch_id: str, keys: list[str], stored: int) -> None:
    with psycopg.connect(DSN) as conn:
        conn.execute(
            "INSERT INTO ingest_batches (id, n_docs, n_chunks) VALUES (%s, %s, %s)", (batch_id, len(keys), stored)
        )


@nd.function(id="rag-ingest-nightly")
async def ingest_nightly(ctx: nd.Context) -> dict:
    prefix = ctx.event.data.get("prefix", "docs/")
    listing = s3.list_objects_v2(Bucket=BUCKET, Prefix=prefix)  # <- ND322
    keys = [o["Key"] for o in listing.get("Contents", []) if o["Key"].endswith(".pdf")]
    batch_id = uuid.uuid4().hex  # <- ND205
    stored = 0
    for key in keys:
        doc_id = hashlib.sha1(key.encode()).hexdigest()[:16]
        text = await ctx.step.run(f"extract-{doc_id}", extract_text, key)  # <- ND701
        pieces = chunk(text)
        if not pieces:
            continue
        vectors = await ctx.step.run(f"embed-{doc_id}", embed, pieces)  # <- ND701
        stored += await ctx.step.run(f"upsert-{doc_id}", upsert, doc_id, pieces, vectors)  # <- ND701
    await ctx.step.run("record-batch", record_batch, batch_id, keys, stored)
    return {"documents": len(keys), "chunks": stored}


@nd.function(id="rag-ingest-one", trigger="kb/object.created")
async def ingest_one(ctx: nd.Context) -> int:
    """Event-driven path: S3 notification -> one document. Everything comes from the event."""
    key = ctx.event.data["key"]
    doc_id = hashlib.sha1(key.encode()).hexdigest()[:16]
    batch_id = str(uuid.uuid5(NAMESPACE, ctx.event.id))
    text = await ctx.step.run(f"extract-{doc_id}", extract_text, key)
    pieces = chunk(text)
    vectors = await ctx.step.run(f"embed-{doc_id}", embed, pieces)
    stored = await ctx.step.run(f"upsert-{doc_id}", upsert, doc_id, pieces, vectors)
    await ctx.step.run("record-batch", record_batch, batch_id, [key], stored)
    return stored
