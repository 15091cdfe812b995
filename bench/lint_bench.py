"""Measure the determinism linter's speed, and the cost of `import nbdurable` plus the first `@nd.function`.

Why: the linter runs on every `%%durable` cell before it runs and on every `@nd.function` at
definition, so it must not be felt (issue 17: a 500-line notebook in under 100 ms; issue 15:
`import nbdurable` plus the first `@nd.function` in at most 100 ms). Every timing runs in a
fresh process in the project's own environment, repeated ``--reps`` times; tables give medians
and min–max. The notebook linted is made of the held-out workflows in tests/lint/heldout/ (real
user-style code), cut at 500 lines of code.

    python bench/lint_bench.py              # about 30 s on 2 cores; rewrites the Linter results in docs/benchmarks.md
    python bench/lint_bench.py --no-write   # print only
    python bench/lint_bench.py --check      # print each target with met / not met
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
DOC = ROOT / "docs" / "benchmarks.md"
BEGIN = "<!-- lint-bench:results:begin (written by bench/lint_bench.py; edits here are overwritten) -->"
END = "<!-- lint-bench:results:end -->"
NOTEBOOK_LINES = 500
TARGET_NOTEBOOK_MS = 100.0
TARGET_IMPORT_FIRST_MS = 100.0

sys.path.insert(0, str(ROOT))
from tests.lint.quality import heldout_files, percent_cells  # noqa: E402


def log(msg: str) -> None:
    print(f"[lint-bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def build_notebook(path: Path) -> tuple[int, int]:
    """Write a notebook of the held-out workflows (their cells, or one cell per module) cut at 500 lines."""
    cells: list[tuple[str, str]] = []
    lines = 0
    for source in heldout_files():
        text = source.read_text(encoding="utf-8")
        parts = percent_cells(text) if source.name.startswith("nb_") else [("code", text)]
        for kind, body in parts:
            if kind == "code" and lines < NOTEBOOK_LINES:
                keep = body.split("\n")[: NOTEBOOK_LINES - lines]
                cells.append(("code", "\n".join(keep)))
                lines += len(keep)
    notebook = {
        "cells": [
            {"cell_type": kind, "metadata": {}, "source": body.splitlines(keepends=True), "outputs": []}
            | {"execution_count": None}
            for kind, body in cells
        ],
        "metadata": {},
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    path.write_text(json.dumps(notebook), encoding="utf-8")
    return lines, len(cells)


CELL = """%%durable bench-cell
import datetime as dt
docs = await step.run("load", load_corpus)
notes = []
for i, d in enumerate(docs):
    summary = await step.ai.infer(f"summary-{i}", model=model, body={"messages": [{"role": "user", "content": d}]})
    notes.append(summary["choices"][0]["message"]["content"])
seen = set()
for note in notes:
    if note in seen:
        continue
    seen.add(note)
report = await step.run("report", write_report, notes)
stamp = step.now()
print("done", dt.datetime.now(), len(notes))
"""

WORKER = r"""
import json, sys, time
clock = time.process_time if sys.argv[4] == "cpu" else time.perf_counter
t0 = clock()
from nbdurable.linter import lint_cell, lint_path
t1 = clock()
first = lint_path(sys.argv[1])
t2 = clock()
warm = []
for _ in range(int(sys.argv[2])):
    a = clock(); lint_path(sys.argv[1]); warm.append(clock() - a)
cell = []
for _ in range(int(sys.argv[2])):
    a = clock(); lint_cell(sys.argv[3]); cell.append(clock() - a)
print(json.dumps({"import": t1 - t0, "first": t2 - t1, "warm": warm, "cell": cell, "findings": len(first)}))
"""

DECORATE = r"""
import json, sys, time
clock = time.process_time if sys.argv[1] == "cpu" else time.perf_counter
t0 = clock()
import nbdurable as nd
t1 = clock()

@nd.function(id="w", trigger="t")
async def w(ctx):
    docs = await ctx.step.run("load", list, [1, 2, 3])
    out = []
    for i, d in enumerate(docs):
        out.append(await ctx.step.run(f"double-{i}", lambda x: 2 * x, d))
    return out

