"""A journal is data, never code: hostile type tags and damaged rows, read by real processes.

A journal can come from anyone (a colleague, a download, whoever can write the
file). These tests write what such a journal may hold straight into SQLite with
sqlite3, then read it the ways nbdurable does: a run's result, a replay in a fresh
process, the timeline and the command line. Code chosen by the journal would leave
a marker file; a damaged value must end in a clear error or an "unreadable" mark
naming the run, the step and the column, never a traceback, and a run holding one
is never executed.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import pickle
import socket
from pathlib import Path
from typing import Any

import pytest

import nbdurable as nd
from nbdurable.engine import registry
from nbdurable.engine._serde import decode
from nbdurable.timeline._render import json_safe, render_html, render_text
from nbdurable.timeline._snapshot import build_snapshot
from tests.faults.conftest import run_cli, run_python, tamper
from tests.helpers import until

# A module the reading process has imported (a notebook may well have): the old decoder built any
# class it could reach in sys.modules. Each class leaves the marker when it is built.
EVIL_MODULE = """
import dataclasses, enum, pathlib
import pydantic

MARKER = pathlib.Path(__file__).with_name("PWNED")


class Boom:
    def __init__(self, *args, **kwargs):
        MARKER.touch()


@dataclasses.dataclass
class BoomData:
    x: int

    def __post_init__(self):
        MARKER.touch()


class BoomModel(pydantic.BaseModel):
    x: int

    @pydantic.model_validator(mode="after")
    def boom(self):
        MARKER.touch()
        return self


class BoomEnum(enum.Enum):
    A = 1

    @classmethod
    def _missing_(cls, value):
        MARKER.touch()
        return cls.A
"""

# The victim: a notebook-like script whose workflow and classes live in __main__.
VICTIM = """
import asyncio, json, sys, warnings
import nbdurable as nd
import evilmod  # loaded in this process
from evilmod import Boom  # a name __main__ imports is not a class __main__ defines


@nd.function(id="victim", retries=0)
async def victim(ctx):
    value = await ctx.step.run("a", lambda: {"x": 1})
    if ctx.attempt == 0:
        raise RuntimeError("the first execution stops here")
    return value


@nd.function(id="done", retries=0)
async def done(ctx):
    return {"x": 1}


async def main(journal, mode, count):
    nd.configure(journal)
    if mode == "make":
        for i in range(count):
            try:
                await victim.run(run_id=f"v{i}")
            except nd.RunFailedError:
                pass
            await done.run(run_id=f"d{i}")
        return
    for i in range(count):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                got = repr(await nd.get_run(f"d{i}").result())
            except nd.NbDurableError as exc:
                got = f"{type(exc).__name__}: {exc}"
        print(json.dumps({"run": f"d{i}", "result": got, "warned": [str(w.message) for w in caught]}))
        try:
            got = repr(await nd.get_run(f"v{i}").resume().result())
        except nd.NbDurableError as exc:
            got = f"{type(exc).__name__}: {exc}"
        print(json.dumps({"run": f"v{i}", "result": got}))


asyncio.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3])))
"""


class _Touch:
    """Unpickling it runs a shell command: what a hostile pickle row would hold."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, tuple[str]]:
        return (os.system, (f"touch {self.marker}",))


def hostile(marker: Path) -> list[tuple[str, str]]:
    """(type tag, payload) pairs a hostile journal may hold; the first is the reported exploit."""
    touch = json.dumps(["sh", "-c", f"touch {marker}"])
    pickled = base64.b64encode(pickle.dumps(_Touch(marker))).decode("ascii")
    return [
        ("enum:subprocess:Popen", touch),
        ("model:subprocess:Popen", touch),
        ("dataclass:subprocess:Popen", touch),
        ("enum:evilmod:Boom", touch),
        ("model:evilmod:Boom", '{"x": 1}'),
        ("dataclass:evilmod:BoomData", '{"x": 1}'),
        ("model:evilmod:BoomModel", '{"x": 1}'),
        ("enum:evilmod:BoomEnum", "2"),
        ("model:__main__:Boom", '{"x": 1}'),
        ("enum:os:system", json.dumps(f"touch {marker}")),
        ("pickle", pickled),
        ("no-such-tag", '{"x": 1}'),
    ]


