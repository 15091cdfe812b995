"""Secrets never reach the journal: step inputs, errors and AI records all go through one redaction."""

from __future__ import annotations

from pathlib import Path

import pytest

import nbdurable as nd
from nbdurable import _redact
from tests.helpers import until

SHAPED = "sk-proj-abcdefghijklmnopqrstuvwxyz0123"  # a key nobody told us about, shaped like one
REGISTERED = "vault-token-7f3a9c1e55"  # a secret registered by hand


def test_redact_text_masks_registered_watched_and_shaped_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MY_PROVIDER_CREDS", "creds-value-123456")  # no secret-looking name
    _redact.watch_env("MY_PROVIDER_CREDS")
    _redact.register_secret(REGISTERED)
    text = f"a {SHAPED} b {REGISTERED} c creds-value-123456 d Bearer abcdefghijklmnop0123"
    assert _redact.redact_text(text) == "a *** b *** c *** d ***"
    assert _redact.redact_text("the bearer of this letter, sk-short") == "the bearer of this letter, sk-short"


def test_the_list_of_secrets_follows_every_change_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """known_secrets is built once while nothing changes (it runs per step with inputs), yet a secret registered,
    a watched variable given another value in place (the environment's size unchanged) or a new variable whose
    name says secret is masked by the very next call."""
    monkeypatch.setenv("MY_OTHER_CREDS", "first-credential-value")
    _redact.watch_env("MY_OTHER_CREDS")
    before = _redact.known_secrets()
    assert "first-credential-value" in before and _redact.known_secrets() is before  # nothing changed: the same list
    monkeypatch.setenv("MY_OTHER_CREDS", "second-credential-value")  # replaced in place
    assert "second-credential-value" in _redact.known_secrets()
    assert "first-credential-value" not in _redact.known_secrets()
    _redact.register_secret("registered-just-now-123")
    assert "registered-just-now-123" in _redact.known_secrets()
    monkeypatch.setenv("SERVICE_TOKEN", "a-token-set-later-456")  # a new variable: the environment grew
    assert "a-token-set-later-456" in _redact.known_secrets()
    assert _redact.redact_text("x a-token-set-later-456 y second-credential-value") == "x *** y ***"


@pytest.mark.asyncio
async def test_step_inputs_and_errors_are_masked_in_the_journal(journal_path: Path) -> None:
    _redact.register_secret(REGISTERED)

    def charge(card: str, token: str) -> str:
        raise PermissionError(f"token {token} refused for {card}")

    @nd.function(id="redact-step", retries=0, lint="off")
    async def wf(ctx: nd.Context) -> None:
        await ctx.step.run("echo", lambda key, other: "ok", SHAPED, REGISTERED)
        await ctx.step.run("charge", charge, "4242", REGISTERED)

    with pytest.raises(nd.RunFailedError) as info:
        await wf.run(run_id="redact")
    assert REGISTERED not in str(info.value)
    stored = journal_path.read_bytes() + Path(str(journal_path) + "-wal").read_bytes()
    for secret in (SHAPED, REGISTERED):
        assert secret.encode() not in stored
    echo = {s.step_id: s for s in nd.get_engine().journal.load_steps("redact")}["echo"]
    assert echo.meta == {"input": '["***","***"]'}


SECRET = "Q7vZ9kLm2PwR5tYc8NbX4hJd"  # no character of the fillers below, so any piece of it is visible


def fragments(secret: str, least: int = 3) -> list[str]:
    """Every piece of ``secret`` at least ``least`` characters long."""
    return [secret[i:j] for i in range(len(secret)) for j in range(i + least, len(secret) + 1)]


def leaked(text: str, secret: str = SECRET) -> list[str]:
    return [f for f in fragments(secret) if f in text]


@pytest.mark.parametrize("tail", [False, True])
def test_redact_clipped_masks_a_secret_at_every_cut_offset(tail: bool) -> None:
    for offset in range(0, 260):
        text = "x" * offset + SECRET + "y" * 300
        if tail:
            text = "y" * 300 + SECRET + "x" * offset
        shown = _redact.redact_clipped(text, 200, [SECRET])
        assert len(shown) <= 200
        assert not leaked(shown), (offset, shown)
        # What is kept is the text, masked, not something shorter than needed.
        assert shown.count("*") in (0, 1, 2, 3)


def test_redact_clipped_widens_its_window_when_masks_shrink_it() -> None:
    # Many secrets in a row: masking shrinks the first window so much that its edge, which cut a
    # secret in two, would fall inside the kept part.
    text = (SECRET + " ") * 40
    shown = _redact.redact_clipped(text, 200, [SECRET])
    assert not leaked(shown), shown
    assert shown.startswith("*** *** ***")
    shaped = "sk-" + "a1" * 40
    for offset in range(150, 200):
        assert "a1a1" not in _redact.redact_clipped("x" * offset + " " + shaped + " tail", 200, []), offset


def test_stream_redactor_masks_a_secret_split_anywhere() -> None:
    text = f"the key is {SECRET} and the token sk-{'b2' * 15} ends here."
    for size in (1, 2, 3, 5, 7, 11):
        pieces = [text[i : i + size] for i in range(0, len(text), size)]
        redactor = _redact.StreamRedactor([SECRET])
        shown = [redactor.feed(p) for p in pieces] + [redactor.flush()]
        joined = "".join(shown)
        assert joined == "the key is *** and the token *** ends here.", (size, joined)
        # Nothing shown along the way held a piece of the secret either.
        assert not any(leaked(s) for s in shown)


@pytest.mark.asyncio
async def test_a_secret_crossing_the_preview_cut_is_masked_at_every_offset(
    journal_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BILLING_API_TOKEN", SECRET)  # found by its secret-looking name

    @nd.function(id="redact-offsets", retries=0, lint="off")
    async def wf(ctx: nd.Context) -> None:
        for offset in range(0, 230):
            await ctx.step.run(f"s{offset}", len, "x" * offset + SECRET + "y" * 40)
        await ctx.step.run("kw", lambda **kw: 0, note="x" * 180, key=SECRET)

    await wf.run(run_id="offsets")
    previews = [s.meta["input"] for s in nd.get_engine().journal.load_steps("offsets") if s.meta]
    assert len(previews) == 231
    assert all(len(p) <= 200 for p in previews)
    assert [p for p in previews if leaked(p)] == []
    stored = journal_path.read_bytes() + Path(str(journal_path) + "-wal").read_bytes()
    assert [f for f in fragments(SECRET, 6) if f.encode() in stored] == []


@pytest.mark.asyncio
async def test_run_reasons_warnings_and_options_are_masked(journal_path: Path) -> None:
    _redact.register_secret(SECRET)

    @nd.function(id="redact-run-text", lint="off")
    async def wf(ctx: nd.Context) -> None:
        await ctx.step.sleep("nap", "10s")

    handle = wf.start(run_id="reasons")
    await until(lambda: handle.status == "sleeping", what="the run sleeping")
    assert handle.cancel(f"asked by {SECRET}")
    with pytest.raises(nd.RunCancelledError):
        await handle.result()
    rec = nd.get_engine().journal.get_run("reasons")
    assert rec is not None and rec.status_reason == "asked by ***"
    stored = journal_path.read_bytes() + Path(str(journal_path) + "-wal").read_bytes()
    assert SECRET.encode() not in stored
