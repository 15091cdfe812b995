%%durable strings
# expect: none
"""Mentions in strings and comments are not calls: time.time(), random.random(), open("x")."""
# we used to call time.time() here; now step.now() is used
note = "do not call uuid.uuid4() or os.environ here"
await step.run("note", save_note, note)