def test_hostile_type_tags_never_build_a_class_or_run_code(tmp_path: Path, marker: Path) -> None:
    (tmp_path / "evilmod.py").write_text(EVIL_MODULE, encoding="utf-8")
    script = tmp_path / "victim.py"
    script.write_text(VICTIM, encoding="utf-8")
    journal = tmp_path / "journal.db"
    cases = hostile(marker)
    made = run_python(script, str(journal), "make", str(len(cases)), cwd=tmp_path)
    assert made.returncode == 0, made.stderr
    for i, (tag, payload) in enumerate(cases):
        tamper(journal, "UPDATE runs SET result=?, result_tag=? WHERE run_id=?", (payload, tag, f"d{i}"))
        tamper(
            journal,
            "UPDATE steps SET output=?, output_tag=? WHERE step_id='a' AND rn=(SELECT rn FROM runs WHERE run_id=?)",
            (payload, tag, f"v{i}"),
        )

    # A fresh process that has the classes' module loaded reads every result and replays every run.
    read = run_python(script, str(journal), "read", str(len(cases)), cwd=tmp_path)
    assert read.returncode == 0, read.stderr
    assert "Traceback" not in read.stderr, read.stderr
    assert not marker.exists(), "a journal ran code"
    lines = {line["run"]: line for line in map(json.loads, read.stdout.splitlines())}
    for i, (tag, payload) in enumerate(cases):
        result, replay = lines[f"d{i}"], lines[f"v{i}"]
        if tag == "pickle":
            assert result["result"].startswith("SerializationError") and "pickle" in result["result"]
        else:
            # Read as plain JSON, with a warning that says how to declare a class.
            assert result["result"] == repr(json.loads(payload)), tag
            assert any("register_type" in w and "plain JSON" in w for w in result["warned"]), tag
        # Replay refuses the step, saying which run and step, instead of building anything.
        assert replay["result"].startswith("RunFailedError"), (tag, replay)
        assert f"run 'v{i}', step 'a'" in replay["result"], (tag, replay)
        assert "SerializationError" in replay["result"], (tag, replay)

    # The timeline and the command line read the same rows (they never decode values).
    engine = nd.Engine(nd.SQLiteJournal(journal))
    try:
        for i in range(len(cases)):
            for run_id in (f"v{i}", f"d{i}"):
                snapshot = build_snapshot(engine, run_id)
                render_html(snapshot), render_text(snapshot), json.dumps(json_safe(snapshot))
    finally:
        engine.journal.close()
    listed = run_cli(journal, "list", cwd=tmp_path)
    assert listed.returncode == 0 and "v0" in listed.stdout, listed.stderr
    for run_id in ("v0", "d0", f"v{len(cases) - 2}"):
        shown = run_cli(journal, "show", run_id, cwd=tmp_path)
        assert shown.returncode == 0 and "Traceback" not in shown.stderr, shown.stderr
    assert not marker.exists(), "a journal ran code"


def test_the_reported_exploit_read_in_this_process_gives_json(journal_path: Path, marker: Path) -> None:
    """nd.get_run(...).result() here, with subprocess.Popen in sys.modules as in any notebook."""
    import subprocess  # noqa: F401 - loaded on purpose: the old decoder called any class it found loaded

    @nd.function(id="untrusted-result", retries=0)
    async def wf(ctx: nd.Context) -> list[str]:
        return ["ok"]

    asyncio.run(wf.run(run_id="r"))
    command = ["sh", "-c", f"touch {marker}"]
    tamper(
        journal_path,
        "UPDATE runs SET result=?, result_tag='enum:subprocess:Popen' WHERE run_id='r'",
        (json.dumps(command),),
    )
    nd.configure(journal_path)  # a restart: the result now comes from the journal
    # The workflow declares list[str]: that is what is built, whatever the tag says.
    assert asyncio.run(nd.get_run("r").result()) == command
    registry().pop("untrusted-result")  # and read where the workflow is not defined at all
    with pytest.warns(nd.SerializationWarning, match="subprocess.Popen"):
        assert asyncio.run(nd.get_run("r").result()) == command
    assert not marker.exists(), "a journal ran code"


# -- damaged rows -----------------------------------------------------------------------------------

DEEP = "[" * 100_000 + "]" * 100_000
DEEP_OK = "[" * 900 + "]" * 900  # parses, but deeper than any view walks

