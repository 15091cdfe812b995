"""A failed run's traceback ends in the user's code: nbdurable's own frames are hidden, as IPython hides its own."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

import nbdurable as nd
from nbdurable.engine._usercode import short_traceback, user_traceback_text
from nbdurable.timeline._render import render_html
from nbdurable.timeline._snapshot import build_snapshot
from tests.helpers import restart

PACKAGE = str(Path(nd.__file__).parent) + "/"  # nbdurable's own files (the checkout may be named so too)


def _parse_fails(text: str) -> int:
    return int(text)


@pytest.mark.asyncio
async def test_a_failed_run_shows_the_users_frames_once_and_the_full_traceback_a_click_away(journal_path: Path) -> None:
    @nd.function(id="tb-fails", lint="off")
    async def wf(ctx: nd.Context) -> int:
        await ctx.step.run("ok", lambda: 1)
        return await ctx.step.run("parse", _parse_fails, "twelve")

    with pytest.raises(nd.RunFailedError) as caught:
        await wf.run(run_id="tb")
    shown = "\n".join(caught.value._render_traceback_())
    assert PACKAGE not in shown, shown
    this_file = Path(__file__).name
    # where the test awaited the run, where the workflow called the step, and where the step failed
    assert shown.count(this_file) == 3, shown
    assert 'return await ctx.step.run("parse", _parse_fails, "twelve")' in shown
    assert "ValueError: invalid literal for int() with base 10: 'twelve'" in shown
    assert shown.rstrip().endswith(
        "(The full traceback, nbdurable's frames included: open step 'parse' on the run's timeline.)"
    )

    for snap in (build_snapshot(nd.get_engine(), "tb"), _from_journal(journal_path)):
        error = next(s for s in snap["steps"] if s["step_id"] == "parse")["error"]
        assert error["traceback"].rstrip().endswith("ValueError: invalid literal for int() with base 10: 'twelve'")
        assert PACKAGE not in error["user_traceback"]
        assert error["user_traceback"].rstrip().endswith("ValueError: invalid literal for int() with base 10: 'twelve'")
        assert "_parse_fails" in error["user_traceback"]
        markup = render_html(snap)
        # once: the step's details hold the short traceback and the full one behind a click; the header only says where
        assert markup.count('class="nbd-traceback"') == 1
        # the full one is a click away when it holds more than the user's frames
        assert markup.count('class="nbd-full-traceback"') == (error["traceback"] != error["user_traceback"])
        assert "in step parse: open it for the traceback" in markup


def _from_journal(journal_path: Path) -> dict[str, object]:
    restart(journal_path)
    return build_snapshot(nd.get_engine(), "tb")


def test_user_traceback_text_drops_library_frames_and_keeps_chained_sections() -> None:
    package = str(Path(nd.__file__).parent)
    text = (
        "Traceback (most recent call last):\n"
        f'  File "{package}/_step.py", line 286, in _run\n'
        "    value = fn(*args, **kwargs)\n"
        "            ^^^^^^^^^^^^^^^^^^\n"
        '  File "<durable-cell demo>", line 5, in bad\n'
        "    raise KeyError(x)\n"
        "KeyError: 3\n"
        "\n"
        "The above exception was the direct cause of the following exception:\n"
        "\n"
        "Traceback (most recent call last):\n"
        f'  File "{asyncio.__file__}", line 1, in run\n'
        "    loop.run()\n"
        '  File "/tmp/ipykernel_1/2.py", line 3, in <module>\n'
        "    go()\n"
        "ValueError: wrapped\n"
    )
    assert user_traceback_text(text) == (
        "Traceback (most recent call last):\n"
        '  File "<durable-cell demo>", line 5, in bad\n'
        "    raise KeyError(x)\n"
        "KeyError: 3\n"
        "\n"
        "The above exception was the direct cause of the following exception:\n"
        "\n"
        "Traceback (most recent call last):\n"
        '  File "/tmp/ipykernel_1/2.py", line 3, in <module>\n'
        "    go()\n"
        "ValueError: wrapped\n"
    )
    assert user_traceback_text("not a traceback at all") == "not a traceback at all"


def test_a_run_known_only_from_the_journal_shows_its_stored_traceback_without_library_frames() -> None:
    package = str(Path(nd.__file__).parent)
    stored = f'Traceback (most recent call last):\n  File "{package}/_step.py", line 1, in _run\n    x\nValueError: v\n'
    error = nd.RunFailedError(
        "run 'r' failed", run_id="r", error_type="ValueError", error_message="v", traceback=stored
    )
    assert short_traceback(error) == ["Traceback (most recent call last):\nValueError: v"]
