"""The timeline never lies, checked with real durable runs in a real JupyterLab in headless Chromium.

One notebook and one kernel for the module's checks where they can share it: a run
waiting for an event shows its time axis moving on while nothing happens, a notebook
saved mid-wait says how long it has really been, a cancelled run is not shown as
waiting; a run sleeping when its kernel is killed stops its clock, disables its
buttons and says how to resume, and running the cell again resumes it.
"""

from __future__ import annotations

import os
import re
import signal
from typing import Any

import pytest
from playwright.sync_api import Locator, Page, expect

from nbdurable.timeline import MIME_TYPE
from tests.browser.conftest import Lab
from tests.browser.test_durable_lab import (
    RUN_TIMEOUT,
    _assert_no_page_errors,
    _cell,
    _folder,
    _open_notebook,
    _run_cell,
    _save,
    _step,
    _wait_for_idle_kernel,
)

pytestmark = pytest.mark.browser

LOAD = "%load_ext nbdurable\nimport os\nprint(os.getpid())"

GATE = """\
%%durable gate --background
draft = await step.run("draft", lambda: {"refund": 120})
decision = await step.wait_for_event("approve", event="demo/gate", timeout="1h")"""

NAP = """\
%%durable nap --background
before = await step.run("before", lambda: 1)
await step.sleep("nap", "1h")
after = await step.run("after", lambda: 2)"""

TRIPLE = """\
%%durable triple
first = await step.run("first", lambda: 1)
second = await step.run("second", lambda: first + 1)
third = await step.run("third", lambda: second + 1)"""

SHAKY = """\
%%durable shaky
a = await step.run("a", lambda: 1)
b = await step.run("b", lambda: a / 0)"""

FLAKY = """\
%%durable flaky --retries 2
import nbdurable as nd
tries = []
def fetch():
    tries.append(1)
    if len(tries) < 3:
        raise nd.RetryAfterError(f"upstream busy ({len(tries)})", 0.5)
    return "ok"
got = await step.run("fetch", fetch)"""

KERNEL_STOPPED = "Kernel stopped: run the cell again to resume."


def _live(page: Page, index: int) -> Locator:
    return _cell(page, index).locator('.nbd-timeline[data-host="widget"]')


def _last_tick_seconds(timeline: Locator) -> float:
    """Where the time axis ends, in seconds ("+4.2 s", "+1m 05s")."""
    label = timeline.locator(".nbd-tick").last.inner_text()
    match = re.fullmatch(r"\+(?:(\d+)m (\d+)s|([\d.]+) s|(\d+) ms)", label)
    assert match, label
    minutes, seconds, decimal, millis = match.groups()
    if minutes is not None:
        return int(minutes) * 60 + int(seconds)
    return float(decimal) if decimal is not None else int(millis) / 1000


def _saved_snapshot(lab: Lab, path: str, index: int) -> dict[str, Any]:
    outputs = lab.read_notebook(path)["cells"][index]["outputs"]
    bundles = [o["data"] for o in outputs if MIME_TYPE in o.get("data", {})]
    assert len(bundles) == 1, outputs
    data: dict[str, Any] = bundles[0]
    return data


@pytest.fixture(scope="module")
def notebook(lab: Lab) -> str:
    _folder(lab, "truth")
    path = "truth/truth.ipynb"
    lab.write_notebook(path, [LOAD, GATE, NAP, TRIPLE, SHAKY, FLAKY])
    return path


