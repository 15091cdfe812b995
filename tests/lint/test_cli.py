"""Tests for ``python -m nbdurable lint``: output format, directories, exit codes."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from nbdurable.linter._cli import main
from tests.lint.corpus_files import CORPUS
from tests.lint.samples import NOTEBOOK_CELLS, SIMPLE, write_file, write_notebook

REPO = Path(__file__).resolve().parents[2]


# -- the command -------------------------------------------------------------------------------------


def test_cli_reports_findings_and_exits_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write_file(tmp_path, "flow.py", SIMPLE)
    assert main(["lint", str(path)]) == 1
    out, err = capsys.readouterr()
    lines = out.splitlines()
    assert lines[0].startswith(f"{path}:7:15: ND101 `time.time()` reads the wall clock")
    assert lines[1].startswith("    hint: use step.now()")
    assert len(lines) == 2
    assert "1 finding(s) in 1 of 1 file(s)" in err


def test_cli_clean_exits_0(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write_file(tmp_path, "clean.py", SIMPLE.replace("time.time()", "ctx.step.now()"))
    assert main([str(path)]) == 0
    out, err = capsys.readouterr()
    assert out == ""
    assert "no findings in 1 file(s)" in err


def test_cli_notebook_format_and_directories(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "nbs").mkdir()
    write_notebook(tmp_path / "nbs", NOTEBOOK_CELLS)
    write_file(tmp_path, "pkg/flow.py", SIMPLE)
    write_file(tmp_path, "pkg/.hidden/skipped.py", SIMPLE)
    write_file(tmp_path, "pkg/readme.txt", "not python")
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
    notebook = write_notebook(tmp_path, NOTEBOOK_CELLS)
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
    good = write_file(tmp_path, "flow.py", SIMPLE)
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
    code = f"from nbdurable.linter._cli import main; raise SystemExit(main({args!r}))"
    return subprocess.run(
        [sys.executable, "-c", code], cwd=cwd, env=env, capture_output=True, text=True, timeout=120, check=False
    )


def test_cli_in_a_subprocess(tmp_path: Path) -> None:
    flagged = write_file(tmp_path, "flow.py", SIMPLE)
    clean = write_file(tmp_path, "clean.py", SIMPLE.replace("time.time()", "ctx.step.now()"))
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


# -- hostile input: nothing hangs, no traceback, exit 2 means "the check could not run" ------------


def test_cli_refuses_a_fifo_at_once_and_skips_one_in_a_folder(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "pipe.py")  # reading it would block until a writer comes: forever
    flagged = write_file(tmp_path, "flow.py", SIMPLE)
    result = _run_cli(["lint", str(tmp_path / "pipe.py")], tmp_path)
    assert result.returncode == 2
    assert "named pipe (FIFO)" in result.stderr
    assert "Traceback" not in result.stderr
    result = _run_cli(["lint", str(tmp_path)], tmp_path)
    assert result.returncode == 1, result.stderr  # the FIFO is skipped with a notice; flow.py is checked
    assert f"skipped {tmp_path / 'pipe.py'}: not a regular file" in result.stderr
    assert f"{flagged}:7:15: ND101" in result.stdout


def test_cli_pathological_code_is_exit_2_in_one_line(tmp_path: Path) -> None:
    # CPython's parser raises MemoryError on this; it used to escape as a traceback with exit 1.
    deep = tmp_path / "deep.py"
    deep.write_text(
        "import nbdurable as nd\n@nd.function(id='w')\nasync def w(ctx):\n    a = " + "-" * 1_000_000 + "1\n"
    )
    notebook = tmp_path / "deep.ipynb"
    notebook.write_text("[" * 100_000 + "]" * 100_000)
    for path in (deep, notebook):
        result = _run_cli(["lint", str(path)], tmp_path)
        assert result.returncode == 2, result.stderr
        assert "nested too deeply" in result.stderr
        assert "Traceback" not in result.stderr
        assert len(result.stderr.strip().splitlines()) == 2  # the error, then the summary


def test_cli_bounds_what_it_reads(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr("nbdurable.linter._api.MAX_BYTES", 1000)
    big = write_file(tmp_path, "big.py", SIMPLE + "#" * 2000 + "\n")
    assert main(["lint", str(big)]) == 2
    size = big.stat().st_size
    assert f"the file is {size:,} bytes, more than the 1,000 bytes read at most" in capsys.readouterr().err


def test_cli_internal_error_is_one_line_and_exit_2(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def broken(path: object) -> list[object]:
        raise RuntimeError("the analyzer met something new")

    monkeypatch.setattr("nbdurable.linter._cli.lint_path", broken)
    path = write_file(tmp_path, "flow.py", SIMPLE)
    assert main(["lint", str(path)]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.strip().splitlines() == [
        "nbdurable lint: internal error (RuntimeError: the analyzer met something new); please report it. "
        "Nothing was checked."
    ]


def test_cli_prints_file_names_that_are_not_utf8(tmp_path: Path) -> None:
    name = os.fsdecode(b"bad\xff.py")
    (tmp_path / name).write_text(SIMPLE, encoding="utf-8")
    result = _run_cli(["lint", str(tmp_path)], tmp_path)
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    assert "bad\\udcff.py:7:15: ND101" in result.stdout
