"""Measure what an expression costs per candidate event (``Expression.matches``) and to compile.

Why: an ``if_exp`` is evaluated once per candidate event on the event loop, so its per-evaluation
cost is the number that matters; the cost budget (issue 10) and the CEL additions (issue 12)
must not make the common filters slower. Each case is timed with ``timeit`` in this process:
the best of ``--reps`` repetitions of ``--number`` evaluations, in ns per evaluation (best, not
median: other work on the machine only ever adds time). Compile time is measured with the
compile cache cleared before each compilation.

    python bench/expr_bench.py                     # about 30 s; prints a table and writes JSON
    python bench/expr_bench.py --json out.json     # also save the numbers
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
COMPILE = "async.data.ticket_id == event.data.ticket_id && async.data.items.exists(i, i.qty > 2)"


def per_eval_ns(source: str, event: dict[str, Any], number: int, reps: int) -> float:
    expression = compile_expression(source)
    variables = {"event": TRIGGER, "async": event}
    expression.matches(variables)  # warm up
    best = min(timeit.repeat(lambda: expression.matches(variables), number=number, repeat=reps))
    return best / number * 1e9


def compile_us(reps: int) -> float:
    from nbdurable.expr import _expression

    def once() -> None:
        _expression._compile_cached.cache_clear()
        compile_expression(COMPILE)

    return min(timeit.repeat(once, number=200, repeat=reps)) / 200 * 1e6


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
    args = parser.parse_args()
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
