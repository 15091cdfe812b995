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
- ``ai``: a complete run of N ``step.ai.infer`` calls against the scripted OpenAI-compatible
  server on loopback (a 2,000-character prompt, a 2,000-character answer): journal bytes
  against the request and response bodies (N=0 for the baseline).
- ``feed``: a complete run of N steps, with ``--widget`` a subscriber on
  engine.subscribe that pushes the engine's snapshot (``build_snapshot``, built
  only when the widget sends) to a TimelineWidget, as the notebook display does.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import functools
import gc
import json
import sys
import tracemalloc
from pathlib import Path
from typing import Any

from _common import PAYLOAD, checkpointed_size, clock, cpu, die, report, us_per_step

t_import = clock()
import nbdurable as nd  # noqa: E402 - timed

import_s = clock() - t_import

parser = argparse.ArgumentParser()
parser.add_argument("mode", choices=["first", "resume", "gather", "bytes", "feed", "ai"])
parser.add_argument("--n", type=int, required=True)
parser.add_argument("--db", required=True)
parser.add_argument("--kill", action="store_true")
parser.add_argument("--widget", action="store_true")
parser.add_argument("--profile", help="write cProfile stats of the timed part to this file")
parser.add_argument("--untyped", action="store_true", help="steps call a function with no return annotation")
parser.add_argument(
    "--inputs", action="store_true", help="each step is given an input: step.run('fetch', fetch, url) with its own url"
)
parser.add_argument(
    "--mix",
    action="store_true",
    help="each step gets a new callable, in turn a lambda, a closure, a partial, a bound method, an async closure "
    "and a module function (what notebook code passes to step.run)",
)
parser.add_argument(
    "--memory", action="store_true", help="trace Python memory: bytes kept per completed step, after gc.collect()"
)
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


def scaled(_i: int) -> str:
    global executed
    executed += 1
    return PAYLOAD


class Tool:
    """A tool object: ``step.run("tool", tool.fetch)`` makes a new bound method each time."""

    def fetch(self) -> str:
        global executed
        executed += 1
        return PAYLOAD


TOOL = Tool()


def counted_lambda() -> str:
    global executed
    executed += 1
    return PAYLOAD


def mixed_step(i: int) -> tuple[str, Any]:
    """The i-th step's name and a callable made for it, as a notebook loop writes them."""
    kind = i % 6
    if kind == 0:
        return "lambda", lambda: counted_lambda()
    if kind == 1:

        def closure() -> str:
            global executed
            executed += 1
            return PAYLOAD + "" * i  # reads i: a real closure

        return "closure", closure
    if kind == 2:
        return "partial", functools.partial(scaled, i)
    if kind == 3:
        return "method", TOOL.fetch
    if kind == 4:

        async def fetch_async() -> str:
            global executed
            executed += 1
            return PAYLOAD + "" * i

        return "async", fetch_async
    return "function", trivial


def stop_profile() -> None:
    if profiler is not None:
        profiler.disable()
        profiler.dump_stats(args.profile)


def report_first() -> None:
    report(
        first_run_us_per_step=us_per_step(marks["call"], marks["first_unfinished"], args.n),
        first_run_cpu_us_per_step=us_per_step(marks["cpu_call"], marks["cpu_first_unfinished"], args.n),
        executed=executed,
        **memory_report(),
    )


def memory_report() -> dict[str, float]:
    """Bytes the process still holds per completed step when step N+1 starts (tracemalloc, after gc)."""
    if not args.memory:
        return {}
    return {"kept_bytes": marks["kept_bytes"], "kept_bytes_per_step": marks["kept_bytes"] / max(args.n, 1)}


def first_unfinished() -> str:
    marks["first_unfinished"] = clock()
    marks["cpu_first_unfinished"] = cpu()
    stop_profile()
    if args.memory:
        gc.collect()
        marks["kept_bytes"] = tracemalloc.get_traced_memory()[0] - marks["traced_before"]
        # Where it is held, for the reader of bench/.out (stderr): the largest allocation sites.
        for stat in tracemalloc.take_snapshot().statistics("lineno")[:8]:
            print(f"memory: {stat}", file=sys.stderr)
    if args.kill:
        report_first()
        die()
    return PAYLOAD


@nd.function(id="bench-sequential", retries=0)
async def sequential(ctx: nd.Context) -> None:
    marks.setdefault("body", clock())
    run = ctx.step.run
    if args.mix:
        for i in range(args.n):
            name, fn = mixed_step(i)
            await run(name, fn)
    elif args.inputs:
        for i in range(args.n):
            await run("fetch", scaled, i)  # the input is hashed (and previewed) per step
    else:
        for _ in range(args.n):
            await run("trivial", step_fn)
    await run("first-unfinished", first_unfinished)


@nd.function(id="bench-gather", retries=0)
async def gathered(ctx: nd.Context) -> None:
    t0 = clock()
    await asyncio.gather(*[ctx.step.run("parallel", trivial) for _ in range(args.n)])
    marks["gather_s"] = clock() - t0


# Prompts and answers of a realistic size and kind: distinct 2,000-character slices of the project's own docs
# (prose, code and tables; repeated filler text would flatter compression).
DOCS_TEXT = "".join(p.read_text(encoding="utf-8") for p in sorted((Path(__file__).parent.parent / "docs").glob("*.md")))
AI_CHARS = 2000
ai_sizes: dict[str, int] = {"request": 0, "response": 0}
ai_server: dict[str, str] = {}


