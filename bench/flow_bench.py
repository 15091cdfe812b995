"""Measure the scheduling overhead of flow control with 1,000 queued runs, and write it to docs/benchmarks.md.

Why: a concurrency key is only usable if queueing 1,000 runs behind its slots costs little
next to the runs themselves. The same 1,000 one-step runs are started at once without flow
control and with it; the difference, divided by 1,000, is the overhead per run. Every
measurement runs in a fresh process on a fresh journal (the project's own environment: no
peers are needed), repeated ``--reps`` times; tables give medians and min–max.

    python bench/flow_bench.py              # about a minute on 2 cores; rewrites the Flow control results
    python bench/flow_bench.py --no-write   # print only
    python bench/flow_bench.py --reps 1     # a smoke test
"""

from __future__ import annotations

import argparse
import asyncio
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
BEGIN = "<!-- flow-bench:results:begin (written by bench/flow_bench.py; edits here are overwritten) -->"
END = "<!-- flow-bench:results:end -->"
PAYLOAD = "x" * 200

# name -> (what it is, @nd.function flow options as JSON, processes)
SCENARIOS: dict[str, tuple[str, dict[str, Any], int]] = {
    "none": ("no flow control", {}, 1),
    "finish": ('`timeouts=nd.Timeouts(finish="1h")` only (admission, never queued)', {"finish": "1h"}, 1),
    "limit10": ("`concurrency=nd.Concurrency(limit=10)`", {"concurrency": [[10, None]]}, 1),
    "keyed": (
        '`nd.Concurrency(limit=1, key="event.data.tenant")`, 10 tenants',
        {"concurrency": [[1, "event.data.tenant"]]},
        1,
    ),
    "none-4p": ("no flow control, 4 processes × 250 runs", {}, 4),
    "limit10-4p": ("`nd.Concurrency(limit=10)` shared by 4 processes × 250 runs", {"concurrency": [[10, None]]}, 4),
}


