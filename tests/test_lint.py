"""Tests for the static determinism linter (nbdurable._lint) and its command (nbdurable._lint_cli).

The corpus in tests/determinism/ holds small workflows, each declaring the findings it must
produce in a header line ``# expect: ND101@7, ND701@9`` (or ``# expect: none``). Files named
``wf_*.py`` are Python modules with ``@nd.function`` workflows; files named ``cell_*.py`` are
the text of a ``%%durable`` notebook cell (first line is the magic, the header is line 2).
Lines are also marked inline with ``# <- CODE`` for the reader; a test keeps both in step.
"""

from __future__ import annotations

import collections
import dataclasses
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from nbdurable._errors import NbDurableError
from nbdurable._lint import RULES, Finding, LintError, lint, lint_cell, lint_path
from nbdurable._lint_cli import main

REPO = Path(__file__).resolve().parent.parent
CORPUS = Path(__file__).resolve().parent / "determinism"
HEADER = re.compile(r"^# expect: (.*)$", re.MULTILINE)
ARROW = re.compile(r"#\s*<-\s*([A-Z0-9, ]+)\s*$")

Key = tuple[str, int]


def _expected(text: str) -> collections.Counter[Key]:
    match = HEADER.search(text)
    assert match is not None, "corpus file without a `# expect:` header"
    body = match.group(1).strip()
    expected: collections.Counter[Key] = collections.Counter()
    if body == "none":
        return expected
    for item in body.split(","):
        code, line = item.strip().split("@")
        expected[(code, int(line))] += 1
    return expected


def _corpus() -> list[Path]:
    return sorted(CORPUS.glob("*.py"))


# -- the corpus --------------------------------------------------------------------------------------


def test_corpus_recall_and_false_alarms() -> None:
    expected_total = found = false_alarms = 0
    problems: list[str] = []
    per_family: collections.Counter[str] = collections.Counter()
    for path in _corpus():
        text = path.read_text(encoding="utf-8")
        expected = _expected(text)
        findings = lint(text, filename=path.name)
        got = collections.Counter((f.code, f.line) for f in findings)
        expected_total += sum(expected.values())
        found += sum((expected & got).values())
        false_alarms += sum((got - expected).values())
        per_family.update(code[:3] for code, _ in expected.elements())
        missing, extra = expected - got, got - expected
        if missing or extra:
            problems.append(f"{path.name}: missing {sorted(missing.elements())}, unexpected {sorted(extra.elements())}")
    recall = found / expected_total
    print(
        f"\ndeterminism corpus: {len(_corpus())} files, {expected_total} expected findings, "
        f"recall {recall:.3f} ({found}/{expected_total}), false alarms {false_alarms}, "
        f"by family {dict(sorted(per_family.items()))}"
    )
    assert problems == [], "\n".join(problems)
    assert recall == 1.0
    assert false_alarms == 0


def test_corpus_is_large_covers_every_code_and_has_many_traps() -> None:
    files = _corpus()
    assert len(files) >= 60
    clean = [p for p in files if not _expected(p.read_text(encoding="utf-8"))]
    assert len(clean) >= len(files) * 0.4, "about half the corpus should be traps that must not be flagged"
    codes = {code for p in files for code, _ in _expected(p.read_text(encoding="utf-8"))}
    assert codes == set(RULES), f"codes without a corpus case: {sorted(set(RULES) - codes)}"
    assert any(p.name.startswith("cell_") for p in files)
    assert any(p.name.startswith("wf_") for p in files)
    assert {p.name[: p.name.index("_")] for p in files} == {"cell", "wf"}


def test_corpus_headers_agree_with_inline_markers() -> None:
    for path in _corpus():
        text = path.read_text(encoding="utf-8")
        marked: collections.Counter[Key] = collections.Counter()
        for number, line in enumerate(text.split("\n"), start=1):
            match = ARROW.search(line)
            if match:
                marked.update((code.strip(), number) for code in match.group(1).split(","))
        assert marked == _expected(text), path.name


