"""A long run's timeline in Chromium keeps only a window of rows in the DOM, and scrolling shows later steps.

The built widget bundle (``nbdurable/static/widget.js``) is loaded into a blank page and rendered
with a 10,000-step snapshot, as anywidget would. How fast that is is measured in
``bench/timeline_browser_bench.py``, never here.
"""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import Page

from tests.browser.conftest import BUILT_WIDGET
from tests.timeline_samples import T0, step, waiting_snapshot

pytestmark = pytest.mark.browser

RENDER = """
async ([code, snapshot]) => {
  const url = URL.createObjectURL(new Blob([code], { type: 'text/javascript' }));
  const widget = (await import(url)).default;
  window.nbdModel = { get: () => snapshot, on() {}, off() {}, send() {} };
  widget.render({ model: window.nbdModel, el: document.getElementById('host') });
}
"""


def _long_snapshot(n: int) -> dict[str, Any]:
    snap = waiting_snapshot()
    snap["steps"] = [
        step(step_id=f"s{i}", name=f"s{i}", position=i, started_at=T0 + i, ended_at=T0 + i + 0.5) for i in range(n)
    ]
    snap["run"].update(status="completed", steps_done=n, steps_total=n, ended_at=T0 + n, now=T0 + n, waiting_for=None)
    return snap


def _drawn(page: Page) -> list[str]:
    ids: list[str] = page.eval_on_selector_all(".nbd-step", "rows => rows.map(r => r.dataset.stepId)")
    return ids


def test_a_long_timeline_draws_a_window_of_rows_and_scrolls_to_later_steps(page: Page) -> None:
    page.set_content('<!doctype html><html><body><div id="host"></div></body></html>')
    page.evaluate(RENDER, [BUILT_WIDGET.read_text("utf-8"), _long_snapshot(10_000)])
    page.wait_for_selector(".nbd-step")
    first = _drawn(page)
    assert first[0] == "s0" and 10 <= len(first) < 150, [*first[:3], f"... {len(first)} rows"]
    rows = page.locator(".nbd-rows")
    height = rows.evaluate("el => el.scrollHeight")
    assert height > 10_000 * 15, "the list is as tall as every row, so its scrollbar spans the run"
    # Scroll to the middle, then to the end: each time the rows there are drawn and the others gone.
    rows.evaluate("el => { el.scrollTop = el.scrollHeight / 2; }")
    page.wait_for_function("() => !document.querySelector('[data-step-id=\"s0\"]')")
    middle = _drawn(page)
    assert any(4_000 < int(i[1:]) < 6_000 for i in middle) and len(middle) < 150
    rows.evaluate("el => { el.scrollTop = el.scrollHeight; }")
    page.wait_for_selector('[data-step-id="s9999"]')
    assert len(_drawn(page)) < 150
    # A row opened down there stays open and its details show.
    page.locator('[data-step-id="s9998"] button.nbd-row').click()
    assert page.locator('[data-step-id="s9998"] .nbd-detail').is_visible()
    assert page.nbd_errors.relevant() == []  # type: ignore[attr-defined]
