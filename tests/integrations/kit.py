"""The crash rig the framework tests share: a scripted model server here, the agent in a process we kill."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nbdurable.testing import RecordedRequest, ScriptedLLMServer, reply, tool_call

WORKER = Path(__file__).with_name("_agent_worker.py")
REPO = WORKER.parent.parent.parent
KEYS = {"OPENAI_API_KEY": "sk-test-crash-0123456789abcdefSECRET", "ANTHROPIC_API_KEY": "sk-ant-crash-0123456789SECRET"}
FINAL = "Order A-17 shipped and arrives tomorrow."


@dataclass
class Script:
    """Turn 0 calls the tool; turn 1 answers, held back the first time so the process dies while it is in flight."""

    hold: float = 20.0
    asked: dict[int, int] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __call__(self, record: RecordedRequest) -> Any:
        turn = record.turn
        with self.lock:
            self.asked[turn] = self.asked.get(turn, 0) + 1
            first = self.asked[turn] == 1
        if turn == 0:
            return tool_call("lookup_order", {"order_id": "A-17"}, id="call_lookup_1")
        return reply(FINAL, delay=self.hold if first else 0.0)


@dataclass
class Outcome:
    requests: list[RecordedRequest]
    tool_runs: list[dict[str, Any]]
    output: Any
    journal_bytes: bytes


def run_worker(spec_path: Path, env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, str(WORKER), str(spec_path)], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )


def crash_in_second_request(tmp: Path, framework: str, provider: str = "openai", timeout: float = 90) -> Outcome:
    """Run the agent, SIGKILL it while its second model request (after the tool call) is in flight, run it again."""
    with ScriptedLLMServer(Script()) as server:
        spec = {
            "framework": framework,
            "provider": provider,
            "openai_base_url": server.openai_base_url,
            "anthropic_base_url": server.anthropic_base_url,
            "journal": str(tmp / "journal.db"),
            "log": str(tmp / "tools.log"),
            "out": str(tmp / "out.json"),
            "run_id": f"{framework}-crash",
        }
        spec_path = tmp / "spec.json"
        spec_path.write_text(json.dumps(spec))
        env = {**os.environ, **KEYS, "PYTHONPATH": str(REPO)}
        first = run_worker(spec_path, env)
        deadline = time.monotonic() + timeout
        while not (len(server.requests) >= 2 and server.requests[1].status is None):
            if first.poll() is not None:
                raise AssertionError(f"the worker ended before the kill: {first.communicate()}")
            if time.monotonic() > deadline:
                first.kill()
                raise AssertionError(f"the second model request never came: {first.communicate()}")
            time.sleep(0.01)
        first.kill()  # SIGKILL while the second request is in flight
        first.wait()
        assert not Path(spec["out"]).exists()
        second = run_worker(spec_path, env)
        try:
            _out, err = second.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            second.kill()
            raise
        assert second.returncode == 0, err.decode()
        requests = server.requests
    log = Path(spec["log"])
    tool_runs = [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []
    journal = b"".join(p.read_bytes() for p in tmp.glob("journal.db*"))
    return Outcome(requests, tool_runs, json.loads(Path(spec["out"]).read_text())["output"], journal)


def assert_resumed_exactly(outcome: Outcome) -> None:
    """What a resumed run must show: nothing completed is repeated, the request in flight is sent once more."""
    numbers = [r.number for r in outcome.requests]
    assert numbers == [1, 2, 3], f"expected 3 model requests, the server saw {numbers}"
    first, in_flight, resent = outcome.requests
    assert first.turn == 0
    assert in_flight.turn == resent.turn == 1, "the completed first request was sent again"
    assert in_flight.status in (None, -1), "the second request was answered before the kill"
    assert resent.status == 200
    assert resent.body == in_flight.body, "the resent request differs from the one in flight"
    assert len(outcome.tool_runs) == 1, f"the tool ran {len(outcome.tool_runs)} times: {outcome.tool_runs}"
    assert outcome.output == FINAL
    for key in KEYS.values():
        assert key.encode() not in outcome.journal_bytes, "an API key reached the journal"
        assert b"SECRET" not in outcome.journal_bytes
    # The requests did carry the key: it was kept out of the journal, not missing.
    assert any(key in " ".join(r.headers.values()) for r in outcome.requests for key in KEYS.values())