def test_every_corpus_finding_has_message_hint_and_position() -> None:
    for path in _corpus():
        text = path.read_text(encoding="utf-8")
        lines = text.split("\n")
        for finding in lint(text):
            assert finding.code in RULES
            assert len(finding.message) > 30, finding
            assert len(finding.hint) > 15, finding
            assert finding.hint != finding.message
            assert 1 <= finding.line <= len(lines)
            assert 1 <= finding.col <= len(lines[finding.line - 1]) + 1


def test_cell_corpus_files_are_linted_as_cells_by_lint_cell_too() -> None:
    for path in _corpus():
        text = path.read_text(encoding="utf-8")
        if path.name.startswith("cell_"):
            assert text.startswith("%%durable ")
            assert lint_cell(text) == lint(text)
        else:
            assert lint_cell(text) == []


# -- Finding -----------------------------------------------------------------------------------------

SIMPLE = """\
import time
import nbdurable as nd


@nd.function(id="w", trigger="t")
async def w(ctx):
    started = time.time()
    return await ctx.step.run("s", lambda: started)
"""


def test_finding_fields() -> None:
    (finding,) = lint(SIMPLE, filename="w.py")
    assert finding == Finding(
        code="ND101", line=7, col=15, message=finding.message, hint=finding.hint, cell=None, path=None
    )
    assert "`time.time()`" in finding.message
    assert "replay" in finding.message
    assert "step.now()" in finding.hint
    with pytest.raises(dataclasses.FrozenInstanceError):
        finding.line = 3  # type: ignore[misc]


def test_column_counts_characters_not_bytes() -> None:
    source = SIMPLE.replace("    started = time.time()", '    label = "héllo→"; started = time.time()')
    (finding,) = lint(source)
    line = source.split("\n")[finding.line - 1]
    assert line[finding.col - 1 :].startswith("time.time()")


def test_lint_path_sets_path(tmp_path: Path) -> None:
    file = tmp_path / "flow.py"
    file.write_text(SIMPLE, encoding="utf-8")
    (finding,) = lint_path(file)
    assert finding.path == str(file)
    assert finding.cell is None
    assert (finding.code, finding.line) == ("ND101", 7)


def test_hints_name_the_fix_for_each_family() -> None:
    source = """\
import os, random, uuid
import nbdurable as nd

TAGS = {"a", "b"}


@nd.function(id="w", trigger="t")
async def w(ctx):
    step = ctx.step
    a = random.random()
    b = uuid.uuid4()
    c = os.environ["X"]
    d = client.messages.create(model="m", messages=[])
    for t in TAGS:
        await step.run(f"x-{a}", f, b, c, d, t)
"""
    hints = {f.code: f.hint for f in lint(source)}
    assert set(hints) == {"ND201", "ND205", "ND311", "ND401", "ND501", "ND701"}
    assert "step.random()" in hints["ND201"]
    assert "step.uuid()" in hints["ND205"]
    assert "step.run" in hints["ND311"]
    assert 'step.ai.wrap("name", client.messages.create' in hints["ND401"]
    assert "sorted(" in hints["ND501"]
    assert "stable data" in hints["ND701"]


# -- what is and is not workflow code ----------------------------------------------------------------


def test_code_inside_step_callables_is_not_flagged_but_arguments_are() -> None:
    source = """\
import time
import nbdurable as nd


def module_helper():
    return time.time()


@nd.function(id="w", trigger="t")
async def w(ctx):
    step = ctx.step

    def local_helper():
        return time.time()

    await step.run("a", lambda: time.time())
    await step.run("b", local_helper)
    await step.run("c", module_helper)
    await step.run("d", module_helper, time.time())
"""
    assert [(f.code, f.line) for f in lint(source)] == [("ND101", 19)]


def test_helper_called_directly_is_reported_at_the_call() -> None:
    source = """\
import uuid
import nbdurable as nd


def new_id():
    return uuid.uuid4().hex


@nd.function(id="w", trigger="t")
async def w(ctx):
    rid = new_id()
    await ctx.step.run(f"job-{rid}", print)
"""
    findings = lint(source)
    assert [(f.code, f.line) for f in findings] == [("ND205", 11), ("ND701", 12)]
    assert "`new_id()`" in findings[0].message
    assert "line 6" in findings[0].message
    assert 'step.run("...", new_id' in findings[0].hint


