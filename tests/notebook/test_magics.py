"""The notebook integration in real kernels: %%durable cells killed, restarted and resumed."""

from __future__ import annotations

import json
import re
import time
from collections import Counter
from pathlib import Path

import pytest

import nbdurable as nd
from nbdurable.testing import Kernel
from nbdurable.timeline import MIME_TYPE

pytestmark = pytest.mark.kernel

PACKAGE = str(Path(nd.__file__).parent) + "/"  # nbdurable's own files (the checkout may be named so too)


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    (tmp_path / "effects").mkdir()
    return tmp_path


def start(kernels: list[Kernel], workdir: Path) -> Kernel:
    kernel = Kernel(workdir)
    kernels.append(kernel)
    return kernel


SETUP = """
import asyncio, json, os, pathlib
EFFECTS = pathlib.Path("effects")
def effect(name, value):
    with open(EFFECTS / "log.jsonl", "a") as fh:
        fh.write(json.dumps({"step": name, "pid": os.getpid()}) + "\\n")
    return value
async def gate(name, value):
    # Blocks until the test creates effects/go, so the kernel can be killed mid-step.
    effect(name + ".started", None)
    while not (EFFECTS / "go").exists():
        await asyncio.sleep(0.05)
    return effect(name, value)
"""

CELL = """%%durable exp
a = await step.run("load", effect, "load", 1)
b = await step.run("think", effect, "think", a + 1)
c = await step.run("slow", gate, "slow", b * 10)
d = await step.run("finish", effect, "finish", c + 1)
"""


def effects(workdir: Path) -> Counter[str]:
    log = workdir / "effects" / "log.jsonl"
    if not log.exists():
        return Counter()
    return Counter(json.loads(line)["step"] for line in log.read_text().splitlines())


def usage_error(result: object) -> str:
    """The text of a UsageError: IPython prints it on stderr instead of sending an error message."""
    assert getattr(result, "status", "") == "error", result
    error = getattr(result, "error", None)
    if error is not None:
        assert error["ename"] == "DurableUsageError", error
        return "".join(error["traceback"])
    stderr: str = getattr(result, "stderr", "")
    assert stderr.startswith("UsageError: "), stderr
    return stderr


def wait_for(predicate, timeout: float = 30, what: str = "condition") -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def journal_run(workdir: Path, run_id: str) -> nd.RunRecord | None:
    journal = nd.SQLiteJournal(workdir / ".nbdurable" / "journal.db")
    try:
        return journal.get_run(run_id)
    finally:
        journal.close()


def test_cell_killed_mid_run_resumes_in_a_new_kernel(kernels: list[Kernel], workdir: Path) -> None:
    k1 = start(kernels, workdir)
    k1.run("%load_ext nbdurable")
    k1.run(SETUP)
    k1.execute(CELL, wait=False)
    wait_for(lambda: effects(workdir)["slow.started"] == 1, what="the slow step to start")
    k1.kill()
    assert effects(workdir) == Counter({"load": 1, "think": 1, "slow.started": 1})

    k2 = start(kernels, workdir)
    summary = k2.run("%load_ext nbdurable").text
    assert "exp (%%durable cell): interrupted, 2 step(s) done" in summary
    assert "%durable resume" in summary
    k2.run(SETUP)
    (workdir / "effects" / "go").touch()
    result = k2.execute(CELL)
    assert result.error is None, result.text
    assert effects(workdir) == Counter({"load": 1, "think": 1, "slow.started": 2, "slow": 1, "finish": 1})
    assert k2.run("print(a, b, c, d)").stdout.strip() == "1 2 20 21"
    rec = journal_run(workdir, "exp")
    assert rec is not None and rec.status == "completed" and rec.kind == "cell"


def test_running_a_finished_cell_again_replays_and_restores_variables(kernels: list[Kernel], workdir: Path) -> None:
    (workdir / "effects" / "go").touch()
    k1 = start(kernels, workdir)
    k1.run("%load_ext nbdurable")
    k1.run(SETUP)
    k1.run(CELL)
    k1.kill()
    k2 = start(kernels, workdir)
    assert "stopped part-way" not in k2.run("%load_ext nbdurable").text
    k2.run(SETUP)
    k2.run(CELL)
    assert k2.run("print(d)").stdout.strip() == "21"
    assert set(effects(workdir).values()) == {1}, "nothing ran twice"
    # --new starts a fresh run under the same name and keeps the old one.
    k2.run(CELL.replace("%%durable exp", "%%durable exp --new"))
    assert effects(workdir)["load"] == 2
    assert "exp#2" in k2.run("%durable list").stdout


