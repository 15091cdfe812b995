"""Which journal a name means (``nd.configure``, ``$NBDURABLE_JOURNAL``, ``--journal``): one place decides.

No server is needed here: PostgreSQL values are recognised without connecting, and
a server that is not there is reported as unreachable (a closed loopback port).
"""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

import nbdurable as nd
from nbdurable.journal._backends import describe_spec, journal_kind, open_journal, redact_dsn
from tests.helpers import reset_engine


@pytest.fixture(autouse=True)
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Each test works in an empty folder, with no engine and no $NBDURABLE_JOURNAL of its own."""
    reset_engine()
    monkeypatch.delenv("NBDURABLE_JOURNAL", raising=False)
    monkeypatch.chdir(tmp_path)
    yield tmp_path
    reset_engine()


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.parametrize(
    ("spec", "kind"),
    [
        ("postgresql://me@db:5432/runs", "postgres"),
        ("postgres://me:secret@db/runs?sslmode=require", "postgres"),
        ("POSTGRESQL://db/runs", "postgres"),
        ("host=db dbname=runs user=me", "postgres"),
        ("  dbname=runs", "postgres"),
        ("sqlite:///tmp/j.db", "sqlite"),
        ("journal.db", "sqlite"),
        (".nbdurable/journal.db", "sqlite"),
        ("runs=1.db", "sqlite"),  # '=' in a file name is not a connection string
        ("C:\\journals\\j.db", "sqlite"),
    ],
)
def test_what_each_value_names(spec: str, kind: str) -> None:
    assert journal_kind(spec) == kind


@pytest.mark.parametrize("spec", ["mysql://me@db/runs", "http://example.invalid/j", "redis://x", "file+bad://x"])
def test_a_url_of_another_kind_fails_clearly_and_creates_nothing(spec: str, isolated: Path) -> None:
    with pytest.raises(nd.ConfigError, match="cannot use") as info:
        nd.configure(spec)
    assert "postgresql://" in str(info.value) and "file path" in str(info.value)
    assert list(isolated.iterdir()) == []  # no folder named after the scheme


def test_the_environment_goes_through_the_same_door(isolated: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NBDURABLE_JOURNAL", "mysql://me:hunter2@db/runs")
    with pytest.raises(nd.ConfigError, match="mysql://") as info:
        nd.get_engine()
    assert "hunter2" not in str(info.value)
    assert list(isolated.iterdir()) == []


def test_sqlite_urls_and_paths_open_sqlite(isolated: Path) -> None:
    journal = open_journal(f"sqlite://{isolated / 'a.db'}")
    try:
        assert isinstance(journal, nd.SQLiteJournal) and journal.location == str(isolated / "a.db")
    finally:
        journal.close()
    engine = nd.configure(str(isolated / "b.db"))
    assert isinstance(engine.journal, nd.SQLiteJournal)


def test_passwords_never_reach_messages() -> None:
    assert redact_dsn("postgresql://me:s3cret@db:5432/runs") == "postgresql://me:***@db:5432/runs"
    assert "s3cret" not in redact_dsn("host=db password=s3cret user=me")
    assert "s3cret" not in redact_dsn("host=db password='s3 cret' user=me").replace("s3 cret", "")
    assert describe_spec("journal.db") == "journal.db"


def test_an_unreachable_server_is_reported_as_such_and_quickly(isolated: Path) -> None:
    url = f"postgresql://me:s3cret@127.0.0.1:{closed_port()}/runs"
    with pytest.raises(nd.JournalUnavailableError, match="cannot be reached") as info:
        nd.configure(url)
    assert "s3cret" not in str(info.value) and "127.0.0.1" in str(info.value)
    assert isinstance(info.value, nd.JournalBusyError)  # retried like a busy journal by the engine
    assert list(isolated.iterdir()) == []


def test_a_libpq_string_reaches_postgresql_too(isolated: Path) -> None:
    with pytest.raises(nd.JournalUnavailableError):
        nd.configure(f"host=127.0.0.1 port={closed_port()} dbname=runs user=me connect_timeout=2")


@pytest.mark.parametrize("schema", ["1abc", "a-b", "x" * 49, "a b", "nbdurable;drop"])
def test_a_bad_schema_name_is_refused_before_connecting(schema: str) -> None:
    with pytest.raises(nd.ConfigError, match="schema name"):
        nd.PostgresJournal(f"postgresql://127.0.0.1:{closed_port()}/runs?schema={schema}")
    with pytest.raises(nd.ConfigError, match="schema name"):
        nd.PostgresJournal(f"postgresql://127.0.0.1:{closed_port()}/runs", schema=schema)


def test_psycopg_is_not_imported_by_nbdurable_itself() -> None:
    import subprocess
    import sys

    code = "import sys, nbdurable; nbdurable.configure('j.db'); print('psycopg' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=os.getcwd())
    assert out.stdout.strip() == "False"


@pytest.mark.parametrize(
    ("spec", "says"),
    [
        ("postgresql://me:s3cret@127.0.0.1:notaport/runs", "port must be a number"),
        ("postgresql://me:s3cret@127.0.0.1:70000/runs", "port must be a number"),
        ("postgresql://me:s3cret@[::1/runs", "IPv6"),
        ("host=127.0.0.1 password=s3cret bogus=3", 'invalid connection option "bogus"'),
        ("postgresql://me:s3cret@127.0.0.1/runs?sslmode=sometimes", "sslmode must be one of"),
    ],
)
def test_a_malformed_connection_string_is_a_config_error_not_an_outage(spec: str, says: str, isolated: Path) -> None:
    """libpq checks some values only when connecting: they must not read as "unreachable" and be retried."""
    with pytest.raises(nd.ConfigError, match="not a PostgreSQL connection string") as info:
        nd.configure(spec)
    assert says in str(info.value) and "NBDURABLE_JOURNAL" in str(info.value)
    assert "s3cret" not in str(info.value)
    assert list(isolated.iterdir()) == []


def test_without_the_postgres_extra_the_error_says_what_to_install(tmp_path: Path) -> None:
    import subprocess
    import sys

    # psycopg made unimportable in a fresh interpreter, as where nbdurable[postgres] was not installed.
    code = (
        "import sys; sys.modules['psycopg'] = None; sys.modules['psycopg_pool'] = None\n"
        "import nbdurable as nd\n"
        "try:\n    nd.configure('postgresql://me:s3cret@127.0.0.1/runs')\n"
        "except nd.ConfigError as exc:\n    print(exc)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=tmp_path)
    assert "pip install 'nbdurable[postgres]'" in out.stdout and "s3cret" not in out.stdout
    assert list(tmp_path.iterdir()) == []
