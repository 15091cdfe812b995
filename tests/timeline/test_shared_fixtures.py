"""The static renderer against tests/fixtures/timeline.json's expected texts and colours.

labextension/test/shared.test.ts holds the TypeScript renderer to the same expectations, so
the live view and a saved notebook's static view say the same thing in the same colours.
"""

from __future__ import annotations

import re

import pytest

from nbdurable.timeline._render import _CSS, format_duration, render_html
from tests.timeline_samples import EXPECTED, completed_snapshot, waiting_snapshot

_ROW = re.compile(
    r'<details class="nbd-step" data-step-id="([^"]*)".*?<span class="nbd-pos">([^<]*)</span>.*?'
    r'<span class="nbd-status">([^<]*)</span> <span class="nbd-dur">([^<]*)</span>'
)


def _declarations(css: str, selector: str) -> dict[str, str]:
    """The declarations of the first rule whose selector is exactly ``selector``."""
    start = css.index(selector + "{")
    body = css[start + len(selector) + 1 : css.index("}", start)]
    pairs = (part.split(":", 1) for part in body.split(";") if ":" in part)
    return {name.strip(): value.strip() for name, value in pairs}


@pytest.mark.parametrize(("seconds", "text"), EXPECTED["durations"])
def test_durations_read_as_expected(seconds: float | None, text: str) -> None:
    assert format_duration(seconds) == text


@pytest.mark.parametrize(("name", "snapshot"), [("waiting", waiting_snapshot()), ("completed", completed_snapshot())])
def test_rows_read_as_expected(name: str, snapshot: dict[str, object]) -> None:
    rows = [
        {"step_id": step_id, "number": number, "status": status, "duration": duration}
        for step_id, number, status, duration in _ROW.findall(render_html(snapshot))
    ]
    assert rows == EXPECTED["rows"][name]


def test_the_palette_colours_have_the_expected_fallbacks() -> None:
    declared = _declarations(_CSS, ".nbd-static")
    assert {k: v for k, v in declared.items() if k in EXPECTED["colours"]} == EXPECTED["colours"]


def test_each_status_has_the_expected_colour() -> None:
    for status, colour in EXPECTED["status_colours"].items():
        assert _declarations(_CSS, f".nbd-static [data-status={status}]") == {"--nbd-c": f"var({colour})"}