def test_aliases_are_followed() -> None:
    source = """\
import asyncio
import datetime as dt
from time import time as now
import numpy as np
import requests
import nbdurable

stamp = dt.datetime.now


@nbdurable.function(id="w", trigger="t")
async def w(ctx):
    a = now()
    b = np.random.rand()
    c = stamp()
    d = await asyncio.to_thread(requests.get, "http://127.0.0.1")
    await ctx.step.run("s", print, a, b, c, d)
"""
    found = [(f.code, f.line) for f in lint(source)]
    assert found == [("ND101", 13), ("ND202", 14), ("ND103", 15), ("ND321", 16)]
    assert "(time.time)" in lint(source)[0].message


def test_pragma_drops_only_the_named_codes() -> None:
    source = SIMPLE.replace("time.time()", "time.time()  # nd: ignore[ND2]")
    assert [f.code for f in lint(source)] == ["ND101"]
    source = SIMPLE.replace("time.time()", "time.time()  # nd: ignore[ND1]")
    assert lint(source) == []
    source = SIMPLE.replace("time.time()", "time.time()  # nd: ignore")
    assert lint(source) == []


def test_source_without_workflows_has_no_findings() -> None:
    assert lint("import time\nprint(time.time())\n") == []


# -- cells -------------------------------------------------------------------------------------------


def test_lint_cell_ignores_other_cells() -> None:
    assert lint_cell("import time\nx = time.time()\n") == []
    assert lint_cell("%%time\nx = time.time()\n") == []
    assert lint_cell("%%durablefoo\nx = 1\n") == []


def test_lint_cell_reports_lines_within_the_cell() -> None:
    cell = "%%durable exp --on-change rerun\nimport random\n\nx = random.random()\nawait step.run('a', f, x)\n"
    (finding,) = lint_cell(cell)
    assert (finding.code, finding.line, finding.col) == ("ND201", 4, 5)
    assert finding.cell is None


def test_cell_body_without_the_magic_line_is_recognised() -> None:
    body = "x = time.time()\nawait step.run('a', f, x)\n"
    assert [(f.code, f.line) for f in lint(body)] == [("ND101", 1)]


def test_cell_with_return_and_shell_line_keeps_positions() -> None:
    cell = "%%durable r\nn = await step.run('n', f)\nif n:\n    return n\n!echo {n}\nv = datetime.now()\n"
    found = [(f.code, f.line, f.col) for f in lint_cell(cell)]
    assert found == [("ND331", 5, 1), ("ND103", 6, 5)]


def test_cell_notebook_variables_bumped_but_not_own_state() -> None:
    cell = "%%durable tally\nseen = []\ncount += 1\nfor i in range(2):\n    seen.append(i)\n    history.append(i)\n"
    assert [(f.code, f.line) for f in lint_cell(cell)] == [("ND601", 3), ("ND602", 6)]


# -- notebooks ---------------------------------------------------------------------------------------


