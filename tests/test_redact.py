"""Secrets never reach the journal: step inputs, errors and AI records all go through one redaction."""

from __future__ import annotations

from pathlib import Path

import pytest

import nbdurable as nd
from nbdurable import _redact

SHAPED = "sk-proj-abcdefghijklmnopqrstuvwxyz0123"  # a key nobody told us about, shaped like one
REGISTERED = "vault-token-7f3a9c1e55"  # a secret registered by hand


def test_redact_text_masks_registered_watched_and_shaped_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MY_PROVIDER_CREDS", "creds-value-123456")  # no secret-looking name
    _redact.watch_env("MY_PROVIDER_CREDS")
    _redact.register_secret(REGISTERED)
    text = f"a {SHAPED} b {REGISTERED} c creds-value-123456 d Bearer abcdefghijklmnop0123"
    assert _redact.redact_text(text) == "a *** b *** c *** d ***"
    assert _redact.redact_text("the bearer of this letter, sk-short") == "the bearer of this letter, sk-short"


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
