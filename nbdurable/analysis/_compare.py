"""``nd.compare(run_a, run_b)``: two runs' steps side by side, what differs highlighted.

Steps are paired by step id (name and counter), so two runs of one workflow (an agent with two
prompts, a run and its rerun) line up. The view is HTML with inline styles and no script: the
same in the live notebook and in the saved one (GitHub, nbviewer), and plain text elsewhere.
"""

from __future__ import annotations

import dataclasses
import html
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from .._errors import ConfigError
from ._rows import step_rows

if TYPE_CHECKING:
    import pandas as pd

    from ..engine._engine import Engine
    from ..engine._handle import RunHandle

__all__ = ["Comparison", "StepPair", "compare"]

# Fields compared; the time is shown but never "differs" (two runs never take the same time).
COMPARED = ("status", "model", "input", "output", "tokens_in", "tokens_out", "cost")
_CELL_CHARS = 300
_DIFF_BG = "var(--jp-warn-color3,#fff4d6)"
_BORDER = "var(--jp-border-color2,#d0d7de)"
_MUTED = "var(--jp-ui-font-color2,#57606a)"
_FONT = "var(--jp-ui-font-family,system-ui,-apple-system,'Segoe UI',sans-serif)"
_MONO = "var(--jp-code-font-family,ui-monospace,SFMono-Regular,Menlo,monospace)"


@dataclasses.dataclass(frozen=True, slots=True)
class StepPair:
    """One step id in both runs: its rows (None where a run has no such step) and the fields that differ."""

    step_id: str
    name: str
    a: Mapping[str, Any] | None
    b: Mapping[str, Any] | None
    differs: frozenset[str]


@dataclasses.dataclass(frozen=True, slots=True)
class Comparison:
    """Two runs' steps paired by step id; shows as an HTML table in a notebook (live and saved)."""

    run_a: str
    run_b: str
    steps: tuple[StepPair, ...]

    def totals(self, side: str) -> dict[str, Any]:
        """Tokens, cost (None when a step's price is unknown) and step time summed over one run ("a" or "b")."""
        rows = [getattr(p, side) for p in self.steps if getattr(p, side) is not None]
        costs = [r["cost"] for r in rows if r["kind"] == "ai"]
        return {
            "steps": len(rows),
            "tokens_in": sum(r["tokens_in"] or 0 for r in rows),
            "tokens_out": sum(r["tokens_out"] or 0 for r in rows),
            "cost": None if any(c is None for c in costs) else float(sum(costs)),
            "time": sum(r["duration"] or 0.0 for r in rows),
        }

    @property
    def differing(self) -> list[str]:
        """Step ids whose compared fields differ (or that only one run has)."""
        return [p.step_id for p in self.steps if p.differs]

    @property
    def frame(self) -> pd.DataFrame:
        """One row per step and run side (``a``/``b``): ``nd.steps_frame`` columns plus ``side`` and ``differs``."""
        from ._frames import _frame
        from ._rows import STEP_COLUMNS

        rows = []
        for pair in self.steps:
            for side, row in (("a", pair.a), ("b", pair.b)):
                if row is not None:
                    rows.append({**row, "side": side, "differs": ", ".join(sorted(pair.differs)) or None})
        return _frame(rows, (*STEP_COLUMNS, "side", "differs"))

    def __str__(self) -> str:
        lines = [f"compare {self.run_a} (a) with {self.run_b} (b)"]
        for pair in self.steps:
            mark = "≠" if pair.differs else "="
            what = f"  differs: {', '.join(sorted(pair.differs))}" if pair.differs else ""
            lines.append(f"  {mark} {pair.name}{what}")
        for side, run_id in (("a", self.run_a), ("b", self.run_b)):
            t = self.totals(side)
            lines.append(
                f"  {side} {run_id}: {t['steps']} steps, tokens {t['tokens_in']:,} in / {t['tokens_out']:,} out, "
                f"cost {_cost(t['cost'])}, step time {t['time']:.2f} s"
            )
        return "\n".join(lines)

    def __repr__(self) -> str:
        return f"<Comparison {self.run_a!r} vs {self.run_b!r}: {len(self.differing)} of {len(self.steps)} steps differ>"

    def _repr_html_(self) -> str:
        return render_html(self)


def _cost(cost: float | None) -> str:
    if cost is None:
        return "unknown"
    return f"${cost:.2f}" if cost >= 1 else f"${cost:.4f}"


def _differs(a: Mapping[str, Any] | None, b: Mapping[str, Any] | None) -> frozenset[str]:
    if a is None or b is None:
        return frozenset({"missing"})
    return frozenset(field for field in COMPARED if a.get(field) != b.get(field))


def _handle(engine: Engine, run: str | RunHandle[Any]) -> RunHandle[Any]:
    if isinstance(run, str):
        return engine.handle(run)
    if hasattr(run, "run_id") and hasattr(run, "steps"):
        return engine.handle(run.run_id)
    raise ConfigError(f"nd.compare takes two run ids or run handles, got {type(run).__name__}")


