# expect: ND206@18, ND206@19, ND701@20, ND206@21, ND701@21, ND702@22, ND206@23
"""hash() of text outside a step: salted per process, so buckets and names move on replay."""
import nbdurable as nd

SALT = hash("experiment-7") % 1000


def bucket_of(user_id: str) -> int:
    return hash(user_id) % 16


@nd.function(id="buckets", trigger="go")
async def buckets(ctx):
    step = ctx.step
    users = await step.run("users", load_users)
    groups: dict[int, list[str]] = {}
    for user in users:
        groups.setdefault(hash(user) % 4, []).append(user)  # <- ND206
    shard = bucket_of(ctx.event.data["user"])  # <- ND206
    await step.run(f"shard-{shard}", work, groups)  # <- ND701
    await step.run(f"salted-{SALT}", work, groups)  # <- ND206, ND701
    await step.run(f"direct-{hash(ctx.event.data['user'])}", work, groups)  # <- ND702
    if hash(tuple(users)) % 2:  # <- ND206
        await step.run("odd", work, groups)


def load_users():
    return []


def work(*args):
    return args
