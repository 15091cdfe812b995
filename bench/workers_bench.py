"""Scale-out on PostgreSQL: nbdurable's workers (1, 2 and 4 processes) and DBOS, on one server, in one sitting.

What it measures, every repetition on the same private PostgreSQL server (initdb in a temp
folder, fsync on, loopback; nbdurable.testing._postgres), each system in fresh processes:

- **Per-step latency**: one run of N trivial steps in one process, µs per step (call to result)
  and the median and 99th percentile of the gaps between step starts. nbdurable and DBOS.
- **Steps per second with workers**: R runs of S steps handed to workers (``engine.to_workers``)
  before W ``nbdurable worker`` processes start; the span is read from the journal, from the
  first step's start to the last run's end (the workers' start-up is not counted).
- **Runs per second with workers**: the same with one-step runs.
- **DBOS**: R workflows of S steps started at once in one process (``DBOS.start_workflow``).

    bench/.venv/bin/python bench/workers_bench.py            # 3 repetitions, 2 to 4 minutes on 2 cores
    bench/.venv/bin/python bench/workers_bench.py --quick    # 1 repetition, smaller workloads

The results block of docs/benchmarks.md between its ``bench:workers`` markers is replaced;
raw numbers go to bench/.out/workers.json. Nothing in the tests runs this.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
DOC = ROOT / "docs" / "benchmarks.md"
OUT = HERE / ".out"
BEGIN = "<!-- bench:workers:begin (written by bench/workers_bench.py; edits here are overwritten) -->"
END = "<!-- bench:workers:end -->"
WORKERS = (1, 2, 4)
TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pids: list[int]) -> dict[int, float]:
    """User plus system CPU time each process has used so far (from /proc; a process gone is left out)."""
    used = {}
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        used[pid] = (int(fields[11]) + int(fields[12])) / TICK  # utime, stime (fields 14 and 15 of stat)
    return used


def cpu_since(before: dict[int, float], now: dict[int, float]) -> float:
    """CPU seconds used between two readings (a process started in between counts from 0)."""
    return sum(t - before.get(pid, 0.0) for pid, t in now.items())


def server_pids(data: Path) -> list[int]:
    """The PostgreSQL server's processes: the postmaster and its children (a backend per connection)."""
    main = int((data / "postmaster.pid").read_text().split()[0])
    kids = subprocess.run(["pgrep", "-P", str(main)], capture_output=True, text=True, check=False).stdout.split()
    return [main, *map(int, kids)]


