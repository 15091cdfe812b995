"""Cell source signatures: only source this user's kernel signed is rebuilt from a journal."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

import nbdurable as nd
from nbdurable.notebook._cellsig import secret_path, sign_source, source_is_signed


def test_a_signed_source_checks_and_any_change_does_not() -> None:
    sig = sign_source("cell:demo", "x = await step.run('a', f)\n")
    assert source_is_signed("cell:demo", "x = await step.run('a', f)\n", sig)
    assert not source_is_signed("cell:demo", "x = await step.run('a', g)\n", sig), "source changed"
    assert not source_is_signed("cell:other", "x = await step.run('a', f)\n", sig), "signed for another cell"
    for forged in (None, "", 42, sig.upper(), sig[:-1] + ("0" if sig[-1] != "0" else "1")):
        assert not source_is_signed("cell:demo", "x = await step.run('a', f)\n", forged)


@given(source=st.text(max_size=200), other=st.text(max_size=200))
def test_a_signature_checks_exactly_its_own_source(source: str, other: str) -> None:
    sig = sign_source("cell:p", source)
    assert source_is_signed("cell:p", source, sig)
    assert source_is_signed("cell:p", other, sig) == (other == source)


def test_the_key_is_made_once_readable_by_its_owner_only(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NBDURABLE_SECRET_FILE", str(tmp_path / "deep" / "secret"))
    sig = sign_source("cell:a", "1")
    path = secret_path()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert len(path.read_bytes()) == 32
    assert sign_source("cell:a", "1") == sig, "the key is kept, not made again"
    assert [p.name for p in path.parent.iterdir()] == ["secret"], "no temporary file left behind"
    monkeypatch.setenv("NBDURABLE_SECRET_FILE", str(tmp_path / "another"))
    assert not source_is_signed("cell:a", "1", sig), "another user's key does not vouch for this source"


def test_a_key_others_can_read_is_refused_with_the_fix(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "secret"
    monkeypatch.setenv("NBDURABLE_SECRET_FILE", str(path))
    sign_source("cell:a", "1")
    os.chmod(path, 0o644)
    with pytest.raises(nd.ConfigError, match=r"readable or writable by other users.*chmod 600"):
        sign_source("cell:a", "1")


def test_a_truncated_key_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "secret"
    path.write_bytes(b"short")
    os.chmod(path, 0o600)
    monkeypatch.setenv("NBDURABLE_SECRET_FILE", str(path))
    with pytest.raises(nd.ConfigError, match="too short"):
        sign_source("cell:a", "1")
