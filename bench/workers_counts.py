"""What one step costs the workers and the server, in counts rather than time: statements, commits, NOTIFYs, wake-ups.

Timings on a shared machine move with its load; counts do not. This runs the steps workload of
``workers_bench.py`` (R runs of S trivial steps handed to W ``nbdurable worker`` processes, each
``--concurrency 16``) on a private PostgreSQL server with ``pg_stat_statements``, and reports per step:

- the server's side (``pg_stat_statements``, the workers' role only; ``pg_stat_database``;
  ``pg_stat_wal``): statements by kind, transactions committed, WAL flushes (``wal_sync``),
  ``NOTIFY`` calls, and the rows the claim statements looked at;
- the workers' side, with ``--profile`` (each worker under ``cProfile``, which slows it, so only its
  call counts are read; it sees the main thread only): turns of the event loop, journal commits
  (``PostgresJournal.write``), notices handled on the loop, looks for work.

    bench/.venv/bin/python bench/workers_counts.py                 # 1, 2 and 4 workers, 200 runs of 10 steps
    bench/.venv/bin/python bench/workers_counts.py --profile --workers 1 4

Prints a Markdown table; raw numbers go to bench/.out/workers_counts.json. Nothing in the tests runs this.
"""

from __future__ import annotations

import argparse
import json
import os
import pstats
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
OUT = HERE / ".out"

# Statement kinds, by a piece of their text (pg_stat_statements keeps the text with placeholders).
KINDS = (
    ("step commit", "INSERT INTO {s}.steps"),
    ("claim_next", "SET owner = $1, lease_until = $2 WHERE rn IN"),
    ("claim_run", "epoch = epoch + 1"),
    ("run update", "UPDATE {s}.runs SET"),
    ("get_run", "FROM {s}.runs WHERE run_id = $1"),
    ("load_steps", "FROM {s}.steps WHERE rn = (SELECT rn"),
    ("list_runs (sweep)", "FROM {s}.runs WHERE status = ANY"),
    ("lease renewal", "UPDATE {s}.leases SET expires_at"),
    ("NOTIFY", "pg_notify"),
    ("BEGIN / COMMIT", "BEGIN"),
)

# Worker-side functions whose call counts say what a worker did (with --profile).
CALLS = (
    ("loop turns", "base_events.py", "_run_once"),
    ("round trips to the server (psycopg waits)", "psycopg/connection.py", "wait"),
    ("journal commits", "_postgres.py", "write"),
    ("notices handled on the loop", "_waits.py", "_take_notices"),
    ("looks for work", "_worker.py", "_take_work"),
)


