"""Replay determinism: warnings before (lint), during (runtime) and after (replay) a run, and code changes.

Runtime and replay warnings are checked with real processes: a workflow kills
itself with SIGKILL part-way, a new process resumes it, and its stderr is read.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import textwrap
import warnings
from pathlib import Path

import pytest

import nbdurable as nd

ROOT = Path(__file__).resolve().parents[2]

PRELUDE = """
import asyncio, os, random, signal, sys, time
import nbdurable as nd
nd.configure(sys.argv[1])
CRASH = sys.argv[2] == "crash"
def die_here():
    if CRASH:
        os.kill(os.getpid(), signal.SIGKILL)
"""

EPILOGUE = """
async def main():
    try:
        print("RESULT", await wf.run(run_id="r1"))
    except nd.RunFailedError as exc:
        print("FAILED", exc.error_type, exc.error_message)
asyncio.run(main())
"""


def run_twice(tmp_path: Path, body: str, *, extra_args: tuple[str, ...] = ()) -> tuple[str, str]:
    """Run the workflow until it kills itself, then resume it; return (stdout, stderr) of the resume."""
    script = tmp_path / "wf.py"
    script.write_text(PRELUDE + textwrap.dedent(body) + EPILOGUE)
    journal = str(tmp_path / "journal.db")
    first = subprocess.run(
        [sys.executable, *extra_args, str(script), journal, "crash"], capture_output=True, text=True, timeout=60
    )
    assert first.returncode == -9, first.stderr
    second = subprocess.run(
        [sys.executable, *extra_args, str(script), journal, "resume"], capture_output=True, text=True, timeout=60
    )
    assert second.returncode == 0, second.stderr
    return second.stdout, second.stderr


def test_step_name_from_the_clock_is_reported_on_replay(tmp_path: Path) -> None:
    out, err = run_twice(
        tmp_path,
        """
        @nd.function(id="wf", lint="off", determinism="warn")
        async def wf(ctx):
            await ctx.step.run("first", lambda: 1)
            tag = "even" if int(time.time() * 1000) % 2 == 0 else "odd"
            name = f"fetch-{tag}-{os.getpid()}"
            await ctx.step.run(name, lambda: 2)
            await ctx.step.run("crash-point", die_here)
            return "done"
        """,
    )
    assert "RESULT done" in out
    assert "ReplayDeterminismWarning" in err
    assert "where the journal has 'fetch-" in err, err
    assert "journaled step(s) were never reached on replay" in err
    assert "run 'r1'" in err


def test_other_inputs_on_replay_show_both_sides(tmp_path: Path) -> None:
    out, err = run_twice(
        tmp_path,
        """
        @nd.function(id="wf", lint="off")
        async def wf(ctx):
            stamp = os.getpid()
            await ctx.step.run("use-stamp", lambda s: s, stamp)
            await ctx.step.run("crash-point", die_here)
            return "done"
        """,
    )
    assert "RESULT done" in out
    assert "step 'use-stamp': reached with other inputs than journaled" in err
    assert "journaled [" in err and ", now [" in err, err
    assert "nd.rerun('r1', from_step='use-stamp')" in err


def test_strict_turns_divergence_into_an_error(tmp_path: Path) -> None:
    out, _err = run_twice(
        tmp_path,
        """
        @nd.function(id="wf", lint="off", determinism="strict")
        async def wf(ctx):
            await ctx.step.run("use-pid", lambda s: s, os.getpid())
            await ctx.step.run("crash-point", die_here)
            return "done"
        """,
    )
    assert "FAILED nbdurable._errors.NonDeterminismError" in out or "FAILED NonDeterminismError" in out, out


def test_runtime_calls_outside_steps_are_reported_once_per_call_site(tmp_path: Path) -> None:
    script = tmp_path / "wf.py"
    script.write_text(
        PRELUDE
        + textwrap.dedent(
            """
            @nd.function(id="wf", lint="off")
            async def wf(ctx):
                for _ in range(5):
                    started = time.time()
                pick = random.random()
                inside = await ctx.step.run("inside", lambda: time.time() + random.random())
                now = ctx.step.now()
                return "done"
            """
        )
        + EPILOGUE
    )
    proc = subprocess.run(
        [sys.executable, str(script), str(tmp_path / "j.db"), "resume"], capture_output=True, text=True, timeout=60
    )
    assert "RESULT done" in proc.stdout, proc.stderr
    warnings_seen = [line for line in proc.stderr.splitlines() if "ReplayDeterminismWarning" in line]
    assert len(warnings_seen) == 2, proc.stderr
    assert any("time.time() called outside a step" in w and "wf.py:" in w for w in warnings_seen)
    assert any("random.random() called outside a step" in w for w in warnings_seen)


def test_parallel_steps_finishing_in_another_order_are_not_divergence(tmp_path: Path) -> None:
    out, err = run_twice(
        tmp_path,
        """
        @nd.function(id="wf", lint="off")
        async def wf(ctx):
            async def slow(i):
                await asyncio.sleep((os.getpid() * (i + 3)) % 7 / 100)
                return i
            first = await asyncio.gather(*[ctx.step.run(f"p{i}", slow, i) for i in range(6)])
            await ctx.step.run("crash-point", die_here)
            return first
        """,
        extra_args=("-W", "error::nbdurable.ReplayDeterminismWarning"),
    )
    assert "RESULT [0, 1, 2, 3, 4, 5]" in out
    assert "ReplayDeterminismWarning" not in err


# -- code that changes mid-run -----------------------------------------------------------------------

CHANGING = """
STEP_CODE = sys.argv[3]
def make_step():
    if STEP_CODE == "v1":
        return lambda: "v1 result"
    return lambda: "v2 result " + str(len("changed"))

