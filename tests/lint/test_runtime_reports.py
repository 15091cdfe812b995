"""Runtime determinism warnings and replay reports point at the user's line and give each advice once.

Real processes: a workflow kills itself with SIGKILL part-way, a new process resumes it and
its stderr (where Python prints warnings as ``file:line: Category: message``) is read. One
test runs a real kernel, as a notebook user sees it.
"""

from __future__ import annotations

import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from nbdurable.testing import Kernel

PRELUDE = """\
import asyncio, os, signal, sys, time
import nbdurable as nd
nd.configure(sys.argv[1])
CRASH = sys.argv[2] == "crash"
def die_here():
    if CRASH:
        os.kill(os.getpid(), signal.SIGKILL)
"""

EPILOGUE = """
async def main():
    print("RESULT", await wf.run(run_id="r1"))
asyncio.run(main())
"""

WARNING = re.compile(r"^(?P<file>.+?):(?P<line>\d+): ReplayDeterminismWarning: (?P<text>.*)$", re.MULTILINE)


def resume_after_crash(tmp_path: Path, body: str) -> tuple[str, list[tuple[str, int, str]], list[str]]:
    """Run ``body`` until it kills itself, resume it; return the script, its warnings (file, line, text), lines."""
    script = tmp_path / "flow.py"
    text = PRELUDE + textwrap.dedent(body) + EPILOGUE
    script.write_text(text)
    journal = str(tmp_path / "journal.db")
    first = subprocess.run([sys.executable, str(script), journal, "crash"], capture_output=True, text=True, timeout=60)
    assert first.returncode == -9, first.stderr
    second = subprocess.run(
        [sys.executable, str(script), journal, "resume"], capture_output=True, text=True, timeout=60
    )
    assert second.returncode == 0, second.stderr
    assert "RESULT" in second.stdout
    found = [(m["file"], int(m["line"]), m["text"]) for m in WARNING.finditer(second.stderr)]
    return str(script), found, text.split("\n")


def line_of(lines: list[str], needle: str) -> int:
    (number,) = [n for n, line in enumerate(lines, start=1) if needle in line]
    return number


def test_divergence_points_at_the_step_call_and_gives_the_advice_once(tmp_path: Path) -> None:
    script, found, lines = resume_after_crash(
        tmp_path,
        """
        @nd.function(id="wf", lint="off", determinism="warn")
        async def wf(ctx):
            await ctx.step.run("first", lambda: 1)
            pid = os.getpid()
            await ctx.step.run(f"fetch-{pid}", lambda: 2)
            await ctx.step.run(f"store-{pid}", lambda: 3)
            await ctx.step.run("crash-point", die_here)
            return "done"
        """,
    )
    diverged = [w for w in found if "reached where the journal has" in w[2]]
    assert [(f, n) for f, n, _ in diverged] == [
        (script, line_of(lines, 'f"fetch-{pid}"')),
        (script, line_of(lines, 'f"store-{pid}"')),
    ]
    unreached = [w for w in found if "never reached on replay" in w[2]]
    assert [(f, n) for f, n, _ in unreached] == [(script, line_of(lines, '@nd.function(id="wf"'))]
    advice = "Look for code outside steps"
    assert sum(advice in text for _, _, text in found) == 1
    assert advice in diverged[0][2]
    assert all("nbdurable" not in f for f, _, _ in found)


def test_divergence_under_gather_points_at_the_gather(tmp_path: Path) -> None:
    script, found, lines = resume_after_crash(
        tmp_path,
        """
        @nd.function(id="wf", lint="off", determinism="warn")
        async def wf(ctx):
            pid = os.getpid()
            await asyncio.gather(ctx.step.run(f"a-{pid}", lambda: 1), ctx.step.run(f"b-{pid}", lambda: 2))
            await ctx.step.run("crash-point", die_here)
            return "done"
        """,
    )
    diverged = [(f, n) for f, n, text in found if "reached where the journal has" in text]
    assert diverged
    assert set(diverged) == {(script, line_of(lines, "await asyncio.gather("))}


def test_runtime_warning_is_not_repeated_for_a_line_the_linter_reported(tmp_path: Path) -> None:
    script, found, lines = resume_after_crash(
        tmp_path,
        """
        @nd.function(id="wf", determinism="warn")
        async def wf(ctx):
            started = time.time()
            await ctx.step.run("use", lambda: started)
            await ctx.step.run("crash-point", die_here)
            return "done"
        """,
    )
    at = line_of(lines, "started = time.time()")
    at_line = [text for f, n, text in found if (f, n) == (script, at)]
    # Once, from the linter when the function is defined; not again from the runtime check.
    assert len(at_line) == 1
    assert at_line[0].startswith("@nd.function(id='wf'): ND101")


@pytest.mark.kernel
def test_cell_reports_point_into_the_cell_and_say_each_advice_once(tmp_path: Path) -> None:
    kernel = Kernel(tmp_path)
    try:
        kernel.run("%load_ext nbdurable")
        cell = (
            "%%durable pick\n"
            "import random\n"
            'tag = random.choice(["a", "b", "c", "d", "e", "f", "g", "h"])\n'
            'x = await step.run(f"s-{tag}", lambda: 1)\n'
            'y = await step.run("after", lambda: x)'
        )
        kernel.run(cell)
        shown = ""
        for _ in range(6):  # replays until the choice differs from the journaled one
            shown = kernel.run(cell).text
            if "reached where the journal has" in shown:
                break
        assert "reached where the journal has" in shown
        assert "<durable-cell pick>:4: ReplayDeterminismWarning" in shown
        assert "_step.py" not in shown and "_cell.py" not in shown
        assert "reported at line(s) 3, 4" in shown  # the cause is the lint finding above, not advice again
        assert "random.choice() called outside a step" not in shown  # the linter said it for line 3 already
        assert shown.count("replay determinism finding(s)") == 1
        warned = re.findall(r"^(.+?:\d+): ReplayDeterminismWarning: (.*)$", shown, re.MULTILINE)
        # The divergence at the step, then the steps never reached, at the cell's first line; no runtime warning.
        assert [where for where, _ in warned] == ["<durable-cell pick>:4", "<durable-cell pick>:1"], shown
        assert "never reached on replay" in warned[1][1]
        assert "reported at line(s)" not in warned[1][1]  # said once
    finally:
        kernel.close()


@pytest.mark.kernel
def test_a_cell_is_linted_with_what_earlier_cells_of_the_kernel_made(tmp_path: Path) -> None:
    kernel = Kernel(tmp_path)
    try:
        kernel.run("%load_ext nbdurable")
        kernel.run("import uuid\nrun_tag = uuid.uuid4().hex[:6]")
        shown = kernel.run('%%durable tagged\nx = await step.run(f"{run_tag}-a", lambda: 1)').text
        assert "%%durable tagged: 2 replay determinism finding(s)" in shown
        assert "ND205 reads `run_tag`, set from `uuid.uuid4()` in an earlier cell (line 2 of In [2])" in shown
        assert "ND701 step name built from `run_tag`" in shown
    finally:
        kernel.close()
