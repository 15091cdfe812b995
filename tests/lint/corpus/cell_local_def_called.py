%%durable local-helper
# expect: ND101@8
"""A function defined in the cell and called directly is workflow code."""
import time


def stamp(doc):
    return {"doc": doc, "at": time.time()}  # <- ND101


docs = await step.run("load", load_corpus)
stamped = [stamp(d) for d in docs]
await step.run("save", save, stamped)