def sql(url: str, query: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        cur = conn.execute(query, params)  # type: ignore[arg-type]
        return cur.fetchall() if cur.description is not None else []


def server_counts(url: str, schema: str) -> dict[str, float]:
    """Calls of each statement kind (the workers' role), and the database's and WAL's counters."""
    out: dict[str, float] = {}
    rows = sql(
        url,
        "SELECT query, calls, rows FROM pg_stat_statements s JOIN pg_roles r ON r.oid = s.userid "
        "WHERE r.rolname = 'postgres' AND s.dbid = (SELECT oid FROM pg_database WHERE datname = current_database())",
    )
    total = 0
    for query, calls, got in rows:
        total += calls
        for kind, piece in KINDS:
            if piece.replace("{s}", f'"{schema}"') in query:
                out[kind] = out.get(kind, 0) + calls
                if kind in ("list_runs (sweep)", "claim_next"):
                    out[f"rows returned by {kind}"] = out.get(f"rows returned by {kind}", 0) + got
                break
    out["statements (all)"] = total
    db = sql(url, "SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()")
    out["transactions committed (all roles)"] = float(db[0][0])
    wal = sql(url, "SELECT wal_records, wal_sync, wal_write FROM pg_stat_wal")
    out["WAL records"], out["WAL flushes (wal_sync)"], out["WAL writes"] = map(float, wal[0])
    return out


def switches(pids: list[int]) -> dict[str, float]:
    """Context switches of every thread of these processes so far (from /proc): how often they woke or were made
    to wait, whatever the machine's load; plus CPU seconds (user and system, which the load does move)."""
    out = {"thread wake-ups (voluntary switches)": 0.0, "preemptions (involuntary switches)": 0.0, "CPU µs": 0.0}
    out["read syscalls"] = out["write syscalls"] = 0.0
    tick = os.sysconf("SC_CLK_TCK")
    for pid in pids:
        try:
            io = dict(line.split(": ") for line in Path(f"/proc/{pid}/io").read_text().splitlines())
            out["read syscalls"] += int(io["syscr"])
            out["write syscalls"] += int(io["syscw"])
        except (OSError, KeyError, ValueError):
            pass
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            out["CPU µs"] += (int(fields[11]) + int(fields[12])) / tick * 1e6
        except OSError:
            continue
        for status in Path(f"/proc/{pid}/task").glob("*/status"):
            try:
                text = status.read_text()
            except OSError:
                continue
            for line in text.splitlines():
                if line.startswith("voluntary_ctxt_switches:"):
                    out["thread wake-ups (voluntary switches)"] += int(line.split()[1])
                elif line.startswith("nonvoluntary_ctxt_switches:"):
                    out["preemptions (involuntary switches)"] += int(line.split()[1])
    return out


def server_pids(data: Path) -> list[int]:
    main = int((data / "postmaster.pid").read_text().split()[0])
    kids = subprocess.run(["pgrep", "-P", str(main)], capture_output=True, text=True, check=False).stdout.split()
    return [main, *map(int, kids)]


def reset(url: str) -> None:
    sql(url, "SELECT pg_stat_statements_reset()")
    sql(url, "SELECT pg_stat_reset()")
    sql(url, "SELECT pg_stat_reset_shared('wal')")


def profile_counts(files: list[Path]) -> dict[str, float]:
    """Summed call counts of CALLS over the workers' profiles."""
    out = dict.fromkeys((name for name, _f, _fn in CALLS), 0.0)
    for f in files:
        stats = pstats.Stats(str(f)).stats  # type: ignore[attr-defined]
        for (filename, _line, func), (_cc, ncalls, *_rest) in stats.items():
            for name, file_part, fn in CALLS:
                if func == fn and filename.endswith(file_part):
                    out[name] += ncalls
    return out


def phase(server: Any, n_workers: int, runs: int, steps: int, *, profile: bool, durability: str) -> dict[str, Any]:
    """W workers, R runs of S steps handed to them; the counts over the run from hand-over to the last run's end."""
    schema = f"counts_w{n_workers}_{int(time.time() * 1000) % 100000}"
    worker_url = server.url_for("counts") + f"?schema={schema}"
    bench_url = server.url_for("counts", "bench") + f"?schema={schema}"
    stats_url = server.url_for("counts")
    from nbdurable.engine._engine import Engine
    from nbdurable.journal._backends import open_journal

    journal = open_journal(bench_url)  # the bench's statements run as another role: they are not counted
    env = {**os.environ, "PYTHONPATH": os.pathsep.join((str(HERE), str(ROOT)))}
    profiles = [Path(tempfile.mkstemp(prefix="nbd-prof-", suffix=".prof")[1]) for _ in range(n_workers)]
    logs = [Path(tempfile.mkstemp(prefix="nbd-worker-", suffix=".log")[1]) for _ in range(n_workers)]
    procs = []
    for prof, log in zip(profiles, logs, strict=True):
        cmd = [sys.executable, *(["-m", "cProfile", "-o", str(prof)] if profile else []), "-m", "nbdurable"]
        cmd += ["worker", "_workers_app", "--journal", worker_url, "--durability", durability, "--concurrency", "16"]
        cmd += ["--poll", "0.5", "--log-level", "info"]
        procs.append(subprocess.Popen(cmd, cwd=HERE, env=env, stdout=subprocess.DEVNULL, stderr=log.open("w")))
    try:
        deadline = time.monotonic() + 120
        while not all("serving" in log.read_text() for log in logs):
            if any(p.poll() is not None for p in procs) or time.monotonic() > deadline:
                raise SystemExit("workers did not start:\n" + "\n".join(log.read_text()[-2000:] for log in logs))
            time.sleep(0.05)
        time.sleep(2.0)  # past the listeners' first second, in which every run is announced
        engine = Engine(journal)
        reset(stats_url)
        assert server.folder is not None
        before_w = switches([p.pid for p in procs])
        before_s = switches(server_pids(server.folder / "data"))
        for _ in range(runs):
            engine.to_workers("bw-steps", data={"steps": steps}, queue="default")
        deadline = time.monotonic() + 600
        while len(journal.list_runs(statuses=["completed"], function_id="bw-steps")) < runs:
            if time.monotonic() > deadline:
                raise SystemExit("the runs did not complete")
            time.sleep(0.2)
        after_w = switches([p.pid for p in procs])
        after_s = switches(server_pids(server.folder / "data"))
        time.sleep(1.0)  # statistics reach the shared counters within a second
        counts = server_counts(stats_url, schema)
        for k in before_w:
            counts[f"workers: {k}"] = after_w[k] - before_w[k]
            counts[f"server: {k}"] = after_s[k] - before_s[k]
    finally:
        journal.close()
        for p in procs:
            p.send_signal(signal.SIGTERM)
        for p in procs:
            p.wait(timeout=120)
        for log in logs:
            log.unlink()
    if profile:
        counts.update(profile_counts(profiles))
        keep = OUT / f"workers_counts_w{n_workers}"
        keep.mkdir(parents=True, exist_ok=True)
        for i, prof in enumerate(profiles):
            prof.replace(keep / f"worker{i}.prof")
    for prof in profiles:
        prof.unlink(missing_ok=True)
    return {k: v / (runs * steps) for k, v in counts.items()}


def latency_counts(server: Any, durability: str) -> dict[str, dict[str, float]]:
    """Per step of one sequential run, nbdurable and DBOS: the difference between a run of 600 and one of 100 steps.

    Taking the difference leaves out each process's start (DBOS creates its tables, nbdurable its schema) and
    its warm-up run.
    """
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out: dict[str, dict[str, float]] = {}
    for name, script in (("nbdurable", "_workers_app.py"), ("DBOS", "_pg_dbos_bench.py")):
        got = []
        for n in (100, 600):
            db = f"lat_{name.lower()}_{n}_{int(time.time() * 1000) % 100000}"
            url = server.create_database(db)
            sql(url, "CREATE EXTENSION pg_stat_statements")
            cmd = [sys.executable, script, "latency", "--url", url, "--n", str(n)]
            if name == "nbdurable":
                cmd += ["--durability", durability]
            reset(url)
            subprocess.run(cmd, cwd=HERE, env=env, check=True, capture_output=True, timeout=600)
            time.sleep(1.0)
            total = sum(
                c
                for (c,) in sql(
                    url,
                    "SELECT calls FROM pg_stat_statements WHERE dbid = "
                    "(SELECT oid FROM pg_database WHERE datname = current_database())",
                )
            )
            xact = sql(url, "SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()")[0][0]
            wal = sql(url, "SELECT wal_records, wal_sync FROM pg_stat_wal")[0]
            got.append({"statements": total, "transactions committed": xact, "WAL records": wal[0],
                        "WAL flushes (wal_sync)": wal[1]})  # fmt: skip
        out[name] = {k: (got[1][k] - got[0][k]) / 500 for k in got[0]}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--profile", action="store_true", help="also count calls in the workers (cProfile)")
    parser.add_argument("--durability", choices=["normal", "full"], default="normal")
    parser.add_argument("--latency", action="store_true", help="count one sequential run's steps, nbdurable and DBOS")
    args = parser.parse_args()
    from nbdurable.testing._postgres import PostgresServer

    server = PostgresServer(
        fsync=True, settings=["shared_preload_libraries=pg_stat_statements", "pg_stat_statements.track=all"]
    ).start()
    try:
        sql(server.url, "CREATE ROLE bench LOGIN SUPERUSER")
        server.create_database("counts")
        sql(server.url_for("counts"), "CREATE EXTENSION pg_stat_statements")
        d = args.durability
        if args.latency:
            results = latency_counts(server, d)
        else:
            results = {
                f"{w} worker(s)": phase(server, w, args.runs, args.steps, profile=args.profile, durability=d)
                for w in args.workers
            }
    finally:
        server.stop()
    OUT.mkdir(exist_ok=True)
    (OUT / "workers_counts.json").write_text(json.dumps(results, indent=2))
    names = list(dict.fromkeys(k for r in results.values() for k in r))
    what = "one run's steps" if args.latency else f"{args.runs} runs of {args.steps} steps"
    print(f"| per step ({what}, durability={args.durability}) | " + " | ".join(results) + " |")
    print("| --- |" + " --- |" * len(results))
    for name in names:
        print(f"| {name} | " + " | ".join(f"{r.get(name, 0):.3f}" for r in results.values()) + " |")


if __name__ == "__main__":
    main()
