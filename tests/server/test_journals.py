"""Which journals the server serves: the bounded scan under the root, configured and environment journals, and
the refusal of journal parameters that lead outside the root."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import nbdurable as nd
from nbdurable.server._errors import ApiError
from nbdurable.server._journals import JournalSet, ScanLimits, scan
from tests.server.conftest import add_runs, record


def journal_at(folder: Path) -> Path:
    path = folder / ".nbdurable" / "journal.db"
    add_runs(path, record("r-" + folder.name))
    return path


def test_scan_finds_journals_under_the_root_and_skips_environments_and_hidden_folders(root: Path) -> None:
    found = {journal_at(root), journal_at(root / "a"), journal_at(root / "a" / "b")}
    journal_at(root / ".hidden")
    journal_at(root / "node_modules" / "pkg")
    (root / "venv").mkdir()
    (root / "venv" / "pyvenv.cfg").write_text("home = /usr\n")
    journal_at(root / "venv" / "lib")
    (root / "conda").mkdir()
    (root / "conda" / "conda-meta").mkdir()
    journal_at(root / "conda" / "x")
    assert set(scan(root, ScanLimits())) == {p.resolve() for p in found}


def test_scan_is_bounded_by_depth_folders_and_count(root: Path) -> None:
    deep = root / "1" / "2" / "3"
    shallow = journal_at(root / "1")
    journal_at(deep)
    assert scan(root, ScanLimits(depth=2)) == [shallow.resolve()]
    assert len(scan(root, ScanLimits(depth=3))) == 2
    for i in range(5):
        journal_at(root / f"w{i}")
    assert len(scan(root, ScanLimits(max_journals=3))) == 3
    assert scan(root, ScanLimits(max_dirs=1)) == []  # the root itself has no journal; nothing else is looked at


def test_scan_does_not_follow_symlinks_out_of_the_root(root: Path, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    secret = journal_at(outside)
    (root / "link").symlink_to(outside)  # a folder link: not descended into
    (root / "proj" / ".nbdurable").mkdir(parents=True)
    (root / "proj" / ".nbdurable" / "journal.db").symlink_to(secret)  # a journal link that resolves outside
    assert scan(root, ScanLimits()) == []


def test_keys_are_relative_to_the_root_and_configured_journals_outside_it_are_served(
    root: Path, tmp_path: Path
) -> None:
    inside = journal_at(root / "proj")
    configured = journal_at(tmp_path / "elsewhere")
    env = journal_at(tmp_path / "from-env")
    journals = JournalSet(root, configured=[str(configured), "missing/journal.db"], env=str(env))
    try:
        served = {j.key: j.source for j in journals.all()}
        assert served == {"proj/.nbdurable/journal.db": "scan", str(configured): "config", str(env): "env"}
        assert journals.get(str(configured)).path == configured.resolve()
        assert journals.get("proj/.nbdurable/journal.db").path == inside.resolve()
    finally:
        journals.close()


@pytest.mark.parametrize(
    "key",
    ["../outside/.nbdurable/journal.db", "/etc/passwd", "proj/../../outside/.nbdurable/journal.db", "a\\..\\b", ""],
)
def test_journal_parameters_that_escape_the_root_are_refused_with_400(root: Path, key: str) -> None:
    journals = JournalSet(root)
    with pytest.raises(ApiError) as caught:
        journals.get(key)
    assert caught.value.status_code == 400


def test_a_symlink_out_of_the_root_is_refused_and_unknown_journals_are_404(root: Path, tmp_path: Path) -> None:
    journal_at(tmp_path / "outside")
    (root / "escape").symlink_to(tmp_path / "outside")
    journals = JournalSet(root)
    with pytest.raises(ApiError) as caught:
        journals.get("escape/.nbdurable/journal.db")
    assert caught.value.status_code == 400 and "symlink" in caught.value.message
    with pytest.raises(ApiError) as missing:
        journals.get("nowhere/.nbdurable/journal.db")
    assert missing.value.status_code == 404
    for odd in ("x" * 300 + "/.nbdurable/journal.db", "a/" * 2000 + ".nbdurable/journal.db"):
        with pytest.raises(ApiError) as refused:
            journals.get(odd)  # names the file system refuses: not served, no error of the server's
        assert refused.value.status_code == 404
    (root / "notes.db").write_bytes(b"")
    with pytest.raises(ApiError) as other:
        journals.get("notes.db")  # inside the root, but not a journal's name: never opened
    assert other.value.status_code == 404


def test_a_journal_deeper_than_the_scan_is_served_when_asked_for(root: Path) -> None:
    deep = journal_at(root / "a" / "b" / "c")
    journals = JournalSet(root, limits=ScanLimits(depth=1))
    try:
        assert journals.all() == []
        served = journals.get("a/b/c/.nbdurable/journal.db")
        assert (served.source, served.path) == ("request", deep.resolve())
        assert [j.key for j in journals.all()] == ["a/b/c/.nbdurable/journal.db"]
    finally:
        journals.close()


def test_the_scan_is_cached_then_refreshed(root: Path) -> None:
    journals = JournalSet(root, limits=ScanLimits(interval=3600))
    try:
        assert journals.all() == []
        generation = journals.generation
        journal_at(root / "new")
        assert journals.all() == []  # within the interval: the cached scan
        assert journals.refresh(force=True) is True
        assert [j.key for j in journals.all()] == ["new/.nbdurable/journal.db"]
        assert journals.generation == generation + 1
        os.remove(root / "new" / ".nbdurable" / "journal.db")
        assert journals.refresh(force=True) is True
        assert journals.all() == []
    finally:
        journals.close()


def test_a_journal_that_cannot_be_opened_reports_its_error(root: Path) -> None:
    bad = root / "p" / ".nbdurable" / "journal.db"
    bad.parent.mkdir(parents=True)
    bad.write_bytes(b"this is not an SQLite database, just bytes" * 100)
    journals = JournalSet(root)
    try:
        (served,) = journals.all()
        with pytest.raises(nd.JournalError, match="journal"):
            served.index()
        assert served.describe()["error"]
    finally:
        journals.close()
