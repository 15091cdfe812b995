# expect: none
"""Stable digests, hashes of numbers, and hash() inside steps: nothing differs between processes."""
import hashlib
import zlib

import nbdurable as nd


def shard_of(user_id: str) -> int:
    return zlib.crc32(user_id.encode()) % 16


class Key:
    def __init__(self, name):
        self.name = name

    def __hash__(self):
        return hash(self.name)


@nd.function(id="stable-hash", trigger="go")
async def stable_hash(ctx):
    step = ctx.step
    user = ctx.event.data["user"]
    digest = hashlib.sha256(user.encode()).hexdigest()[:8]
    await step.run(f"user-{digest}", work, user)
    await step.run(f"shard-{shard_of(user)}", work, user)
    small = hash(42) % 8
    pair = hash((1, 2)) % 8
    await step.run(f"n-{small}-{pair}", work, user)
    salted = await step.run("salted", lambda: hash(user) % 8)
    return salted


def work(*args):
    return args
