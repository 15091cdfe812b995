"""Journal files behave as ssh's keys do: what is ours is tightened, what is not ours is refused.

Real files and folders with real modes and owners (the user ``nobody`` plays the
other user); every refusal must leave the files exactly as they were, and say
what was wrong and how to override.
"""

from __future__ import annotations

import os
import pwd
import stat
import subprocess
import sys
from pathlib import Path

import pytest

import nbdurable as nd
from nbdurable.journal._protocol import Write
from tests.faults.procs import ROOT

OTHER = pwd.getpwnam("nobody")
needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="giving a file to another user needs root")


def mode(path: Path) -> int:
    return stat.S_IMODE(os.lstat(path).st_mode)


def journal_at(path: Path) -> None:
    j = nd.SQLiteJournal(path)
    j.write([Write("run", run=nd.RunRecord("r1", "fn"))])
    j.close()


@pytest.fixture
def no_overrides(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NBDURABLE_ALLOW_UNSAFE_PERMISSIONS", raising=False)
    monkeypatch.delenv("NBDURABLE_FOLLOW_SYMLINKS", raising=False)


def test_nbdurables_own_folder_and_the_file_are_tightened(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, no_overrides: None
) -> None:
    folder = tmp_path / ".nbdurable"
    folder.mkdir()
    journal_at(folder / "journal.db")
    os.chmod(folder, 0o777)
    os.chmod(folder / "journal.db", 0o666)
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("NBDURABLE_JOURNAL", raising=False)
    j = nd.SQLiteJournal()
    try:
        assert j.get_run("r1") is not None
        assert mode(folder) == 0o700
        assert mode(folder / "journal.db") == 0o600
    finally:
        j.close()


def test_a_folder_writable_by_others_is_refused_until_overridden(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, no_overrides: None
) -> None:
    folder = tmp_path / "shared"
    folder.mkdir()
    os.chmod(folder, 0o777)
    with pytest.raises(nd.JournalPermissionError) as info:
        nd.SQLiteJournal(folder / "journal.db")
    text = str(info.value)
    assert "writable by group or others (mode 0777)" in text and str(folder) in text
    assert "NBDURABLE_ALLOW_UNSAFE_PERMISSIONS=1" in text and "allow_unsafe_permissions=True" in text
    assert list(folder.iterdir()) == []  # nothing created
    j = nd.SQLiteJournal(folder / "journal.db", allow_unsafe_permissions=True)
    j.close()
    monkeypatch.setenv("NBDURABLE_ALLOW_UNSAFE_PERMISSIONS", "1")
    nd.configure(folder / "journal.db").journal.close()
    assert mode(folder) == 0o777  # not ours to change: only allowed


def test_a_sticky_folder_like_tmp_is_accepted(tmp_path: Path, no_overrides: None) -> None:
    folder = tmp_path / "sticky"
    folder.mkdir()
    os.chmod(folder, 0o1777)
    j = nd.SQLiteJournal(folder / "journal.db")
    try:
        assert mode(folder / "journal.db") == 0o600
    finally:
        j.close()


@needs_root
def test_a_journal_owned_by_another_user_is_refused_untouched(tmp_path: Path, no_overrides: None) -> None:
    path = tmp_path / "journal.db"
    journal_at(path)
    os.chown(path, OTHER.pw_uid, OTHER.pw_gid)
    os.chmod(path, 0o666)
    before = path.read_bytes()
    with pytest.raises(nd.JournalPermissionError) as info:
        nd.SQLiteJournal(path)
    assert "owned by nobody" in str(info.value) and "writable by group or others" in str(info.value)
    assert "Nothing was read or changed" in str(info.value)
    assert path.read_bytes() == before and mode(path) == 0o666 and path.stat().st_uid == OTHER.pw_uid
    j = nd.SQLiteJournal(path, allow_unsafe_permissions=True)
    try:
        assert j.get_run("r1") is not None
        assert mode(path) == 0o666  # someone else's file: opened as allowed, never chmodded
    finally:
        j.close()


@needs_root
def test_a_folder_owned_by_another_user_is_refused(tmp_path: Path, no_overrides: None) -> None:
    folder = tmp_path / "theirs"
    folder.mkdir(mode=0o755)
    os.chown(folder, OTHER.pw_uid, OTHER.pw_gid)
    with pytest.raises(nd.JournalPermissionError, match="folder is owned by nobody"):
        nd.SQLiteJournal(folder / "journal.db")


def test_a_symlink_at_the_journal_path_is_not_followed(tmp_path: Path, no_overrides: None) -> None:
    notes = tmp_path / "notes.txt"
    notes.write_text("my notes\n")
    link = tmp_path / "journal.db"
    link.symlink_to(notes)
    with pytest.raises(nd.JournalPermissionError) as info:
        nd.SQLiteJournal(link)
    assert "is a symlink (to" in str(info.value) and "NBDURABLE_FOLLOW_SYMLINKS=1" in str(info.value)
    assert notes.read_text() == "my notes\n"
    # A dangling symlink: nothing is created where it points.
    dangling = tmp_path / "other.db"
    dangling.symlink_to(tmp_path / "target.db")
    with pytest.raises(nd.JournalPermissionError):
        nd.SQLiteJournal(dangling)
    assert not (tmp_path / "target.db").exists()


def test_a_symlink_is_followed_when_asked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, no_overrides: None) -> None:
    real = tmp_path / "real.db"
    journal_at(real)
    link = tmp_path / "journal.db"
    link.symlink_to(real)
    j = nd.SQLiteJournal(link, follow_symlinks=True)
    try:
        assert j.get_run("r1") is not None and j.file == real
    finally:
        j.close()
    monkeypatch.setenv("NBDURABLE_FOLLOW_SYMLINKS", "1")
    engine = nd.configure(link)
    try:
        assert engine.journal.get_run("r1") is not None
    finally:
        engine.journal.close()


def test_a_symlink_planted_as_a_side_file_is_refused(tmp_path: Path, no_overrides: None) -> None:
    path = tmp_path / "journal.db"
    journal_at(path)
    victim = tmp_path / "victim"
    victim.write_text("keep me")
    Path(f"{path}-wal").symlink_to(victim)
    with pytest.raises(nd.JournalPermissionError, match="wal file is a symlink"):
        nd.SQLiteJournal(path)
    assert victim.read_text() == "keep me"


def test_the_cli_refuses_with_a_message_not_a_traceback(tmp_path: Path, no_overrides: None) -> None:
    folder = tmp_path / "open"
    folder.mkdir()
    journal_at(folder / "journal.db")
    os.chmod(folder, 0o777)
    env = {k: v for k, v in os.environ.items() if not k.startswith("NBDURABLE_")}
    done = subprocess.run(
        [sys.executable, "-m", "nbdurable", "--journal", str(folder / "journal.db"), "list"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
        env=env,
        check=False,
    )
    assert done.returncode == 2
    assert "does not use the journal" in done.stderr and "Traceback" not in done.stderr
