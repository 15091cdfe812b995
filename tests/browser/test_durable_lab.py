"""Real durable runs in a real JupyterLab, driven as a user would in headless Chromium.

No synthetic snapshots here: the notebook loads the extension, a ``%%durable`` cell runs
on the kernel's loop and journals its steps next to the notebook, and the timeline the
user sees comes from the engine. The user watches rows appear while the run goes on,
restarts the kernel from the Kernel menu and sees the finished steps replayed from the
journal, approves a waiting run from the timeline's button, then saves, shuts the kernel
down and reloads the page to find the static timeline still there. Screenshots of each
state (lab-durable-*.png) go to a temporary folder, or docs/images with scripts/docs-images.sh.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Locator, Page, expect

from nbdurable.timeline._render import MIME_TYPE
from tests.browser.conftest import Lab

pytestmark = pytest.mark.browser

# A run that is executing gets a few seconds of slack; a kernel start can take a while on a busy machine.
RUN_TIMEOUT = 30_000
KERNEL_TIMEOUT = 60_000

LOAD = "%load_ext nbdurable"

HELPERS = """\
import asyncio
import json
import os

calls = []


async def slow(n):
    \"\"\"A slow call we would hate to repeat; `calls` shows whether it really ran.\"\"\"
    calls.append(n)
    await asyncio.sleep(0.5)
    return {"n": n, "square": n * n}


print("kernel", os.getpid())"""

PIPELINE = """\
%%durable pipeline
config = await step.run("load-config", lambda: {"pages": 6})
results = []
for i in range(1, config["pages"] + 1):
    results.append(await step.run(f"fetch-{i}", slow, i))
total = await step.run("total", lambda: sum(r["square"] for r in results))"""

REPORT = 'print(json.dumps({"total": total, "calls": calls}))'

PIPELINE_STEPS = ["load-config", *(f"fetch-{i}" for i in range(1, 7)), "total"]

APPROVAL = """\
%%durable approval --background
draft = await step.run("draft", lambda: {"refund": 120, "to": "ana@example.com"})
decision = await step.wait_for_event("approve", event="demo/approved", timeout="1h")
receipt = await step.run("refund", lambda: {"refunded": decision.data["approved"], "by": decision.data["by"]})"""

SHOW_DECISION = "print(json.dumps(decision.data, sort_keys=True))"

APPROVAL_STEPS = ["draft", "approve", "refund"]


# ---------------------------------------------------------------- driving JupyterLab


def _open_notebook(page: Page, lab: Lab, path: str) -> None:
    """Open ``path`` in a fresh workspace (no tabs restored from other tests) and wait for its kernel."""
    page.goto(lab.url(f"/lab/tree/{path}?reset"))
    page.wait_for_function(
        """(path) => {
            const w = window.jupyterapp && window.jupyterapp.shell.currentWidget;
            return !!(w && w.context && w.context.path === path && w.content && w.content.widgets.length > 0);
        }""",
        arg=path,
        timeout=KERNEL_TIMEOUT,
    )
    page.evaluate(
        """async () => {
            const panel = window.jupyterapp.shell.currentWidget;
            await panel.context.ready;
            await panel.sessionContext.ready;
        }"""
    )
    _wait_for_idle_kernel(page)


def _wait_for_idle_kernel(page: Page) -> None:
    page.wait_for_function(
        """() => {
            const kernel = window.jupyterapp.shell.currentWidget.sessionContext.session?.kernel;
            return !!kernel && kernel.connectionStatus === 'connected' && kernel.status === 'idle';
        }""",
        timeout=KERNEL_TIMEOUT,
    )


def _run_cell(page: Page, index: int) -> None:
    """Run a cell and wait until the kernel has finished executing it."""
    page.evaluate(
        """async (index) => {
            const app = window.jupyterapp;
            app.shell.currentWidget.content.activeCellIndex = index;
            await app.commands.execute('notebook:run-cell');
        }""",
        index,
    )


def _start_cell(page: Page, index: int) -> None:
    """Run a cell without waiting for it to finish, so the test can watch it."""
    page.evaluate(
        """(index) => {
            const app = window.jupyterapp;
            app.shell.currentWidget.content.activeCellIndex = index;
            void app.commands.execute('notebook:run-cell');
        }""",
        index,
    )


def _restart_kernel_from_menu(page: Page) -> None:
    """Kernel menu, "Restart Kernel…", confirm; return once the new kernel process is idle."""
    page.evaluate(
        """() => {
            const kernel = window.jupyterapp.shell.currentWidget.sessionContext.session.kernel;
            window.__nbdKernelStatuses = [];
            kernel.statusChanged.connect((_, status) => window.__nbdKernelStatuses.push(status));
        }"""
    )
    page.locator(".lm-MenuBar-item", has_text="Kernel").click()
    page.locator('.lm-Menu-item[data-command="kernelmenu:restart"]').click()
    dialog = page.locator(".jp-Dialog")
    expect(dialog).to_contain_text("Restart")
    dialog.locator("button.jp-mod-accept").click()
    expect(dialog).to_have_count(0)
    page.wait_for_function(
        """() => {
            const kernel = window.jupyterapp.shell.currentWidget.sessionContext.session?.kernel;
            return window.__nbdKernelStatuses.includes('restarting')
                && !!kernel && kernel.connectionStatus === 'connected' && kernel.status === 'idle';
        }""",
        timeout=KERNEL_TIMEOUT,
    )


def _save(page: Page) -> None:
    page.evaluate("async () => { await window.jupyterapp.commands.execute('docmanager:save'); }")


def _cell(page: Page, index: int) -> Locator:
    # Only the notebook in view, in case another notebook sits in a hidden tab.
    return page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook .jp-Cell").nth(index)


def _timeline(page: Page, index: int) -> Locator:
    """The timeline the user sees in a cell's output.

    A live output holds two: the saved snapshot (hidden while the widget is alive) and
    the widget's view; at the moment the run ends both may briefly show, the widget last.
    """
    return _cell(page, index).locator(".nbd-timeline").locator("visible=true").last


def _stdout(page: Page, index: int) -> str:
    output = _cell(page, index).locator(".jp-OutputArea-output")
    expect(output).to_have_count(1)
    return output.inner_text().strip()


def _shot(locator: Locator, path: Path) -> None:
    locator.scroll_into_view_if_needed()
    locator.screenshot(path=str(path))
    assert path.stat().st_size > 5_000, f"{path} looks empty"


def _step(timeline: Locator, step_id: str) -> Locator:
    return timeline.locator(f'.nbd-step[data-step-id="{step_id}"]')


def _step_ids(timeline: Locator) -> list[str]:
    ids: list[str] = timeline.locator(".nbd-step").evaluate_all("rows => rows.map(r => r.dataset.stepId)")
    return ids


def _detail_value(detail: Locator, label: str) -> Locator:
    """The value next to ``label`` in an opened step's details."""
    return detail.locator("dt", has_text=label).locator("xpath=following-sibling::dd[1]")