t2 = clock()
print(json.dumps({"import": t1 - t0, "decorate": t2 - t1}))
"""


def run_python(script: Path, *args: str) -> dict[str, Any]:
    """Run a worker script (a file, so inspect.getsource sees the decorated function) in a fresh process."""
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # time it as users see it: with bytecode written
    out = subprocess.run(
        [sys.executable, str(script), *args],
        cwd=script.parent,
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=300,
    ).stdout
    result: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    return result


def spread(values: list[float]) -> str:
    ms = [v * 1000 for v in values]
    return f"{statistics.median(ms):.1f} ({min(ms):.1f}–{max(ms):.1f})"


def measure(reps: int) -> dict[str, Any]:
    """Wall-clock and CPU times of every measurement, ``reps`` fresh processes each."""
    out: dict[str, Any] = {"reps": reps}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        notebook = work / "bench.ipynb"
        out["lines"], out["cells"] = build_notebook(notebook)
        log(f"notebook: {out['lines']} lines of code in {out['cells']} cells")
        decorate, worker = work / "decorate.py", work / "worker.py"
        decorate.write_text(DECORATE, encoding="utf-8")
        worker.write_text(WORKER, encoding="utf-8")
        run_python(decorate, "wall")  # writes bytecode for nbdurable
        for clock in ("wall", "cpu"):
            series: dict[str, list[float]] = {
                k: [] for k in ("import", "decorate", "lint_import", "cold", "warm", "cell")
            }
            for rep in range(reps):
                log(f"{clock} time, repetition {rep + 1}/{reps}")
                one = run_python(decorate, clock)
                series["import"].append(one["import"])
                series["decorate"].append(one["decorate"])
                two = run_python(worker, str(notebook), "5", CELL, clock)
                series["lint_import"].append(two["import"])
                series["cold"].append(two["first"])
                series["warm"].extend(two["warm"])
                series["cell"].extend(two["cell"])
                out["findings"] = two["findings"]
            series["import_first"] = [a + b for a, b in zip(series["import"], series["decorate"], strict=True)]
            out[clock] = series
    return out


def machine() -> str:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    return (
        f"{os.cpu_count()} cores, {cpu}, {platform.system()} {platform.release()}, Python {platform.python_version()}; "
        f"load average {load} at the start"
    )


def report(r: dict[str, Any], when: str, where: str) -> str:
    wall, cpu = r["wall"], r["cpu"]

    def row(label: str, key: str, target: float | None = None) -> str:
        met = ""
        if target is not None:
            met = "yes" if statistics.median(cpu[key]) * 1000 <= target else "no"
        limit = f"≤ {target:.0f}" if target is not None else ""
        return f"| {label} | {spread(wall[key])} | {spread(cpu[key])} | {limit} | {met} |"

    rows = [
        f"Measured {when} with `python bench/lint_bench.py --reps {r['reps']}`: {where}.",
        "",
        "Each row: median (min–max) over fresh processes; the linting rows take 5 timings per process.",
        "The targets are checked on CPU time, which other work on a shared machine disturbs much less.",
        "",
        "| What | wall-clock, ms | CPU, ms | Target, ms | Met |",
        "|---|---:|---:|---:|:---:|",
        row(
            f"lint a {r['lines']}-line notebook ({r['cells']} cells, {r['findings']} findings), warm",
            "warm",
            TARGET_NOTEBOOK_MS,
        ),
        row("the same, first call in a fresh process (after importing the linter)", "cold"),
        row("importing `nbdurable.linter` in a fresh process (with `nbdurable`)", "lint_import"),
        row("lint one 15-line `%%durable` cell (what the magic does before it runs)", "cell"),
        row("`import nbdurable`", "import"),
        row("the first `@nd.function` (imports the linter, lints the function's source)", "decorate"),
        row("`import nbdurable` plus the first `@nd.function`", "import_first", TARGET_IMPORT_FIRST_MS),
    ]
    return "\n".join(rows)


def write_doc(text: str) -> None:
    doc = DOC.read_text(encoding="utf-8")
    block = f"{BEGIN}\n\n{text}\n\n{END}"
    if BEGIN in doc:
        doc = re.sub(re.escape(BEGIN) + r".*?" + re.escape(END), lambda _: block, doc, flags=re.S)
    else:
        doc = doc.rstrip() + "\n\n## Linter\n\n" + block + "\n"
    DOC.write_text(doc, encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--reps", type=int, default=7)
    parser.add_argument("--no-write", action="store_true", help="print only, leave docs/benchmarks.md alone")
    parser.add_argument("--check", action="store_true", help="print each target with met / not met")
    args = parser.parse_args()
    where = machine()
    when = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    result = measure(args.reps)
    text = report(result, when, where)
    print(text)
    if args.check:
        cpu = result["cpu"]
        for label, value, target in (
            ("500-line notebook, warm, CPU ms", statistics.median(cpu["warm"]) * 1000, TARGET_NOTEBOOK_MS),
            (
                "import + first @nd.function, CPU ms",
                statistics.median(cpu["import_first"]) * 1000,
                TARGET_IMPORT_FIRST_MS,
            ),
        ):
            print(f"{label}: {value:.1f} (target ≤ {target:.0f}): {'met' if value <= target else 'NOT met'}")
    if not args.no_write:
        write_doc(text)
        log(f"wrote {DOC.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