def child(*args: str) -> dict[str, Any]:
    """Run a benchmark process here (bench/ on its path) and return the JSON of its last stdout line."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}  # nbdurable from this checkout, whatever bench/.venv installed
    proc = subprocess.run(
        [sys.executable, *args], cwd=HERE, env=env, capture_output=True, text=True, timeout=600, check=False
    )
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(args)} failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def workers_phase(
    url: str, n_workers: int, runs: int, steps: int, concurrency: int, durability: str = "normal", *, data: Path
) -> dict[str, float]:
    """W worker processes started and serving, then R runs of S steps handed to them; rates from the journal.

    The span runs from the first run handed over to the last run's end (as the journal timed it):
    the workers' start-up is not counted, the handing over is.
    """
    import tempfile

    from nbdurable.engine._engine import Engine
    from nbdurable.journal._backends import open_journal

    journal = open_journal(url)  # creates the schema before the workers race to
    env = {**os.environ, "PYTHONPATH": os.pathsep.join((str(HERE), str(ROOT)))}  # nbdurable from this checkout
    cmd = [sys.executable, "-m", "nbdurable", "worker", "_workers_app", "--journal", url, "--durability", durability]
    cmd += ["--concurrency", str(concurrency), "--poll", "0.5", "--log-level", "info"]
    logs = [Path(tempfile.mkstemp(prefix="nbd-worker-", suffix=".log")[1]) for _ in range(n_workers)]
    procs = [subprocess.Popen(cmd, cwd=HERE, env=env, stdout=subprocess.DEVNULL, stderr=log.open("w")) for log in logs]

    def failed() -> str:
        return "\n".join(
            f"worker exited {p.returncode}: {log.read_text()[-2000:]}"
            for p, log in zip(procs, logs, strict=True)
            if p.poll() is not None
        )

    try:
        deadline = time.monotonic() + 120
        while not all("serving" in log.read_text() for log in logs):
            if failed() or time.monotonic() > deadline:
                raise SystemExit(f"workers did not start: {failed()}")
            time.sleep(0.05)
        engine = Engine(journal)
        worker_cpu = cpu_seconds([p.pid for p in procs])
        server_cpu = cpu_seconds(server_pids(data))
        first = time.time()
        for _ in range(runs):
            engine.to_workers("bw-steps", data={"steps": steps}, queue="default")
        deadline = time.monotonic() + 600
        while True:
            done = journal.list_runs(statuses=["completed"], function_id="bw-steps", limit=None)
            if len(done) == runs:
                break
            if failed() or time.monotonic() > deadline:
                raise SystemExit(f"workers: {len(done)} of {runs} runs completed. {failed()}")
            time.sleep(0.2)
        # Read before the workers stop: their connections (and so the server's backends) are still there.
        worker_used = cpu_since(worker_cpu, cpu_seconds([p.pid for p in procs]))
        server_used = cpu_since(server_cpu, cpu_seconds(server_pids(data)))
        last = max(r.updated_at for r in done)
        executed = sum(len(journal.load_steps(r.run_id)) for r in done)
    finally:
        journal.close()
        for p in procs:
            p.send_signal(signal.SIGTERM)
        for p in procs:
            p.wait(timeout=60)
        for log in logs:
            log.unlink()
    if executed != runs * steps:
        raise SystemExit(f"workers journaled {executed} steps, expected {runs * steps}")
    span = last - first
    return {
        "steps_per_s": runs * steps / span,
        "runs_per_s": runs / span,
        "seconds": span,
        "worker_cpu_us_per_step": worker_used / (runs * steps) * 1e6,
        "server_cpu_us_per_step": server_used / (runs * steps) * 1e6,
        "cores_busy": (worker_used + server_used) / span,
    }


def median_range(values: list[float], fmt: str = "{:,.0f}") -> str:
    return f"{fmt.format(statistics.median(values))} ({fmt.format(min(values))} to {fmt.format(max(values))})"


def render(results: dict[str, Any]) -> str:
    reps = results["reps"]
    get = lambda key: [r[key] for r in reps]  # noqa: E731
    lat_n = [r["nbd_latency"]["us_per_step"] for r in reps]
    lat_d = [r["dbos_latency"]["us_per_step"] for r in reps]
    ratio_lat = [
        d["us_per_step"] / n["us_per_step"] for n, d in zip(get("nbd_latency"), get("dbos_latency"), strict=True)
    ]
    ratio_full = [
        d["us_per_step"] / n["us_per_step"] for n, d in zip(get("nbd_latency_full"), get("dbos_latency"), strict=True)
    ]
    lines = [
        f"Measured {results['date']} on {results['machine']}, PostgreSQL {results['postgres']} (private server, "
        f"fsync on, loopback), load average {results['load']} at the start, {len(reps)} repetition(s): "
        "median (min to max). "
        f"Workloads: {results['runs']} runs of {results['steps']} steps, and {results['short_runs']} one-step runs.",
        "",
        "| one run, in one process | µs per step | steps/s | gap between steps p50 / p99 (µs) |",
        "| --- | --- | --- | --- |",
    ]
    for name, key in (
        ('nbdurable, `durability="normal"` (default)', "nbd_latency"),
        ('nbdurable, `durability="full"`', "nbd_latency_full"),
        ("DBOS", "dbos_latency"),
    ):
        us = [r[key]["us_per_step"] for r in reps]
        p50 = statistics.median(r[key]["p50_us"] for r in reps)
        p99 = statistics.median(r[key]["p99_us"] for r in reps)
        lines.append(f"| {name} | {median_range(us)} | {1e6 / statistics.median(us):,.0f} | {p50:,.0f} / {p99:,.0f} |")
    lines += [
        "",
        f"nbdurable's per-step throughput is **{statistics.median(ratio_lat):.1f}x** DBOS's "
        f"({min(ratio_lat):.1f}x to {max(ratio_lat):.1f}x; per repetition, same server); "
        f"medians {statistics.median(lat_n):,.0f} µs vs {statistics.median(lat_d):,.0f} µs. With every commit "
        "waiting for the server's disk, as DBOS's do (`durability=\"full\"`): "
        f"**{statistics.median(ratio_full):.1f}x** ({min(ratio_full):.1f}x to {max(ratio_full):.1f}x).",
        "",
        '| many runs at once | steps/s | vs 1 worker | steps/s, `durability="full"` | runs/s (one-step runs) |',
        "| --- | --- | --- | --- | --- |",
    ]
    base = statistics.median(r["workers"]["1"]["steps"]["steps_per_s"] for r in reps)
    for w in WORKERS:
        sps = [r["workers"][str(w)]["steps"]["steps_per_s"] for r in reps]
        full = [r["workers"][str(w)]["steps_full"]["steps_per_s"] for r in reps]
        rps = [r["workers"][str(w)]["runs"]["runs_per_s"] for r in reps]
        lines.append(
            f"| nbdurable, {w} worker{'s' if w > 1 else ''} | {median_range(sps)} | "
            f"{statistics.median(sps) / base:.2f}x | {median_range(full)} | {median_range(rps)} |"
        )
    dbos_sps = [r["dbos_many"]["steps_per_s"] for r in reps]
    dbos_rps = [r["dbos_short"]["runs_per_s"] for r in reps]
    ratio_many = [r["workers"]["1"]["steps_full"]["steps_per_s"] / r["dbos_many"]["steps_per_s"] for r in reps]
    lines += [
        f"| DBOS, 1 process | | | {median_range(dbos_sps)} | {median_range(dbos_rps)} |",
        "",
        'Where the CPU goes in the steps workload (`durability="normal"`): the workers\' and the '
        "PostgreSQL server's CPU time per step (from `/proc`, over the measured span), and how many of "
        "the machine's cores they kept busy together.",
        "",
        "| workers | worker CPU, µs per step | server CPU, µs per step | cores busy |",
        "| --- | --- | --- | --- |",
    ]
    for w in WORKERS:
        got = [r["workers"][str(w)]["steps"] for r in reps]
        lines.append(
            f"| {w} | {median_range([g['worker_cpu_us_per_step'] for g in got])} | "
            f"{median_range([g['server_cpu_us_per_step'] for g in got])} | "
            f"{median_range([g['cores_busy'] for g in got], '{:.2f}')} |"
        )
    lines += [
        "",
        'One nbdurable worker (`durability="full"`) against one DBOS process, many runs at once: '
        f"**{statistics.median(ratio_many):.1f}x** the steps per second ({min(ratio_many):.1f}x to "
        f"{max(ratio_many):.1f}x).",
    ]
    return "\n".join(lines)


def write_doc(block: str) -> None:
    text = DOC.read_text()
    if BEGIN not in text or END not in text:
        raise SystemExit(f"{DOC} has no {BEGIN!r} ... {END!r} block to replace")
    head, rest = text.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    DOC.write_text(f"{head}{BEGIN}\n{block}\n{END}{tail}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="1 repetition, smaller workloads")
    parser.add_argument("--reps", type=int)
    parser.add_argument("--no-doc", action="store_true", help="print the table, leave docs/benchmarks.md alone")
    parser.add_argument("--render", action="store_true", help="only rewrite the doc from bench/.out/workers.json")
    args = parser.parse_args()
    if args.render:
        write_doc(render(json.loads((OUT / "workers.json").read_text())))
        return
    reps = args.reps or (1 if args.quick else 3)
    runs, steps, short, n = (60, 10, 150, 200) if args.quick else (200, 10, 500, 500)
    from nbdurable.testing._postgres import PostgresServer

    server = PostgresServer(fsync=True).start()
    assert server.folder is not None
    data = server.folder / "data"
    try:
        version = subprocess.run(
            ["psql", server.url, "-Atc", "SHOW server_version"], capture_output=True, text=True, check=False
        ).stdout.strip()
        results: dict[str, Any] = {
            "date": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
            "machine": f"{platform.machine()}, {os.cpu_count()} cores, {platform.system()} {platform.release()}, "
            f"Python {platform.python_version()}",
            "postgres": version,
            "load": ", ".join(f"{x:.2f}" for x in os.getloadavg()),
            "runs": runs,
            "steps": steps,
            "short_runs": short,
            "reps": [],
        }
        for rep in range(reps):
            db = server.create_database(f"bench{rep}")
            dbos_db = server.create_database(f"dbos{rep}")
            one: dict[str, Any] = {
                "nbd_latency": child("_workers_app.py", "latency", "--url", f"{db}?schema=latency", "--n", str(n)),
                "nbd_latency_full": child(
                    "_workers_app.py",
                    "latency",
                    "--url",
                    f"{db}?schema=latency_full",
                    "--n",
                    str(n),
                    "--durability",
                    "full",
                ),
                "dbos_latency": child("_pg_dbos_bench.py", "latency", "--url", dbos_db, "--n", str(n)),
                "dbos_many": child(
                    "_pg_dbos_bench.py", "many", "--url", dbos_db, "--runs", str(runs), "--steps", str(steps)
                ),
                "dbos_short": child(
                    "_pg_dbos_bench.py", "many", "--url", dbos_db, "--runs", str(short), "--steps", "1"
                ),
                "workers": {},
            }
            for w in WORKERS:
                one["workers"][str(w)] = {
                    "steps": workers_phase(f"{db}?schema=steps_w{w}", w, runs, steps, 16, data=data),
                    "steps_full": workers_phase(f"{db}?schema=full_w{w}", w, runs, steps, 16, "full", data=data),
                    "runs": workers_phase(f"{db}?schema=runs_w{w}", w, short, 1, 16, data=data),
                }
                print(f"rep {rep + 1}/{reps}, {w} worker(s): {one['workers'][str(w)]}", file=sys.stderr)
            results["reps"].append(one)
    finally:
        server.stop()
    OUT.mkdir(exist_ok=True)
    (OUT / "workers.json").write_text(json.dumps(results, indent=2))
    block = render(results)
    print(block)
    if not args.no_doc:
        write_doc(block)


if __name__ == "__main__":
    main()
