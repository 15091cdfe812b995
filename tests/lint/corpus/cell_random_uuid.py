%%durable sample-docs
# expect: ND201@8, ND205@9, ND701@9
"""random and uuid in a cell body, one of them in a step name."""
import random
import uuid

docs = await step.run("load", load_corpus)
pick = random.choice(docs)  # <- ND201
await step.run(f"summarize-{uuid.uuid4()}", summarize, pick)  # <- ND205, ND701