def log(msg: str) -> None:
    print(f"[flow-bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


# -- the worker: one process, one journal, N runs ----------------------------------------------------------


async def _work(db: str, n: int, options: dict[str, Any], go: str | None, worker_no: int) -> dict[str, Any]:
    import nbdurable as nd

    engine = nd.configure(db)
    calls = {"acquire_slot": 0, "write": 0}
    journal: Any = engine.journal
    acquire, write = journal.acquire_slot, journal.write

    def counted_acquire(*args: Any, **kwargs: Any) -> Any:
        calls["acquire_slot"] += 1
        return acquire(*args, **kwargs)

    def counted_write(*args: Any, **kwargs: Any) -> Any:
        calls["write"] += 1
        return write(*args, **kwargs)

    journal.acquire_slot, journal.write = counted_acquire, counted_write
    flow: dict[str, Any] = {}
    if options.get("concurrency"):
        flow["concurrency"] = [nd.Concurrency(limit=lim, key=key) for lim, key in options["concurrency"]]
    if options.get("finish"):
        flow["timeouts"] = nd.Timeouts(finish=options["finish"])

    def trivial() -> str:
        return PAYLOAD

    @nd.function(id="flow-bench", retries=0, lint="off", determinism="off", **flow)
    async def one_step(ctx: nd.Context) -> str:
        return await ctx.step.run("trivial", trivial)

    while go and not os.path.exists(go):
        await asyncio.sleep(0.001)
    wall, cpu = time.time(), time.process_time()
    handles = [one_step.start({"tenant": f"t{(i + worker_no) % 10}"}) for i in range(n)]
    for handle in handles:
        await handle.result()
    end = time.time()
    return {
        "start": wall,
        "end": end,
        "cpu_s": time.process_time() - cpu,
        "acquire_calls": calls["acquire_slot"],
        "write_batches": calls["write"],
    }


def worker(args: argparse.Namespace) -> None:
    options = json.loads(args.options)
    result = asyncio.run(_work(args.db, args.n, options, args.go, args.worker_no))
    sys.stdout.write(json.dumps(result) + "\n")
    sys.stdout.flush()


# -- the orchestrator ------------------------------------------------------------------------------------


def measure(name: str, n: int, work: Path) -> dict[str, Any]:
    """One repetition of one scenario: fresh journal, fresh processes; total wall time over all of them."""
    _what, options, procs = SCENARIOS[name]
    folder = Path(tempfile.mkdtemp(prefix=f"{name}-", dir=work))
    db, go = folder / "journal.db", folder / "go"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    cmd = [sys.executable, str(Path(__file__).resolve()), "_worker", "--db", str(db), "--options", json.dumps(options)]
    if procs == 1:
        out = subprocess.run([*cmd, "--n", str(n)], env=env, capture_output=True, text=True, timeout=600, check=False)
        outs = [(out.returncode, out.stdout, out.stderr)]
    else:
        # Create the journal first so the workers do not race to make its schema.
        subprocess.run(
            [sys.executable, "-c", f"import nbdurable as nd; nd.configure({str(db)!r})"], env=env, check=True
        )
        running = [
            subprocess.Popen(
                [*cmd, "--n", str(n // procs), "--go", str(go), "--worker-no", str(k)],
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for k in range(procs)
        ]
        time.sleep(1.0)  # every worker imported nbdurable and waits for the go file
        go.write_text("go")
        outs = []
        for p in running:
            o, e = p.communicate(timeout=600)
            outs.append((p.returncode, o, e))
    rows = []
    for code, stdout, stderr in outs:
        lines = [line for line in stdout.splitlines() if line.startswith("{")]
        if code != 0 or not lines:
            raise RuntimeError(f"worker for {name} exited {code}:\n{stdout[-2000:]}\n{stderr[-4000:]}")
        rows.append(json.loads(lines[-1]))
    wall = max(r["end"] for r in rows) - min(r["start"] for r in rows)
    return {
        "wall_s": wall,
        "cpu_s": sum(r["cpu_s"] for r in rows),
        "acquire_calls": sum(r["acquire_calls"] for r in rows),
        "write_batches": sum(r["write_batches"] for r in rows),
    }


def med(rows: list[dict[str, Any]], key: str) -> float:
    return float(statistics.median(r[key] for r in rows))


def spread(values: list[float], digits: int = 0) -> str:
    m = statistics.median(values)
    if len(values) == 1:
        return f"{m:,.{digits}f}"
    return f"{m:,.{digits}f} ({min(values):,.{digits}f}–{max(values):,.{digits}f})"


def machine() -> dict[str, str]:
    def sh(cmd: str) -> str:
        return subprocess.run(cmd, shell=True, capture_output=True, text=True, check=False).stdout.strip()

    import sqlite3

    import nbdurable

    return {
        "nproc": sh("nproc"),
        "cpu": sh("lscpu | sed -n 's/^Model name: *//p'") or platform.processor(),
        "python": platform.python_version(),
        "os": sh("uname -sr"),
        "versions": f"nbdurable {nbdurable.__version__}, SQLite {sqlite3.sqlite_version}",
        "date": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "load": "{:.2f}, {:.2f}, {:.2f}".format(*os.getloadavg()),
    }


def render(results: dict[str, list[dict[str, Any]]], n: int, reps: int, m: dict[str, str]) -> str:
    base = {"none": results["none"], "none-4p": results["none-4p"]}
    lines = [
        BEGIN,
        "",
        f"Measured {m['date']} with `python bench/flow_bench.py --reps {reps}`: {m['nproc']} cores, {m['cpu']}, "
        f"{m['os']}, Python {m['python']}, {m['versions']}; load average {m['load']} at the start.",
        "",
        f"{n:,} runs of a one-step function, all started at once (`fn.start`), awaited to the last. Overhead is "
        f"the difference to the same runs without flow control (in one process, or in 4), per run; medians of "
        f"{reps}, min–max in brackets.",
        "",
        "| Scenario | Wall, ms | µs per run | Overhead, µs per run | CPU, ms | `acquire_slot` calls | write batches |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for name, (what, _options, procs) in SCENARIOS.items():
        rows = results[name]
        ref = base["none-4p" if procs > 1 else "none"]
        walls = [r["wall_s"] * 1e3 for r in rows]
        per_run = [r["wall_s"] / n * 1e6 for r in rows]
        overhead = [(r["wall_s"] - b["wall_s"]) / n * 1e6 for r, b in zip(rows, ref, strict=True)]
        lines.append(
            f"| {what} | {spread(walls)} | {spread(per_run, 1)} | "
            f"{'—' if name in base else spread(overhead, 1)} | {spread([r['cpu_s'] * 1e3 for r in rows])} | "
            f"{med(rows, 'acquire_calls'):,.0f} | {med(rows, 'write_batches'):,.0f} |"
        )
    lines += ["", END]
    return "\n".join(lines)


SECTION = """## Flow control

How much scheduling costs when runs queue behind a concurrency limit (issue 7):

```bash
python bench/flow_bench.py             # about a minute; rewrites the results below
```

Each scenario starts 1,000 runs of `async def f(ctx): return await ctx.step.run("trivial", trivial)` at
once and waits for all of them; with `nd.Concurrency(limit=10)` 990 of them queue. Without a limit the
1,000 runs execute together (their steps commit in shared batches), so the difference is what the
queue costs: fair-queue transactions (`acquire_slot`, one SQLite `BEGIN IMMEDIATE` each), the
"queued: ... ahead" reasons written for every queued run, and the time runs spend waiting for a
slot that a poll has not yet noticed. The 4-process rows share one journal and one limit, as four
kernels would. `acquire_slot` calls and write batches are counted by wrapping the journal's methods
in the worker.

"""


def write_doc(block: str) -> None:
    text = DOC.read_text()
    if BEGIN in text and END in text:
        text = re.sub(re.escape(BEGIN) + ".*?" + re.escape(END), lambda _m: block, text, flags=re.S)
    else:
        text = text.rstrip("\n") + "\n\n" + SECTION + block + "\n"
    DOC.write_text(text)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="cmd")
    w = sub.add_parser("_worker")
    w.add_argument("--db", required=True)
    w.add_argument("--n", type=int, required=True)
    w.add_argument("--options", required=True)
    w.add_argument("--go")
    w.add_argument("--worker-no", type=int, default=0)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--only", nargs="*", choices=list(SCENARIOS), help="measure only these (implies --no-write)")
    parser.add_argument("--no-write", action="store_true", help="print the table, leave docs/benchmarks.md alone")
    args = parser.parse_args()
    if args.cmd == "_worker":
        worker(args)
        return
    names = args.only or list(SCENARIOS)
    m = machine()
    results: dict[str, list[dict[str, Any]]] = {name: [] for name in names}
    with tempfile.TemporaryDirectory(prefix="flow-bench-") as tmp:
        for rep in range(args.reps):
            for name in names:  # interleaved, so a burst of other work hits every scenario alike
                row = measure(name, args.n, Path(tmp))
                results[name].append(row)
                log(
                    f"rep {rep + 1} {name}: {row['wall_s'] * 1e3:,.0f} ms, {row['wall_s'] / args.n * 1e6:,.1f} µs/run, "
                    f"{row['acquire_calls']:,} acquire_slot calls"
                )
    if args.only:
        print(json.dumps(results, indent=1))
        return
    block = render(results, args.n, args.reps, m)
    print(block)
    if not args.no_write:
        write_doc(block)
        log(f"wrote {DOC.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
