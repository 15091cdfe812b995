"""Generate expiring share links for a data-room export and e-mail them to the recipients."""

import asyncio
import base64
import itertools
import os
import secrets

import requests

import nbdurable as nd

API_KEYS = ["key-a", "key-b", "key-c"]  # three mail-provider sub-accounts, rotated to stay under limits
_next_key = itertools.cycle(API_KEYS)


def export_room(room_id: str) -> dict:
    r = requests.post(f"http://dataroom.internal/rooms/{room_id}/export", timeout=300)
    r.raise_for_status()
    return r.json()


def create_link(export_id: str, token: str, nonce: str, ttl_hours: int) -> str:
    r = requests.post(
        "http://dataroom.internal/links",
        json={"export": export_id, "token": token, "nonce": nonce, "ttl_h": ttl_hours},
        timeout=30,
    )
    return r.json()["url"]


def mail(to: str, url: str, api_key: str) -> str:
    r = requests.post("http://mailer.internal/send", json={"to": to, "url": url}, headers={"X-Key": api_key}, timeout=30)
    return r.json()["id"]


@nd.function(id="share-dataroom", trigger="dataroom/share.requested")
async def share(ctx: nd.Context) -> list[str]:
    room = ctx.event.data["room_id"]
    export = await ctx.step.run("export", export_room, room)
    status = await asyncio.to_thread(requests.get, f"http://dataroom.internal/exports/{export['id']}", timeout=30)  # <- ND321
    if status.json().get("state") != "ready":
        await ctx.step.sleep("wait-export", "2m")
    ids = []
    for n, recipient in enumerate(ctx.event.data["recipients"]):
        token = secrets.token_urlsafe(24)  # <- ND203
        nonce = base64.b16encode(os.urandom(8)).decode()  # <- ND204
        url = await ctx.step.run(f"link-{n}", create_link, export["id"], token, nonce, ctx.event.data.get("ttl_hours", 72))
        key = next(_next_key)  # <- ND604
        ids.append(await ctx.step.run(f"mail-{n}", mail, recipient, url, key))
    return ids


def new_token() -> dict:
    return {"token": secrets.token_urlsafe(24), "nonce": base64.b16encode(os.urandom(8)).decode()}


@nd.function(id="share-dataroom-v2", trigger="dataroom/share.requested.v2")
async def share_v2(ctx: nd.Context) -> list[str]:
    export = await ctx.step.run("export", export_room, ctx.event.data["room_id"])
    ids = []
    for n, recipient in enumerate(ctx.event.data["recipients"]):
        secret = await ctx.step.run(f"token-{n}", new_token)
        url = await ctx.step.run(f"link-{n}", create_link, export["id"], secret["token"], secret["nonce"], 72)
        key = API_KEYS[n % len(API_KEYS)]
        ids.append(await ctx.step.run(f"mail-{n}", mail, recipient, url, key))
    return ids