def test_background_run_killed_then_resumed_with_line_magic(kernels: list[Kernel], workdir: Path) -> None:
    k1 = start(kernels, workdir)
    k1.run("%load_ext nbdurable")
    k1.run(SETUP)
    first = k1.run(CELL.replace("%%durable exp", "%%durable bg --background"))
    assert first.error is None
    # The notebook stays usable while the run goes on.
    assert k1.run("print(1 + 1)").stdout.strip() == "2"
    wait_for(lambda: effects(workdir)["slow.started"] == 1, what="the background run to reach the slow step")
    k1.kill()

    k2 = start(kernels, workdir)
    assert "bg (%%durable cell): interrupted" in k2.run("%load_ext nbdurable").text
    k2.run(SETUP)
    (workdir / "effects" / "go").touch()
    k2.run("%durable resume bg")
    k2.run("await nd.get_run('bg').result()" if False else "import nbdurable as nd\nawait nd.get_run('bg').result()")
    assert k2.run("print(d)").stdout.strip() == "21"
    assert effects(workdir)["load"] == 1 and effects(workdir)["think"] == 1


WAIT_CELL = """%%durable approval-flow --background
draft = await step.run("draft", effect, "draft", "refund 20 EUR")
answer = await step.wait_for_event("approval", event="support/approved", timeout="1h")
outcome = await step.run("apply", effect, "apply", answer.data["by"] if answer else "nobody")
"""


def test_wait_for_event_answered_from_another_cell(kernels: list[Kernel], workdir: Path) -> None:
    k1 = start(kernels, workdir)
    k1.run("%load_ext nbdurable\nimport nbdurable as nd")
    k1.run(SETUP)
    k1.run(WAIT_CELL)
    wait_for(lambda: (journal_run(workdir, "approval-flow") or nd.RunRecord("", "")).status == "waiting")
    sent = k1.run('%durable send support/approved \'{"by": "ana"}\'')
    assert "sent 'support/approved': answered 1 waiting run ('approval-flow')" in sent.stdout
    k1.run("await nd.get_run('approval-flow').result()")
    assert k1.run("print(outcome)").stdout.strip() == "ana"
    again = k1.run('%durable send support/approved \'{"by": "bo"}\'')
    assert "sent 'support/approved': no run was waiting for it" in again.stdout
    # %durable show numbers steps from 1 and says durations as the timeline does
    shown = k1.run("%durable show approval-flow").stdout.splitlines()
    assert shown[0].startswith("%%durable approval-flow  completed  elapsed ")
    rows = [line.split() for line in shown[1:]]
    assert [(r[0], r[1], r[2], r[3]) for r in rows] == [
        ("1", "draft", "run", "completed"),
        ("2", "approval", "wait", "completed"),
        ("3", "apply", "run", "completed"),
    ]
    for row in rows:
        assert re.fullmatch(r"\d+ ms|\d+\.\d s", " ".join(row[4:])), row


def test_wait_spanning_a_restart_sees_the_event_sent_while_down(kernels: list[Kernel], workdir: Path) -> None:
    k1 = start(kernels, workdir)
    k1.run("%load_ext nbdurable")
    k1.run(SETUP)
    k1.run(WAIT_CELL)
    wait_for(lambda: (journal_run(workdir, "approval-flow") or nd.RunRecord("", "")).status == "waiting")
    k1.kill()
    # Answered from the journal while no kernel runs the workflow (as the CLI or another kernel would).
    journal = nd.SQLiteJournal(workdir / ".nbdurable" / "journal.db")
    assert journal.add_event("answer-1", "support/approved", {"by": "bo"}, time.time()) is not None
    journal.close()
    k2 = start(kernels, workdir)
    k2.run("%load_ext nbdurable\nimport nbdurable as nd")
    k2.run(SETUP)
    k2.run(WAIT_CELL.replace(" --background", ""))
    assert k2.run("print(outcome)").stdout.strip() == "bo"
    assert effects(workdir) == Counter({"draft": 1, "apply": 1})


