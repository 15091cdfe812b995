%%durable set-to-list
# expect: ND502@5, ND502@6
"""A set turned into a list or a prompt string: order differs between processes."""
tags = set(await step.run("tags", load_tags))
prompt = "Tags: " + ", ".join(tags)  # <- ND502
ordered = list(tags)  # <- ND502
await step.run("ask", ask, prompt, ordered)
