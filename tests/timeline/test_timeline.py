"""Tests for nbdurable.timeline._render: static HTML and text renderings of a run snapshot."""

from __future__ import annotations

import copy
import json
import math
from html.parser import HTMLParser
from typing import Any

import pytest

from nbdurable.timeline._render import (
    MIME_TYPE,
    attempt_line,
    bound_snapshot,
    format_bytes,
    format_clock,
    format_cost,
    format_duration,
    format_int,
    format_price,
    is_terminal,
    json_safe,
    render_html,
    render_text,
    step_status_label,
    timeline_mimebundle,
)
from tests.timeline_samples import HOSTILE, T0, completed_snapshot, hostile_snapshot, step, waiting_snapshot


class _Node:
    def __init__(self, tag: str, attrs: dict[str, str | None]) -> None:
        self.tag = tag
        self.attrs = attrs
        self.children: list[_Node | str] = []

    def text(self) -> str:
        return "".join(c if isinstance(c, str) else c.text() for c in self.children)

    def find_all(self, tag: str | None = None, **attrs: str) -> list[_Node]:
        found: list[_Node] = []
        for child in self.children:
            if isinstance(child, _Node):
                classes = (child.attrs.get("class") or "").split()
                ok = tag is None or child.tag == tag
                for key, value in attrs.items():
                    if key == "class_":
                        ok = ok and value in classes
                    else:
                        ok = ok and child.attrs.get(key.replace("_", "-")) == value
                if ok:
                    found.append(child)
                found.extend(child.find_all(tag, **attrs))
        return found

    def one(self, tag: str | None = None, **attrs: str) -> _Node:
        found = self.find_all(tag, **attrs)
        assert len(found) == 1, f"expected one {tag} {attrs}, found {len(found)}"
        return found[0]


_VOID = {"br", "hr", "img", "input", "meta", "link", "wbr", "source", "col", "area", "base", "embed", "track"}


