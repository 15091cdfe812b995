"""Measure what an expression costs per candidate event (``Expression.matches``) and to compile.

Why: an ``if_exp`` is evaluated once per candidate event on the event loop, so its per-evaluation
cost is the number that matters; the cost budget (issue 10) and the CEL additions (issue 12)
must not make the common filters slower. Each case is timed with ``timeit`` in this process:
the best of ``--reps`` repetitions of ``--number`` evaluations, in ns per evaluation (best, not
median: other work on the machine only ever adds time), timed in CPU time of this process
(``time.process_time``), which other processes on a shared machine disturb much less than wall
time. Compile time is measured with the compile cache cleared before each compilation.

    python bench/expr_bench.py                     # about 30 s; prints a table and writes JSON
    python bench/expr_bench.py --json out.json     # also save the numbers
    python bench/expr_bench.py --worst             # how long the costliest shapes run before the budget stops them
    PYTHONPATH=/path/to/other/checkout python bench/expr_bench.py   # the same cases on other code

Only the public API (``compile_expression``, ``Expression.matches``) is used, so the script runs
unchanged on older checkouts for before/after comparisons.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import subprocess
import sys
import time
import timeit
from typing import Any

from nbdurable.expr import compile_expression

TRIGGER = {"name": "support/ticket.created", "data": {"ticket_id": "t-1", "amount": 150, "sku": "sku-42"}}
ITEMS = [{"sku": f"sku-{i}", "qty": i % 3} for i in range(100)]
CANDIDATE = {
    "name": "support/ticket.approved",
    "data": {
        "ticket_id": "t-1",
        "amount": 20,
        "user": {"name": "ada", "tier": "gold"},
        "tags": ["billing", "eu", "urgent", "vip", "new"],
        "items": ITEMS,
        "priority": 3,
    },
}
OTHER = {"name": "support/other", "data": {"note": "no ticket here"}}

# name -> (expression, candidate event)
CASES: dict[str, tuple[str, dict[str, Any]]] = {
    "equal ids (match)": ("async.data.ticket_id == event.data.ticket_id", CANDIDATE),
    "equal ids (field missing)": ("async.data.ticket_id == event.data.ticket_id", OTHER),
    "field == literal": ('async.data.user.tier == "gold"', CANDIDATE),
    "two conditions": ('event.data.amount > 100 && async.data.user.name != "bob"', CANDIDATE),
    "has() && >": ("has(async.data.priority) && async.data.priority > 2", CANDIDATE),
    "in list of 5": ('"vip" in async.data.tags', CANDIDATE),
    "exists over 5 tags": ('async.data.tags.exists(t, t == "vip")', CANDIDATE),
    "startsWith || contains": (
        'async.data.user.name.startsWith("x") || async.data.user.tier.contains("ol")',
        CANDIDATE,
    ),
    "exists over 100 items": ("async.data.items.exists(i, i.sku == event.data.sku)", CANDIDATE),
    "filter+size over 100": ("async.data.items.filter(i, i.qty > 1).size() > 10", CANDIDATE),
}
_OBJS = [{"id": i, "tags": ["a", "b"], "name": f"n{i}"} for i in range(2000)]
# name -> (expression, event data): shapes whose work grows with the data, run until the budget stops them
WORST: dict[str, tuple[str, dict[str, Any]]] = {
    "nested maps over data": (
        "event.data.l.map(a, event.data.l.map(b, event.data.l.map(c, a + b + c)))",
        {"l": list(range(100))},
    ),
    "pairwise exists": (
        "event.data.o.exists(a, event.data.o.exists(b, a.id != b.id && a.name == b.name))",
        {"o": _OBJS},
    ),
    "list equality": ("event.data.a == event.data.b", {"a": list(range(100_000)), "b": list(range(100_000))}),
    "in list": ("-1 in event.data.a", {"a": list(range(100_000))}),
    "doubling strings": (
        "[event.data.s].map(a, [a + a].map(b, [b + b].map(c, [c + c].map(d, [d + d].map(e, e + e)))))",
        {"s": "x" * 1000},
    ),
    "contains in a loop": (
        "event.data.l.map(x, event.data.s.contains('zz'))",
        {"l": list(range(1000)), "s": "ab" * 50_000},
    ),
    "deep body": ("event.data.l.all(x, " + " && ".join(["x >= 0"] * 100) + ")", {"l": list(range(10_000))}),
    "equality in a loop": ("event.data.o.exists(x, x == event.data.o[1999])", {"o": _OBJS}),
    "filter then map": (
        "event.data.o.filter(x, x.name.startsWith('n1') && x.id > 5).map(y, y.name)",
        {"o": _OBJS},
    ),
}
COMPILE = "async.data.ticket_id == event.data.ticket_id && async.data.items.exists(i, i.qty > 2)"


def per_eval_ns(source: str, event: dict[str, Any], number: int, reps: int) -> float:
    expression = compile_expression(source)
    variables = {"event": TRIGGER, "async": event}
    expression.matches(variables)  # warm up
    best = min(
        timeit.repeat(lambda: expression.matches(variables), number=number, repeat=reps, timer=time.process_time)
    )
    return best / number * 1e9


def compile_us(reps: int) -> float:
    from nbdurable.expr import _expression

    def once() -> None:
        _expression._compile_cached.cache_clear()
        compile_expression(COMPILE)

    return min(timeit.repeat(once, number=200, repeat=reps, timer=time.process_time)) / 200 * 1e6


def worst(reps: int) -> None:
    """How long the costliest shapes run before the budget stops them (wall time: this is what the loop sees)."""
    from nbdurable import ExpressionError

    print("| Shape | ms before it stopped | outcome |\n|---|---:|---|")
    for name, (source, data) in WORST.items():
        expression = compile_expression(source)
        best, outcome = float("inf"), ""
        for _ in range(reps):
            started = time.perf_counter()
            try:
                expression.evaluate({"event": {"data": data}})
                outcome = "finished within the budget"
            except ExpressionError as exc:
                outcome = "over the cost limit" if "cost limit" in str(exc) else "over the size limit"
            best = min(best, time.perf_counter() - started)
        print(f"| {name} | {best * 1000:.2f} | {outcome} |")


def describe_machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in open("/proc/cpuinfo", encoding="utf-8"):  # noqa: SIM115 - read a few lines
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=False,
            cwd=os.path.dirname(os.path.abspath(sys.modules["nbdurable.expr"].__file__ or ".")),
        ).stdout.strip()
    except OSError:
        commit = "?"
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    return (
        f"{dt.datetime.now(dt.timezone.utc):%Y-%m-%d %H:%M} UTC, {os.cpu_count()} cores, {cpu}, "
        f"Python {platform.python_version()}, code at {commit or '?'}, load average {load}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--number", type=int, default=20_000, help="evaluations per repetition")
    parser.add_argument("--reps", type=int, default=7, help="repetitions (the best is kept)")
    parser.add_argument("--json", help="write the numbers to this file")
    parser.add_argument("--worst", action="store_true", help="time the costliest shapes instead")
    args = parser.parse_args()
    if args.worst:
        print(describe_machine())
        worst(args.reps)
        return
    results: dict[str, float] = {}
    print(describe_machine())
    print("| Case | Expression | ns per evaluation |\n|---|---|---:|")
    for name, (source, event) in CASES.items():
        number = max(200, args.number // 50) if "100" in name else args.number
        results[name] = per_eval_ns(source, event, number, args.reps)
        print(f"| {name} | `{source}` | {results[name]:,.0f} |")
    results["compile (cache cleared)"] = compile_us(args.reps) * 1000
    print(f"| compile, cache cleared | `{COMPILE}` | {results['compile (cache cleared)']:,.0f} |")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as out:
            json.dump({"machine": describe_machine(), "ns": results}, out, indent=2)


if __name__ == "__main__":
    main()
