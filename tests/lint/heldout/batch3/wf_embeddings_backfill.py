"""Backfill sentence embeddings for the product catalogue, in batches sized for the box it runs on."""

import os

import numpy as np

import nbdurable as nd


def load_ids(table: str) -> list[int]:
    import duckdb

    con = duckdb.connect("catalogue.duckdb", read_only=True)
    return [r[0] for r in con.execute(f"SELECT id FROM {table} WHERE embedding IS NULL ORDER BY id").fetchall()]


def embed_batch(ids: list[int]) -> list[list[float]]:
    from sentence_transformers import SentenceTransformer

    import duckdb

    con = duckdb.connect("catalogue.duckdb", read_only=True)
    texts = [r[0] for r in con.execute("SELECT title || ' ' || description FROM products WHERE id IN ?", [ids]).fetchall()]
    model = SentenceTransformer("all-MiniLM-L6-v2")
    return model.encode(texts, normalize_embeddings=True).tolist()


def write_batch(ids: list[int], vectors: list[list[float]]) -> int:
    import duckdb

    con = duckdb.connect("catalogue.duckdb")
    con.executemany("UPDATE products SET embedding = ? WHERE id = ?", [(v, i) for i, v in zip(ids, vectors)])
    return len(ids)


def spot_check(ids: list[int]) -> dict:
    import duckdb

    con = duckdb.connect("catalogue.duckdb", read_only=True)
    rows = con.execute("SELECT id, embedding FROM products WHERE id IN ?", [ids]).fetchall()
    norms = [float(np.linalg.norm(np.array(e))) for _, e in rows]
    return {"n": len(rows), "min_norm": min(norms), "max_norm": max(norms)}


@nd.function(id="embeddings-backfill")
async def backfill(ctx: nd.Context) -> dict:
    ids = await ctx.step.run("ids", load_ids, ctx.event.data.get("table", "products"))
    workers = os.cpu_count() or 4  # <- ND312
    batch_size = max(64, len(ids) // (workers * 8))
    batches = [ids[i : i + batch_size] for i in range(0, len(ids), batch_size)]
    done = 0
    for b, batch in enumerate(batches):
        vecs = await ctx.step.run(f"embed-{b}", embed_batch, batch)
        arr = np.asarray(vecs, dtype=np.float32)
        if not np.isfinite(arr).all():
            raise nd.NonRetriableError(f"batch {b} produced NaNs")
        done += await ctx.step.run(f"write-{b}", write_batch, batch, vecs)

    # spot-check a few rows after the write
    probe = np.random.choice(ids, size=min(20, len(ids)), replace=False)  # <- ND202
    report = await ctx.step.run("spot-check", spot_check, probe.tolist())
    fixed = np.random.default_rng(1234).permutation(len(ids))[:20]
    report_fixed = await ctx.step.run("spot-check-fixed", spot_check, [ids[i] for i in fixed])
    return {"written": done, "batches": len(batches), "check": report, "check_fixed": report_fixed}
