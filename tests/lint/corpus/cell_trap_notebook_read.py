%%durable reads-notebook
# expect: none
"""Reading notebook variables (a client, a config dict) from earlier cells is normal."""
cfg = {"model": config["model"], "k": config.get("k", 3)}
docs = await step.run("retrieve", retrieve, query, cfg["k"])
answer = await step.ai.wrap("answer", client.chat.completions.create, model=cfg["model"], messages=docs)
