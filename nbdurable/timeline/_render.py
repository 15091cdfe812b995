"""Static renderings of a run's timeline: HTML with no scripts, and a plain-text summary.

A saved notebook keeps these next to the snapshot itself, so the timeline shows on
GitHub, in nbviewer and in JupyterLab with no kernel and no widget state. The
wording and number formats match the TypeScript renderer in ``labextension/src``
so the live view and the saved view say the same thing.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import functools
import html
import json
import math
import re
import time
from collections.abc import Mapping, Sequence
from importlib import resources
from typing import Any

from ..journal._protocol import FINAL_STATUSES

__all__ = [
    "MIME_TYPE",
    "SNAPSHOT_VERSION",
    "TERMINAL_RUN_STATUSES",
    "bound_snapshot",
    "format_age",
    "is_terminal",
    "json_safe",
    "render_html",
    "render_text",
    "timeline_mimebundle",
]

MIME_TYPE = "application/vnd.nbdurable.timeline+json"
"""The MIME type under which the snapshot itself is stored in an output."""

SNAPSHOT_VERSION = 1
"""The snapshot format written as its ``version``; ``labextension/src/snapshot.ts`` reads every version up to it.

Raise it (and add a migration there) when a field changes meaning, so a newer
extension still draws notebooks saved by an older nbdurable.
"""

TERMINAL_RUN_STATUSES = FINAL_STATUSES | {"interrupted"}  # nothing moves without the user

# One stylesheet per output, scoped to the timeline's root: rows carry classes and data
# attributes, not inline styles (a few hundred bytes a step less). The colours and which status
# takes which come from palette.json, shared with the TypeScript renderer (see _palette_css).
_CSS_RULES = """
.nbd-static{--nbd-mono:var(--jp-code-font-family,ui-monospace,SFMono-Regular,Menlo,monospace);
font-family:var(--jp-ui-font-family,system-ui,-apple-system,'Segoe UI',sans-serif);
font-size:var(--jp-ui-font-size1,13px);color:var(--nbd-fg);background:var(--nbd-bg);
border:1px solid var(--nbd-border);border-radius:4px;padding:8px 10px;line-height:1.4;max-width:100%;
overflow-x:auto}
.nbd-static .nbd-fn{font-weight:600;font-size:1.1em}
.nbd-static .nbd-runid{font-family:var(--nbd-mono);color:var(--nbd-fg-muted);font-size:0.9em}
.nbd-static .nbd-badge{display:inline-block;padding:0 8px;border-radius:10px;font-size:0.85em;font-weight:600;
color:#fff;background:var(--nbd-muted)}
.nbd-static .nbd-badge[data-status]{background:var(--nbd-c,var(--nbd-muted))}
.nbd-static .nbd-stats,.nbd-static .nbd-reason,.nbd-static .nbd-omitted,.nbd-static .nbd-axis,
.nbd-static .nbd-note,.nbd-static .nbd-pos,.nbd-static .nbd-kind,.nbd-static .nbd-dur,.nbd-static th{
color:var(--nbd-fg-muted)}
.nbd-static .nbd-stats b{color:var(--nbd-fg)}
.nbd-static .nbd-reason,.nbd-static .nbd-omitted,.nbd-static .nbd-empty{font-style:italic}
.nbd-static .nbd-wait{color:var(--nbd-info);font-style:normal}
.nbd-static .nbd-warnings{margin:6px 0 0;padding:4px 8px;list-style:none;
border-left:3px solid var(--nbd-warn);
background:var(--nbd-bg-alt)}
.nbd-static .nbd-run-error-box{margin-top:6px;border-left:3px solid var(--nbd-err);padding:4px 8px;
background:var(--nbd-bg-alt)}
.nbd-static .nbd-error-title{color:var(--nbd-err);font-weight:600}
.nbd-static .nbd-axis{margin-top:8px;font-size:0.85em;border-bottom:1px solid var(--nbd-border)}
.nbd-static .nbd-step{border-bottom:1px solid var(--nbd-border)}
.nbd-static summary{cursor:pointer;padding:3px 0;white-space:nowrap;overflow:hidden}
.nbd-static summary>span{display:inline-block;vertical-align:middle;overflow:hidden;
text-overflow:ellipsis;white-space:nowrap}
.nbd-static .nbd-pos{width:3.6em;text-align:right;font-variant-numeric:tabular-nums}
.nbd-static .nbd-name{width:14em;font-weight:500}
.nbd-static .nbd-kind{width:4em;font-family:var(--nbd-mono);font-size:0.85em}
.nbd-static .nbd-status{width:17em;color:var(--nbd-c,var(--nbd-fg))}
.nbd-static .nbd-step[data-status=completed] .nbd-status{color:var(--nbd-fg)}
.nbd-static .nbd-dur{width:5.5em;text-align:right}
.nbd-static summary>.nbd-track{position:relative;height:12px;width:calc(100% - 49.1em);min-width:140px;
background:var(--nbd-bg-alt);border-radius:2px}
.nbd-static .nbd-bar{position:absolute;top:1px;bottom:1px;min-width:3px;border-radius:2px;
background:var(--nbd-c,var(--nbd-muted))}
.nbd-static .nbd-step[data-replayed=true] .nbd-name,
.nbd-static .nbd-step[data-replayed=true] .nbd-status{color:var(--nbd-fg-muted)}
.nbd-static .nbd-step[data-replayed=true] .nbd-bar{background:repeating-linear-gradient(135deg,
var(--nbd-ok) 0 4px,transparent 4px 7px);
outline:1px solid var(--nbd-ok)}
.nbd-static .nbd-replayed-mark{font-size:0.85em;padding:0 3px;margin-right:4px;
border:1px solid var(--nbd-ok);color:var(--nbd-ok);
border-radius:3px;font-weight:700}
.nbd-static .nbd-detail{padding:4px 0 8px 3em}
.nbd-static table{border-collapse:collapse;margin:0 0 4px;border:none}
.nbd-static th{text-align:left;font-weight:normal;padding:0 12px 0 0;vertical-align:top;white-space:nowrap}
.nbd-static td{padding:0;overflow-wrap:anywhere}
.nbd-static code{font-family:var(--nbd-mono);font-size:0.95em}
.nbd-static pre{font-family:var(--nbd-mono);font-size:0.9em;margin:2px 0 6px;padding:4px 6px;
max-height:20em;overflow:auto;
white-space:pre-wrap;overflow-wrap:anywhere;background:var(--nbd-bg-alt);color:var(--nbd-fg);
border-radius:3px}
.nbd-static .nbd-section-title{font-weight:600;margin-top:4px}
.nbd-static .nbd-note{font-weight:normal}
.nbd-static .nbd-attempts{margin:2px 0 6px;padding-left:1.6em;color:var(--nbd-fg-muted)}
"""


def _load_palette() -> dict[str, Any]:
    """palette.json, next to this module (it ships in the wheel): one source for both renderers' colours."""
    data = json.loads(resources.files("nbdurable.timeline").joinpath("palette.json").read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


PALETTE = _load_palette()
"""The timeline's colours: ``colours`` (name -> fallback chain), ``status`` (status -> colour name)."""


def css_colour(chain: Sequence[str]) -> str:
    """A fallback chain as CSS: ``["--jp-x", "--vscode-y", "#fff"]`` -> ``var(--jp-x, var(--vscode-y, #fff))``."""
    *names, value = chain
    for name in reversed(names):
        value = f"var({name}, {value})"
    return value


def _palette_css(scope: str) -> str:
    """The colour variables on the timeline's root, and each status's colour as ``--nbd-c`` on what carries it."""
    colours = ";".join(f"--nbd-{name}:{css_colour(chain)}" for name, chain in PALETTE["colours"].items())
    statuses = "".join(
        f"{scope} [data-status={status}]{{--nbd-c:var(--nbd-{colour})}}" for status, colour in PALETTE["status"].items()
    )
    return f"{scope}{{{colours}}}\n{statuses}\n"


_CSS = _palette_css(".nbd-static") + _CSS_RULES


_TEXT_MAX_ROWS = 30


# ---------------------------------------------------------------- reading input


def _num(value: object) -> float | None:
    """A finite number or None; snapshots come from JSON and may hold anything."""
    kind = type(value)
    if kind is float:  # the common cases first: a render reads a few hundred numbers per row
        return value if math.isfinite(value) else None  # type: ignore[arg-type,return-value]
    if kind is int:
        return float(value)  # type: ignore[arg-type]
    if value is None or isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) else None


def _str(value: object) -> str | None:
    """A string or None; numbers are shown as text, other values dropped (as in format.ts)."""
    if value is None:  # most optional fields of a row are absent: the common case first
        return None
    if isinstance(value, str):
        return value
    number = _num(value)
    if number is None:
        return None
    return str(int(number)) if number.is_integer() else repr(number)


def _map(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _list(value: object) -> Sequence[Any]:
    return value if isinstance(value, (list, tuple)) else ()


# ---------------------------------------------------------------- formatting


def _round_half_up(x: float) -> int:
    """Math.round in JavaScript, so both renderers agree on halves."""
    return math.floor(x + 0.5)


def format_duration(seconds: float | None) -> str:
    """A duration, short and readable: 350 ms, 12.3 s, 4m 05s, 3h 02m, 2d 03h."""
    if seconds is None or not math.isfinite(seconds):
        return ""
    s = max(0.0, seconds)
    if s < 1:
        return f"{_round_half_up(s * 1000)} ms"
    if s < 60:
        return f"{math.floor(s * 10) / 10:.1f} s"
    total = math.floor(s)
    if total < 3600:
        return f"{total // 60}m {total % 60:02d}s"
    if total < 86400:
        return f"{total // 3600}h {(total % 3600) // 60:02d}m"
    return f"{total // 86400}d {(total % 86400) // 3600:02d}h"


def format_clock(epoch: float | None, now: float | None = None) -> str:
    """A wall-clock time in UTC, with the date unless it is the same UTC day as ``now``.

    UTC because the kernel that renders the HTML cannot know the reader's zone.
    """
    if epoch is None or not math.isfinite(epoch):
        return ""
    moment = _dt.datetime.fromtimestamp(epoch, tz=_dt.timezone.utc)
    time_text = f"{moment.hour:02d}:{moment.minute:02d}:{moment.second:02d}"
    if now is not None and math.isfinite(now) and _utc_date(now) == moment.date():
        return f"{time_text} UTC"
    return f"{moment.year:04d}-{moment.month:02d}-{moment.day:02d} {time_text} UTC"


@functools.lru_cache(maxsize=8)
def _utc_date(epoch: float) -> _dt.date:
    """The UTC day of ``epoch`` (a render asks it of the same ``now`` for every row)."""
    return _dt.datetime.fromtimestamp(epoch, tz=_dt.timezone.utc).date()


def format_relative(epoch: float | None, now: float | None) -> str:
    """'in 4m 05s' or '4m 05s ago'."""
    if epoch is None or now is None:
        return ""
    delta = epoch - now
    return f"in {format_duration(delta)}" if delta >= 0 else f"{format_duration(-delta)} ago"


def format_age(ts: float) -> str:
    """How long ago ``ts`` was, for run listings (the magics' and the CLI's): "3 min ago"."""
    seconds = max(0.0, time.time() - ts)
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{seconds / size:.0f} {unit} ago"
    return f"{seconds:.0f} s ago"


def format_bytes(size: float | None) -> str:
    """Bytes as B, KiB, MiB, GiB, TiB."""
    if size is None or not math.isfinite(size) or size < 0:
        return ""
    if size < 1024:
        return f"{_round_half_up(size)} B"
    value = size / 1024
    units = ("KiB", "MiB", "GiB", "TiB")
    unit = 0
    while value >= 1024 and unit < len(units) - 1:
        value /= 1024
        unit += 1
    return f"{value:.1f} {units[unit]}"


def format_cost(cost: float | None) -> str:
    """Dollars; None means the model's price is not known."""
    if cost is None:
        return "unknown"
    return f"${cost:.2f}" if cost >= 1 else f"${cost:.4f}"


def format_price(price: object) -> str:
    """Where a cost's price came from: "genai-prices 0.2.3, as of 2026-01-01 (openai gpt-4o)"; "" when unknown."""
    if not isinstance(price, Mapping):
        return ""
    source = _str(price.get("source"))
    if not source:
        return ""
    as_of = _str(price.get("as_of"))
    priced = " ".join(p for p in (_str(price.get("provider")), _str(price.get("model"))) if p)
    return source + (f", as of {as_of}" if as_of else "") + (f" ({priced})" if priced else "")


def format_int(n: float | None) -> str:
    """An integer with thousands separators."""
    if n is None:
        return "0"
    rounded = _round_half_up(abs(n))
    return f"{'-' if n < 0 else ''}{rounded:,}"


def _snapshot_now(run: Mapping[str, Any]) -> float | None:
    for key in ("now", "ended_at", "started_at"):
        value = _num(run.get(key))
        if value is not None:
            return value
    return None


def _elapsed(start: object, end: object, now: float | None) -> float | None:
    begin = _num(start)
    if begin is None:
        return None
    finish = _num(end)
    if finish is None:
        finish = now
    return None if finish is None else max(0.0, finish - begin)


def step_status_label(step: Mapping[str, Any], now: float | None) -> str:
    """The status text of a step row (same rules as stepStatusLabel in format.ts)."""
    status = _str(step.get("status")) or "unknown"
    attempt = _num(step.get("attempt"))
    max_attempts = _num(step.get("max_attempts"))
    both = attempt is not None and max_attempts is not None
    counts = f"{_str(attempt)} of {_str(max_attempts)}" if both else ""
    if status == "completed":
        if step.get("replayed"):
            return "replayed"
        # A step that needed retries says so: its earlier attempts failed.
        return f"completed (attempt {counts})" if both and attempt is not None and attempt > 1 else "completed"
    if status == "running":
        return f"running (attempt {counts})" if both and attempt is not None and attempt > 1 else "running"
    if status == "retrying":
        base = f"retrying {counts}" if both else "retrying"
        next_at = _num(step.get("next_attempt_at"))
        if next_at is not None and now is not None and next_at > now:
            return f"{base}, next {format_relative(next_at, now)}"
        return base
    if status == "sleeping":
        until = _num(step.get("sleep_until"))
        return "sleeping" if until is None else f"sleeping until {format_clock(until, now)}"
    if status == "waiting":
        event = _str(step.get("wait_event"))
        return f"waiting for {event}" if event else "waiting for an event"
    if status == "failed":
        return f"failed (attempt {counts})" if both and max_attempts is not None and max_attempts > 1 else "failed"
    return status


def attempt_line(attempt: object, index: int) -> str:
    """One failed attempt: "Attempt 1 failed after 1.2 s: ValueError: bad input; retried 2.0 s later" (as format.ts)."""
    a = _map(attempt)
    number = _num(a.get("attempt"))
    n = _str(number) if number is not None else str(index + 1)
    start, end, retry = _num(a.get("started_at")), _num(a.get("ended_at")), _num(a.get("retry_at"))
    took = f" after {format_duration(max(0.0, end - start))}" if start is not None and end is not None else ""
    error = _map(a.get("error"))
    kind = _str(error.get("type")) or "Error"
    message = _str(error.get("message"))
    backoff = (
        f"; retried {format_duration(max(0.0, retry - end))} later" if retry is not None and end is not None else ""
    )
    return f"Attempt {n} failed{took}: {f'{kind}: {message}' if message else kind}{backoff}"


def _waiting_text(waiting: Mapping[str, Any], now: float | None) -> str:
    text = f"Waiting for event {_str(waiting.get('event')) or '?'}"
    condition = _str(waiting.get("if_exp"))
    if condition:
        text += f" where {condition}"
    timeout = _num(waiting.get("timeout_at"))
    if timeout is not None:
        text += f", times out {format_clock(timeout, now)}"
        relative = format_relative(timeout, now)
        if relative:
            text += f" ({relative})"
    return text


def _payload(value: object) -> str:
    if isinstance(value, str):
        return value
    if value is None:
        return ""
    try:
        return json.dumps(value, indent=2, ensure_ascii=False, default=str)
    except (TypeError, ValueError):
        return str(value)


def is_terminal(snapshot: Mapping[str, Any]) -> bool:
    """True when the run has ended and its timeline cannot change any more."""
    return _str(_map(snapshot.get("run")).get("status")) in TERMINAL_RUN_STATUSES


def _axis(snapshot: Mapping[str, Any]) -> tuple[float, float] | None:
    run = _map(snapshot.get("run"))
    now = _snapshot_now(run)
    starts: list[float] = []
    ends: list[float] = []
    run_start = _num(run.get("started_at"))
    if run_start is not None:
        starts.append(run_start)
    run_end = _num(run.get("ended_at"))
    if run_end is None:
        run_end = now
    if run_end is not None:
        ends.append(run_end)
    for raw in _list(snapshot.get("steps")):
        step = _map(raw)
        start = _num(step.get("started_at"))
        if start is not None:
            starts.append(start)
            ends.append(start)
        end = _num(step.get("ended_at"))
        if end is not None:
            ends.append(end)
    if not starts:
        return None
    start = min(starts)
    end = max([start, *ends])
    return start, max(end - start, 1e-3)


def _bar_of(
    start: float | None, end: float | None, axis: tuple[float, float] | None, now: float | None
) -> tuple[float, float] | None:
    """Where a step's bar sits on the axis (left, width in %), from its start and end (None: still going)."""
    if axis is None or start is None:
        return None
    if end is None:
        end = now if now is not None else start
    axis_start, span = axis

    def clamp(x: float) -> float:
        return min(100.0, max(0.0, x))

    left = clamp((start - axis_start) / span * 100)
    width = clamp((max(end, start) - start) / span * 100)
    return round(left, 2), round(min(width, 100 - left), 2)


# ---------------------------------------------------------------- bounding


def _clip(value: object, max_chars: int) -> object:
    """A string cut to max_chars with a note of what was cut; other JSON values cut via their JSON text."""
    if isinstance(value, str):
        if len(value) <= max_chars:
            return value
        return f"{value[:max_chars]}… [{len(value) - max_chars} more characters]"
    if value is None or isinstance(value, (bool, int, float)):
        return value
    try:
        text = json.dumps(value, ensure_ascii=False, default=str)
    except (TypeError, ValueError):
        text = str(value)
    return value if len(text) <= max_chars else _clip(text, max_chars)


def bound_snapshot(snapshot: Mapping[str, Any], *, max_steps: int = 200, max_chars: int = 20_000) -> dict[str, Any]:
    """A copy of the snapshot with at most ``max_steps`` steps (the latest) and long texts cut.

    The widget and the saved output hold this, not the full run, so their size stays
    bounded however many steps a run takes. Dropped steps are counted in ``steps_omitted``.
    """
    result: dict[str, Any] = {key: value for key, value in snapshot.items() if key not in ("steps", "run")}
    run = dict(_map(snapshot.get("run")))
    run_error = run.get("error")
    if isinstance(run_error, Mapping):
        run["error"] = {k: _clip(v, max_chars) for k, v in run_error.items()}
    warnings = _list(run.get("warnings"))
    if len(warnings) > 50:
        run["warnings"] = [*warnings[:49], {"message": f"… and {len(warnings) - 49} more warnings", "step_id": None}]
    result["run"] = run
    steps = list(_list(snapshot.get("steps")))
    omitted = _num(snapshot.get("steps_omitted")) or 0.0
    if max_steps >= 0 and len(steps) > max_steps:
        omitted += len(steps) - max_steps
        steps = steps[len(steps) - max_steps :] if max_steps else []
    bounded_steps: list[Any] = []
    for raw in steps:
        if not isinstance(raw, Mapping):
            bounded_steps.append(raw)
            continue
        step = dict(raw)
        for key in ("input_preview", "output_preview"):
            step[key] = _clip(step.get(key), max_chars)
        error = step.get("error")
        if isinstance(error, Mapping):
            step["error"] = {k: _clip(v, max_chars) for k, v in error.items()}
        ai = step.get("ai")
        if isinstance(ai, Mapping):
            # Its other values are left shared: json_safe copies what the widget and the outputs hold.
            step["ai"] = {
                key: _clip(value, max_chars) if key in ("request", "response") else value for key, value in ai.items()
            }
        bounded_steps.append(step)
    result["steps"] = bounded_steps
    result["steps_omitted"] = int(omitted)
    return result


# ---------------------------------------------------------------- the header (as in format.ts)


def run_title(run: Mapping[str, Any]) -> tuple[str, str | None]:
    """The header's title and the run id worth showing beside it (none when it repeats a cell's name)."""
    function_id = _str(run.get("function_id")) or "run"
    run_id = _str(run.get("run_id"))
    if function_id.startswith("cell:"):
        cell = function_id.removeprefix("cell:")
        return f"%%durable {cell}", None if run_id == cell else run_id
    return function_id, run_id


def replay_summary(steps: Sequence[Mapping[str, Any]]) -> str:
    """ "6 replayed · 3 ran" when some steps came from the journal, else ""."""
    replayed = ran = 0
    for step in steps:
        if _str(step.get("kind")) == "value":
            continue
        if step.get("replayed"):
            replayed += 1
        elif _num(step.get("started_at")) is not None:
            ran += 1
    return f"{format_int(replayed)} replayed · {format_int(ran)} ran" if replayed else ""


def has_ai(run: Mapping[str, Any], steps: Sequence[Mapping[str, Any]]) -> bool:
    """Whether the run made AI calls: only then do tokens and cost mean anything."""
    totals = (_num(run.get(key)) or 0.0 for key in ("tokens_in", "tokens_out", "cost"))
    return any(total > 0 for total in totals) or any(isinstance(step.get("ai"), Mapping) for step in steps)


def resume_gap_text(steps: Sequence[Mapping[str, Any]], now: float | None) -> str:
    """When the run stopped and was picked up again (the last replayed step's end, the next new step's start)."""
    ends = [_num(s.get("ended_at")) or _num(s.get("started_at")) for s in steps if s.get("replayed")]
    stopped = max((e for e in ends if e is not None), default=None)
    if stopped is None:
        return ""
    starts = [_num(s.get("started_at")) for s in steps if not s.get("replayed") and _str(s.get("kind")) != "value"]
    resumed = min((t for t in starts if t is not None and t >= stopped), default=None)
    # Under a second apart is one execution going on (a replay is followed at once by the next step).
    if resumed is None or resumed - stopped < 1:
        return ""
    return (
        f"Stopped {format_clock(stopped, now)}, resumed {format_clock(resumed, now)} "
        f"({format_duration(resumed - stopped)} later)"
    )


def rerun_text(run: Mapping[str, Any]) -> str:
    """The line linking a rerun to the run it reran (as in renderer.ts), else ""."""
    parent = _str(run.get("rerun_of"))
    if not parent:
        return ""
    step = _str(run.get("from_step"))
    return f"Rerun of {parent}{f' from step {step}' if step else ''}: the steps before it replayed from that run"


def _stats(run: Mapping[str, Any], steps: Sequence[Mapping[str, Any]], now: float | None) -> list[tuple[str, str]]:
    done = _num(run.get("steps_done")) or 0.0
    total = _num(run.get("steps_total"))
    stats = [
        ("elapsed", format_duration(_elapsed(run.get("started_at"), run.get("ended_at"), now)) or "-"),
        ("steps", f"{format_int(done)} / {format_int(total if total is not None else done)}"),
    ]
    if has_ai(run, steps):
        stats.append(
            ("tokens", f"{format_int(_num(run.get('tokens_in')))} in / {format_int(_num(run.get('tokens_out')))} out")
        )
        stats.append(("cost", format_cost(_num(run.get("cost")))))
    started = _num(run.get("started_at"))
    if started is not None:
        stats.append(("started", format_clock(started, now)))
    return stats


# ---------------------------------------------------------------- text/plain


def render_text(
    snapshot: Mapping[str, Any], *, max_rows: int | None = _TEXT_MAX_ROWS, step_errors: bool = False
) -> str:
    """A compact plain-text summary: the header line, waits, warnings, and the last ``max_rows`` steps.

    ``%durable show`` prints it with every row and each failed attempt's error under its
    step: one numbering and one duration format with the timeline.
    """
    run = _map(snapshot.get("run"))
    now = _snapshot_now(run)
    steps = [_map(s) for s in _list(snapshot.get("steps"))]
    lines = [_text_title(run, steps, now), *_text_notes(run, steps, now)]
    omitted = int(_num(snapshot.get("steps_omitted")) or 0)
    first_index = 0
    if max_rows is not None and len(steps) > max_rows:
        omitted += len(steps) - max_rows
        first_index = len(steps) - max_rows
    if omitted:
        lines.append(f"  … {format_int(omitted)} earlier step{'' if omitted == 1 else 's'} not shown")
    rows = [_text_row(steps[index], index, now, step_errors) for index in range(first_index, len(steps))]
    lines += _text_table(rows)
    return "\n".join(lines)


def _text_title(run: Mapping[str, Any], steps: Sequence[Mapping[str, Any]], now: float | None) -> str:
    """The header line: title, run id, status, the stats (as the timeline's header) and the replay summary."""
    title, run_id = run_title(run)
    header = [title, run_id or "", _str(run.get("status")) or "unknown"]
    stats = _stats(run, steps, now)
    header += [f"{k} {v.replace(' / ', '/') if k == 'steps' else v}" for k, v in stats if k != "started"]
    replay = replay_summary(steps)
    if replay:
        header.insert(5, replay)
    return "  ".join(part for part in header if part)


def _text_notes(run: Mapping[str, Any], steps: Sequence[Mapping[str, Any]], now: float | None) -> list[str]:
    """The lines under the header: the resume gap, the rerun link, the reason, the wait, warnings, the error."""
    notes = [resume_gap_text(steps, now), rerun_text(run), _str(run.get("status_reason")) or ""]
    waiting = run.get("waiting_for")
    if isinstance(waiting, Mapping):
        notes.append(_waiting_text(waiting, now))
    lines = [f"  {note}" for note in notes if note]
    for warning in _list(run.get("warnings")):
        w = _map(warning)
        step_id = _str(w.get("step_id"))
        lines.append(f"  ! {_str(w.get('message')) or ''}" + (f" (step {step_id})" if step_id else ""))
    error = run.get("error")
    if isinstance(error, Mapping):
        lines.append(f"  error: {_error_title(error)}")
    return lines


_TextRow = tuple[str, str, str, str, str, str]


def _text_row(step: Mapping[str, Any], index: int, now: float | None, step_errors: bool) -> _TextRow:
    """One step's cells: number, name (cut at 32 characters), kind, status, duration, and its errors if asked."""
    position = _num(step.get("position"))
    name = _str(step.get("name")) or _str(step.get("step_id")) or f"step {index + 1}"
    if len(name) > 32:
        name = name[:31] + "…"
    return (
        str(int(position) + 1 if position is not None else index + 1),
        name,
        _str(step.get("kind")) or "",
        step_status_label(step, now),
        format_duration(_elapsed(step.get("started_at"), step.get("ended_at"), now)),
        _step_errors_text(step) if step_errors else "",
    )


def _text_table(rows: Sequence[_TextRow]) -> list[str]:
    """The rows in aligned columns, each row's errors indented under it."""
    if not rows:
        return []
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    lines: list[str] = []
    for row in rows:
        cells = f"{row[0]:>{widths[0]}}  {row[1]:<{widths[1]}}  {row[2]:<{widths[2]}}  {row[3]:<{widths[3]}}"
        lines.append(f"  {cells}  {row[4]}".rstrip())
        lines.extend(f"  {'':>{widths[0]}}  {extra}" for extra in row[5].splitlines())
    return lines


def _step_errors_text(step: Mapping[str, Any]) -> str:
    """Each failed attempt of a step, then its last error if it failed for good: for ``%durable show``."""
    lines = [attempt_line(a, i) for i, a in enumerate(_list(step.get("attempts")))]
    error = step.get("error")
    if isinstance(error, Mapping) and _str(step.get("status")) == "failed":
        lines.append(f"error: {_error_title(error)}")
    return "\n".join(lines)


def _error_title(error: Mapping[str, Any]) -> str:
    kind = _str(error.get("type")) or "Error"
    message = _str(error.get("message")) or ""
    return f"{kind}: {message}" if message else kind


# ---------------------------------------------------------------- text/html


def _e(value: object) -> str:
    """Escape any value for HTML text and attribute values."""
    text = "" if value is None else value if type(value) is str else str(value)
    # Most of a timeline's text (times, counts, ids) has nothing to escape: one scan says so.
    return html.escape(text, quote=True) if _HTML_SPECIAL.search(text) else text


_HTML_SPECIAL = re.compile("[&<>\"']")


def _pre(text: str, css_class: str) -> str:
    return f'<pre class="{css_class}">{_e(text)}</pre>'


def _section(title: str, note: str = "") -> str:
    note_html = f' <span class="nbd-note">{_e(note)}</span>' if note else ""
    return f'<div class="nbd-section-title">{_e(title)}{note_html}</div>'


def _fields(rows: Sequence[tuple[str, str]], css_class: str = "nbd-fields") -> str:
    cells = "".join(f"<tr><th>{_e(label)}</th><td>{value}</td></tr>" for label, value in rows)
    return f'<table class="{css_class}">{cells}</table>'


def _error_html(error: Mapping[str, Any], css_class: str, *, note: str = "", with_traceback: bool = True) -> str:
    """An error's title and its traceback: the user's frames, and the full one a click away (as in renderer.ts)."""
    parts = [f'<div class="nbd-error-title">{_e(_error_title(error))}</div>']
    full = _str(error.get("traceback"))
    user = _str(error.get("user_traceback"))
    if with_traceback and full:
        parts.append(_pre(user or full, "nbd-traceback"))
        if user and user != full:
            parts.append(
                '<details class="nbd-full-traceback"><summary>Full traceback (nbdurable&#x27;s frames included)'
                f"</summary>{_pre(full, 'nbd-traceback-full')}</details>"
            )
    if note:
        parts.append(f'<div class="nbd-note">{_e(note)}</div>')
    return f'<div class="{css_class}">{"".join(parts)}</div>'


def _step_detail_html(step: Mapping[str, Any], now: float | None, label: str, row: _RowFacts) -> str:
    """A row's details: its fields, input, output, failed attempts, error and AI call.

    Why the fields are built inline (not ``_fields`` with an ``add`` helper): the static view of a run's
    end renders 200 rows inside the run, and this was most of it. The labels are constants and the times
    and durations are digits and units, so only text from the snapshot is escaped.
    """
    get = step.get
    cells = []
    if row.step_id:
        cells.append(f"<tr><th>step id</th><td><code>{_e(row.step_id)}</code></td></tr>")
    if row.kind:
        cells.append(f"<tr><th>kind</th><td>{_e(row.kind)}</td></tr>")
    status_text = label + (" (from the journal)" if row.replayed else "")
    if status_text:
        cells.append(f"<tr><th>status</th><td>{_e(status_text)}</td></tr>")
    attempt = _num(get("attempt"))
    if attempt is not None:
        max_attempts = _num(get("max_attempts"))
        attempts = f"{_str(attempt)} of {_str(max_attempts)}" if max_attempts is not None else _str(attempt)
        cells.append(f"<tr><th>attempts</th><td>{attempts}</td></tr>")
    if row.started is not None:
        cells.append(f"<tr><th>started</th><td>{format_clock(row.started, now)}</td></tr>")
    if row.ended is not None:
        cells.append(f"<tr><th>ended</th><td>{format_clock(row.ended, now)}</td></tr>")
        if row.duration:
            cells.append(f"<tr><th>duration</th><td>{row.duration}</td></tr>")
    for field, field_label in (("next_attempt_at", "next attempt"), ("sleep_until", "sleeps until")):
        at = _num(get(field))
        if at is not None:
            cells.append(f"<tr><th>{field_label}</th><td>{format_clock(at, now)}</td></tr>")
    wait_event = _str(get("wait_event"))
    if wait_event:
        cells.append(f"<tr><th>waits for</th><td>{_e(wait_event)}</td></tr>")
    key = _str(get("idempotency_key"))
    if key:
        cells.append(f"<tr><th>idempotency key</th><td><code>{_e(key)}</code></td></tr>")
    parts = [f'<table class="nbd-fields">{"".join(cells)}</table>']
    input_preview = _str(get("input_preview"))
    if input_preview:
        parts += [_section("Input"), _pre(input_preview, "nbd-input")]
    output_preview = _str(get("output_preview"))
    if output_preview is not None:
        size = _num(get("output_size"))
        shown = len(output_preview.encode("utf-8"))
        note = ""
        if size is not None and size > shown:
            note = f"(truncated: first {format_bytes(shown)} of {format_bytes(size)})"
        elif size is not None:
            note = f"({format_bytes(size)})"
        parts += [_section("Output", note), _pre(output_preview, "nbd-output")]
    attempts_list = _list(get("attempts"))
    if attempts_list:
        items = "".join(f"<li>{_e(attempt_line(a, i))}</li>" for i, a in enumerate(attempts_list))
        parts += [_section("Failed attempts"), f'<ol class="nbd-attempts">{items}</ol>']
    error = get("error")
    if isinstance(error, Mapping):
        parts.append(_error_html(error, "nbd-step-error"))
    ai = get("ai")
    if isinstance(ai, Mapping):
        parts += _ai_html(ai)
    return f'<div class="nbd-detail">{"".join(parts)}</div>'


def _ai_html(ai: Mapping[str, Any]) -> list[str]:
    provider = _str(ai.get("provider"))
    model = " ".join(p for p in (_str(ai.get("model")), f"({provider})" if provider else None) if p)
    tokens = f"{format_int(_num(ai.get('tokens_in')))} in / {format_int(_num(ai.get('tokens_out')))} out"
    ai_rows = [
        ("model", _e(model)),
        ("tokens", _e(tokens)),
        ("latency", _e(format_duration(_num(ai.get("latency"))))),
        ("cost", _e(format_cost(_num(ai.get("cost"))))),
        ("price", _e(format_price(ai.get("price")))),
    ]
    parts = [_section("AI call"), _fields([(k, v) for k, v in ai_rows if v], "nbd-ai")]
    prompt = _payload(ai.get("request"))
    if prompt:
        parts += [_section("Prompt"), _pre(prompt, "nbd-ai-request")]
    response = _payload(ai.get("response"))
    if response:
        parts += [_section("Response"), _pre(response, "nbd-ai-response")]
    return parts


@dataclasses.dataclass(slots=True)
class _RowFacts:
    """What a step row and its details both show, read from the step once."""

    step_id: str | None
    kind: str | None
    replayed: bool
    started: float | None
    ended: float | None
    duration: str


def _step_html(step: Mapping[str, Any], index: int, axis: tuple[float, float] | None, now: float | None) -> str:
    get = step.get
    status = _str(get("status")) or "unknown"
    started, ended = _num(get("started_at")), _num(get("ended_at"))
    row = _RowFacts(
        step_id=_str(get("step_id")),
        kind=_str(get("kind")),
        replayed=bool(get("replayed")),
        started=started,
        ended=ended,
        duration=format_duration(_elapsed(started, ended, now)),  # digits and units: nothing to escape
    )
    name = _e(_str(get("name")) or row.step_id or f"step {index + 1}")
    position = _num(get("position"))
    label = step_status_label(step, now)
    label_html = _e(label)
    replay_mark = (
        '<span class="nbd-replayed-mark" title="replayed from the journal" aria-label="replayed">↺</span>'
        if row.replayed
        else ""
    )
    bar = _bar_of(started, ended, axis, now)
    # Only where the bar sits differs from step to step: it stays inline.
    bar_html = "" if bar is None else f'<span class="nbd-bar" style="left:{bar[0]}%;width:{bar[1]}%"></span>'
    summary = (
        f'<summary class="nbd-row" title="{name}: {label_html}">'
        f'<span class="nbd-pos">{int(position) + 1 if position is not None else index + 1}</span> '
        f'<span class="nbd-name">{replay_mark}{name}</span> '
        f'<span class="nbd-kind">{_e(row.kind or "")}</span> '
        f'<span class="nbd-status">{label_html}</span> '
        f'<span class="nbd-dur">{row.duration}</span> '
        f'<span class="nbd-track">{bar_html}</span>'
        "</summary>"
    )
    return (
        f'<details class="nbd-step" data-step-id="{_e(row.step_id or "")}" data-status="{_e(status)}" '
        f'data-replayed="{"true" if row.replayed else "false"}">'
        f"{summary}{_step_detail_html(step, now, label, row)}</details>"
    )


def _header_html(run: Mapping[str, Any], steps: Sequence[Mapping[str, Any]], now: float | None) -> str:
    status = _str(run.get("status")) or "unknown"
    title, run_id = run_title(run)
    stats = [(f"{k} <b>{_e(v)}</b>") for k, v in _stats(run, steps, now)]
    replay = replay_summary(steps)
    if replay:
        stats.insert(2, f'<span class="nbd-replay">{_e(replay)}</span>')
    parts = [
        '<div class="nbd-header">',
        f'<span class="nbd-fn">{_e(title)}</span> ',
        f'<code class="nbd-runid">{_e(run_id)}</code> ' if run_id is not None else "",
        f'<span class="nbd-badge" data-status="{_e(status)}">{_e(status)}</span>',
        f'<div class="nbd-stats">{" · ".join(stats)}</div>',
    ]
    gap = resume_gap_text(steps, now)
    if gap:
        parts.append(f'<div class="nbd-reason nbd-gap">{_e(gap)}</div>')
    rerun_of = rerun_text(run)
    if rerun_of:
        parts.append(f'<div class="nbd-reason nbd-rerun-of">{_e(rerun_of)}</div>')
    reason = _str(run.get("status_reason"))
    if reason:
        parts.append(f'<div class="nbd-reason">{_e(reason)}</div>')
    waiting = run.get("waiting_for")
    if isinstance(waiting, Mapping):
        parts.append(f'<div class="nbd-reason nbd-wait">{_e(_waiting_text(waiting, now))}</div>')
    warnings = _list(run.get("warnings"))
    if warnings:
        items = []
        for warning in warnings:
            w = _map(warning)
            step_id = _str(w.get("step_id"))
            suffix = f' <span class="nbd-note">(step {_e(step_id)})</span>' if step_id else ""
            items.append(f"<li>⚠ {_e(_str(w.get('message')) or '')}{suffix}</li>")
        parts.append(f'<ul class="nbd-warnings">{"".join(items)}</ul>')
    error = run.get("error")
    if isinstance(error, Mapping):
        # A step's failure is told once, in that step's details; only an error outside any step shows its traceback.
        failed = _str(error.get("step_id"))
        in_step = failed is not None and any(_str(s.get("step_id")) == failed and s.get("error") for s in steps)
        note = f"in step {failed}: open it for the traceback" if in_step else ""
        block = _error_html(error, "nbd-run-error", note=note, with_traceback=not in_step)
        parts.append(f'<div class="nbd-run-error-box">{block}</div>')
    parts.append("</div>")
    return "".join(parts)


def render_html(snapshot: Mapping[str, Any]) -> str:
    """The timeline as self-contained HTML: one stylesheet, <details> rows, no scripts.

    Every value from the snapshot is escaped: step names, previews and tracebacks
    come from user code and from model output.
    """
    run = _map(snapshot.get("run"))
    now = _snapshot_now(run)
    status = _str(run.get("status")) or "unknown"
    steps = [_map(s) for s in _list(snapshot.get("steps"))]
    parts = [f"<style>{_CSS}</style>", _header_html(run, steps, now)]
    omitted = int(_num(snapshot.get("steps_omitted")) or 0)
    if omitted > 0:
        parts.append(
            f'<div class="nbd-omitted">… {_e(format_int(omitted))} earlier '
            f"step{'' if omitted == 1 else 's'} not shown</div>"
        )
    axis = _axis(snapshot)
    if steps and axis is not None:
        parts.append(
            f'<div class="nbd-axis">time axis: {_e(format_clock(axis[0], now))} → +{_e(format_duration(axis[1]))}</div>'
        )
    if steps:
        parts.append('<div class="nbd-rows">')
        parts.extend(_step_html(step, index, axis, now) for index, step in enumerate(steps))
        parts.append("</div>")
    else:
        parts.append('<div class="nbd-empty">No steps yet.</div>')
    body = "".join(parts)
    return f'<div class="nbd-timeline nbd-static" data-host="static" data-status="{_e(status)}">{body}</div>'


_PLAIN = frozenset({str, int, bool, type(None)})


def json_safe(value: object) -> Any:
    """The value as plain JSON data: NaN and infinities become None, unknown objects their str().

    Outputs and widget state go through strict JSON, where a NaN would break the message. The
    exact built-in types are tested first (a snapshot is almost all dicts, lists, strings and
    numbers): the live widget runs every snapshot it sends through this.
    """
    kind = type(value)
    if kind in _PLAIN:
        return value
    # Plain members are taken as they are, without a call each (most of a snapshot's values are).
    if kind is dict:
        return {
            k if type(k) is str else str(k): v if type(v) in _PLAIN else json_safe(v)
            for k, v in value.items()  # type: ignore[attr-defined]
        }
    if kind is list:
        return [v if type(v) in _PLAIN else json_safe(v) for v in value]  # type: ignore[attr-defined]
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, (str, bool, int)):
        return value
    if isinstance(value, Mapping):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    return str(value)


def timeline_mimebundle(snapshot: Mapping[str, Any]) -> dict[str, Any]:
    """The outputs that carry a timeline without a kernel: the snapshot, static HTML and text."""
    return {MIME_TYPE: json_safe(snapshot), "text/html": render_html(snapshot), "text/plain": render_text(snapshot)}