# (id, SQL on the run "f" or its steps, the column it damages). "f" failed at step "b" after "a" completed.
DAMAGE: list[tuple[str, str, tuple[Any, ...], str]] = [
    ("run-event-not-json", "UPDATE runs SET event='{not json' WHERE run_id='f'", (), "event"),
    ("run-event-too-deep", "UPDATE runs SET event=? WHERE run_id='f'", (DEEP,), "event"),
    ("run-error-a-list", "UPDATE runs SET error='[1, 2]' WHERE run_id='f'", (), "error"),
    ("run-options-wrong-type", "UPDATE runs SET options='{\"retries\": \"three\"}' WHERE run_id='f'", (), "options"),
    ("run-warnings-an-object", "UPDATE runs SET warnings='{\"a\": 1}' WHERE run_id='f'", (), "warnings"),
    ("run-attempt-text", "UPDATE runs SET attempt='many' WHERE run_id='f'", (), "attempt"),
    ("run-created-at-blob", "UPDATE runs SET created_at=X'00ff' WHERE run_id='f'", (), "created_at"),
    ("run-status-unknown", "UPDATE runs SET status='pwned' WHERE run_id='f'", (), "status"),
    ("run-kind-unknown", "UPDATE runs SET kind='evil' WHERE run_id='f'", (), "kind"),
    ("run-owner-a-blob", "UPDATE runs SET owner=X'05' WHERE run_id='f'", (), "owner"),
    (
        "run-function-id-not-utf8",
        "UPDATE runs SET function_id=CAST(X'66ff' AS TEXT) WHERE run_id='f'",
        (),
        "function_id",
    ),
]
_A = "WHERE step_id='a' AND rn=(SELECT rn FROM runs WHERE run_id='f')"
_B = "WHERE step_id='b' AND rn=(SELECT rn FROM runs WHERE run_id='f')"
DAMAGE += [
    ("step-position-text", f"UPDATE steps SET position='first' {_A}", (), "position"),
    ("step-meta-wrong-type", f"UPDATE steps SET meta='{{\"input\": 5}}' {_A}", (), "meta"),
    ("step-meta-not-json", f"UPDATE steps SET meta='{{' {_A}", (), "meta"),
    ("step-meta-too-deep", f"UPDATE steps SET meta=? {_A}", (DEEP,), "meta"),
    ("step-meta-ai-tokens-text", f'UPDATE steps SET meta=\'{{"ai": {{"tokens_in": "lots"}}}}\' {_A}', (), "meta"),
    ("step-error-not-json", f"UPDATE steps SET error='nope' {_B}", (), "error"),
    ("step-output-tag-a-blob", f"UPDATE steps SET output_tag=X'05' {_A}", (), "output_tag"),
    ("step-output-blob", f"UPDATE steps SET output=X'00' {_A}", (), "output"),
    ("step-started-at-text", f"UPDATE steps SET started_at='soon' {_A}", (), "started_at"),
    ("step-kind-unknown", f"UPDATE steps SET kind='evil' {_A}", (), "kind"),
    ("step-status-unknown", f"UPDATE steps SET status='done' {_A}", (), "status"),
    ("step-code-hash-a-float", f"UPDATE steps SET code_hash=3.5 {_A}", (), "code_hash"),
    ("step-name-not-utf8", f"UPDATE steps SET name=CAST(X'66ff6f' AS TEXT) {_A}", (), "name"),
]


CALLS: list[str] = []


def first(n: int) -> int:
    CALLS.append("a")
    return n + 1


def second() -> str:
    CALLS.append("b")
    info = nd.current_step()
    if info is not None and info.run_id == "f" and not os.environ.get("NBD_TEST_FIXED"):
        raise RuntimeError("b fails in run f")
    return "b done"


@pytest.fixture
def damaged_journal(journal_path: Path) -> nd.Function[Any]:
    """A journal with a completed run "c" and a failed run "f" (step "a" completed, "b" failed)."""

    @nd.function(id="damage", retries=0)
    async def wf(ctx: nd.Context) -> dict[str, Any]:
        await ctx.step.run("a", first, 1)
        await ctx.step.run("b", second)
        return {"ok": True}

    async def make() -> None:
        await wf.run(run_id="c")
        with pytest.raises(nd.RunFailedError):
            await wf.run(run_id="f")

    asyncio.run(make())
    nd.configure(journal_path, poll_interval=0.02)  # a restart: from here on, everything is read from the file
    CALLS.clear()
    return wf