SLEEP_CELL = """%%durable nap --background
before = await step.run("before", effect, "before", 1)
await step.sleep("nap", "3s")
after = await step.run("after", effect, "after", 2)
"""


def test_durable_sleep_spans_a_restart(kernels: list[Kernel], workdir: Path) -> None:
    k1 = start(kernels, workdir)
    k1.run("%load_ext nbdurable")
    k1.run(SETUP)
    k1.run(SLEEP_CELL)
    wait_for(lambda: (journal_run(workdir, "nap") or nd.RunRecord("", "")).status == "sleeping")
    journal = nd.SQLiteJournal(workdir / ".nbdurable" / "journal.db")
    deadline = {s.step_id: s for s in journal.load_steps("nap")}["nap"].next_at
    journal.close()
    k1.kill()
    k2 = start(kernels, workdir)
    k2.run("%load_ext nbdurable")
    k2.run(SETUP)
    k2.run(SLEEP_CELL.replace(" --background", ""), timeout=30)
    assert k2.run("print(after)").stdout.strip() == "2"
    journal = nd.SQLiteJournal(workdir / ".nbdurable" / "journal.db")
    nap = {s.step_id: s for s in journal.load_steps("nap")}["nap"]
    journal.close()
    assert nap.status == "completed"
    assert nap.next_at == deadline, "the deadline journaled before the kill was kept"
    assert nap.ended_at is not None and nap.ended_at >= deadline
    assert effects(workdir) == Counter({"before": 1, "after": 1})


def test_interrupt_leaves_the_run_interrupted_and_resumable(kernels: list[Kernel], workdir: Path) -> None:
    k1 = start(kernels, workdir)
    k1.run("%load_ext nbdurable")
    k1.run(SETUP)
    msg_id = k1.kc.execute(CELL)
    wait_for(lambda: effects(workdir)["slow.started"] == 1, what="the slow step")
    k1.interrupt()
    result = k1.collect(msg_id)
    assert result.error is not None
    assert result.error["ename"] in ("KeyboardInterrupt", "CancelledError")
    rec = journal_run(workdir, "exp")
    assert rec is not None and rec.status == "interrupted"
    (workdir / "effects" / "go").touch()
    k1.run(CELL)
    assert k1.run("print(d)").stdout.strip() == "21"
    assert effects(workdir)["load"] == 1 and effects(workdir)["finish"] == 1


def test_background_output_goes_to_the_cell_that_started_it(kernels: list[Kernel], workdir: Path) -> None:
    k1 = start(kernels, workdir)
    k1.run("%load_ext nbdurable")
    k1.run("import asyncio")
    starter = k1.kc.execute(
        '%%durable talker --background\nawait step.sleep("pause", 1.0)\nprint("hello from the background run")'
    )
    k1.collect(starter)
    other = k1.kc.execute("await asyncio.sleep(2.5)\nprint('other cell done')")
    seen: list[tuple[str, str]] = []
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and not any("other cell done" in t for _, t in seen):
        try:
            msg = k1.kc.get_iopub_msg(timeout=1)
        except Exception:
            continue
        if msg["msg_type"] == "stream":
            seen.append((msg["parent_header"].get("msg_id", ""), msg["content"]["text"]))
    parents = [parent for parent, text in seen if "hello from the background run" in text]
    assert parents == [starter], seen
    assert any(parent == other for parent, text in seen if "other cell done" in text)


FUNCTION_CELL = """
import nbdurable as nd
@nd.function(id="enrich", retries=0)
async def enrich(ctx):
    x = await ctx.step.run("one", effect, "one", ctx.event.data["n"])
    y = await ctx.step.run("two", gate, "two", x * 2)
    return {"y": y}
"""


