"""The REST API and live feed in a real ``jupyter server`` on loopback, with token authentication on.

Runs are made by other real processes (tests/server/_worker.py, a kernel the server
starts for a notebook) and reached only through the journal, as in use. Every
response is checked against the OpenAPI description shipped with the package.
"""

from __future__ import annotations

import asyncio
import json
import os
import queue
import secrets
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from importlib import resources
from pathlib import Path
from typing import Any

import httpx
import jsonschema
import pytest

import nbdurable as nd
from nbdurable.journal._protocol import Write
from nbdurable.timeline._snapshot import build_snapshot
from tests.server.conftest import add_runs, record, step

pytestmark = [pytest.mark.server, pytest.mark.kernel]

REPO = Path(__file__).resolve().parents[2]
WORKER = Path(__file__).with_name("_worker.py")
SPEC: dict[str, Any] = json.loads(resources.files("nbdurable.server").joinpath("openapi.json").read_text())
MAIN = ".nbdurable/journal.db"
PROJ = "proj/.nbdurable/journal.db"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def until(predicate: Callable[[], Any], what: str, timeout: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not reached in {timeout}s")
        time.sleep(0.1)


class Server:
    """A ``jupyter server`` process on a free loopback port with a token, serving ``root``."""

    def __init__(self, root: Path, config_dir: Path, log: Path, env_extra: dict[str, str] | None = None) -> None:
        self.root = root
        self.token = secrets.token_hex(16)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {k: v for k, v in os.environ.items() if not k.startswith(("JUPYTER", "NBDURABLE"))}
        env.update(
            JUPYTER_CONFIG_DIR=str(config_dir),
            JUPYTER_RUNTIME_DIR=str(config_dir / "runtime"),
            PYTHONPATH=str(REPO),
        )
        env.update(env_extra or {})
        command = [
            sys.executable,
            "-m",
            "jupyter_server",
            "--no-browser",
            "--ServerApp.ip=127.0.0.1",
            f"--ServerApp.port={self.port}",
            "--ServerApp.port_retries=0",
            f"--IdentityProvider.token={self.token}",
            f"--ServerApp.root_dir={root}",
        ]
        if os.getuid() == 0:
            command.append("--allow-root")
        self._log = log.open("wb")
        self.process = subprocess.Popen(command, cwd=root, env=env, stdout=self._log, stderr=subprocess.STDOUT)
        self.log = log
        self.client = httpx.Client(base_url=self.url, headers={"Authorization": f"token {self.token}"}, timeout=30)

    def wait_ready(self) -> None:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"jupyter server exited: {self.log.read_text()[-3000:]}")
            try:
                if self.client.get("/api/status").status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        raise AssertionError(f"jupyter server did not start: {self.log.read_text()[-3000:]}")

    def stop(self) -> None:
        self.client.close()
        self.process.terminate()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)
        self._log.close()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    base = tmp_path_factory.mktemp("jupyter")
    root = base / "root"
    (root / "proj").mkdir(parents=True)
    (root / "nbs").mkdir()
    outside = base / "outside" / ".nbdurable" / "journal.db"
    add_runs(outside, record("outside-run", status="completed"))
    secret = base / "secret" / ".nbdurable" / "journal.db"
    add_runs(secret, record("secret-run", status="completed"))
    (root / "escape").symlink_to(secret.parent.parent)
    add_runs(root / MAIN, record("seed", status="completed"))
    add_runs(root / PROJ, record("proj-seed", status="completed", created=1.0))
    config_dir = write_config(
        base / "config", {"journals": [str(outside)], "scan_interval": 0.5, "max_body_size": 65536}
    )
    srv = Server(root, config_dir, base / "server.log")
    try:
        srv.wait_ready()
        yield srv
    finally:
        srv.stop()


