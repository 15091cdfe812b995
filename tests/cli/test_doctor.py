"""``python -m nbdurable doctor``: a report and an exit code (0 healthy, 1 problems, 2 cannot examine), never
a traceback; ``--repair`` makes only the safe repairs."""

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
from tests.faults.procs import ROOT, Rig, finish, wait_until


def doctor(path: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("NBDURABLE_")}
    done = subprocess.run(
        [sys.executable, "-m", "nbdurable", "doctor", "--journal", str(path), *extra],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
        env=env,
        check=False,
    )
    assert "Traceback" not in done.stdout + done.stderr, done
    return done


def healthy_journal(path: Path) -> None:
    j = nd.SQLiteJournal(path)
    j.write([Write("run", run=nd.RunRecord("r1", "fn", "completed"))])
    j.close()


def test_a_healthy_journal_exits_0_and_is_not_changed(tmp_path: Path) -> None:
    path = tmp_path / "journal.db"
    healthy_journal(path)
    before = path.read_bytes()
    done = doctor(path)
    assert done.returncode == 0, done
    assert "integrity check: ok" in done.stdout and "schema version" in done.stdout
    assert done.stdout.rstrip().endswith("healthy")
    assert path.read_bytes() == before and sorted(p.name for p in tmp_path.iterdir()) == ["journal.db"]


def test_loose_permissions_are_reported_and_repaired(tmp_path: Path) -> None:
    path = tmp_path / "journal.db"
    healthy_journal(path)
    os.chmod(path, 0o644)
    done = doctor(path)
    assert done.returncode == 1 and "--repair would: chmod 0600" in done.stdout, done
    assert stat.S_IMODE(path.stat().st_mode) == 0o644  # only reported
    repaired = doctor(path, "--repair")
    assert repaired.returncode == 0 and "fixed" in repaired.stdout, repaired
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


@pytest.mark.crash
def test_runs_of_dead_and_live_owners(tmp_path: Path) -> None:
    rig = Rig(tmp_path)
    dead, _ = rig.spawn(hold="s1")
    wait_until(lambda: rig.entered("s1"), "the first process inside s1")
    dead.kill()
    dead.wait(10)
    (tmp_path / "other").mkdir()
    live_rig = Rig(tmp_path / "other")
    live_rig.journal = rig.journal
    live_rig.run_id = "live"
    live, live_result = live_rig.spawn(hold="s1")
    wait_until(lambda: live_rig.entered("s1"), "the live process inside s1")
    try:
        done = doctor(rig.journal)
        assert done.returncode == 1, done
        assert f"run live: running, executed by process {live.pid}" in done.stdout and "alive" in done.stdout
        assert f"run r: journaled as running but its process (process {dead.pid}" in done.stdout
        assert "--repair would: mark run r interrupted" in done.stdout
        repaired = doctor(rig.journal, "--repair")
        assert repaired.returncode == 0, repaired
        journal = nd.SQLiteJournal(rig.journal)
        try:
            rec, live_rec = journal.get_run("r"), journal.get_run("live")
        finally:
            journal.close()
        assert rec is not None and rec.status == "interrupted" and rec.epoch == 2
        assert "marked interrupted by nbdurable doctor" in (rec.status_reason or "")
        assert live_rec is not None and live_rec.status == "running" and live_rec.epoch == 1  # never touched
    finally:
        live_rig.release.touch()
    assert finish(live, live_result)["outcome"] == "completed"


def test_what_cannot_be_examined_exits_2_with_a_message(tmp_path: Path) -> None:
    missing = doctor(tmp_path / "nope.db")
    assert missing.returncode == 2 and "there is no journal at" in missing.stderr
    folder = doctor(tmp_path)
    assert folder.returncode == 2 and "is not a file" in folder.stderr
    other_app = tmp_path / "app.db"
    import sqlite3

    conn = sqlite3.connect(other_app)
    conn.execute("CREATE TABLE customers (name TEXT)")
    conn.commit()
    conn.close()
    os.chmod(other_app, 0o600)
    foreign = doctor(other_app)
    assert foreign.returncode == 2 and "not an nbdurable journal" in foreign.stderr


@pytest.mark.skipif(os.geteuid() != 0, reason="giving a file to another user needs root")
def test_a_journal_of_another_user_is_a_problem_repair_does_not_touch(tmp_path: Path) -> None:
    path = tmp_path / "journal.db"
    healthy_journal(path)
    nobody = pwd.getpwnam("nobody")
    os.chown(path, nobody.pw_uid, nobody.pw_gid)
    done = doctor(path, "--repair")
    assert done.returncode == 1 and "owned by nobody" in done.stdout and "NBDURABLE_ALLOW_UNSAFE" in done.stdout
    assert path.stat().st_uid == nobody.pw_uid