def _assert_finished(timeline: Locator, step_ids: list[str], *, replayed: bool) -> None:
    """The run's static view: completed, every step in order and completed, replayed or not."""
    expect(timeline).to_have_attribute("data-host", "mime", timeout=RUN_TIMEOUT)
    expect(timeline.locator(".nbd-badge")).to_have_text("completed")
    expect(timeline.locator(".nbd-step")).to_have_count(len(step_ids))
    assert _step_ids(timeline) == step_ids
    rows = timeline.locator(".nbd-step")
    expect(timeline.locator('.nbd-step[data-status="completed"]')).to_have_count(len(step_ids))
    expect(timeline.locator(f'.nbd-step[data-replayed="{str(replayed).lower()}"]')).to_have_count(len(step_ids))
    expect(timeline.locator(".nbd-replayed-mark")).to_have_count(len(step_ids) if replayed else 0)
    label = "replayed" if replayed else "completed"
    for i in range(len(step_ids)):
        expect(rows.nth(i).locator(".nbd-status")).to_have_text(label)
    expect(timeline.locator(".nbd-stat").filter(has_text="steps")).to_contain_text(f"{len(step_ids)} / {len(step_ids)}")
    expect(timeline.locator("button.nbd-send, button.nbd-cancel, textarea")).to_have_count(0)


def _record_live_rows(page: Page, index: int) -> None:
    """Record every state the live widget of cell ``index`` goes through (run status and step rows)."""
    page.evaluate(
        """(index) => {
            const cell = window.jupyterapp.shell.currentWidget.content.widgets[index].node;
            const samples = (window.__nbdLiveSamples = []);
            const record = () => {
                const timeline = cell.querySelector('.nbd-timeline[data-host="widget"]');
                if (!timeline) {
                    return;
                }
                const rows = Array.from(
                    timeline.querySelectorAll('.nbd-step'), r => [r.dataset.stepId, r.dataset.status]
                );
                const sample = {status: timeline.dataset.status, rows};
                const last = samples[samples.length - 1];
                if (!last || JSON.stringify(last) !== JSON.stringify(sample)) {
                    samples.push(sample);
                }
            };
            new MutationObserver(record).observe(cell, {subtree: true, childList: true, attributes: true});
        }""",
        index,
    )