def damaged_columns(run_id: str) -> set[str]:
    journal = nd.get_engine().journal
    rec = journal.get_run(run_id)
    assert rec is not None
    found = set(rec.damaged)
    for step in journal.load_steps(run_id):
        found.update(step.damaged)
    return found


@pytest.mark.parametrize(("sql", "params", "column"), [c[1:] for c in DAMAGE], ids=[c[0] for c in DAMAGE])
def test_a_damaged_row_is_shown_as_unreadable_and_never_executed(
    damaged_journal: nd.Function[Any], journal_path: Path, sql: str, params: tuple[Any, ...], column: str
) -> None:
    tamper(journal_path, sql, params)
    journal = nd.get_engine().journal
    # Reading never raises: listings, the run, its steps.
    assert any(r.run_id == "f" for r in journal.list_runs())
    assert column in damaged_columns("f")
    snapshot = build_snapshot(nd.get_engine(), "f")
    page = render_html(snapshot) + render_text(snapshot) + json.dumps(json_safe(snapshot))
    assert "unreadable" in page

    async def resume() -> None:
        with pytest.raises(nd.NbDurableError) as info:
            await nd.get_run("f").resume().result()
        text = str(info.value)
        assert isinstance(info.value, nd.JournalRecordError) or "JournalRecordError" in text, text
        assert "run 'f'" in text and column in text, text

    os.environ["NBD_TEST_FIXED"] = "1"  # resuming would now succeed: only the damage can stop it
    try:
        asyncio.run(resume())
    finally:
        del os.environ["NBD_TEST_FIXED"]
    assert CALLS == []  # nothing executed: no completed step again, no new step on damaged ground


def test_the_command_line_shows_damaged_rows_without_a_traceback(
    damaged_journal: nd.Function[Any], journal_path: Path, tmp_path: Path
) -> None:
    for _id, sql, params, _column in DAMAGE:
        if "steps" in sql:
            tamper(journal_path, sql, params)
    tamper(journal_path, "UPDATE runs SET status='pwned', event='{' WHERE run_id='c'")
    # An owner on this host with a pid no kernel can have: liveness checks must not crash.
    owner = f"{socket.gethostname()}:{'9' * 30}:x"
    tamper(journal_path, "UPDATE runs SET status='running', owner=? WHERE run_id='f'", (owner,))
    tamper(journal_path, f"UPDATE steps SET output=?, kind='ai', meta=? {_A}", (DEEP_OK, '{"ai": {}}'))
    nd.get_engine().journal.close()
    listed = run_cli(journal_path, "list", cwd=tmp_path)
    assert listed.returncode == 0 and "Traceback" not in listed.stderr, listed.stderr
    assert {line.split("\t")[0] for line in listed.stdout.splitlines()} == {"c", "f"}
    for run_id in ("c", "f"):
        shown = run_cli(journal_path, "show", run_id, cwd=tmp_path)
        assert shown.returncode == 0 and "Traceback" not in shown.stderr, shown.stderr
        assert "unreadable" in shown.stdout, shown.stdout
    assert "\x1b" not in run_cli(journal_path, "show", "f", cwd=tmp_path).stdout
    engine = nd.Engine(nd.SQLiteJournal(journal_path))
    try:
        for run_id in ("c", "f"):
            snapshot = build_snapshot(engine, run_id)
            page = render_html(snapshot) + render_text(snapshot) + json.dumps(json_safe(snapshot))
            assert "unreadable" in page
    finally:
        engine.journal.close()


def test_control_characters_from_a_journal_never_reach_the_terminal(
    damaged_journal: nd.Function[Any], journal_path: Path, tmp_path: Path
) -> None:
    tamper(journal_path, f"UPDATE steps SET name=? {_A}", ("\x1b]0;owned\x07a",))
    tamper(journal_path, "UPDATE steps SET step_id=? " + _B, ("b\x1b[31mred",))
    nd.get_engine().journal.close()
    shown = run_cli(journal_path, "show", "f", cwd=tmp_path)
    assert shown.returncode == 0, shown.stderr
    assert "\x1b" not in shown.stdout and "\\x1b[31mred" in shown.stdout