def compare(run_a: str | RunHandle[Any], run_b: str | RunHandle[Any], *, engine: Engine | None = None) -> Comparison:
    """Pair two runs' steps by step id, in run a's order (steps only run b has come after)."""
    if engine is None:
        from ..engine._engine import get_engine

        engine = get_engine()
    a, b = _handle(engine, run_a), _handle(engine, run_b)
    rows_a = {r["step_id"]: r for r in step_rows(engine, a, output_chars=2000)}
    rows_b = {r["step_id"]: r for r in step_rows(engine, b, output_chars=2000)}
    order = list(rows_a) + [s for s in rows_b if s not in rows_a]
    pairs = tuple(
        StepPair(
            step_id,
            str((rows_a.get(step_id) or rows_b[step_id])["name"]),
            rows_a.get(step_id),
            rows_b.get(step_id),
            _differs(rows_a.get(step_id), rows_b.get(step_id)),
        )
        for step_id in order
    )
    return Comparison(a.run_id, b.run_id, pairs)


# ---------------------------------------------------------------- HTML


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


def _short(text: str | None) -> str:
    if text is None:
        return ""
    return text if len(text) <= _CELL_CHARS else text[:_CELL_CHARS] + "…"


def _side(row: Mapping[str, Any] | None, differs: frozenset[str]) -> str:
    if row is None:
        return f'<td class="nbd-cmp-missing" style="color:{_MUTED};background:{_DIFF_BG}">not in this run</td>'
    tokens = (
        ""
        if row["tokens_in"] is None and row["tokens_out"] is None
        else f"{row['tokens_in'] or 0:,} in / {row['tokens_out'] or 0:,} out"
    )
    fields = [
        ("status", "status", row["status"]),
        ("model", "model", row["model"] or ""),
        ("input", "input", _short(row["input"])),
        ("output", "output", _short(row["output"])),
        ("tokens", "tokens_in" if "tokens_in" in differs else "tokens_out", tokens),
        ("cost", "cost", _cost(row["cost"]) if row["kind"] == "ai" else ""),
        ("time", "", "" if row["duration"] is None else f"{row['duration']:.2f} s"),
    ]
    items = []
    for label, key, value in fields:
        if value == "":
            continue
        hot = key in differs or (label == "tokens" and {"tokens_in", "tokens_out"} & differs)
        style = f"background:{_DIFF_BG};" if hot else ""
        mono = (
            f"font-family:{_MONO};white-space:pre-wrap;word-break:break-word;" if label in ("input", "output") else ""
        )
        items.append(
            f'<div class="nbd-cmp-{label}{" nbd-cmp-differs" if hot else ""}" style="{style}{mono}padding:1px 3px">'
            f'<span style="color:{_MUTED}">{label}</span> {_e(value)}</div>'
        )
    return f'<td style="vertical-align:top;border-top:1px solid {_BORDER};padding:4px">{"".join(items)}</td>'


def render_html(comparison: Comparison) -> str:
    """The comparison as self-contained HTML: inline styles, escaped text, no script."""
    head = (
        f'<tr><th style="text-align:left">step</th><th style="text-align:left">a: {_e(comparison.run_a)}</th>'
        f'<th style="text-align:left">b: {_e(comparison.run_b)}</th></tr>'
    )
    body = []
    for pair in comparison.steps:
        mark = "≠" if pair.differs else "="
        body.append(
            f'<tr class="nbd-cmp-step{" nbd-cmp-changed" if pair.differs else ""}">'
            f'<td style="vertical-align:top;border-top:1px solid {_BORDER};padding:4px;white-space:nowrap">'
            f"{mark} {_e(pair.name)}</td>{_side(pair.a, pair.differs)}{_side(pair.b, pair.differs)}</tr>"
        )
    totals = []
    for side in ("a", "b"):
        t = comparison.totals(side)
        totals.append(
            f'<td style="border-top:2px solid {_BORDER};padding:4px">{t["steps"]} steps, tokens '
            f"{t['tokens_in']:,} in / {t['tokens_out']:,} out, cost {_e(_cost(t['cost']))}, "
            f"step time {t['time']:.2f} s</td>"
        )
    first = f'<td style="border-top:2px solid {_BORDER};padding:4px">total</td>'
    foot = f'<tr class="nbd-cmp-totals">{first}{"".join(totals)}</tr>'
    summary = f"{len(comparison.differing)} of {len(comparison.steps)} steps differ"
    return (
        f'<div class="nbd-compare" style="font-family:{_FONT};font-size:13px">'
        f'<div style="margin:4px 0;color:{_MUTED}">{_e(summary)} (highlighted)</div>'
        f'<table style="border-collapse:collapse;width:100%">{head}{"".join(body)}{foot}</table></div>'
    )
