"""Secrets at every cut offset: no piece of a registered secret or a secret-looking environment value
reaches the journal, wherever a preview or message is cut (real HTTP server, real SQLite file)."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

import nbdurable as nd
import nbdurable.ai as _ai
from nbdurable import _redact

SECRET = "Q7vZ9kLm2PwR5tYc8NbX4hJd"  # none of its characters in the fillers, so any piece would show


def pieces(least: int = 4) -> list[bytes]:
    return [SECRET[i:j].encode() for i in range(len(SECRET)) for j in range(i + least, len(SECRET) + 1)]


class _Answers(http.server.BaseHTTPRequestHandler):
    """Answers each POST with the next (status, body) of the server's list, as a plain-text body."""

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        status, body = self.server.answers.pop(0)  # type: ignore[attr-defined]
        data = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[http.server.ThreadingHTTPServer]:
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Answers)
    httpd.answers = []  # type: ignore[attr-defined]
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()


@pytest.mark.asyncio
async def test_provider_error_bodies_cut_at_any_offset_keep_no_piece_of_a_secret(
    journal_path: Path, server: http.server.ThreadingHTTPServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PAYMENTS_SECRET", SECRET)
    # A 400 with a text body (cut at 500 characters in the error) and a 200 whose body is not JSON
    # (cut at 200 in the error): the secret sits across each cut, at every offset around it.
    offsets_400 = list(range(470, 505))
    offsets_200 = list(range(170, 205))
    server.answers.extend((400, "e" * o + SECRET + "f" * 60) for o in offsets_400)  # type: ignore[attr-defined]
    server.answers.extend((200, "<" * o + SECRET + ">" * 60) for o in offsets_200)  # type: ignore[attr-defined]
    model = _ai.openai("m", base_url=f"http://127.0.0.1:{server.server_port}/v1", api_key_env=None)

    @nd.function(id="secret-bodies", retries=0, lint="off")
    async def wf(ctx: nd.Context) -> int:
        failed = 0
        for i in range(len(offsets_400) + len(offsets_200)):
            try:
                await ctx.step.ai.infer(f"call-{i}", model=model, body={"messages": []}, retries=0)
            except nd.StepError:
                failed += 1
        return failed

    assert await wf.run(run_id="bodies") == len(offsets_400) + len(offsets_200)
    errors = [s.error for s in nd.get_engine().journal.load_steps("bodies")]
    # Where the secret began before the cut, the message shows it masked (not cut off before it).
    said = [str((e or {}).get("message")) for e in errors]
    assert all("***" in m for m, o in zip(said, offsets_400, strict=False) if o <= 496)
    assert all("***" in m for m, o in zip(said[len(offsets_400) :], offsets_200, strict=True) if o <= 196)
    stored = journal_path.read_bytes() + Path(str(journal_path) + "-wal").read_bytes()
    assert [p for p in pieces() if p in stored] == []


@pytest.mark.asyncio
async def test_divergence_warnings_quote_inputs_without_a_piece_of_a_secret(journal_path: Path) -> None:
    _redact.register_secret(SECRET)
    inputs: dict[str, str] = {}

    def boom() -> None:
        raise RuntimeError("stop here")

    @nd.function(id="secret-warning", lint="off", retries=0)
    async def wf(ctx: nd.Context) -> None:
        await ctx.step.run("echo", len, inputs["value"])
        await ctx.step.run("boom", boom)

    for offset in range(150, 195, 4):  # the secret starts before the 200-character cut and crosses it
        run_id = f"warned-{offset}"
        inputs["value"] = "x" * offset + SECRET + "y" * 30
        with pytest.raises(nd.RunFailedError):
            await wf.run(run_id=run_id)
        inputs["value"] = "z" * (offset + 5) + SECRET + "y" * 30  # other inputs on replay: a warning quotes both
        with (
            pytest.warns(nd.ReplayDeterminismWarning, match="other inputs than journaled"),
            pytest.raises(nd.RunFailedError),
        ):
            await nd.get_run(run_id).resume().result()
        rec = nd.get_engine().journal.get_run(run_id)
        assert rec is not None and rec.warnings and "***" in rec.warnings[0]["message"]
    stored = journal_path.read_bytes() + Path(str(journal_path) + "-wal").read_bytes()
    assert [p for p in pieces() if p in stored] == []