class _TreeBuilder(HTMLParser):
    """A strict little tree builder: fails on unbalanced tags, so broken markup is caught."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = _Node("#root", {})
        self.stack = [self.root]

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        node = _Node(tag, dict(attrs))
        self.stack[-1].children.append(node)
        if tag not in _VOID:
            self.stack.append(node)

    def handle_endtag(self, tag: str) -> None:
        assert self.stack[-1].tag == tag, f"</{tag}> closes <{self.stack[-1].tag}>"
        self.stack.pop()

    def handle_data(self, data: str) -> None:
        self.stack[-1].children.append(data)


def parse(markup: str) -> _Node:
    builder = _TreeBuilder()
    builder.feed(markup)
    builder.close()
    assert builder.stack == [builder.root], "unclosed tags"
    return builder.root


# ---------------------------------------------------------------- formatting (same table as format.test.ts)


@pytest.mark.parametrize(
    ("seconds", "expected"),
    [
        (0, "0 ms"),
        (0.3504, "350 ms"),
        (1, "1.0 s"),
        (12.37, "12.3 s"),
        (59.99, "59.9 s"),
        (60, "1m 00s"),
        (245, "4m 05s"),
        (3600 * 3 + 120, "3h 02m"),
        (86400 * 2 + 3600 * 3, "2d 03h"),
        (-5, "0 ms"),
        (None, ""),
        (math.nan, ""),
    ],
)
def test_format_duration_matches_the_typescript_renderer(seconds: float | None, expected: str) -> None:
    assert format_duration(seconds) == expected


def test_format_clock_is_utc_with_date_only_on_another_day() -> None:
    assert format_clock(T0 + 61, T0) == "12:01:01 UTC"
    assert format_clock(T0 + 86400, T0) == "2026-01-02 12:00:00 UTC"
    assert format_clock(T0, None) == "2026-01-01 12:00:00 UTC"
    assert format_clock(None) == ""


def test_sizes_costs_and_counts() -> None:
    assert format_bytes(512) == "512 B"
    assert format_bytes(2048) == "2.0 KiB"
    assert format_bytes(5 * 1024 * 1024) == "5.0 MiB"
    assert format_bytes(None) == ""
    assert format_cost(None) == "unknown"
    assert format_cost(0.0123) == "$0.0123"
    assert format_cost(12.345) == "$12.35"
    price = {"source": "nd.ai.set_price", "as_of": "2026-02-01", "model": "llama3", "provider": "openai"}
    assert format_price(price) == "nd.ai.set_price, as of 2026-02-01 (openai llama3)"
    assert format_price({"source": "genai-prices 0.2.3"}) == "genai-prices 0.2.3"
    assert format_price(None) == format_price({"as_of": "2026-01-01"}) == format_price("x") == ""
    assert format_int(1234567) == "1,234,567"
    assert format_int(-1000) == "-1,000"
    assert format_int(None) == "0"


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({"status": "completed", "replayed": True}, "replayed"),
        ({"status": "completed"}, "completed"),
        ({"status": "completed", "attempt": 3, "max_attempts": 4}, "completed (attempt 3 of 4)"),
        ({"status": "completed", "attempt": 3, "max_attempts": 4, "replayed": True}, "replayed"),
        ({"status": "running", "attempt": 1}, "running"),
        ({"status": "running", "attempt": 3, "max_attempts": 4}, "running (attempt 3 of 4)"),
        ({"status": "retrying", "attempt": 2, "max_attempts": 4}, "retrying 2 of 4"),
        (
            {"status": "retrying", "attempt": 2, "max_attempts": 4, "next_attempt_at": T0 + 90},
            "retrying 2 of 4, next in 30.0 s",
        ),
        ({"status": "sleeping", "sleep_until": T0 + 3600}, "sleeping until 13:00:00 UTC"),
        ({"status": "waiting", "wait_event": "approved"}, "waiting for approved"),
        ({"status": "waiting", "wait_event": None}, "waiting for an event"),
        ({"status": "failed", "attempt": 4, "max_attempts": 4}, "failed (attempt 4 of 4)"),
        ({"status": "failed", "attempt": 1, "max_attempts": 1}, "failed"),
        ({"status": "cancelled"}, "cancelled"),
        ({"status": "something-new"}, "something-new"),
    ],
)
def test_step_status_labels(overrides: dict[str, Any], expected: str) -> None:
    assert step_status_label(step(**overrides), T0 + 60) == expected


# ---------------------------------------------------------------- text/plain


def test_text_summary_lists_header_wait_warnings_and_steps() -> None:
    text = render_text(waiting_snapshot())
    assert text.splitlines() == [
        "resolve-ticket  run-1  waiting  elapsed 1m 00s  steps 3/6  1 replayed · 3 ran  tokens 1,200 in / 345 out  "
        "cost $0.0123",
        "  Waiting for event support/ticket.approved, times out 13:00:00 UTC (in 59m 00s)",
        "  ! time.time() called outside a step",
        "  1  summarize  run   replayed                             2.0 s",
        "  2  plan       ai    completed                            3.5 s",
        "  3  lookup     run   retrying 2 of 4, next in 30.0 s      54.5 s",
        "  4  approval   wait  waiting for support/ticket.approved  54.0 s",
    ]


def test_text_summary_of_a_failed_run_with_unknown_cost() -> None:
    snap = completed_snapshot()
    snap["run"].update(status="failed", cost=None, error={"type": "StepError", "message": "refund failed"})
    text = render_text(snap)
    assert "  failed  " in text.splitlines()[0]
    assert "cost unknown" in text
    assert "  error: StepError: refund failed" in text


def test_text_summary_keeps_only_the_last_rows() -> None:
    snap = waiting_snapshot()
    snap["steps"] = [step(step_id=f"s{i}", name=f"s{i}", position=i) for i in range(100)]
    snap["steps_omitted"] = 5
    lines = render_text(snap).splitlines()
    assert "  … 75 earlier steps not shown" in lines
    assert lines[-1].split()[:2] == ["100", "s99"]
    assert sum(1 for line in lines if " s" in line and "completed" in line) == 30


# ---------------------------------------------------------------- text/html


def test_html_has_one_expandable_row_per_step_in_order() -> None:
    tree = parse(render_html(waiting_snapshot()))
    root = tree.one("div", class_="nbd-timeline")
    assert root.attrs["data-host"] == "static"
    assert root.attrs["data-status"] == "waiting"
    rows = tree.find_all("details", class_="nbd-step")
    assert [r.attrs["data-step-id"] for r in rows] == ["summarize", "plan", "lookup", "approval"]
    assert [r.attrs["data-replayed"] for r in rows] == ["true", "false", "false", "false"]
    statuses = [r.one("span", class_="nbd-status").text() for r in rows]
    assert statuses == [
        "replayed",
        "completed",
        "retrying 2 of 4, next in 30.0 s",
        "waiting for support/ticket.approved",
    ]
    assert [r.one("span", class_="nbd-dur").text() for r in rows] == ["2.0 s", "3.5 s", "54.5 s", "54.0 s"]
    assert rows[0].one("span", class_="nbd-replayed-mark").attrs["title"] == "replayed from the journal"
    assert rows[0].one("span", class_="nbd-name").text() == "↺summarize"
    bars = [r.one("span", class_="nbd-bar").attrs["style"] or "" for r in rows]
    assert "left:0.0%;width:3.33%" in bars[0]
    assert "left:10.0%;width:90.0%" in bars[3]


def test_html_header_shows_run_totals_wait_and_warnings() -> None:
    tree = parse(render_html(waiting_snapshot()))
    header = tree.one("div", class_="nbd-header")
    assert header.one(class_="nbd-fn").text() == "resolve-ticket"
    assert header.one(class_="nbd-runid").text() == "run-1"
    assert header.one(class_="nbd-badge").text() == "waiting"
    stats = header.one(class_="nbd-stats").text()
    for expected in ("elapsed 1m 00s", "steps 3 / 6", "tokens 1,200 in / 345 out", "cost $0.0123"):
        assert expected in stats
    assert "Waiting for event support/ticket.approved" in header.text()
    assert header.one("ul", class_="nbd-warnings").text() == "⚠ time.time() called outside a step"


def test_html_step_details_show_io_error_attempts_key_and_ai() -> None:
    tree = parse(render_html(waiting_snapshot()))
    rows = tree.find_all("details", class_="nbd-step")
    first = rows[0].one("div", class_="nbd-detail")
    assert first.one("pre", class_="nbd-input").text() == '{"body": "my order is late"}'
    assert first.one("pre", class_="nbd-output").text() == '"The customer'
    assert "(truncated: first 13 B of 2.0 KiB)" in first.text()
    assert "idempotency keyrun-1:summarize" in first.text()
    assert "attempts1 of 4" in first.text()
    ai = rows[1].one("div", class_="nbd-detail")
    assert "gpt-4o (openai)" in ai.one("table", class_="nbd-ai").text()
    assert "latency3.5 s" in ai.text()
    assert "pricegenai-prices 0.2.3, as of 2026-01-01 (openai gpt-4o)" in ai.text()
    assert json.loads(ai.one("pre", class_="nbd-ai-request").text()) == {
        "messages": [{"role": "user", "content": "Plan a refund"}]
    }
    assert ai.one("pre", class_="nbd-ai-response").text() == "Refund the charge"
    retry = rows[2].one("div", class_="nbd-detail")
    assert retry.one(class_="nbd-error-title").text() == "TimeoutError: upstream timed out"
    assert "TimeoutError" in retry.one("pre", class_="nbd-traceback").text()
    assert "next attempt12:01:30 UTC" in retry.text()


def test_html_escapes_every_hostile_string_and_has_no_scripts() -> None:
    markup = render_html(hostile_snapshot())
    tree = parse(markup)
    assert tree.find_all("script") == []
    assert tree.find_all("img") == []
    for node in tree.find_all():
        for name, value in node.attrs.items():
            assert not name.startswith("on"), f"event handler attribute {name} on <{node.tag}>"
            assert "javascript:" not in (value or "").lower()
    # The hostile text survives as text, in full, wherever it was.
    assert tree.one(class_="nbd-fn").text() == HOSTILE
    first = tree.find_all("details", class_="nbd-step")[0]
    assert first.attrs["data-step-id"] == HOSTILE
    assert first.one("span", class_="nbd-name").text() == "↺" + HOSTILE
    assert first.one("pre", class_="nbd-input").text() == HOSTILE
    assert first.one("pre", class_="nbd-traceback").text() == HOSTILE
    assert json.loads(tree.one("pre", class_="nbd-ai-response").text()) == {"x": HOSTILE}


def test_html_of_empty_and_malformed_snapshots() -> None:
    assert "No steps yet." in parse(render_html({})).text()
    odd = {"run": {"status": 7, "now": "soon", "cost": "free"}, "steps": [None, {"name": 5, "started_at": "x"}]}
    tree = parse(render_html(odd))
    assert [r.one("span", class_="nbd-name").text() for r in tree.find_all("details")] == ["step 1", "5"]
    assert "cost" not in tree.text(), "no AI step, no tokens or cost"
    assert render_text(odd).startswith("run  7  elapsed -")


def test_html_counts_omitted_steps() -> None:
    snap = waiting_snapshot()
    snap["steps_omitted"] = 1234
    assert parse(render_html(snap)).one(class_="nbd-omitted").text() == "… 1,234 earlier steps not shown"


# ---------------------------------------------------------------- bundle and bounds


def test_mimebundle_carries_snapshot_html_and_text_as_strict_json() -> None:
    snap = completed_snapshot()
    snap["run"]["cost"] = math.nan
    bundle = timeline_mimebundle(snap)
    assert set(bundle) == {MIME_TYPE, "text/html", "text/plain"}
    encoded = json.dumps(bundle, allow_nan=False)
    assert json.loads(encoded)[MIME_TYPE]["run"]["cost"] is None
    assert bundle[MIME_TYPE]["steps"][5]["step_id"] == "notify"
    assert bundle["text/html"] == render_html(snap)
    assert bundle["text/plain"] == render_text(snap)


def test_json_safe_turns_odd_values_into_json() -> None:
    assert json_safe({"a": (1, math.inf), 2: {"b": object.__new__(object).__class__}}) == {
        "a": [1, None],
        "2": {"b": "<class 'object'>"},
    }


def test_bound_snapshot_keeps_the_latest_steps_and_cuts_long_text() -> None:
    snap = waiting_snapshot()
    snap["steps"] = [step(step_id=f"s{i}", name=f"s{i}", position=i, output_preview="x" * 50) for i in range(500)]
    snap["steps"][-1]["ai"] = {"request": {"prompt": "p" * 100}, "response": "r" * 100, "tokens_in": 5}
    snap["steps"][-1]["error"] = {"type": "E", "message": "m", "traceback": "t" * 100}
    snap["steps_omitted"] = 10
    original = copy.deepcopy(snap)
    bounded = bound_snapshot(snap, max_steps=50, max_chars=40)
    assert snap == original, "the input must not change"
    assert len(bounded["steps"]) == 50
    assert bounded["steps"][0]["step_id"] == "s450"
    assert bounded["steps_omitted"] == 460
    last = bounded["steps"][-1]
    assert last["output_preview"] == "x" * 40 + "… [10 more characters]"
    assert last["ai"]["response"] == "r" * 40 + "… [60 more characters]"
    assert isinstance(last["ai"]["request"], str)
    assert last["ai"]["request"].startswith('{"prompt": "ppp')
    assert last["ai"]["tokens_in"] == 5
    assert last["error"]["traceback"].endswith("… [60 more characters]")
    assert bounded["run"] == original["run"]
    assert bound_snapshot(snap, max_steps=0)["steps"] == []


def test_is_terminal() -> None:
    assert is_terminal(completed_snapshot())
    assert not is_terminal(waiting_snapshot())
    assert not is_terminal({})


# ---------------------------------------------------------------- the header, as the TypeScript renderer says it


def test_header_names_a_cell_once_and_leaves_tokens_and_cost_out_without_ai_steps() -> None:
    snap = completed_snapshot()
    snap["run"].update(function_id="cell:demo-1", run_id="demo-1", tokens_in=0, tokens_out=0, cost=None)
    for s in snap["steps"]:
        s.update(ai=None, replayed=False)
    tree = parse(render_html(snap))
    assert tree.one(class_="nbd-fn").text() == "%%durable demo-1"
    assert tree.find_all(class_="nbd-runid") == []
    stats = tree.one(class_="nbd-stats").text()
    assert "tokens" not in stats and "cost" not in stats
    first = render_text(snap).splitlines()[0]
    assert first.startswith("%%durable demo-1  completed  elapsed")
    assert "demo-1  demo-1" not in first and "tokens" not in first and "cost" not in first
    # another run of the same cell keeps its own id in view
    snap["run"]["run_id"] = "demo-1#2"
    assert parse(render_html(snap)).one(class_="nbd-runid").text() == "demo-1#2"


def test_header_says_how_many_steps_replayed_and_ran_and_when_the_run_stopped() -> None:
    snap = completed_snapshot()
    now = snap["run"]["now"]
    steps = snap["steps"]
    for s in steps[:3]:
        s.update(replayed=True, started_at=now - 400, ended_at=now - 300)
    for s in steps[3:]:
        s.update(replayed=False, started_at=now - 120)
    tree = parse(render_html(snap))
    assert tree.one(class_="nbd-replay").text() == "3 replayed · 3 ran"
    gap = tree.one(class_="nbd-gap").text()
    assert gap.startswith("Stopped ") and gap.endswith("(3m 00s later)")
    lines = render_text(snap).splitlines()
    assert "3 replayed · 3 ran" in lines[0]
    assert lines[1] == f"  {gap}"


def test_html_has_one_stylesheet_and_no_inline_styles_but_bar_positions() -> None:
    snap = completed_snapshot()
    snap["steps"] = [step(step_id=f"s{i}", name=f"s{i}", position=i) for i in range(200)]
    markup = render_html(snap)
    tree = parse(markup)
    assert len(tree.find_all("style")) == 1
    styled = [node for node in tree.find_all() if "style" in node.attrs]
    assert {node.attrs["class"] for node in styled} == {"nbd-bar"}
    # what a step costs in the saved notebook: its row and details, no repeated styling
    per_step = (len(markup) - len(render_html({**snap, "steps": []}))) / 200
    assert per_step < 1_200, per_step


def test_attempt_lines_match_the_typescript_renderer() -> None:
    attempts = [
        {
            "attempt": 1,
            "started_at": T0 + 5.5,
            "ended_at": T0 + 6,
            "retry_at": T0 + 8,
            "error": {"type": "TimeoutError", "message": "slow"},
        },
        {
            "attempt": 2,
            "started_at": T0 + 8,
            "ended_at": T0 + 9.25,
            "retry_at": T0 + 13.25,
            "error": {"type": "KeyError", "message": None},
        },
        "not an attempt",
    ]
    assert [attempt_line(a, i) for i, a in enumerate(attempts)] == [
        "Attempt 1 failed after 500 ms: TimeoutError: slow; retried 2.0 s later",
        "Attempt 2 failed after 1.2 s: KeyError; retried 4.0 s later",
        "Attempt 3 failed: Error",
    ]