def write_config(config_dir: Path, nbdurable: dict[str, Any]) -> Path:
    """A Jupyter config folder: only this extension runs (it is enabled by the installed jupyter-config file,
    not here, for a quick start), with ``nbdurable`` as c.NbDurable."""
    config_dir.mkdir()
    config = {
        "ServerApp": {
            "jpserver_extensions": {
                "jupyterlab": False,
                "jupyter_lsp": False,
                "notebook_shim": False,
                "jupyter_server_terminals": False,
            }
        },
        "NbDurable": {"poll_interval": 0.1, "function_modules": ["tests.server._server_workflows"], **nbdurable},
    }
    (config_dir / "jupyter_server_config.json").write_text(json.dumps(config))
    return config_dir


@pytest.fixture(scope="module")
def client(server: Server) -> httpx.Client:
    return server.client


# -- the OpenAPI description ------------------------------------------------------------------------


def check(response: httpx.Response, status: int, path: str, method: str = "get") -> Any:
    """Assert the status, and that the body matches the response schema the OpenAPI description gives."""
    assert response.status_code == status, f"{method.upper()} {path}: {response.status_code} {response.text[:500]}"
    described = SPEC["paths"][path][method]["responses"][str(status)]
    if "$ref" in described:
        described = SPEC["components"]["responses"][described["$ref"].rsplit("/", 1)[1]]
    content = described["content"]
    if "application/json" not in content:
        return response.text
    body = response.json()
    schema = {**content["application/json"]["schema"], "components": SPEC["components"]}
    jsonschema.validate(body, schema, cls=jsonschema.Draft202012Validator)
    return body