def test_a_wait_moves_the_axis_on_is_saved_as_of_the_save_and_a_cancel_is_not_shown_waiting(
    page: Page, lab: Lab, notebook: str
) -> None:
    _open_notebook(page, lab, notebook)
    _run_cell(page, 0)
    _run_cell(page, 1)
    live = _live(page, 1)
    expect(_step(live, "approve")).to_have_attribute("data-status", "waiting", timeout=RUN_TIMEOUT)
    # the header names the cell once, and a run without AI steps has no tokens or cost to show
    expect(live.locator(".nbd-fn")).to_have_text("%%durable gate")
    expect(live.locator(".nbd-runid")).to_have_count(0)
    expect(live.locator(".nbd-stats")).not_to_contain_text("tokens")
    expect(live.locator(".nbd-stats")).not_to_contain_text("cost")

    # --- nothing happens in the kernel while the run waits, and yet the axis moves on
    start = _last_tick_seconds(live)
    page.wait_for_function(
        """(el) => {
            const ticks = el.querySelectorAll('.nbd-tick');
            const m = /^\\+([\\d.]+) s$/.exec(ticks[ticks.length - 1].textContent);
            return m !== null && parseFloat(m[1]) >= 3;
        }""",
        arg=live.element_handle(),
        timeout=RUN_TIMEOUT,
    )
    assert _last_tick_seconds(live) >= max(3.0, start)

    # --- saved mid-wait: the file says how long the run has been going, not when the last update came
    _save(page)
    saved = _saved_snapshot(lab, notebook, 1)[MIME_TYPE]
    assert saved["run"]["status"] == "waiting"
    assert saved["run"]["now"] - saved["run"]["started_at"] >= 3, saved["run"]

    # --- cancel: the run ends cancelled, and nothing says it still waits
    live.locator("button.nbd-cancel").click()
    final = _cell(page, 1).locator('.nbd-timeline[data-host="mime"]')
    expect(final.locator(".nbd-badge")).to_have_text("cancelled", timeout=RUN_TIMEOUT)
    expect(_step(final, "approve")).to_have_attribute("data-status", "cancelled")
    expect(_step(final, "approve").locator(".nbd-status")).to_have_text("cancelled")
    expect(final).not_to_contain_text("Waiting for event")
    expect(final.locator("button.nbd-send, button.nbd-cancel, textarea")).to_have_count(0)
    _wait_for_idle_kernel(page)
    _save(page)
    data = _saved_snapshot(lab, notebook, 1)
    assert data[MIME_TYPE]["run"]["status"] == "cancelled"
    assert data[MIME_TYPE]["run"]["waiting_for"] is None
    assert "Waiting for event" not in data["text/html"]
    assert "Waiting for event" not in data["text/plain"]
    _assert_no_page_errors(page)


def test_a_killed_kernel_leaves_a_stopped_timeline_and_running_the_cell_again_resumes(
    page: Page, lab: Lab, notebook: str
) -> None:
    _open_notebook(page, lab, notebook)
    _run_cell(page, 0)
    pid = int(_cell(page, 0).locator(".jp-OutputArea-output").last.inner_text().strip().splitlines()[-1])
    _run_cell(page, 2)
    live = _live(page, 2)
    expect(_step(live, "nap")).to_have_attribute("data-status", "sleeping", timeout=RUN_TIMEOUT)
    expect(live.locator("button.nbd-cancel")).to_be_enabled()

    # --- the kernel dies (JupyterLab's server starts a new one): the timeline stops and says so
    os.kill(pid, signal.SIGKILL)
    stopped = _cell(page, 2).locator(".nbd-timeline").locator("visible=true").last
    expect(stopped.locator(".nbd-notice")).to_have_text(KERNEL_STOPPED, timeout=RUN_TIMEOUT)
    expect(stopped).to_have_attribute("data-stale", "true")
    buttons = stopped.locator(".nbd-actions button")
    for i in range(buttons.count()):
        expect(buttons.nth(i)).to_be_disabled()
    elapsed = stopped.locator(".nbd-stat").filter(has_text="elapsed").inner_text()
    status = _step(stopped, "nap").locator(".nbd-status").inner_text()
    page.wait_for_timeout(2_500)  # a ticking clock would show a new second by now
    assert stopped.locator(".nbd-stat").filter(has_text="elapsed").inner_text() == elapsed
    assert _step(stopped, "nap").locator(".nbd-status").inner_text() == status
    dialog = page.locator(".jp-Dialog")
    expect(dialog).to_contain_text("restart", timeout=RUN_TIMEOUT)  # JupyterLab's own "kernel died" notice
    dialog.locator("button.jp-mod-accept").click()
    _wait_for_idle_kernel(page)

    # --- what it says is true: running the cell again resumes the run, the finished step replayed
    _run_cell(page, 0)
    _run_cell(page, 2)
    resumed = _live(page, 2)
    expect(_step(resumed, "nap")).to_have_attribute("data-status", "sleeping", timeout=RUN_TIMEOUT)
    expect(_step(resumed, "before")).to_have_attribute("data-replayed", "true")
    expect(resumed.locator(".nbd-replay")).to_have_text("1 replayed · 1 ran")
    expect(resumed.locator(".nbd-notice")).to_be_hidden()
    expect(resumed.locator("button.nbd-cancel")).to_be_enabled()
    resumed.locator("button.nbd-cancel").click()
    expect(_cell(page, 2).locator('.nbd-timeline[data-host="mime"] .nbd-badge')).to_have_text(
        "cancelled", timeout=RUN_TIMEOUT
    )
    _assert_no_page_errors(page)


