"""A `%%durable` cell always shows its timeline: the live widget, or a static view updated in place.

Real kernels: one where anywidget cannot be imported (``sys.modules['anywidget'] = None``
before nbdurable loads, as when it is not installed), one where the widget is shown
but no front end draws it (jupyter_client draws nothing, like a front end without
widget support). The cell's output must never be empty and must follow the run.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from nbdurable.testing import Kernel
from nbdurable.timeline._render import MIME_TYPE

pytestmark = pytest.mark.kernel

WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"

CELL = """%%durable slow-report
import asyncio
async def fetch(i):
    await asyncio.sleep(0.6)
    return i
pages = [await step.run(f"fetch-{i}", fetch, i) for i in range(5)]
"""


@pytest.fixture
def kernel(tmp_path: Path) -> Iterator[Kernel]:
    k = Kernel(tmp_path)
    try:
        yield k
    finally:
        k.close()


def _timeline_outputs(outputs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [o for o in outputs if MIME_TYPE in o.get("data", {})]


def _display_id(output: dict[str, Any]) -> str:
    display_id = output.get("transient", {}).get("display_id")
    assert isinstance(display_id, str), output
    return display_id


def test_without_anywidget_the_cell_shows_a_static_timeline_updated_in_place(kernel: Kernel) -> None:
    kernel.run("import sys\nsys.modules['anywidget'] = None\n%load_ext nbdurable")
    result = kernel.run(CELL, timeout=60)
    assert result.stdout.startswith("nbdurable: started run 'slow-report'\n"), result.stdout
    shown = _timeline_outputs(result.outputs)
    first, *updates = shown
    assert WIDGET_VIEW not in first["data"], "no widget can be shown without anywidget"
    assert {"text/html", "text/plain"} <= set(first["data"])
    assert updates, "the static view must be updated as the run goes on"
    assert {_display_id(o) for o in shown} == {_display_id(first)}, "updates go to the same output"
    assert len(shown) == len(result.outputs), "only the timeline is displayed"
    mid_run = [o["data"][MIME_TYPE]["run"] for o in updates[:-1]]
    assert any(r["status"] == "running" and 0 < r["steps_done"] < 5 for r in mid_run), mid_run
    final = updates[-1]["data"][MIME_TYPE]["run"]
    assert final["status"] == "completed" and final["steps_done"] == 5
    assert "fetch-4" in updates[-1]["data"]["text/html"]
    probe = kernel.run("print(sys.modules['anywidget'], 'nbdurable.notebook._widget' in sys.modules, pages)")
    assert probe.stdout.strip().split(maxsplit=2) == ["None", "False", "[0, 1, 2, 3, 4]"]

    again = kernel.run(CELL, timeout=60)
    assert again.stdout.startswith(
        "nbdurable: run 'slow-report' had completed; running the cell again replays its 5 completed steps"
    ), again.stdout
    [replayed] = _timeline_outputs(again.outputs)[-1:]
    assert all(s.get("replayed") for s in replayed["data"][MIME_TYPE]["steps"])


def test_a_widget_no_front_end_draws_gets_its_static_copy_refreshed(kernel: Kernel) -> None:
    kernel.run("%load_ext nbdurable")
    result = kernel.run(CELL.replace("0.6", "0.8"), timeout=60)
    shown = _timeline_outputs(result.outputs)
    first, *updates = shown
    assert WIDGET_VIEW in first["data"], "the live widget is displayed"
    model_id = first["data"][WIDGET_VIEW]["model_id"]
    assert {_display_id(o) for o in shown} == {_display_id(first)}
    refreshed = [o for o in updates if WIDGET_VIEW in o["data"]]
    assert refreshed, "nobody drew the widget: its static copy must be refreshed in place"
    assert all(o["data"][WIDGET_VIEW]["model_id"] == model_id for o in refreshed), "the same widget stays"
    assert any(0 < o["data"][MIME_TYPE]["run"]["steps_done"] < 5 for o in refreshed)
    final = updates[-1]["data"]
    assert WIDGET_VIEW not in final and final[MIME_TYPE]["run"]["status"] == "completed"


def test_a_drawn_widget_gets_no_static_refreshes(kernel: Kernel) -> None:
    """Once a front end says it drew the widget (as its JavaScript does), the output is left to the widget."""
    kernel.run("%load_ext nbdurable")
    msg_id = kernel.kc.execute(CELL.replace("slow-report", "slow-report --background").replace("0.6", "0.8"))
    started = kernel.collect(msg_id)
    [first] = _timeline_outputs(started.outputs)
    model_id = first["data"][WIDGET_VIEW]["model_id"]
    said = {"comm_id": model_id, "data": {"method": "custom", "content": {"type": "rendered"}}}
    kernel.kc.shell_channel.send(kernel.kc.session.msg("comm_msg", said))
    later = type(started)()
    while not any(o["data"][MIME_TYPE]["run"]["status"] == "completed" for o in _timeline_outputs(later.outputs)):
        kernel.drain(msg_id, later, seconds=0.5)
        assert len(later.outputs) < 50, later.outputs
    updates = _timeline_outputs(later.outputs)
    assert len(updates) == 1 and WIDGET_VIEW not in updates[0]["data"], [list(o["data"]) for o in updates]
    assert _display_id(updates[0]) == _display_id(first)
