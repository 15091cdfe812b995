"""Shared fixtures: a fresh journal for the process engine in every test that asks for one, and a private
PostgreSQL server for the tests marked ``postgres`` (started once per session, only if one of them runs)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

import nbdurable as nd
from nbdurable import flow as _flow
from nbdurable.engine import registry
from tests.helpers import reset_engine


@pytest.fixture(scope="session", autouse=True)
def cell_signing_key(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The key that signs durable cells' source, private to the session (kernels and servers inherit it).

    Without it the tests would make one in the user's own Jupyter data folder.
    """
    path = tmp_path_factory.mktemp("secret") / "nbdurable_secret"
    saved = os.environ.get("NBDURABLE_SECRET_FILE")
    os.environ["NBDURABLE_SECRET_FILE"] = str(path)
    yield path
    if saved is None:
        os.environ.pop("NBDURABLE_SECRET_FILE", None)
    else:
        os.environ["NBDURABLE_SECRET_FILE"] = saved


@pytest.fixture
def journal_path(tmp_path: Path) -> Iterator[Path]:
    """A fresh journal for the process engine; functions and nd.Limits the test defines are forgotten after it."""
    reset_engine()
    path = tmp_path / "journal.db"
    nd.configure(path, poll_interval=0.02)
    saved, saved_limits = dict(registry()), dict(_flow.limits())
    yield path
    registry().clear()
    registry().update(saved)
    _flow.limits().clear()
    _flow.limits().update(saved_limits)
    reset_engine()


@pytest.fixture(scope="session")
def postgres_db() -> Iterator[str]:
    """A private PostgreSQL server for the session (initdb in a temp folder, a free loopback port).

    Its database belongs to a role that is not a superuser, so every test also shows that a
    journal needs no more than owning its database. Stopped at the end, also after failures.
    """
    from nbdurable.testing._postgres import PostgresServer

    server = PostgresServer()
    try:
        server.start()
        yield server.create_database("nbd_tests", owner="nbd")
    finally:
        server.stop()


@pytest.fixture
def pg_url(postgres_db: str) -> Iterator[str]:
    """A journal URL of its own for one test: a fresh schema in the session's database, dropped after."""
    import psycopg

    schema = "t_" + uuid.uuid4().hex[:12]
    yield f"{postgres_db}?schema={schema}"
    with psycopg.connect(postgres_db, autocommit=True) as conn:
        conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def journal_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh journal on each durable backend, as nd.configure takes it: a file path, or a PostgreSQL URL."""
    if request.param == "postgres":
        return str(request.getfixturevalue("pg_url"))
    return str(tmp_path / "journal.db")