def _assert_rows_grew_live(page: Page, step_ids: list[str]) -> None:
    """While running, the widget showed the steps reached so far: done ones completed, the last one running."""
    samples: list[dict[str, Any]] = page.evaluate("() => window.__nbdLiveSamples")
    running = [s for s in samples if s["status"] == "running"]
    counts = [len(s["rows"]) for s in running]
    assert len(set(counts)) >= 3, f"the live rows should grow while the run goes on, saw {samples}"
    assert counts == sorted(counts), f"rows are only ever added while the run goes on, saw {samples}"
    for sample in running:
        ids = [step_id for step_id, _ in sample["rows"]]
        assert ids == step_ids[: len(ids)], sample
        statuses = [status for _, status in sample["rows"]]
        assert set(statuses[:-1]) <= {"completed"}, sample
        assert statuses[-1:] in ([], ["running"], ["completed"]), sample


def _wait_past_live_store_window(page: Page) -> None:
    """Let the extension's deferred write of the live snapshot into the output (every 2 s at most) happen.

    Nothing in the page signals that no write is pending, so this is a plain wait: a
    stale live snapshot written over the final timeline would show within it.
    """
    page.wait_for_timeout(2_500)


def _folder(lab: Lab, name: str) -> Path:
    """A folder of its own per test: the kernel runs there, so its journal (.nbdurable/) is private."""
    folder = lab.root / name
    folder.mkdir()
    return folder


def _assert_no_page_errors(page: Page) -> None:
    errors = page.nbd_errors.relevant()  # type: ignore[attr-defined]
    assert errors == [], errors


# ---------------------------------------------------------------- the tests


def test_durable_cell_shows_live_rows_then_replays_after_a_kernel_restart(page: Page, lab: Lab, images: Path) -> None:
    folder = _folder(lab, "pipeline")
    lab.write_notebook("pipeline/pipeline.ipynb", [LOAD, HELPERS, PIPELINE, REPORT])
    _open_notebook(page, lab, "pipeline/pipeline.ipynb")
    _run_cell(page, 0)
    _run_cell(page, 1)
    first_kernel = _stdout(page, 1)
    assert first_kernel.startswith("kernel ")

    # --- the run goes on: the live widget grows a row per step as the run reaches it
    _record_live_rows(page, 2)
    _start_cell(page, 2)
    live = _cell(page, 2).locator('.nbd-timeline[data-host="widget"]')
    expect(live.locator('.nbd-step[data-status="running"]')).to_have_count(1, timeout=RUN_TIMEOUT)
    _shot(_cell(page, 2).locator(".jp-OutputArea"), images / "lab-durable-running.png")

    # --- the run ends: the same output becomes the static timeline, every step completed, and stays so
    timeline = _timeline(page, 2)
    _assert_finished(timeline, PIPELINE_STEPS, replayed=False)
    _assert_rows_grew_live(page, PIPELINE_STEPS)
    _wait_past_live_store_window(page)
    _assert_finished(timeline, PIPELINE_STEPS, replayed=False)
    expect(page.get_by_text("Error displaying widget")).to_have_count(0)
    _shot(_cell(page, 2).locator(".jp-OutputArea"), images / "lab-durable-completed.png")
    _wait_for_idle_kernel(page)
    _run_cell(page, 3)
    assert json.loads(_stdout(page, 3)) == {"total": 91, "calls": [1, 2, 3, 4, 5, 6]}
    assert (folder / ".nbdurable" / "journal.db").is_file(), "the journal sits next to the notebook"

    # --- restart the kernel from the menu and run everything again: every step replays
    _restart_kernel_from_menu(page)
    for index in range(4):
        _run_cell(page, index)
    second_kernel = _stdout(page, 1)
    assert second_kernel.startswith("kernel ")
    assert second_kernel != first_kernel, "the restart gave a new kernel process"
    replay = _timeline(page, 2)
    _assert_finished(replay, PIPELINE_STEPS, replayed=True)
    _wait_past_live_store_window(page)
    _assert_finished(replay, PIPELINE_STEPS, replayed=True)
    mark = _step(replay, "fetch-1").locator(".nbd-replayed-mark")
    expect(mark).to_have_attribute("title", "replayed from the journal")
    expect(mark).to_have_attribute("aria-label", "replayed")
    # nothing ran again, and the names the cell assigns are back from the journal
    assert json.loads(_stdout(page, 3)) == {"total": 91, "calls": []}
    # a replayed step still opens on what the journal holds
    _step(replay, "fetch-4").locator("button.nbd-row").click()
    detail = _step(replay, "fetch-4").locator(".nbd-detail")
    expect(detail).to_be_visible()
    expect(detail).to_contain_text("replayed (from the journal)")
    expect(detail.locator(".nbd-output")).to_contain_text('{"n":4,"square":16}')
    _shot(_cell(page, 2).locator(".jp-OutputArea"), images / "lab-durable-replayed.png")
    _assert_no_page_errors(page)
    # the first and only attempt of a step reads "1 of 1", as in the renderer's "retrying 2 of 4"
    expect(_detail_value(detail, "attempts")).to_have_text("1 of 1")