def _notebook(tmp_path: Path, cells: list[tuple[str, str]]) -> Path:
    notebook = {
        "cells": [
            {"cell_type": kind, "metadata": {}, "source": source.splitlines(keepends=True)}
            | ({"outputs": [], "execution_count": None} if kind == "code" else {})
            for kind, source in cells
        ],
        "metadata": {},
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    path = tmp_path / "experiment.ipynb"
    path.write_text(json.dumps(notebook), encoding="utf-8")
    return path


NOTEBOOK_CELLS = [
    ("markdown", "# An experiment"),
    ("code", "%load_ext nbdurable\nimport nbdurable as nd\nfrom time import time as now\nresults = []\n"),
    ("code", "def load():\n    return open('data.txt').read().split()\n"),
    ("code", "%%durable exp-1\ndocs = await step.run('load', load)\nresults.append(now())\n"),
    ("code", "@nd.function(id='w', trigger='t')\nasync def w(ctx):\n    return load()\n"),
    ("code", "obj?\n"),
    ("code", "%%bash\nls -l\n"),
    (
        "code",
        "%%durable exp-2\nfor i, d in enumerate(await step.run('load', load)):\n    await step.run(f'r-{i}', len, d)\n",
    ),
]


def test_notebook_findings_carry_cell_position_and_path(tmp_path: Path) -> None:
    path = _notebook(tmp_path, NOTEBOOK_CELLS)
    found = [(f.cell, f.code, f.line, f.col) for f in lint_path(path)]
    # Cells are counted from 1 over all cells, markdown included, as JupyterLab shows them.
    assert found == [(4, "ND602", 3, 1), (4, "ND101", 3, 16), (5, "ND301", 3, 12)]
    assert {f.path for f in lint_path(path)} == {str(path)}
    message = next(f.message for f in lint_path(path) if f.code == "ND301")
    assert "line 2 of cell 3" in message


# -- unreadable input --------------------------------------------------------------------------------


def test_syntax_error_raises_lint_error_with_line() -> None:
    with pytest.raises(LintError) as info:
        lint("import nbdurable as nd\n\ndef broken(:\n    pass\n", filename="broken.py")
    assert isinstance(info.value, NbDurableError)
    assert info.value.line == 3
    assert "broken.py" in str(info.value)
    assert "line 3" in str(info.value)
    assert "Fix the syntax error" in str(info.value)
    with pytest.raises(LintError):
        lint_cell("%%durable x\nfor\n")


def test_unreadable_paths_raise_lint_error(tmp_path: Path) -> None:
    with pytest.raises(LintError, match="no such file"):
        lint_path(tmp_path / "missing.py")
    bad_json = tmp_path / "bad.ipynb"
    bad_json.write_text("{not json", encoding="utf-8")
    with pytest.raises(LintError, match="not valid JSON"):
        lint_path(bad_json)
    not_notebook = tmp_path / "list.ipynb"
    not_notebook.write_text("[1, 2]", encoding="utf-8")
    with pytest.raises(LintError, match="not a notebook"):
        lint_path(not_notebook)
    binary = tmp_path / "bin.py"
    binary.write_bytes(b"\xff\xfe\x00bad")
    with pytest.raises(LintError, match="not UTF-8"):
        lint_path(binary)
    other = tmp_path / "notes.txt"
    other.write_text("hello", encoding="utf-8")
    with pytest.raises(LintError, match=r"only \.py"):
        lint_path(other)
    broken_cell = _notebook(tmp_path, [("code", "%%durable x\nawait step.run(\n")])
    with pytest.raises(LintError) as info:
        lint_path(broken_cell)
    assert "cell 1" in str(info.value)


# -- the command -------------------------------------------------------------------------------------


def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def test_cli_reports_findings_and_exits_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _write(tmp_path, "flow.py", SIMPLE)
    assert main(["lint", str(path)]) == 1
    out, err = capsys.readouterr()
    lines = out.splitlines()
    assert lines[0].startswith(f"{path}:7:15: ND101 `time.time()` reads the wall clock")
    assert lines[1].startswith("    hint: use step.now()")
    assert len(lines) == 2
    assert "1 finding(s) in 1 of 1 file(s)" in err


def test_cli_clean_exits_0(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _write(tmp_path, "clean.py", SIMPLE.replace("time.time()", "ctx.step.now()"))
    assert main([str(path)]) == 0
    out, err = capsys.readouterr()
    assert out == ""
    assert "no findings in 1 file(s)" in err


def test_cli_notebook_format_and_directories(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "nbs").mkdir()
    _notebook(tmp_path / "nbs", NOTEBOOK_CELLS)
    _write(tmp_path, "pkg/flow.py", SIMPLE)
    _write(tmp_path, "pkg/.hidden/skipped.py", SIMPLE)
    _write(tmp_path, "pkg/readme.txt", "not python")
    assert main([str(tmp_path)]) == 1
    out, err = capsys.readouterr()
    lines = [line for line in out.splitlines() if not line.startswith("    hint: ")]
    notebook = tmp_path / "nbs" / "experiment.ipynb"
    prefixes = [
        f"{notebook}:cell 4:3:1: ND602 this cell changes notebook variable `results`",
        f"{notebook}:cell 4:3:16: ND101 `now()` (time.time) reads the wall clock",
        f"{notebook}:cell 5:3:12: ND301 `load()` runs here as workflow code",
        f"{tmp_path / 'pkg' / 'flow.py'}:7:15: ND101 `time.time()` reads the wall clock",
    ]
    assert len(lines) == len(prefixes), out
    for line, prefix in zip(lines, prefixes, strict=True):
        assert line.startswith(prefix), (line, prefix)
    assert "4 finding(s) in 2 of 2 file(s)" in err


def test_cli_select_and_ignore(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    notebook = _notebook(tmp_path, NOTEBOOK_CELLS)
    assert main(["--select", "ND3", str(notebook)]) == 1
    assert [line.split(": ")[1].split()[0] for line in capsys.readouterr().out.splitlines()[::2]] == ["ND301"]
    assert main(["--ignore", "nd1,ND3,ND602", str(notebook)]) == 0


@pytest.mark.parametrize(
    ("name", "content", "expected"),
    [
        ("missing.py", None, "no such file"),
        ("bad.ipynb", "{oops", "not valid JSON"),
        ("syntax.py", "def f(:\n", "does not parse"),
    ],
)
def test_cli_unreadable_input_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str, content: str | None, expected: str
) -> None:
    good = _write(tmp_path, "flow.py", SIMPLE)
    path = tmp_path / name
    if content is not None:
        path.write_text(content, encoding="utf-8")
    assert main([str(good), str(path)]) == 2
    out, err = capsys.readouterr()
    assert "ND101" in out  # the readable file is still checked
    assert expected in err
    assert "could not be read" in err


def test_cli_usage(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 2
    assert "PATH" in capsys.readouterr().err
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    assert "ND701" in out
    assert "exit status" in out


def _run_cli(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PYTHONPATH=str(REPO))
    code = f"from nbdurable._lint_cli import main; raise SystemExit(main({args!r}))"
    return subprocess.run(
        [sys.executable, "-c", code], cwd=cwd, env=env, capture_output=True, text=True, timeout=120, check=False
    )


def test_cli_in_a_subprocess(tmp_path: Path) -> None:
    flagged = _write(tmp_path, "flow.py", SIMPLE)
    clean = _write(tmp_path, "clean.py", SIMPLE.replace("time.time()", "ctx.step.now()"))
    result = _run_cli(["lint", str(flagged)], tmp_path)
    assert result.returncode == 1, result.stderr
    assert f"{flagged}:7:15: ND101 " in result.stdout
    assert "\n    hint: " in result.stdout
    result = _run_cli(["lint", str(clean)], tmp_path)
    assert (result.returncode, result.stdout) == (0, ""), result.stderr
    result = _run_cli(["lint", str(tmp_path / "nope.ipynb")], tmp_path)
    assert result.returncode == 2
    assert "no such file" in result.stderr
    result = _run_cli(["lint", str(CORPUS)], tmp_path)
    assert result.returncode == 1, result.stderr
    assert "cell_clock.py:4:11: ND103" in result.stdout


def test_notebook_value_made_at_import_in_another_cell(tmp_path: Path) -> None:
    path = _notebook(
        tmp_path,
        [
            ("code", "import uuid\nrun_tag = uuid.uuid4().hex\nclient = make_client()\n"),
            ("code", "%%durable tagged\nfor i in range(2):\n    await step.run(f'{run_tag}-{i}', work, client)\n"),
        ],
    )
    found = lint_path(path)
    assert [(f.cell, f.code, f.line, f.col) for f in found] == [(2, "ND701", 3, 20), (2, "ND205", 3, 23)]
    assert "line 2 of cell 1" in found[1].message
    assert "step.uuid()" in found[1].hint