def test_a_damaged_result_is_an_error_not_none(damaged_journal: nd.Function[Any], journal_path: Path) -> None:
    tamper(journal_path, "UPDATE runs SET result=X'7b7d' WHERE run_id='c'")  # a blob, not text
    with pytest.raises(nd.SerializationError, match=r"run 'c'.*cannot be read"):
        asyncio.run(nd.get_run("c").result())


def test_a_damaged_event_is_never_delivered(journal_path: Path) -> None:
    @nd.function(id="damage-wait", retries=0)
    async def wf(ctx: nd.Context) -> Any:
        got = await ctx.step.wait_for_event("w", event="damage/evt", timeout="5s")
        return None if got is None else got.data

    async def main() -> Any:
        handle = wf.start(run_id="w")
        await until(lambda: handle.status == "waiting")
        await nd.send("damage/evt", {"n": 1}, id="bad")  # nothing yields before the edit below
        tamper(journal_path, "UPDATE events SET data='[1, 2]' WHERE event_id='bad'")
        assert nd.get_engine().journal.get_event("bad") is None
        await nd.send("damage/evt", {"n": 2}, id="good")
        return await handle.result()

    assert asyncio.run(main()) == {"n": 2}
    assert [e.event_id for e in nd.get_engine().journal.events_after("damage/evt", 0)] == ["good"]


# -- malformed values -------------------------------------------------------------------------------

MALFORMED: list[tuple[str | None, str]] = [
    (None, "{not json"),
    (None, "[" * 100_000),
    (None, "1" * 5_000),  # more digits than Python converts
    ("tuple", "5"),
    ("set", "[[1], [2]]"),  # unhashable items
    ("frozenset", '"ab"'),
    ("datetime", "5"),
    ("datetime", '"9999-99-99"'),
    ("date", "null"),
    ("time", "[]"),
    ("timedelta", '"soon"'),
    ("timedelta", "1e400"),
    ("uuid", '"zz"'),
    ("bytes", '"%%%"'),
    ("bytearray", "7"),
    ("decimal", '{"a": 1}'),
    ("enum:os:system", "{not json"),
]


@pytest.mark.parametrize(("tag", "payload"), MALFORMED, ids=[f"{t}-{p[:12]}" for t, p in MALFORMED])
def test_a_malformed_value_is_a_clear_error_naming_the_step(tag: str | None, payload: str) -> None:
    with pytest.raises(nd.SerializationError) as info:
        decode(payload, tag, where="run 'r', step 's'", strict=True)
    text = str(info.value)
    assert text.startswith("run 'r', step 's': ")
    assert "rerun" in text or "register_type" in text  # says what to do


def test_a_malformed_step_output_fails_the_replay_clearly(
    damaged_journal: nd.Function[Any], journal_path: Path
) -> None:
    tamper(journal_path, f"UPDATE steps SET output=?, output_tag='datetime' {_A}", ('"not a date"',))

    async def resume() -> Any:
        return await nd.get_run("f").resume().result()

    os.environ["NBD_TEST_FIXED"] = "1"
    try:
        with pytest.raises(nd.RunFailedError) as info:
            asyncio.run(resume())
    finally:
        del os.environ["NBD_TEST_FIXED"]
    assert "SerializationError" in info.value.error_type
    assert "run 'f', step 'a'" in info.value.error_message and "rerun" in info.value.error_message
    assert CALLS == []


def test_an_edited_cancel_on_expression_does_not_block_sending(journal_path: Path) -> None:
    @nd.function(id="damage-cancel-on", retries=0, cancel_on=[nd.CancelOn("damage/stop")])
    async def wf(ctx: nd.Context) -> None:
        await ctx.step.sleep("nap", "5s")

    async def main() -> None:
        handle = wf.start(run_id="sleeper")
        await until(lambda: handle.status == "sleeping")
        edit = "json_set(options, '$.cancel_on[0].if_exp', 'event.data.(((')"
        tamper(journal_path, f"UPDATE runs SET options={edit} WHERE run_id='sleeper'")
        await nd.send("damage/stop", {"n": 1})  # the edited spec cancels nothing, and the send goes through
        assert len(nd.get_engine().journal.events_after("damage/stop", 0)) == 1
        assert handle.status == "sleeping"
        handle.cancel("test over")
        with pytest.raises(nd.RunCancelledError):
            await handle.result()

    asyncio.run(main())
