"""nbdurable workers: sequential first run and resume, gathered steps, journal bytes, widget feed.

Each mode runs in a fresh process against a journal file given on the command line.

- ``first``: a run of N trivial steps then one more (the first unfinished step).
  With ``--kill`` the process dies by SIGKILL as that step starts: N steps are
  committed and the run is left "running" with a dead owner, exactly what a
  crashed kernel leaves.
- ``resume``: the next process runs the same run_id; the journal says its owner
  is gone, so the run is interrupted and re-executes, replaying the N steps and
  running the last. Steps that run again are counted: any is an error.
- ``gather``: one run of N steps under asyncio.gather.
- ``bytes``: a complete run of N steps returning 200 bytes each (N=0 for the baseline).
- ``feed``: a complete run of N steps, with ``--widget`` a subscriber on
  engine.subscribe that pushes the engine's snapshot (``build_snapshot``, built
  only when the widget sends) to a TimelineWidget, as the notebook display does.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
from pathlib import Path
from typing import Any

from _common import PAYLOAD, checkpointed_size, clock, cpu, die, report, us_per_step

t_import = clock()
import nbdurable as nd  # noqa: E402 - timed

import_s = clock() - t_import

parser = argparse.ArgumentParser()
parser.add_argument("mode", choices=["first", "resume", "gather", "bytes", "feed"])
parser.add_argument("--n", type=int, required=True)
parser.add_argument("--db", required=True)
parser.add_argument("--kill", action="store_true")
parser.add_argument("--widget", action="store_true")
parser.add_argument("--profile", help="write cProfile stats of the timed part to this file")
parser.add_argument("--untyped", action="store_true", help="steps call a function with no return annotation")
args = parser.parse_args()

RUN_ID = "bench-run"
marks: dict[str, float] = {}
executed = 0
profiler = cProfile.Profile() if args.profile else None


def trivial() -> str:
    global executed
    executed += 1
    return PAYLOAD


def trivial_untyped():  # type: ignore[no-untyped-def]  # no annotation on purpose: replay skips output_type
    global executed
    executed += 1
    return PAYLOAD


step_fn = trivial_untyped if args.untyped else trivial


def stop_profile() -> None:
    if profiler is not None:
        profiler.disable()
        profiler.dump_stats(args.profile)


def report_first() -> None:
    report(
        first_run_us_per_step=us_per_step(marks["call"], marks["first_unfinished"], args.n),
        first_run_cpu_us_per_step=us_per_step(marks["cpu_call"], marks["cpu_first_unfinished"], args.n),
        executed=executed,
    )


def first_unfinished() -> str:
    marks["first_unfinished"] = clock()
    marks["cpu_first_unfinished"] = cpu()
    stop_profile()
    if args.kill:
        report_first()
        die()
    return PAYLOAD


@nd.function(id="bench-sequential", retries=0)
async def sequential(ctx: nd.Context) -> None:
    marks.setdefault("body", clock())
    run = ctx.step.run
    for _ in range(args.n):
        await run("trivial", step_fn)
    await run("first-unfinished", first_unfinished)


@nd.function(id="bench-gather", retries=0)
async def gathered(ctx: nd.Context) -> None:
    t0 = clock()
    await asyncio.gather(*[ctx.step.run("parallel", trivial) for _ in range(args.n)])
    marks["gather_s"] = clock() - t0


@nd.function(id="bench-plain", retries=0)
async def plain(ctx: nd.Context) -> None:
    for _ in range(args.n):
        await ctx.step.run("trivial", trivial)


async def main() -> None:
    t_open = clock()
    engine = nd.configure(args.db)
    open_s = clock() - t_open
    if args.mode in ("first", "resume"):
        if profiler is not None:
            profiler.enable()
        marks["call"], marks["cpu_call"] = clock(), cpu()
        await sequential.run(run_id=RUN_ID)
        if args.mode == "first":
            report_first()
            return
        if executed:
            raise SystemExit(f"nbdurable resume re-executed {executed} completed steps; the benchmark is wrong")
        resume_s = marks["first_unfinished"] - marks["call"]
        report(
            resume_s=resume_s,
            replay_us_per_step=resume_s / max(args.n, 1) * 1e6,
            body_replay_us_per_step=us_per_step(marks["body"], marks["first_unfinished"], args.n),
            open_s=open_s,
            import_s=import_s,
            executed=executed,
        )
    elif args.mode == "gather":
        if profiler is not None:
            profiler.enable()
        await gathered.run(run_id=RUN_ID)
        stop_profile()
        report(us_per_step=marks["gather_s"] / max(args.n, 1) * 1e6)
    elif args.mode == "bytes":
        await plain.run(run_id=RUN_ID)
        engine.journal.close()
        report(size=checkpointed_size(Path(args.db)))
    else:
        widget = None
        builds: list[float] = []
        if args.widget:
            # What nbdurable._display.display_run does in a notebook, minus IPython's display().
            from nbdurable._snapshot import build_snapshot
            from nbdurable._widget import TimelineWidget

            def source() -> dict[str, Any]:
                t = clock()
                snap = build_snapshot(engine, RUN_ID)
                builds.append(clock() - t)
                return snap

            widget = TimelineWidget()
            engine.subscribe(lambda _notice: widget.push(source))
        t0 = clock()
        await plain.run(run_id=RUN_ID)
        if widget is not None:
            widget.flush()  # the last snapshot, which the widget's timer would send a moment later
        elapsed = clock() - t0
        report(
            us_per_step=us_per_step(0.0, elapsed, args.n),
            sent=widget.sent_count if widget is not None else 0,
            build_ms_max=max(builds, default=0.0) * 1e3,
            build_ms_total=sum(builds) * 1e3,
        )


asyncio.run(main())
