%%durable lambdas-cell
# expect: none
"""Lambdas passed to step.run hold all the nondeterminism: fine."""
import random
import time
import uuid

ts = await step.run("ts", lambda: time.time())
pick = await step.run("pick", lambda docs: random.choice(docs), ["a", "b"])
rid = await step.run("rid", lambda: uuid.uuid4().hex)
await step.run(f"use-{rid}", lambda: (ts, pick))
