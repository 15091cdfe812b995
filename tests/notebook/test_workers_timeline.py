"""A notebook hands a run to a worker process, and the cell's live timeline follows it (real kernel, real worker).

The kernel and the worker share a journal on the private PostgreSQL server. The cell only starts
the run (``fn.start(..., on="workers")``) and returns: nothing in it waits for the result, so what
moves the timeline is the journal's notifications reaching the kernel's loop. The test reads the
widget's model state as a front end gets it (the comm messages on the kernel's iopub channel).
"""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from nbdurable.testing import Kernel

REPO = Path(__file__).resolve().parents[2]
STEPS = 3


@pytest.fixture
def worker(pg_url: str, tmp_path: Path) -> Iterator[tuple[subprocess.Popen[str], Path]]:
    """One ``nbdurable worker`` serving tests/cli/_worker_app.py; its steps log (run, step, pid) in a side file."""
    log = tmp_path / "steps.log"
    err = tmp_path / "worker.err"
    env = {**os.environ, "PYTHONPATH": str(REPO), "NBD_TEST_LOG": str(log)}
    cmd = [sys.executable, "-m", "nbdurable", "worker", "tests.cli._worker_app", "--journal", pg_url, "--poll", "0.5"]
    proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=err.open("w"), text=True)
    try:
        deadline = time.monotonic() + 60
        while "serving" not in err.read_text():
            assert proc.poll() is None, f"the worker exited {proc.returncode}: {err.read_text()[-2000:]}"
            assert time.monotonic() < deadline, f"the worker did not start: {err.read_text()[-2000:]}"
            time.sleep(0.05)
        yield proc, log
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _widget_states(kernel: Kernel, timeout: float) -> tuple[str, list[dict[str, Any]], list[dict[str, Any]]]:
    """The timeline widget's snapshots as the front end receives them, until the display is finished.

    Returns what the cell printed, the snapshots (the comm_open's, then every update) and the display
    updates (the static timeline that replaces the widget when the run ends).
    """
    stdout = ""
    snapshots: list[dict[str, Any]] = []
    displays: list[dict[str, Any]] = []
    comm_id = None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            msg = kernel.kc.get_iopub_msg(timeout=0.5)
        except queue.Empty:
            continue
        kind, content = msg["msg_type"], msg["content"]
        if kind == "stream" and content["name"] == "stdout":
            stdout += content["text"]
        elif kind == "error":
            raise AssertionError(f"the cell failed: {content['ename']}: {content['evalue']}")
        elif kind == "comm_open" and "snapshot" in content["data"].get("state", {}):
            comm_id = content["comm_id"]
            snapshots.append(content["data"]["state"]["snapshot"])
        elif kind == "comm_msg" and content["comm_id"] == comm_id:
            state = content["data"].get("state", {})
            if "snapshot" in state:
                snapshots.append(state["snapshot"])
        elif kind == "update_display_data":
            displays.append(content)
        elif kind == "comm_close" and content["comm_id"] == comm_id:
            return stdout, snapshots, displays  # the display finished: the widget gave way to the static timeline
    raise AssertionError(f"the timeline did not finish in {timeout}s; snapshots seen: {snapshots[-3:]}")


@pytest.mark.kernel
@pytest.mark.postgres
def test_a_run_handed_to_a_worker_shows_live_in_the_cell(
    kernels: list[Kernel], pg_url: str, worker: tuple[subprocess.Popen[str], Path], tmp_path: Path
) -> None:
    proc, log = worker
    kernel = Kernel(tmp_path, env={"PYTHONPATH": str(REPO)})
    kernels.append(kernel)
    kernel.run(
        f"import nbdurable as nd\nnd.configure({pg_url!r})\nfrom tests.cli._worker_app import job\n"
        "import nbdurable.notebook._widget  # the live widget's module, loaded before the run is shown"
    )
    # Each step holds the worker for a while, so the timeline has steps to show one by one.
    # The cell's output is read as it comes (the widget opens during the cell, its updates come after it).
    kernel.execute("h = job.start(data={'hold': 0.6, 'n': 7}, on='workers')\nprint(h.run_id)", wait=False)
    stdout, snapshots, displays = _widget_states(kernel, timeout=60)
    run_id = stdout.strip()

    # The steps appeared as the worker committed them: 0, then some of the steps, then all of them.
    done = [s["run"]["steps_done"] for s in snapshots if s["run"]["run_id"] == run_id]
    assert done, f"no snapshot of run {run_id} reached the front end: {snapshots}"
    assert done == sorted(done), done
    assert done[0] < STEPS, f"the first snapshot already had every step: {done}"
    assert any(0 < d < STEPS for d in done), f"no snapshot between the first and the last step: {done}"
    # The run ended completed, and the display was replaced by the final static timeline.
    assert displays, "the live view was not replaced by the static timeline when the run ended"
    final = json.dumps(displays[-1]["data"])
    assert "completed" in final, final[:2000]
    # It ran in the worker, not in the kernel.
    rows = [json.loads(line) for line in log.read_text().splitlines()]
    ran = {(r["step"], r["pid"]) for r in rows if r["run"] == run_id and r["ev"] == "end"}
    assert ran == {(f"s{i}", proc.pid) for i in range(STEPS)}, ran
    assert kernel.run("print(h.status)").stdout.strip() == "completed"