@nd.function(id="wf", lint="off", on_change=POLICY)
async def wf(ctx):
    a = await ctx.step.run("stable", lambda: "same")
    b = await ctx.step.run("changing", make_step())
    await ctx.step.run("crash-point", die_here)
    c = await ctx.step.run("after", lambda: "after")
    return [a, b, c]
"""


def run_changing(tmp_path: Path, policy: str) -> tuple[str, str, nd.SQLiteJournal]:
    script = tmp_path / "wf.py"
    script.write_text(PRELUDE + CHANGING.replace("POLICY", repr(policy)) + EPILOGUE)
    journal = str(tmp_path / "journal.db")
    first = subprocess.run([sys.executable, str(script), journal, "crash", "v1"], capture_output=True, text=True)
    assert first.returncode == -9, first.stderr
    second = subprocess.run([sys.executable, str(script), journal, "resume", "v2"], capture_output=True, text=True)
    assert second.returncode == 0, second.stderr
    return second.stdout, second.stderr, nd.SQLiteJournal(journal)


def test_on_change_warn_keeps_the_journaled_result_and_says_how_to_redo(tmp_path: Path) -> None:
    out, err, journal = run_changing(tmp_path, "warn")
    assert "RESULT ['same', 'v1 result', 'after']" in out
    assert "the code of 1 replayed step(s) changed since they ran ('changing')" in err
    assert "nd.rerun('r1', from_step='changing')" in err
    journal.close()


def test_on_change_rerun_redoes_from_the_changed_step_in_a_new_run(tmp_path: Path) -> None:
    out, err, journal = run_changing(tmp_path, "rerun")
    assert "RESULT ['same', 'v2 result 7', 'after']" in out, err
    assert "continues as new run 'r1~1'" in err
    old, new = journal.get_run("r1"), journal.get_run("r1~1")
    assert old is not None and old.status == "cancelled" and "superseded by r1~1" in (old.status_reason or "")
    assert new is not None and new.status == "completed"
    new_steps = {s.step_id: s for s in journal.load_steps("r1~1")}
    assert new_steps["stable"].output == '"same"'
    old_steps = {s.step_id: s for s in journal.load_steps("r1")}
    assert old_steps["changing"].output == '"v1 result"', "the old run is left intact"
    journal.close()


def test_on_change_error_stops_the_run(tmp_path: Path) -> None:
    out, _err, journal = run_changing(tmp_path, "error")
    assert "FAILED" in out and "code changed since it ran" in out
    journal.close()


# -- static check at definition time ----------------------------------------------------------------


def test_function_lint_warns_at_definition_and_can_be_an_error_or_off() -> None:
    import time

    with pytest.warns(nd.ReplayDeterminismWarning, match=r"time\.time"):

        @nd.function(id="lint-warn")
        async def noisy(ctx: nd.Context) -> float:
            return await ctx.step.run("s", lambda x: x, time.time())

    with pytest.raises(nd.NonDeterminismError, match="replays differently"):

        @nd.function(id="lint-error", lint="error")
        async def strict(ctx: nd.Context) -> float:
            return await ctx.step.run("s", lambda x: x, time.time())

    with warnings.catch_warnings():
        warnings.simplefilter("error")

        @nd.function(id="lint-off", lint="off")
        async def quiet(ctx: nd.Context) -> float:
            return await ctx.step.run("s", lambda x: x, time.time())

    assert noisy.id == "lint-warn" and quiet.id == "lint-off"


def test_rerun_reuses_the_prefix_and_leaves_the_old_run(tmp_path: Path) -> None:
    nd.configure(tmp_path / "j.db")
    calls: list[str] = []

    @nd.function(id="rerun-me", lint="off")
    async def wf(ctx: nd.Context) -> list[str]:
        out = []
        for name in ("a", "b", "c"):
            out.append(await ctx.step.run(name, lambda n=name: calls.append(n) or n))
        return out

    async def go() -> None:
        assert await wf.run(run_id="orig") == ["a", "b", "c"]
        handle = nd.rerun("orig", from_step="b")
        assert handle.run_id == "orig~1"
        assert await handle.result() == ["a", "b", "c"]
        with pytest.raises(nd.ConfigError, match="has no step 'zzz'"):
            nd.rerun("orig", from_step="zzz")

    asyncio.run(go())
    assert calls == ["a", "b", "c", "b", "c"]
    assert nd.get_run("orig").status == "completed"