def test_decorated_function_resumed_after_restart(kernels: list[Kernel], workdir: Path) -> None:
    k1 = start(kernels, workdir)
    k1.run("%load_ext nbdurable")
    k1.run(SETUP)
    k1.run(FUNCTION_CELL)
    k1.run("h = enrich.start({'n': 21}, run_id='enrich-1')")
    wait_for(lambda: effects(workdir)["two.started"] == 1)
    k1.kill()
    k2 = start(kernels, workdir)
    assert "enrich-1: interrupted, 1 step(s) done" in k2.run("%load_ext nbdurable").text
    missing = k2.execute("%durable resume enrich-1")
    assert "needs function 'enrich'" in usage_error(missing)
    k2.run(SETUP)
    k2.run(FUNCTION_CELL)
    (workdir / "effects" / "go").touch()
    k2.run("%durable resume enrich-1")
    out = k2.run("print(await nd.get_run('enrich-1').result())")
    assert out.stdout.strip() == "{'y': 42}"
    assert effects(workdir)["one"] == 1
    # Starting the same run id again returns its result instead of running it twice.
    assert k2.run("print(await enrich.run({'n': 1}, run_id='enrich-1'))").stdout.strip() == "{'y': 42}"


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("%%durable\nx = 1", "the following arguments are required: NAME"),
        ("%%durable r --retries -1\nx = 1", "must be 0 or more"),
        ("%%durable r --retries many\nx = 1", "expected a whole number"),
        ("%%durable r --bogus\nx = 1", "unrecognized arguments: --bogus"),
        ("%%durable r\n", "the cell is empty"),
        ("%%durable r\nx = (", "syntax error on line 2"),
        ("%durable", "the following arguments are required: COMMAND"),
        ("%durable bogus", "invalid choice: 'bogus'"),
        ("%durable resume", "give one RUN, or --all"),
        ("%durable show no-such-run", "no run 'no-such-run'"),
        ("%durable show no-such-run", "%durable list shows its runs"),
        ("%durable resume no-such-run", "%durable list shows its runs"),
        ("%durable rerun no-such-run --from a", "%durable list shows its runs"),
        ("%durable cancel no-such-run", "no run 'no-such-run'"),
        ("%durable send", "the following arguments are required: EVENT"),
        ("%durable send ev '[1, 2]'", "must be a JSON object"),
        ("%durable send ev '{nope'", "not valid JSON"),
        ("%durable rerun r", "the following arguments are required: --from"),
        ("%durable resume 'unterminated", "check the quotes"),
    ],
)
def test_bad_arguments_get_a_usage_error_and_change_nothing(
    kernels: list[Kernel], workdir: Path, code: str, expected: str
) -> None:
    kernel = kernels[0] if kernels else start(kernels, workdir)
    kernel.run("%load_ext nbdurable")
    result = kernel.execute(code)
    text = usage_error(result)
    assert text.startswith("UsageError: ")
    assert "Traceback" not in text
    assert expected in text
    journal_file = workdir / ".nbdurable" / "journal.db"
    journal = nd.SQLiteJournal(journal_file)
    try:
        assert journal.list_runs() == []
        assert journal.last_event_seq() == 0
    finally:
        journal.close()


def test_load_ext_twice_and_unload(kernels: list[Kernel], workdir: Path) -> None:
    k = start(kernels, workdir)
    k.run("%load_ext nbdurable")
    k.run("%reload_ext nbdurable")
    n = k.run(
        "from nbdurable.notebook._magics import transform_cell\n"
        "print(sum(t is transform_cell for t in get_ipython().input_transformers_cleanup))"
    )
    assert n.stdout.strip() == "1"
    k.run('%%durable twice\nv = await step.run("v", lambda: 5)')
    assert k.run("print(v)").stdout.strip() == "5"
    k.run("%unload_ext nbdurable")
    gone = k.execute("%durable list")
    assert gone.status == "error" and "Line magic function `%durable` not found" in gone.stderr


