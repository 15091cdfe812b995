"""The timeline in a real JupyterLab, in headless Chromium.

A notebook displays a run's timeline as the live widget, the user opens a step and
approves the awaited event from the widget, the run's display finishes into the
static bundle, the notebook is saved, the kernel shut down and the page reloaded:
the timeline is still there, drawn by the JupyterLab extension from the saved
snapshot. Screenshots of each state go to a
temporary folder, or docs/images with scripts/docs-images.sh.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from playwright.sync_api import Locator, Page, expect

from nbdurable.timeline._render import MIME_TYPE, render_html
from tests.browser.conftest import Lab
from tests.timeline_samples import completed_snapshot, waiting_snapshot

pytestmark = pytest.mark.browser

WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"

SETUP = """\
import json
from nbdurable.notebook._display import TimelineDisplay
from tests.timeline_samples import completed_snapshot, hostile_snapshot, waiting_snapshot
actions = []
timeline = TimelineDisplay(waiting_snapshot(), on_action=actions.append)
timeline.show()"""
PRINT_ACTIONS = "print(json.dumps(actions))"
FINISH = "timeline.finish(completed_snapshot())"
HOSTILE = """\
hostile = TimelineDisplay(hostile_snapshot())
hostile.show()"""
HOSTILE_FINISH = "hostile.finish()"


def _open_notebook(page: Page, lab: Lab, name: str) -> None:
    page.goto(lab.url(f"/lab/tree/{name}"))
    page.wait_for_function(
        """(name) => {
            const w = window.jupyterapp && window.jupyterapp.shell.currentWidget;
            return !!(w && w.context && w.context.path === name && w.content && w.content.widgets.length > 0);
        }""",
        arg=name,
        timeout=60_000,
    )
    page.evaluate(
        """async () => {
            const panel = window.jupyterapp.shell.currentWidget;
            await panel.context.ready;
            await panel.sessionContext.ready;
        }"""
    )


def _wait_for_kernel(page: Page) -> None:
    page.wait_for_function(
        """() => {
            const kernel = window.jupyterapp.shell.currentWidget.sessionContext.session?.kernel;
            return !!kernel && kernel.connectionStatus === 'connected' && kernel.status === 'idle';
        }""",
        timeout=60_000,
    )


def _run_cell(page: Page, index: int) -> None:
    """Select a cell and run it, waiting until its execution has finished."""
    page.evaluate(
        """async (index) => {
            const app = window.jupyterapp;
            const panel = app.shell.currentWidget;
            panel.content.activeCellIndex = index;
            await app.commands.execute('notebook:run-cell');
        }""",
        index,
    )


def _set_theme(page: Page, theme: str) -> None:
    page.evaluate(
        "async (theme) => { await window.jupyterapp.commands.execute('apputils:change-theme', {theme}); }", theme
    )


def _cell(page: Page, index: int) -> Locator:
    # Only the notebook in view: a restored workspace may hold other notebooks in hidden tabs.
    return page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook .jp-Cell").nth(index)


def _shot(locator: Locator, path: Path) -> None:
    locator.scroll_into_view_if_needed()
    locator.screenshot(path=str(path))


def _assert_rows(timeline: Locator, step_ids: list[str]) -> None:
    expect(timeline.locator(".nbd-step")).to_have_count(len(step_ids))
    assert timeline.locator(".nbd-step").evaluate_all("rows => rows.map(r => r.dataset.stepId)") == step_ids


def test_live_widget_approve_then_saved_timeline_survives_reload(page: Page, lab: Lab, images: Path) -> None:
    lab.write_notebook("timeline.ipynb", [SETUP, PRINT_ACTIONS, FINISH, HOSTILE, HOSTILE_FINISH])
    _open_notebook(page, lab, "timeline.ipynb")
    _wait_for_kernel(page)

    # --- the live widget: rows in order, replayed step marked, statuses spelled out
    _run_cell(page, 0)
    live = _cell(page, 0).locator('.nbd-timeline[data-host="widget"]')
    expect(live).to_be_visible()
    _assert_rows(live, ["summarize", "plan", "lookup", "approval"])
    rows = live.locator(".nbd-step")
    expect(rows.nth(0)).to_have_attribute("data-replayed", "true")
    expect(rows.nth(0).locator(".nbd-replayed-mark")).to_have_attribute("title", "replayed from the journal")
    expect(rows.nth(2).locator(".nbd-status")).to_contain_text("retrying 2 of 4")
    expect(rows.nth(3).locator(".nbd-status")).to_have_text("waiting for support/ticket.approved")
    expect(live.locator(".nbd-badge")).to_have_text("waiting")
    # every step has a bar on the shared axis
    expect(live.locator(".nbd-step .nbd-bar")).to_have_count(4)
    _shot(_cell(page, 0).locator(".jp-OutputArea"), images / "timeline-live-waiting.png")

    # --- open the AI step: prompt, response, tokens
    rows.nth(1).locator("button.nbd-row").click()
    detail = rows.nth(1).locator(".nbd-detail")
    expect(detail).to_be_visible()
    expect(detail.locator(".nbd-ai-response")).to_have_text("Refund the charge")
    expect(detail.locator(".nbd-ai")).to_contain_text("1,200 in / 345 out")
    expect(detail).to_contain_text("run-1:plan")
    _shot(_cell(page, 0).locator(".jp-OutputArea"), images / "timeline-live-step-open.png")

    # --- approve the awaited event with a JSON payload; the kernel's callback gets it
    live.locator("textarea.nbd-payload").fill('{"approved": true, "by": "ana"}')
    live.locator("button.nbd-send").click()
    expect(live.locator(".nbd-notice")).to_have_text("Sent support/ticket.approved.")
    _run_cell(page, 1)
    printed = _cell(page, 1).locator(".jp-OutputArea-output").inner_text()
    assert json.loads(printed) == [
        {
            "action": "send_event",
            "event": "support/ticket.approved",
            "data": {"approved": True, "by": "ana"},
            "step_id": "approval",
        }
    ]

    # --- the run ends: the same output becomes the static bundle, drawn by the extension
    _run_cell(page, 2)
    final = _cell(page, 0).locator(".nbd-timeline")
    expect(final).to_have_attribute("data-host", "mime")
    _assert_rows(final, ["summarize", "plan", "lookup", "approval", "refund", "notify"])
    expect(final.locator(".nbd-badge")).to_have_text("completed")
    expect(final.locator("button.nbd-send, button.nbd-cancel, textarea")).to_have_count(0)

    # --- hostile text is shown as text, live and saved, and never runs
    _run_cell(page, 3)
    hostile_live = _cell(page, 3).locator('.nbd-timeline[data-host="widget"]')
    expect(hostile_live.locator(".nbd-step")).to_have_count(4)
    _run_cell(page, 4)
    expect(_cell(page, 3).locator('.nbd-timeline[data-host="mime"] .nbd-step')).to_have_count(4)
    assert page.evaluate("() => window.__nbd_pwned") is None

    # --- save, check what the file holds, shut the kernel down, reload
    page.evaluate("async () => { await window.jupyterapp.commands.execute('docmanager:save'); }")
    saved = lab.read_notebook("timeline.ipynb")
    outputs = saved["cells"][0]["outputs"]
    assert len(outputs) == 1
    assert set(outputs[0]["data"]) == {MIME_TYPE, "text/html", "text/plain"}, "no widget view left in the file"
    assert outputs[0]["data"][MIME_TYPE]["run"]["status"] == "completed"
    old_kernels = lab.shut_down_kernels()
    assert old_kernels, "the notebook had a kernel"

    page.reload()
    _open_notebook(page, lab, "timeline.ipynb")
    reloaded = _cell(page, 0).locator(".nbd-timeline")
    expect(reloaded).to_have_attribute("data-host", "mime")
    _assert_rows(reloaded, ["summarize", "plan", "lookup", "approval", "refund", "notify"])
    expect(page.get_by_text("Error displaying widget")).to_have_count(0)
    current = [k["id"] for k in lab.api("GET", "/api/kernels")]
    assert not set(current) & set(old_kernels), "the widget's kernel is gone"
    # steps still open with no kernel
    reloaded_rows = reloaded.locator(".nbd-step")
    reloaded_rows.nth(2).locator("button.nbd-row").click()
    expect(reloaded_rows.nth(2).locator(".nbd-output")).to_have_text('{"order": 42}')
    _shot(_cell(page, 0).locator(".jp-OutputArea"), images / "timeline-saved-reloaded.png")
    assert page.evaluate("() => window.__nbd_pwned") is None

    # --- dark theme: the same view stays legible
    _set_theme(page, "JupyterLab Dark")
    page.wait_for_function("() => document.body.dataset.jpThemeLight === 'false'")
    page.wait_for_timeout(500)
    colours = reloaded.evaluate(
        """el => {
            const style = getComputedStyle(el);
            const name = getComputedStyle(el.querySelector('.nbd-name'));
            return [style.backgroundColor, name.color];
        }"""
    )
    background, text = (_luminance(c) for c in colours)
    assert background < 0.2 < text, f"dark theme should give light text on a dark background, got {colours}"
    _shot(_cell(page, 0).locator(".jp-OutputArea"), images / "timeline-saved-dark.png")
    _set_theme(page, "JupyterLab Light")

    errors = page.nbd_errors.relevant()  # type: ignore[attr-defined]
    assert errors == [], errors


def _luminance(css_colour: str) -> float:
    """Relative luminance (0 black .. 1 white) of an rgb()/rgba() colour."""
    inner = css_colour[css_colour.index("(") + 1 : css_colour.index(")")]
    red, green, blue = (float(part) / 255 for part in inner.replace("/", ",").split(",")[:3])
    return 0.2126 * red + 0.7152 * green + 0.0722 * blue


def test_static_html_renders_without_scripts_in_a_plain_page(page: Page, images: Path) -> None:
    """What GitHub or nbviewer would show: the text/html alone, no JupyterLab, no JavaScript from us."""
    snap = waiting_snapshot()
    page.set_content(f"<!doctype html><html><body style='margin:16px'>{render_html(snap)}</body></html>")
    timeline = page.locator(".nbd-timeline")
    expect(timeline).to_have_attribute("data-host", "static")
    _assert_rows(timeline, ["summarize", "plan", "lookup", "approval"])
    first = page.locator("details.nbd-step").nth(0)
    expect(first.locator(".nbd-input")).to_be_hidden()
    first.locator("summary").click()
    expect(first.locator(".nbd-input")).to_be_visible()
    expect(first).to_contain_text("(truncated: first 13 B of 2.0 KiB)")
    page.locator("details.nbd-step").nth(1).locator("summary").click()
    # the Gantt bars are laid out: the waiting step's bar spans 90% of its track
    track = page.locator("details.nbd-step").nth(3).locator(".nbd-track").bounding_box()
    bar = page.locator("details.nbd-step").nth(3).locator(".nbd-bar").bounding_box()
    assert track is not None
    assert bar is not None
    assert abs(bar["width"] / track["width"] - 0.9) < 0.02
    _shot(timeline, images / "timeline-static-html.png")

    done = completed_snapshot()
    page.set_content(f"<!doctype html><html><body style='margin:16px'>{render_html(done)}</body></html>")
    expect(page.locator(".nbd-badge")).to_have_text("completed")
    assert page.locator("script").count() == 0

    # A long run's step numbers (five digits) fit their column: nothing clipped to "12…".
    long_run = completed_snapshot()
    for offset, row in enumerate(long_run["steps"]):
        row["position"] = 12_340 + offset
    page.set_content(f"<!doctype html><html><body style='margin:16px'>{render_html(long_run)}</body></html>")
    numbers = page.locator("details.nbd-step .nbd-pos")
    expect(numbers.first).to_have_text("12341")
    clipped = numbers.evaluate_all("els => els.filter(e => e.scrollWidth > e.clientWidth).map(e => e.textContent)")
    assert clipped == [], f"step numbers clipped: {clipped}"


MID_RUN_SETUP = """\
from nbdurable.notebook._display import TimelineDisplay
from tests.timeline_samples import step, waiting_snapshot
run = TimelineDisplay(waiting_snapshot())
run.show()"""
MID_RUN_PROGRESS = """\
later = waiting_snapshot()
later["run"]["steps_done"] = 4
now = later["run"]["now"]
later["steps"].append(step(step_id="extra", name="extra", position=4, started_at=now - 1.5, ended_at=now - 0.5))
run.update(later)"""


def test_a_notebook_saved_mid_run_reopens_on_the_latest_timeline(page: Page, lab: Lab, images: Path) -> None:
    """The kernel dies while the run waits: the reopened notebook shows the last state, not a widget error."""
    lab.write_notebook("mid-run.ipynb", [MID_RUN_SETUP, MID_RUN_PROGRESS])
    _open_notebook(page, lab, "mid-run.ipynb")
    _wait_for_kernel(page)
    _run_cell(page, 0)
    live = _cell(page, 0).locator('.nbd-timeline[data-host="widget"]')
    expect(live.locator(".nbd-step")).to_have_count(4)
    _run_cell(page, 1)
    expect(live.locator(".nbd-step")).to_have_count(5)

    # the extension writes the live state into the output within a few seconds; then the user saves
    def saved_steps() -> int:
        page.evaluate("async () => { await window.jupyterapp.commands.execute('docmanager:save'); }")
        data = lab.read_notebook("mid-run.ipynb")["cells"][0]["outputs"][0]["data"]
        assert WIDGET_VIEW in data, "the live output keeps its widget view"
        return len(data[MIME_TYPE]["steps"])

    deadline = 20
    while saved_steps() != 5 and deadline > 0:
        page.wait_for_timeout(500)
        deadline -= 1
    assert saved_steps() == 5, "the saved snapshot follows the live widget"

    lab.shut_down_kernels()
    page.reload()
    _open_notebook(page, lab, "mid-run.ipynb")
    reopened = _cell(page, 0).locator('.nbd-timeline[data-host="mime"]')
    expect(reopened).to_be_visible(timeout=30_000)
    _assert_rows(reopened, ["summarize", "plan", "lookup", "approval", "extra"])
    expect(reopened.locator(".nbd-badge")).to_have_text("waiting")
    # once the new kernel's widget manager has given up on the old model, no error shows
    page.wait_for_timeout(3000)
    expect(page.get_by_text("Error displaying widget")).to_have_count(0)
    expect(reopened).to_be_visible()
    _shot(_cell(page, 0).locator(".jp-OutputArea"), images / "timeline-saved-mid-run.png")