def test_the_extension_is_enabled_by_the_installed_config(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("JUPYTER")}
    env["JUPYTER_CONFIG_DIR"] = str(tmp_path)  # no user configuration: the package's own file enables it
    out = subprocess.run(
        [sys.executable, "-m", "jupyter", "server", "extension", "list"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    text = out.stdout + out.stderr
    assert "nbdurable enabled" in " ".join(text.replace("\x1b[32m", "").replace("\x1b[0m", "").split())
    assert f"nbdurable {nd.__version__} OK" in " ".join(text.replace("\x1b[32m", "").replace("\x1b[0m", "").split())


def test_the_description_matches_the_routes(server: Server) -> None:
    """Every path described answers with its token (not 404 from Jupyter's router), and nothing else is routed."""
    for path, methods in SPEC["paths"].items():
        url = path.replace("{run_id}", "seed")
        for method in methods:
            if url.endswith("/feed"):
                with server.client.stream("GET", url) as feed:  # an endless stream: its head is enough
                    assert feed.status_code == 200
                continue
            response = server.client.request(method.upper(), url, json={"name": "probe"} if "events" in url else None)
            assert response.status_code != 405, (method, path)
            if response.status_code == 404:
                assert "message" in response.json() and "no run" not in response.json()["message"], (method, path)
    assert server.client.get("/nbdurable/api/nothing-here").status_code == 404
    assert server.client.get("/nbdurable/api/openapi.json").json() == SPEC


# -- security ---------------------------------------------------------------------------------------


ENDPOINTS = [
    ("GET", "/nbdurable/api/journals"),
    ("GET", "/nbdurable/api/runs"),
    ("GET", "/nbdurable/api/runs/seed"),
    ("POST", "/nbdurable/api/runs/seed/cancel"),
    ("POST", "/nbdurable/api/runs/seed/resume"),
    ("POST", "/nbdurable/api/runs/seed/rerun"),
    ("POST", "/nbdurable/api/events"),
    ("GET", "/nbdurable/api/feed"),
    ("GET", "/nbdurable/api/openapi.json"),
]


def test_no_endpoint_answers_without_the_token(server: Server) -> None:
    assert {(m.upper(), p.replace("{run_id}", "seed")) for p, ms in SPEC["paths"].items() for m in ms} == set(ENDPOINTS)
    for headers, params in (({}, {}), ({"Authorization": "token wrong"}, {}), ({}, {"token": "wrong"})):
        for method, path in ENDPOINTS:
            body = b'{"name": "x", "data": {}}' if method == "POST" else None
            with httpx.Client(base_url=server.url, headers=headers, timeout=30) as anonymous:  # one connection each
                response = anonymous.request(method, path, params=params, content=body)
                assert response.status_code in (401, 403), (method, path, headers, response.status_code)
                assert "seed" not in response.text
    # Nothing was acted on: the run is still completed and no event was journaled.
    journal = nd.SQLiteJournal(server.root / MAIN)
    try:
        assert journal.get_run("seed").status == "completed"  # type: ignore[union-attr]
        assert journal.events_after("x", 0) == []
    finally:
        journal.close()


def test_with_the_login_cookie_posts_need_the_xsrf_token(server: Server) -> None:
    with httpx.Client(base_url=server.url, timeout=30) as browser:
        assert browser.get("/tree", params={"token": server.token}).status_code in (200, 302, 404)
        assert browser.cookies.get("_xsrf"), "the server set no _xsrf cookie"
        assert browser.get("/nbdurable/api/runs").status_code == 200  # the cookie authenticates
        refused = browser.post("/nbdurable/api/events", json={"name": "cookie/event"})
        assert refused.status_code == 403
        accepted = browser.post(
            "/nbdurable/api/events?journal=.nbdurable/journal.db",
            json={"name": "cookie/event"},
            headers={"X-XSRFToken": browser.cookies["_xsrf"]},
        )
        assert accepted.status_code == 202, accepted.text


@pytest.mark.parametrize(
    "journal",
    ["../outside/.nbdurable/journal.db", "/etc/passwd", "proj/../../../etc/passwd", "escape/.nbdurable/journal.db"],
)
def test_journal_parameters_that_escape_the_root_are_refused(client: httpx.Client, journal: str) -> None:
    for response in (
        client.get("/nbdurable/api/runs", params={"journal": journal}),
        client.get("/nbdurable/api/runs/secret-run", params={"journal": journal}),
        client.post("/nbdurable/api/events", params={"journal": journal}, json={"name": "x"}),
        client.get("/nbdurable/api/feed", params={"journal": journal}),
    ):
        assert response.status_code == 400, response.text
        message = response.json()["message"]
        assert "secret-run" not in response.text
        assert "outside the server's root" in message or "symlink" in message


def test_path_tricks_in_the_url_reach_no_file(client: httpx.Client) -> None:
    for run_id in ("..%2F..%2Fetc%2Fpasswd", "%2E%2E", "secret-run"):
        response = client.get(f"/nbdurable/api/runs/{run_id}")
        assert response.status_code == 404, response.text
        assert "root:" not in response.text
    check(
        client.get("/nbdurable/api/runs", params={"journal": "nowhere/.nbdurable/journal.db"}),
        404,
        "/nbdurable/api/runs",
    )


def test_oversized_and_malformed_bodies_are_refused(server: Server, client: httpx.Client) -> None:
    big = {"name": "big/event", "data": {"blob": "x" * 70_000}}
    check(client.post("/nbdurable/api/events", json=big), 413, "/nbdurable/api/events", "post")

    def chunks() -> Iterator[bytes]:  # no Content-Length: the limit holds while the body streams
        yield b'{"name": "big/event", "data": {"blob": "'
        for _ in range(100):
            yield b"x" * 1000
        yield b'"}}'

    try:
        streamed = client.post("/nbdurable/api/events", content=chunks())
        assert streamed.status_code in (400, 413)
    except httpx.TransportError:
        pass  # the server may close the connection once the limit is passed
    for body in (
        b"{not json",
        b'{"name": 5}',
        b'{"name": "x", "data": [1]}',
        b'{"name": "x", "extra": 1}',
        b"[" * 5000,
    ):
        response = client.post("/nbdurable/api/events", content=body)
        check(response, 400, "/nbdurable/api/events", "post")
    journal = nd.SQLiteJournal(server.root / MAIN)
    try:
        assert journal.events_after("big/event", 0) == []
    finally:
        journal.close()


# -- reading ----------------------------------------------------------------------------------------


def test_listing_filters_and_pagination(server: Server, client: httpx.Client) -> None:
    add_runs(
        server.root / PROJ,
        *[record(f"p{i}", "report" if i % 2 else "fetch", status="completed", created=1000.0 + i) for i in range(7)],
        record("p-failed", "fetch", status="failed", created=2000.0, error={"type": "KeyError", "message": "no price"}),
    )
    until(lambda: client.get("/nbdurable/api/runs", params={"journal": PROJ}).json()["total"] == 9, "new runs")
    journals = check(client.get("/nbdurable/api/journals"), 200, "/nbdurable/api/journals")
    sources = {j["journal"]: j["source"] for j in journals["journals"]}
    assert sources[MAIN] == "scan" and sources[PROJ] == "scan"
    assert [s for k, s in sources.items() if k.endswith("outside/.nbdurable/journal.db")] == ["config"]
    assert not any("secret" in k for k in sources)

    page = check(client.get("/nbdurable/api/runs", params={"journal": PROJ, "limit": 3}), 200, "/nbdurable/api/runs")
    seen = [r["run_id"] for r in page["runs"]]
    while page["next_cursor"]:
        params = {"journal": PROJ, "limit": 3, "cursor": page["next_cursor"]}
        page = check(client.get("/nbdurable/api/runs", params=params), 200, "/nbdurable/api/runs")
        seen += [r["run_id"] for r in page["runs"]]
    assert seen[:8] == ["p-failed", "p6", "p5", "p4", "p3", "p2", "p1", "p0"]
    fetch = client.get("/nbdurable/api/runs", params={"function": "fetch", "status": "completed", "journal": PROJ})
    assert [r["run_id"] for r in check(fetch, 200, "/nbdurable/api/runs")["runs"]] == ["p6", "p4", "p2", "p0"]
    found = check(client.get("/nbdurable/api/runs", params={"text": "no PRICE"}), 200, "/nbdurable/api/runs")
    assert [(r["run_id"], r["journal"], r["error"]["type"]) for r in found["runs"]] == [("p-failed", PROJ, "KeyError")]
    assert check(client.get("/nbdurable/api/runs", params={"status": "nope"}), 400, "/nbdurable/api/runs")["message"]
    assert "outside-run" in [
        r["run_id"] for r in client.get("/nbdurable/api/runs", params={"limit": 500}).json()["runs"]
    ]


def test_the_timeline_is_the_saved_snapshot(server: Server, client: httpx.Client) -> None:
    ai = {"ai": {"model": "m", "provider": "p", "tokens_in": 12, "tokens_out": 5, "cost": 0.01}, "input": "[1]"}
    add_runs(
        server.root / PROJ,
        record("timeline", "fetch", status="failed", error={"type": "ValueError", "message": "boom"}),
        steps={
            "timeline": [
                step("timeline", "load", 0, started_at=1.0, ended_at=2.0, output='{"rows": 3}'),
                step("timeline", "ask", 1, kind="ai", started_at=2.0, ended_at=3.0, output='"yes"', meta=ai),
                step(
                    "timeline",
                    "save",
                    2,
                    status="failed",
                    attempt=2,
                    started_at=3.0,
                    ended_at=4.0,
                    error={"type": "ValueError", "message": "boom"},
                ),
            ]
        },
    )
    got = check(client.get("/nbdurable/api/runs/timeline"), 200, "/nbdurable/api/runs/{run_id}")
    engine = nd.Engine(nd.SQLiteJournal(server.root / PROJ))
    try:
        want = json.loads(json.dumps(build_snapshot(engine, "timeline")))
    finally:
        engine.journal.close()
    got["run"].pop("now"), want["run"].pop("now")
    assert got == want
    assert [s["status"] for s in got["steps"]] == ["completed", "completed", "failed"]
    assert got["run"]["tokens_in"] == 12


def test_a_run_id_in_two_journals_needs_the_journal(server: Server, client: httpx.Client) -> None:
    add_runs(server.root / MAIN, record("twice", status="completed"))
    add_runs(server.root / PROJ, record("twice", status="failed"))
    both = check(client.get("/nbdurable/api/runs/twice"), 409, "/nbdurable/api/runs/{run_id}")
    assert sorted(both["journals"]) == sorted([MAIN, PROJ])
    one = client.get("/nbdurable/api/runs/twice", params={"journal": PROJ})
    assert check(one, 200, "/nbdurable/api/runs/{run_id}")["run"]["status"] == "failed"


# -- acting on runs in other processes --------------------------------------------------------------


class Worker:
    """A process running one workflow on a journal (tests/server/_worker.py)."""

    def __init__(self, journal: Path, mode: str, run_id: str, folder: Path) -> None:
        self.out = folder / f"{run_id}.json"
        self.process = subprocess.Popen(
            [sys.executable, str(WORKER), str(journal), mode, run_id, str(self.out)],
            cwd=REPO,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )

    def outcome(self, timeout: float = 60) -> dict[str, Any]:
        try:
            output, _ = self.process.communicate(timeout=timeout)
        finally:
            self.stop()
        assert self.out.exists(), output.decode(errors="replace")
        result: dict[str, Any] = json.loads(self.out.read_text())
        return result

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)


@pytest.fixture
def workers(tmp_path: Path) -> Iterator[Callable[..., Worker]]:
    started: list[Worker] = []

    def start(journal: Path, mode: str, run_id: str) -> Worker:
        worker = Worker(journal, mode, run_id, tmp_path)
        started.append(worker)
        return worker

    yield start
    for worker in started:
        worker.stop()


def status_of(client: httpx.Client, run_id: str, journal: str = MAIN) -> str | None:
    response = client.get("/nbdurable/api/runs", params={"journal": journal, "text": run_id})
    runs = [r for r in response.json()["runs"] if r["run_id"] == run_id]
    return runs[0]["status"] if runs else None


def test_cancel_reaches_a_run_executing_in_another_process(
    server: Server, client: httpx.Client, workers: Callable[..., Worker]
) -> None:
    run_id = f"sleepy-{uuid.uuid4().hex[:6]}"
    worker = workers(server.root / MAIN, "sleeper", run_id)
    until(lambda: status_of(client, run_id) == "sleeping", "the worker's run sleeping")
    url = f"/nbdurable/api/runs/{run_id}/cancel"
    answer = check(
        client.post(url, json={"reason": "stop it from the API"}), 200, "/nbdurable/api/runs/{run_id}/cancel", "post"
    )
    assert answer["status"] == "cancelled"
    outcome = worker.outcome()
    assert outcome["status"] == "cancelled" and "stop it from the API" in outcome["error"]
    assert status_of(client, run_id) == "cancelled"
    again = client.post(url, json={})
    assert check(again, 409, "/nbdurable/api/runs/{run_id}/cancel", "post")["status"] == "cancelled"


def test_resume_says_where_when_the_server_cannot(server: Server, client: httpx.Client) -> None:
    add_runs(server.root / MAIN, record("elsewhere", "defined-elsewhere", status="interrupted"))
    path = "/nbdurable/api/runs/{run_id}/resume"
    body = check(client.post("/nbdurable/api/runs/elsewhere/resume"), 409, path, "post")
    assert body["resume_in"] == {
        "where": "process",
        "function_id": "defined-elsewhere",
        "code": "nd.get_run('elsewhere').resume()",
    }
    assert "not defined in the Jupyter server process" in body["message"]


def test_resume_and_rerun_in_the_server_process(server: Server, client: httpx.Client) -> None:
    """Runs of functions the server imports (c.NbDurable.function_modules) resume and rerun in the server."""
    event = {"name": "served/run", "data": {}, "id": "to-resume", "ts": time.time()}
    add_runs(
        server.root / MAIN,
        record("to-resume", "served", status="interrupted", event=event),
        steps={"to-resume": [step("to-resume", "first", 0, output='"one"', started_at=1.0, ended_at=1.0)]},
    )
    path = "/nbdurable/api/runs/{run_id}"
    resumed = check(client.post("/nbdurable/api/runs/to-resume/resume"), 202, path + "/resume", "post")
    assert resumed["where"] == "server"
    until(lambda: status_of(client, "to-resume") == "completed", "the resumed run completing")
    snapshot = check(client.get("/nbdurable/api/runs/to-resume"), 200, path)
    assert [s["step_id"] for s in snapshot["steps"]] == ["first", "second"]
    rerun = client.post("/nbdurable/api/runs/to-resume/rerun", json={"from_step": "second"})
    new = check(rerun, 202, path + "/rerun", "post")
    assert (new["run_id"], new["rerun_of"], new["from_step"]) == ("to-resume~1", "to-resume", "second")
    until(lambda: status_of(client, "to-resume~1") == "completed", "the rerun completing")
    listed = client.get("/nbdurable/api/runs", params={"text": "to-resume~1"}).json()["runs"][0]
    assert (listed["rerun_of"], listed["from_step"], listed["steps_done"]) == ("to-resume", "second", 2)
    missing = client.post("/nbdurable/api/runs/to-resume/rerun", json={"from_step": "third"})
    assert "'first', 'second'" in check(missing, 400, path + "/rerun", "post")["message"]


def test_an_event_answers_a_run_waiting_in_another_process(
    server: Server, client: httpx.Client, workers: Callable[..., Worker]
) -> None:
    run_id = f"waits-{uuid.uuid4().hex[:6]}"
    worker = workers(server.root / MAIN, "approver", run_id)
    until(lambda: status_of(client, run_id) == "waiting", "the worker's run waiting")
    snapshot = client.get(f"/nbdurable/api/runs/{run_id}").json()
    assert snapshot["run"]["waiting_for"]["event"] == "test/approved"
    other = {"name": "test/approved", "data": {"run": "someone-else"}}
    check(
        client.post("/nbdurable/api/events", params={"journal": MAIN}, json=other), 202, "/nbdurable/api/events", "post"
    )
    mine = {"name": "test/approved", "data": {"run": run_id, "by": "api"}, "id": f"approve-{run_id}"}
    sent = client.post("/nbdurable/api/events", params={"journal": MAIN}, json=mine)
    assert check(sent, 202, "/nbdurable/api/events", "post")["duplicate"] is False
    assert client.post("/nbdurable/api/events", params={"journal": MAIN}, json=mine).json()["duplicate"] is True
    assert worker.outcome() == {"status": "completed", "result": {"run": run_id, "by": "api"}}


# -- the live feed ----------------------------------------------------------------------------------


class Feed:
    """An open feed read in a thread: its events go to a queue as (event, data)."""

    def __init__(self, server: Server, params: dict[str, str] | None = None) -> None:
        self.events: queue.Queue[tuple[str, Any]] = queue.Queue()
        self._client = httpx.Client(
            base_url=server.url, headers={"Authorization": f"token {server.token}"}, timeout=httpx.Timeout(30, read=60)
        )
        self._thread = threading.Thread(target=self._read, args=(params or {},), daemon=True)
        self._thread.start()

    def _read(self, params: dict[str, str]) -> None:
        try:
            with self._client.stream("GET", "/nbdurable/api/feed", params=params) as response:
                self.status = response.status_code
                self.content_type = response.headers.get("content-type")
                event = None
                for line in response.iter_lines():
                    if line.startswith("event: "):
                        event = line[7:]
                    elif line.startswith("data: ") and event is not None:
                        self.events.put((event, json.loads(line[6:])))
        except (httpx.TransportError, RuntimeError):
            pass  # closed by the test

    def next(self, timeout: float = 30) -> tuple[str, Any]:
        return self.events.get(timeout=timeout)

    def close(self) -> None:
        self._client.close()


def test_the_feed_reports_runs_and_steps_of_another_process(
    server: Server, client: httpx.Client, workers: Callable[..., Worker]
) -> None:
    feed = Feed(server)
    try:
        assert feed.next()[0] == "hello"
        assert feed.content_type is not None and feed.content_type.startswith("text/event-stream")
        run_id = f"steps-{uuid.uuid4().hex[:6]}"
        worker = workers(server.root / MAIN, "stepper", run_id)
        seen: list[tuple[str, int]] = []
        deadline = time.monotonic() + 60
        while not seen or seen[-1][0] != "completed":
            assert time.monotonic() < deadline, seen
            event, data = feed.next()
            if event == "run" and data["run"]["run_id"] == run_id:
                jsonschema.validate(
                    data,
                    {**SPEC["components"]["schemas"]["FeedRun"], "components": SPEC["components"]},
                    cls=jsonschema.Draft202012Validator,
                )
                assert data["journal"] == MAIN
                seen.append((data["run"]["status"], data["run"]["steps_done"]))
        assert worker.outcome()["result"] == 3
        done = [n for _, n in seen]
        assert done == sorted(done) and done[-1] == 3
        assert len(seen) >= 2 and seen[0] != seen[-1]  # it was seen part-way, not only at the end
    finally:
        feed.close()


def test_a_feed_for_one_journal_hears_only_that_journal(server: Server) -> None:
    feed = Feed(server, {"journal": PROJ})
    try:
        assert feed.next()[0] == "hello"
        add_runs(server.root / MAIN, record(f"main-{uuid.uuid4().hex[:6]}", status="queued"))
        mine = f"proj-{uuid.uuid4().hex[:6]}"
        add_runs(server.root / PROJ, record(mine, status="queued"))
        event, data = feed.next()
        while event != "run":
            event, data = feed.next()
        assert (data["journal"], data["run"]["run_id"]) == (PROJ, mine)
    finally:
        feed.close()


# -- a notebook's runs ------------------------------------------------------------------------------


async def execute_in_kernel(server: Server, kernel_id: str, code: str, cell_id: str) -> dict[str, Any]:
    """Run ``code`` in the kernel over its websocket, as JupyterLab does (with the cell's id in the metadata)."""
    from tornado.httpclient import HTTPRequest
    from tornado.websocket import websocket_connect

    url = f"ws://127.0.0.1:{server.port}/api/kernels/{kernel_id}/channels"
    ws = await websocket_connect(HTTPRequest(url, headers={"Authorization": f"token {server.token}"}))
    msg_id = uuid.uuid4().hex
    request = {
        "header": {
            "msg_id": msg_id,
            "msg_type": "execute_request",
            "session": uuid.uuid4().hex,
            "username": "test",
            "version": "5.3",
            "date": "2026-01-01T00:00:00Z",
        },
        "parent_header": {},
        "metadata": {"cellId": cell_id},
        "content": {
            "code": code,
            "silent": False,
            "store_history": True,
            "user_expressions": {},
            "allow_stdin": False,
            "stop_on_error": True,
        },
        "channel": "shell",
        "buffers": [],
    }
    await ws.write_message(json.dumps(request))
    try:
        while True:
            raw = await asyncio.wait_for(ws.read_message(), timeout=120)
            assert raw is not None, "the kernel's websocket closed"
            msg = json.loads(raw)
            if msg.get("parent_header", {}).get("msg_id") == msg_id and msg["msg_type"] == "execute_reply":
                reply: dict[str, Any] = msg["content"]
                return reply
    finally:
        ws.close()


def test_a_notebook_s_runs_name_their_notebook_and_cell(server: Server, client: httpx.Client) -> None:
    session = client.post(
        "/api/sessions",
        json={
            "path": "nbs/analysis.ipynb",
            "type": "notebook",
            "name": "analysis.ipynb",
            "kernel": {"name": "python3"},
        },
    )
    assert session.status_code == 201, session.text
    kernel_id = session.json()["kernel"]["id"]
    try:
        code = "%load_ext nbdurable\n"
        assert asyncio.run(execute_in_kernel(server, kernel_id, code, "cell-load"))["status"] == "ok"
        cell = "%%durable from-notebook\nanswer = await step.run('ask', lambda: 42)\n"
        assert asyncio.run(execute_in_kernel(server, kernel_id, cell, "cell-durable-1"))["status"] == "ok"
        journal = "nbs/.nbdurable/journal.db"
        runs = until(
            lambda: client.get("/nbdurable/api/runs", params={"function": "cell:from-notebook"}).json()["runs"],
            "the notebook's run listed",
        )
        (run,) = runs
        assert (run["journal"], run["notebook"], run["cell_id"], run["kind"]) == (
            journal,
            "nbs/analysis.ipynb",
            "cell-durable-1",
            "cell",
        )
        assert (run["status"], run["steps_done"]) == ("completed", 1)
        refused = client.post(f"/nbdurable/api/runs/{run['run_id']}/rerun", json={"from_step": "ask"})
        where = check(refused, 409, "/nbdurable/api/runs/{run_id}/rerun", "post")["resume_in"]
        assert where["where"] == "notebook" and where["cell_id"] == "cell-durable-1"
        assert (
            where["notebook"].endswith("nbs/analysis.ipynb")
            and where["code"] == "%durable rerun from-notebook --from ask"
        )
    finally:
        client.delete(f"/api/sessions/{session.json()['id']}")


def test_a_journal_written_meanwhile_is_read_not_written_by_listing(server: Server, client: httpx.Client) -> None:
    """Listing reads: the server never writes a journal it only lists (the journal file is unchanged)."""
    path = server.root / "quiet" / ".nbdurable" / "journal.db"
    add_runs(path, record("quiet-run", status="completed"))
    journal = nd.SQLiteJournal(path)
    journal.write([Write("run_update", run_id="quiet-run", fields={"status_reason": "checked"})])
    journal.close()
    wal = Path(f"{path}-wal")
    assert not wal.exists()  # all committed to the main file
    before = path.stat().st_mtime_ns, path.read_bytes()
    until(lambda: status_of(client, "quiet-run", "quiet/.nbdurable/journal.db") == "completed", "the new journal")
    check(client.get("/nbdurable/api/runs/quiet-run"), 200, "/nbdurable/api/runs/{run_id}")
    assert (path.stat().st_mtime_ns, path.read_bytes()) == before
    assert not wal.exists() or wal.stat().st_size == 0  # SQLite's read-only side file holds no commit


def test_the_environment_s_journal_and_runs_left_interrupted_at_shutdown(tmp_path: Path) -> None:
    """$NBDURABLE_JOURNAL is served (outside the root too); a run the server executes is interrupted when it stops."""
    root = tmp_path / "root"
    root.mkdir()
    journal = tmp_path / "kernel-journal" / "journal.db"
    event = {"name": "served-slow/run", "data": {}, "id": "slow", "ts": time.time()}
    add_runs(journal, record("slow", "served-slow", status="interrupted", event=event))
    config = write_config(tmp_path / "config", {"scan": False})
    srv = Server(root, config, tmp_path / "server.log", {"NBDURABLE_JOURNAL": str(journal)})
    try:
        srv.wait_ready()
        listed = check(srv.client.get("/nbdurable/api/journals"), 200, "/nbdurable/api/journals")["journals"]
        assert [(j["journal"], j["source"]) for j in listed] == [(str(journal), "env")]
        resumed = srv.client.post("/nbdurable/api/runs/slow/resume")
        assert check(resumed, 202, "/nbdurable/api/runs/{run_id}/resume", "post")["journal"] == str(journal)
        until(lambda: status_of(srv.client, "slow", str(journal)) == "sleeping", "the run sleeping in the server")
    finally:
        srv.stop()
    assert srv.process.returncode is not None
    reader = nd.SQLiteJournal(journal, readonly=True)
    try:
        rec = reader.get_run("slow")
        assert rec is not None and rec.status == "interrupted"  # resumable later, from where it was
        assert [s.step_id for s in reader.load_steps("slow")] == ["first", "long"]
    finally:
        reader.close()