def test_approve_button_finishes_a_waiting_run_and_the_saved_timeline_survives_reload(
    page: Page, lab: Lab, images: Path
) -> None:
    _folder(lab, "approval")
    lab.write_notebook("approval/approval.ipynb", [LOAD, APPROVAL, "import json", SHOW_DECISION])
    _open_notebook(page, lab, "approval/approval.ipynb")
    _run_cell(page, 0)

    # --- a background run: the cell returns at once and the timeline waits for the event
    _run_cell(page, 1)
    live = _cell(page, 1).locator('.nbd-timeline[data-host="widget"]')
    expect(live).to_be_visible(timeout=RUN_TIMEOUT)
    waiting = _step(live, "approve")
    expect(waiting).to_have_attribute("data-status", "waiting", timeout=RUN_TIMEOUT)
    expect(waiting.locator(".nbd-status")).to_have_text("waiting for demo/approved")
    expect(waiting.locator(".nbd-kind")).to_have_text("wait")
    expect(_step(live, "draft")).to_have_attribute("data-status", "completed")
    expect(live.locator(".nbd-badge")).to_have_text("waiting")
    assert _step_ids(live) == ["draft", "approve"]
    expect(live.locator(".nbd-wait-title")).to_contain_text("Waiting for event demo/approved")
    payload = live.locator("textarea.nbd-payload")
    expect(payload).to_have_value("{}")
    approve = live.locator("button.nbd-send")
    expect(approve).to_have_text("Approve: send demo/approved")
    expect(approve).to_be_enabled()
    _run_cell(page, 2)  # the kernel is free while the run waits

    payload.fill('{"approved": true, "by": "ana"}')
    _shot(_cell(page, 1).locator(".jp-OutputArea"), images / "lab-durable-approve.png")

    # --- a payload that is not JSON is refused in the page, nothing is sent
    payload.fill("{approved: yes")
    approve.click()
    expect(live.locator(".nbd-field-error")).to_contain_text("not valid JSON")
    expect(approve).to_be_enabled()
    expect(waiting).to_have_attribute("data-status", "waiting")

    # --- approve with a payload: the run finishes and the output turns into the static timeline
    payload.fill('{"approved": true, "by": "ana"}')
    approve.click()
    timeline = _timeline(page, 1)
    _assert_finished(timeline, APPROVAL_STEPS, replayed=False)
    _wait_past_live_store_window(page)
    _assert_finished(timeline, APPROVAL_STEPS, replayed=False)
    _shot(_cell(page, 1).locator(".jp-OutputArea"), images / "lab-durable-approved.png")
    _run_cell(page, 3)
    assert json.loads(_stdout(page, 3)) == {"approved": True, "by": "ana"}

    # --- save; the file holds the static timeline, no widget
    _save(page)
    saved = lab.read_notebook("approval/approval.ipynb")
    outputs = saved["cells"][1]["outputs"]
    bundles = [o for o in outputs if MIME_TYPE in o.get("data", {})]
    assert len(bundles) == 1, outputs
    assert set(bundles[0]["data"]) == {MIME_TYPE, "text/html", "text/plain"}, "no widget view left in the file"
    snapshot = bundles[0]["data"][MIME_TYPE]
    assert snapshot["run"]["status"] == "completed"
    assert [s["step_id"] for s in snapshot["steps"]] == APPROVAL_STEPS

    # --- shut the kernel down, reload the page: the extension draws the saved timeline
    old_kernels = lab.shut_down_kernels()
    assert old_kernels, "the notebook had a kernel"
    page.reload()
    _open_notebook(page, lab, "approval/approval.ipynb")
    current = {k["id"] for k in lab.api("GET", "/api/kernels")}
    assert not current & set(old_kernels), "the kernel that ran the workflow is gone"
    reloaded = _timeline(page, 1)
    _assert_finished(reloaded, APPROVAL_STEPS, replayed=False)
    expect(page.get_by_text("Error displaying widget")).to_have_count(0)
    _step(reloaded, "approve").locator("button.nbd-row").click()
    detail = _step(reloaded, "approve").locator(".nbd-detail")
    expect(detail).to_be_visible()
    expect(detail.locator(".nbd-output")).to_contain_text('"data":{"approved":true,"by":"ana"}')
    expect(detail).to_contain_text("approval/approve")
    _shot(_cell(page, 1).locator(".jp-OutputArea"), images / "lab-durable-reloaded.png")
    _assert_no_page_errors(page)
    expect(_detail_value(detail, "attempts")).to_have_text("1 of 1")