def ai_text(k: int) -> str:
    start = (k * AI_CHARS) % max(len(DOCS_TEXT) - AI_CHARS, 1)
    return DOCS_TEXT[start : start + AI_CHARS]


@nd.function(id="bench-ai", retries=0)
async def ai_run(ctx: nd.Context) -> None:
    model = nd.ai.openai("bench-model", base_url=ai_server["url"], api_key_env=None)
    for i in range(args.n):
        body = {"messages": [{"role": "user", "content": ai_text(2 * i)}]}
        out = await ctx.step.ai.infer("ask", model=model, body=body)
        ai_sizes["request"] += len(json.dumps({"model": model.model, **body}))
        ai_sizes["response"] += len(json.dumps(out))


def compressed_sizes(db: str) -> dict[str, int]:
    """Bytes of the AI steps' output and meta columns as stored, and compressed one value at a time (zstd level 3
    and zlib level 6, only values over 1 KiB): what compressing large payloads in the journal would save."""
    import sqlite3
    import zlib

    import zstandard

    from nbdurable.journal._sqlite_schema import unpack_output

    zstd = zstandard.ZstdCompressor(level=3)
    out = {"stored": 0, "zstd": 0, "zlib": 0}
    conn = sqlite3.connect(db)
    try:
        for row in conn.execute("SELECT output, meta FROM steps WHERE kind='ai'"):
            for value in row:
                # An output nbdurable stored compressed (a BLOB) is measured as stored and, for the columns
                # below, as the text it holds.
                stored = value if isinstance(value, bytes) else (value or "").encode()
                out["stored"] += len(stored)
                raw = unpack_output(value).encode() if isinstance(value, bytes) else stored
                big = len(raw) > 1024
                out["zstd"] += len(zstd.compress(raw)) if big else len(raw)
                out["zlib"] += len(zlib.compress(raw, 6)) if big else len(raw)
    finally:
        conn.close()
    return out


@nd.function(id="bench-plain", retries=0)
async def plain(ctx: nd.Context) -> None:
    for _ in range(args.n):
        await ctx.step.run("trivial", trivial)


async def main() -> None:
    t_open = clock()
    engine = nd.configure(args.db)
    open_s = clock() - t_open
    if args.mode in ("first", "resume"):
        if args.memory:
            tracemalloc.start()
            gc.collect()
            marks["traced_before"] = tracemalloc.get_traced_memory()[0]
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
            resume_cpu_s=marks["cpu_first_unfinished"] - marks["cpu_call"],
            replay_us_per_step=resume_s / max(args.n, 1) * 1e6,
            **memory_report(),
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
    elif args.mode == "ai":
        from nbdurable.testing._llm_server import ScriptedLLMServer, reply

        answers = iter(range(args.n))
        with ScriptedLLMServer(lambda _req: reply(ai_text(2 * next(answers) + 1))) as server:
            ai_server["url"] = server.openai_base_url
            await ai_run.run(run_id=RUN_ID)
        engine.journal.close()
        report(size=checkpointed_size(Path(args.db)), **ai_sizes, **compressed_sizes(args.db))
    elif args.mode == "bytes":
        await plain.run(run_id=RUN_ID)
        engine.journal.close()
        report(size=checkpointed_size(Path(args.db)))
    else:
        widget = None
        builds: list[float] = []
        if args.widget:
            # What nbdurable.notebook._display.display_run does in a notebook, minus IPython's display(): every
            # notice pushes a snapshot source to the widget (built only when it sends, at most 4 times a second),
            # and while a send is scheduled the step notices are held (the feed delivers none) until the source
            # is built; when the run ends, the last snapshot is built at once (from memory, as the run's state is
            # released just after) and becomes the static view that replaces the widget. (A tree without
            # ChangeFeed.hold gets every notice, as display_run did there.)
            from nbdurable.notebook._display import TIMELINE_ROWS
            from nbdurable.notebook._widget import TimelineWidget
            from nbdurable.timeline._render import bound_snapshot, timeline_mimebundle
            from nbdurable.timeline._snapshot import build_snapshot

            hold = getattr(engine.feed, "hold", None)
            release = getattr(engine.feed, "release", None)

            def source() -> dict[str, Any]:
                if release is not None:
                    release(on_notice)
                t = clock()
                snap = build_snapshot(engine, RUN_ID, max_steps=TIMELINE_ROWS)
                builds.append(clock() - t)
                return snap

            widget = shown = TimelineWidget(max_steps=TIMELINE_ROWS)

            def on_notice(notice: Any) -> None:
                if notice.run_id != RUN_ID and notice.kind != "event":
                    return
                if notice.kind == "run_finished":
                    timeline_mimebundle(bound_snapshot(source(), max_steps=TIMELINE_ROWS))
                    shown.close()
                    return
                shown.push(source)
                if hold is not None and shown.pending:
                    hold(on_notice)

            engine.subscribe(on_notice)
        if profiler is not None:
            profiler.enable()
        t0, cpu0 = clock(), cpu()
        await plain.run(run_id=RUN_ID)
        elapsed, cpu_elapsed = clock() - t0, cpu() - cpu0
        stop_profile()
        report(
            us_per_step=us_per_step(0.0, elapsed, args.n),
            cpu_us_per_step=us_per_step(0.0, cpu_elapsed, args.n),
            sent=widget.sent_count if widget is not None else 0,
            build_ms_max=max(builds, default=0.0) * 1e3,
            build_ms_total=sum(builds) * 1e3,
        )


asyncio.run(main())
