"""Worker processes (``nbdurable worker``) against a real journal: real processes, killed with SIGKILL.

The workers serve ``tests/cli/_worker_app.py``; every step execution appends a line to a side file
(run, step, pid), from which the tests count how often each step ran and in which process.
This process plays the notebook: it sends events, hands runs to workers and awaits their results.
"""

from __future__ import annotations

import asyncio
import collections
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import nbdurable as nd
from nbdurable.engine import registry
from nbdurable.journal._backends import open_journal
from tests.helpers import reset_engine

REPO = Path(__file__).resolve().parents[2]
APP = ("wk-job", "wk-napper", "wk-slow", "wk-child")


class Workers:
    """Worker processes on one journal, sharing one side file; any left running are killed at the end."""

    def __init__(self, journal: str, tmp: Path, *, lease_ttl: float = 2.0) -> None:
        self.journal = journal
        self.log = tmp / "steps.log"
        self.tmp = tmp
        self.env = {
            **os.environ,
            "PYTHONPATH": str(REPO),
            "NBD_TEST_LOG": str(self.log),
            "NBDURABLE_LEASE_TTL": str(lease_ttl),
        }
        self.procs: list[subprocess.Popen[str]] = []
        self.errs: dict[int, Path] = {}

    def start(self, *args: str, concurrency: int = 8) -> subprocess.Popen[str]:
        err = self.tmp / f"worker{len(self.procs)}.err"
        cmd = [sys.executable, "-m", "nbdurable", "worker", "tests.cli._worker_app", "--journal", self.journal]
        cmd += ["--concurrency", str(concurrency), "--poll", "0.5", *args]
        proc = subprocess.Popen(cmd, cwd=REPO, env=self.env, stdout=subprocess.DEVNULL, stderr=err.open("w"), text=True)
        self.procs.append(proc)
        self.errs[proc.pid] = err
        return proc

    def stderr(self, proc: subprocess.Popen[str]) -> str:
        return self.errs[proc.pid].read_text()

    def until(self, predicate: Callable[[], bool], what: str, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while not predicate():
            for proc in self.procs:
                code = proc.poll()
                if code not in (None, 0, -signal.SIGKILL):
                    raise AssertionError(f"worker {proc.pid} exited {code}:\n{self.stderr(proc)[-3000:]}")
            if time.monotonic() > deadline:
                tails = "\n".join(self.stderr(p)[-1500:] for p in self.procs)
                raise AssertionError(f"{what}: not reached in {timeout}s\n{tails}")
            time.sleep(0.05)

    def serving(self, proc: subprocess.Popen[str]) -> bool:
        return "serving" in self.stderr(proc)

    def stop(self, proc: subprocess.Popen[str], timeout: float = 60) -> str:
        """SIGTERM: the worker finishes its steps, gives its runs up and exits 0."""
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=timeout)
        assert proc.returncode == 0, f"worker {proc.pid} exited {proc.returncode}:\n{self.stderr(proc)}"
        return self.stderr(proc)

    def kill_all(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()

    def lines(self, ev: str | None = None) -> list[dict[str, Any]]:
        if not self.log.exists():
            return []
        rows = [json.loads(line) for line in self.log.read_text().splitlines() if line]
        return [r for r in rows if ev is None or r["ev"] == ev]

    def records(self, function_id: str) -> list[nd.RunRecord]:
        journal = open_journal(self.journal)
        try:
            return journal.list_runs(function_id=function_id, limit=None)
        finally:
            journal.close()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def journal_spec(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "postgres":
        return str(request.getfixturevalue("pg_url"))
    return str(tmp_path / "journal.db")


@pytest.fixture
def workers(journal_spec: str, tmp_path: Path) -> Iterator[Workers]:
    pool = Workers(journal_spec, tmp_path)
    yield pool
    pool.kill_all()


@pytest.fixture
def notebook(journal_spec: str) -> Iterator[nd.Engine]:
    """This process as a notebook on the workers' journal; functions it defines are forgotten after."""
    reset_engine()
    saved = dict(registry())
    engine = nd.configure(journal_spec, poll_interval=0.05)
    yield engine
    registry().clear()
    registry().update(saved)
    reset_engine()


def app() -> Any:
    """The workers' module, imported here too (as a notebook importing the team's module would)."""
    import tests.cli._worker_app as module

    for fn in (module.job, module.napper, module.slow, module.child):
        registry()[fn.id] = fn
    return module


def forget_app() -> None:
    """Make this process one that does not define the workers' functions (it only sends their events)."""
    for fid in APP:
        registry().pop(fid, None)


# -- many runs, several workers, one killed --------------------------------------------------------------


@pytest.mark.crash
def test_hundreds_of_event_triggered_runs_survive_a_killed_worker(
    workers: Workers, notebook: nd.Engine, journal_spec: str
) -> None:
    """Three workers, 300 events, one worker SIGKILLed part-way: every run completes, no completed step
    runs twice, and the work is spread over the workers."""
    forget_app()  # the sender does not define wk-job: the workers turn its events into runs
    sqlite = not journal_spec.startswith("postgresql")
    runs, concurrency = (120, 4) if sqlite else (300, 8)
    procs = [workers.start(concurrency=concurrency) for _ in range(3)]
    workers.until(lambda: all(workers.serving(p) for p in procs), "three workers serving")
    workers.until(lambda: notebook.journal.get_cursor("dispatch:wk-job") is not None, "the event cursor created")
    for n in range(runs):
        notebook.send_nowait("wk/job", {"n": n, "hold": 0.1})

    def completed() -> int:
        return sum(1 for r in workers.records("wk-job") if r.status == "completed")

    workers.until(lambda: completed() >= runs // 3, "a third of the runs completed", timeout=120)

    def in_a_step() -> list[int]:
        # The workers inside at least two steps now, busiest first: killing one of them cuts steps in half.
        rows = workers.lines()
        ended = {(r["run"], r["step"], r["pid"]) for r in rows if r["ev"] == "end"}
        open_steps = collections.Counter(
            r["pid"] for r in rows if r["ev"] == "begin" and (r["run"], r["step"], r["pid"]) not in ended
        )
        return [pid for pid, n in open_steps.most_common() if n >= 2]

    chosen: list[int] = []

    def someone_in_a_step() -> bool:
        chosen[:] = in_a_step()
        return bool(chosen)

    workers.until(someone_in_a_step, "a worker inside a step")
    victim = next(p for p in procs if p.pid == chosen[0])
    victim.send_signal(signal.SIGKILL)
    victim.wait()
    killed_at = time.time()
    workers.until(lambda: completed() == runs, f"all {runs} runs completed", timeout=180)
    for proc in procs:
        if proc is not victim:
            workers.stop(proc)

    records = workers.records("wk-job")
    assert len(records) == runs and {r.status for r in records} == {"completed"}
    assert sorted(int(r.result or "0") for r in records) == list(range(runs))
    begins = collections.Counter((r["run"], r["step"]) for r in workers.lines("begin"))
    ends = {(r["run"], r["step"]) for r in workers.lines("end")}
    assert len(begins) == runs * 3 and ends == set(begins), "every step of every run ran to its end"
    again = {key: n for key, n in begins.items() if n > 1}
    assert all(n == 2 for n in again.values()), again
    # Only steps the killed worker had in flight ran twice: their first execution was in that worker.
    first_pid = {}
    for r in workers.lines("begin"):
        first_pid.setdefault((r["run"], r["step"]), r["pid"])
    assert {first_pid[key] for key in again} <= {victim.pid}
    assert len(again) <= concurrency, f"{len(again)} steps ran twice, more than the killed worker had in flight"
    # No step ran again after being completed: a repeat began after the kill, its first run began before it.
    for r in workers.lines("begin"):
        if (r["run"], r["step"]) in again and r["pid"] != victim.pid:
            assert r["at"] >= killed_at - 0.5
    # The steps the kill cut in half began again in another worker: their runs were taken over.
    cut = {(r["run"], r["step"]) for r in workers.lines("begin") if r["pid"] == victim.pid} - {
        (r["run"], r["step"]) for r in workers.lines("end") if r["pid"] == victim.pid
    }
    assert cut, f"the worker was killed inside a step: {chosen}, {killed_at}, {workers.lines()[-5:]}"
    again_elsewhere = {(r["run"], r["step"]) for r in workers.lines("begin") if r["pid"] != victim.pid}
    assert cut <= again_elsewhere, "a step cut by the kill was not run again by another worker"
    by_pid = collections.Counter(r["pid"] for r in workers.lines("end"))
    assert set(by_pid) == {p.pid for p in procs}, "every worker executed steps"
    assert min(by_pid.values()) >= 10, f"work spread over the workers: {by_pid}"


# -- handing runs to workers from a notebook ---------------------------------------------------------------


@pytest.mark.crash
@pytest.mark.asyncio
async def test_a_notebook_hands_runs_to_workers_and_follows_them(
    workers: Workers, notebook: nd.Engine, journal_spec: str
) -> None:
    module = app()
    worker = workers.start(concurrency=4)
    workers.until(lambda: workers.serving(worker), "the worker serving")
    seen: list[tuple[str, str]] = []
    notebook.subscribe(lambda notice: seen.append((notice.kind, notice.run_id)))

    handle = module.job.start({"n": 7, "hold": 0.05}, on="workers")
    # Not executing here: queued for the worker (which may already have taken it).
    assert handle.run_id not in notebook.active and handle.status in ("queued", "running", "completed")
    assert await asyncio.wait_for(handle.result(), 60) == 7
    steps = handle.steps()
    assert [s.step_id for s in steps] == ["s0", "s1", "s2"]
    assert {s.status for s in steps} == {"completed"}
    assert {r["pid"] for r in workers.lines("end") if r["run"] == handle.run_id} == {worker.pid}
    assert handle.run_id in {h.run_id for h in nd.runs()}
    listed = subprocess.run(
        [sys.executable, "-m", "nbdurable", "list", "--journal", journal_spec],
        capture_output=True,
        text=True,
        env=workers.env,
        cwd=REPO,
        check=True,
    )
    assert handle.run_id[:8] in listed.stdout and "wk-job" in listed.stdout, listed.stdout
    if not journal_spec.startswith("postgresql"):
        return
    # On PostgreSQL the journal's notifications drive a timeline of the run here: steps, then its end.
    assert ("step_finished", handle.run_id) in seen and ("run_finished", handle.run_id) in seen

    napping = module.napper.start({"nap": 0.2, "key": "k1"}, on="workers")
    while napping.status != "waiting":
        await asyncio.sleep(0.02)
    await nd.send("wk/answer", {"key": "k1", "text": "approved"})
    assert await asyncio.wait_for(napping.result(), 60) == "approved"


@pytest.mark.crash
@pytest.mark.asyncio
async def test_a_run_invokes_a_function_only_workers_define(workers: Workers, notebook: nd.Engine) -> None:
    worker = workers.start(concurrency=2)
    forget_app()

    @nd.function(id="wk-parent")
    async def parent(ctx: nd.Context) -> int:
        return int(await ctx.step.invoke("call", function="wk-child", data={"x": 21}))

    workers.until(lambda: workers.serving(worker), "the worker serving")
    handle = parent.start()
    assert await asyncio.wait_for(handle.result(), 60) == 42
    (child,) = workers.records("wk-child")
    assert child.parent_run_id == handle.run_id and child.queue == "default"
    assert [r["pid"] for r in workers.lines("end")] == [worker.pid]


# -- stopping --------------------------------------------------------------------------------------------


@pytest.mark.crash
def test_sigterm_finishes_the_step_in_flight_and_hands_the_run_over(workers: Workers, notebook: nd.Engine) -> None:
    module = app()
    first = workers.start(concurrency=1)
    workers.until(lambda: workers.serving(first), "the first worker serving")
    handle = module.slow.start({"hold": 1.0}, on="workers")
    workers.until(lambda: len(workers.lines("begin")) == 1, "the first long step began")
    log = workers.stop(first)
    assert "released to another worker" in log
    rec = notebook.journal.get_run(handle.run_id)
    assert rec is not None and rec.owner is None and rec.status == "running", "given up, not ended"
    assert [(r["step"], r["pid"]) for r in workers.lines("end")] == [("long0", first.pid)], "its step finished"
    second = workers.start(concurrency=1)
    workers.until(lambda: handle.status == "completed", "the second worker finished the run")
    workers.stop(second)
    ran = [(r["step"], r["pid"]) for r in workers.lines("begin")]
    assert ran == [("long0", first.pid), ("long1", second.pid)], "the completed step did not run again"


def test_a_worker_says_what_it_cannot_serve(tmp_path: Path) -> None:
    base = [sys.executable, "-m", "nbdurable", "worker", "--journal", str(tmp_path / "j.db")]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    missing = subprocess.run([*base, "no_such_module_here"], capture_output=True, text=True, env=env, cwd=REPO)
    assert missing.returncode == 2 and "cannot import 'no_such_module_here'" in missing.stderr
    wrong = subprocess.run(
        [*base, "tests.cli._worker_app", "--function", "nope"], capture_output=True, text=True, env=env, cwd=REPO
    )
    assert wrong.returncode == 2 and "--function nope" in wrong.stderr and "wk-job" in wrong.stderr
    bad = subprocess.run(
        [*base, "tests.cli._worker_app", "--concurrency", "0"], capture_output=True, text=True, env=env, cwd=REPO
    )
    assert bad.returncode == 2 and "concurrency" in bad.stderr


@pytest.mark.crash
def test_a_run_held_by_a_worker_on_another_machine_is_taken_only_when_its_lease_runs_out(
    workers: Workers, notebook: nd.Engine
) -> None:
    """An owner on another host cannot be checked by pid: its run waits for the lease, then resumes here."""
    module = app()
    handle = module.slow.start({"hold": 0.05}, on="workers")
    lease_until = time.time() + 2.0
    (held,) = notebook.journal.claim_next(
        "elsewhere.example:4242:1",
        queues=None,
        function_ids=["wk-slow"],
        now=time.time(),
        lease_until=lease_until,
        limit=1,
    )
    assert held.run_id == handle.run_id
    worker = workers.start(concurrency=2)
    workers.until(lambda: handle.status == "completed", "the run taken over after the lease ran out")
    workers.stop(worker)
    begins = [r for r in workers.lines("begin") if r["run"] == handle.run_id]
    assert [r["step"] for r in begins] == ["long0", "long1"]
    assert begins[0]["at"] >= lease_until, "taken while the other machine's lease still held it"
    rec = notebook.journal.get_run(handle.run_id)
    assert rec is not None and rec.owner is not None and rec.owner.split(":")[1] == str(worker.pid)


@pytest.mark.postgres
@pytest.mark.crash
@pytest.mark.asyncio
async def test_a_worker_whose_connections_are_cut_reconnects_and_keeps_serving(pg_url: str, tmp_path: Path) -> None:
    """The server drops every connection (as a failover or a network cut does): the worker carries on."""
    import psycopg

    pool = Workers(pg_url, tmp_path)
    reset_engine()
    saved = dict(registry())
    try:
        module = app()
        nd.configure(pg_url, poll_interval=0.05)
        worker = pool.start(concurrency=2)
        pool.until(lambda: pool.serving(worker), "the worker serving")
        assert await asyncio.wait_for(module.job.start({"n": 1, "hold": 0.0}, on="workers").result(), 60) == 1
        base = pg_url.split("?")[0]
        with psycopg.connect(base, autocommit=True) as conn:
            cut = conn.execute(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid() AND application_name = 'nbdurable'"
            ).fetchone()
        assert cut is not None and cut[0] >= 1
        reset_engine()  # this process reconnects too: a fresh engine on the same journal
        nd.configure(pg_url, poll_interval=0.05)
        assert await asyncio.wait_for(module.job.start({"n": 2, "hold": 0.0}, on="workers").result(), 60) == 2
        assert worker.poll() is None, pool.stderr(worker)
        assert {r["pid"] for r in pool.lines("end")} == {worker.pid}
        pool.stop(worker)
    finally:
        pool.kill_all()
        registry().clear()
        registry().update(saved)
        reset_engine()