def test_cell_timeout_cancels_a_run_that_runs_too_long(kernels: list[Kernel], workdir: Path) -> None:
    k = start(kernels, workdir)
    k.run("%load_ext nbdurable")
    k.run(SETUP)
    result = k.execute(
        '%%durable slowpoke --timeout 1s\nawait step.run("a", effect, "a", 1)\nawait step.sleep("nap", "30s")\n'
        'await step.run("never", effect, "never", 2)',
        timeout=30,
    )
    assert result.status == "error"
    assert "timed out: running longer than finish=1s" in usage_error(result)
    rec = journal_run(workdir, "slowpoke")
    assert rec is not None and rec.status == "cancelled"
    assert "timed out" in (rec.status_reason or "")
    assert effects(workdir) == Counter({"a": 1})
    assert "--timeout: " in usage_error(k.execute("%%durable x --timeout soon\ny = 1"))


def test_lint_findings_show_in_the_cell_and_on_the_timeline(kernels: list[Kernel], workdir: Path) -> None:
    k = start(kernels, workdir)
    k.run("%load_ext nbdurable\nimport nbdurable as nd")
    cell = '%%durable linted\nimport time\nstamp = time.time()\nx = await step.run("use", lambda s: s, stamp)'
    shown = k.run(cell).text
    assert "replay determinism finding(s)" in shown and "time.time" in shown
    probe = k.run(
        "from nbdurable.timeline._snapshot import build_snapshot\n"
        "print([w['message'][:5] for w in build_snapshot(nd.get_engine(), 'linted')['run']['warnings']])"
    )
    assert "'lint:'" in probe.stdout
    refused = k.execute(cell.replace("%%durable linted", "%%durable linted2 --lint=error"))
    assert "Nothing ran" in usage_error(refused)
    assert journal_run(workdir, "linted2") is None


def test_a_run_handle_displays_its_timeline(kernels: list[Kernel], workdir: Path) -> None:
    k = start(kernels, workdir)
    k.run("%load_ext nbdurable\nimport nbdurable as nd")
    k.run('%%durable shown\nv = await step.run("v", lambda: 5)')
    shown = k.run("nd.get_run('shown')")
    bundles = [o.get("data", {}) for o in shown.outputs]
    timeline = [
        b["application/vnd.nbdurable.timeline+json"] for b in bundles if "application/vnd.nbdurable.timeline+json" in b
    ]
    assert timeline, shown.outputs
    assert timeline[-1]["run"]["run_id"] == "shown" and timeline[-1]["run"]["status"] == "completed"
    assert [s["step_id"] for s in timeline[-1]["steps"]] == ["v"]


FAILING_CELL = """%%durable failing
def parse(text):
    return int(text)
ok = await step.run("ok", lambda: 1)
n = await step.run("parse", parse, "twelve")
"""


def test_a_failed_step_shows_its_traceback_once_ending_in_the_cell(kernels: list[Kernel], workdir: Path) -> None:
    k = start(kernels, workdir)
    k.run("%load_ext nbdurable")
    result = k.execute(FAILING_CELL)
    assert result.error is not None
    shown = re.sub(r"\x1b\[[0-9;]*m", "", "\n".join(result.error["traceback"]))
    assert PACKAGE not in shown and "__import__('nbdurable.notebook'" not in shown, shown
    assert 'File "<durable-cell failing>", line 5' in shown and 'n = await step.run("parse", parse, "twelve")' in shown
    assert 'File "<durable-cell failing>", line 3, in parse' in shown
    assert "ValueError: invalid literal for int() with base 10: 'twelve'" in shown
    assert "open step 'parse' on the run's timeline" in shown
    assert len(shown.splitlines()) <= 15, shown
    # the timeline tells it once: the header names the step, the step holds the traceback (the full one behind a click)
    snapshots = [o["data"][MIME_TYPE] for o in result.outputs if MIME_TYPE in o.get("data", {})]
    final = snapshots[-1]
    assert final["run"]["status"] == "failed" and final["run"]["error"]["step_id"] == "parse"
    html = [o["data"]["text/html"] for o in result.outputs if MIME_TYPE in o.get("data", {})][-1]
    assert html.count('class="nbd-traceback"') == 1 and "in step parse: open it for the traceback" in html
    step = next(s for s in final["steps"] if s["step_id"] == "parse")
    assert (
        step["error"]["user_traceback"]
        .rstrip()
        .endswith("ValueError: invalid literal for int() with base 10: 'twelve'")
    )
    assert PACKAGE not in step["error"]["user_traceback"]