def _rerun_from(page: Page, timeline: Locator, step_id: str) -> None:
    step = _step(timeline, step_id)
    step.locator("button.nbd-row").click()
    step.locator("button.nbd-rerun").click()


def _source(page: Page, index: int) -> str:
    source: str = page.evaluate(
        "(i) => window.jupyterapp.shell.currentWidget.content.widgets[i].model.sharedModel.getSource()", index
    )
    return source


def test_rerun_from_a_step_of_a_finished_or_failed_run_shows_the_new_run_below_linked_to_its_parent(
    page: Page, lab: Lab, notebook: str
) -> None:
    _open_notebook(page, lab, notebook)
    _run_cell(page, 0)

    # --- a finished run: its saved timeline offers the rerun; the new run runs in a new cell below
    _run_cell(page, 3)
    done = _cell(page, 3).locator('.nbd-timeline[data-host="mime"]')
    expect(done.locator(".nbd-badge")).to_have_text("completed", timeout=RUN_TIMEOUT)
    _rerun_from(page, done, "second")
    expect(done.locator(".nbd-notice")).to_have_text("Rerunning triple from second in a new cell below.")
    expect(_cell(page, 4).locator(".jp-InputArea")).to_contain_text("%durable rerun triple --from second")
    assert _source(page, 4) == "%durable rerun triple --from second"
    rerun = _cell(page, 4).locator('.nbd-timeline[data-host="mime"]')
    expect(rerun.locator(".nbd-badge")).to_have_text("completed", timeout=RUN_TIMEOUT)
    expect(rerun.locator(".nbd-runid")).to_have_text("triple~1")
    expect(rerun.locator(".nbd-rerun-of")).to_have_text(
        "Rerun of triple from step second: the steps before it replayed from that run"
    )
    expect(rerun.locator(".nbd-replay")).to_have_text("1 replayed · 2 ran")
    expect(_step(rerun, "first")).to_have_attribute("data-replayed", "true")
    expect(_step(rerun, "third")).to_have_attribute("data-replayed", "false")
    expect(_cell(page, 4)).to_contain_text("rerunning 'triple' from 'second' as new run 'triple~1'")

    # --- a failed run offers it too (SHAKY moved down one cell)
    _wait_for_idle_kernel(page)
    _run_cell(page, 5)
    failed = _cell(page, 5).locator('.nbd-timeline[data-host="mime"]')
    expect(failed.locator(".nbd-badge")).to_have_text("failed", timeout=RUN_TIMEOUT)
    _rerun_from(page, failed, "b")
    assert _source(page, 6) == "%durable rerun shaky --from b"
    again = _cell(page, 6).locator('.nbd-timeline[data-host="mime"]')
    expect(again.locator(".nbd-badge")).to_have_text("failed", timeout=RUN_TIMEOUT)
    expect(again.locator(".nbd-rerun-of")).to_contain_text("Rerun of shaky from step b")
    expect(_step(again, "a")).to_have_attribute("data-replayed", "true")
    _assert_no_page_errors(page)


def test_a_retried_step_shows_every_attempt_with_its_error_and_backoff(page: Page, lab: Lab, notebook: str) -> None:
    _open_notebook(page, lab, notebook)
    _run_cell(page, 0)
    sources = page.evaluate(
        "() => window.jupyterapp.shell.currentWidget.content.widgets.map(c => c.model.sharedModel.getSource())"
    )
    index = sources.index(FLAKY)  # cells were added above it by the rerun test
    _run_cell(page, index)
    done = _cell(page, index).locator('.nbd-timeline[data-host="mime"]')
    expect(done.locator(".nbd-badge")).to_have_text("completed", timeout=RUN_TIMEOUT)
    fetch = _step(done, "fetch")
    expect(fetch.locator(".nbd-status")).to_have_text("completed (attempt 3 of 3)")
    fetch.locator("button.nbd-row").click()
    attempts = fetch.locator(".nbd-attempts li")
    expect(attempts).to_have_count(2)
    for n in (1, 2):
        expect(attempts.nth(n - 1)).to_contain_text(f"Attempt {n} failed after ")
        expect(attempts.nth(n - 1)).to_contain_text(f"RetryAfterError: upstream busy ({n}); retried ")
    # the row spans every attempt and its backoff (two of 0.5 s), not only the last, instant one
    duration = fetch.locator(".nbd-dur").inner_text()
    assert duration.endswith(" s") and float(duration.split()[0]) >= 1.0, duration
    _assert_no_page_errors(page)
