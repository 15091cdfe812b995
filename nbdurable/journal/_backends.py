"""Which journal a name means: the one place that turns ``nd.configure(...)``/``$NBDURABLE_JOURNAL`` into a journal.

- a ``postgresql://`` or ``postgres://`` URL, or a libpq ``key=value`` string
  (``host=db dbname=runs user=me``): :class:`~nbdurable.journal._postgres.PostgresJournal`
  (psycopg is imported only then; without it the error names the extra to install);
- ``sqlite:///path`` or any other text: an SQLite file at that path;
- any other ``scheme://...`` is refused, saying which values are understood. It used to
  become a folder named after the scheme (``postgresql:/``) next to the notebook.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .._errors import ConfigError

if TYPE_CHECKING:
    from ._protocol import Journal

__all__ = ["describe_spec", "is_postgres", "journal_kind", "open_journal", "redact_dsn", "sqlite_path"]

_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.\-]*)://")
# libpq's connection keywords: a string that starts with one of them followed by '=' is a connection string.
_LIBPQ_KEYS = frozenset(
    {
        "host",
        "hostaddr",
        "port",
        "dbname",
        "user",
        "password",
        "passfile",
        "service",
        "sslmode",
        "sslrootcert",
        "sslcert",
        "sslkey",
        "application_name",
        "options",
        "connect_timeout",
        "target_session_attrs",
        "channel_binding",
        "gssencmode",
        "krbsrvname",
        "requiressl",
    }
)
_LIBPQ = re.compile(r"^\s*([A-Za-z_]+)\s*=")


def journal_kind(spec: str) -> str:
    """``"postgres"``, ``"sqlite"`` (a path or ``sqlite://``), or a ConfigError for a URL nbdurable cannot use."""
    found = _SCHEME.match(spec)
    if found:
        scheme = found.group(1).lower()
        if scheme in ("postgresql", "postgres"):
            return "postgres"
        if scheme == "sqlite":
            return "sqlite"
        raise ConfigError(
            f"the journal {describe_spec(spec)!r} is a {scheme}:// URL, which nbdurable cannot use. A journal is a "
            "file path (SQLite, the default: .nbdurable/journal.db), sqlite:///path, a postgresql:// (or "
            "postgres://) URL, or a libpq connection string such as 'host=db dbname=runs user=me'."
        )
    key = _LIBPQ.match(spec)
    if key and key.group(1).lower() in _LIBPQ_KEYS:
        return "postgres"
    return "sqlite"


def is_postgres(spec: object) -> bool:
    return isinstance(spec, str) and journal_kind(spec) == "postgres"


def redact_dsn(dsn: str) -> str:
    """A connection string fit for messages: its password replaced by ``***``."""
    if "://" in dsn:
        return re.sub(r"(://[^:/?#@]*:)[^@/?#]*@", r"\1***@", dsn)
    return re.sub(r"(password\s*=\s*)('(?:[^'\\]|\\.)*'|\S+)", r"\1***", dsn, flags=re.IGNORECASE)


def describe_spec(spec: str) -> str:
    """``spec`` as messages may show it (a password in it is masked)."""
    if _SCHEME.match(spec) or _LIBPQ.match(spec):
        return redact_dsn(spec)
    return spec


def sqlite_path(spec: str) -> Path:
    """The file an SQLite spec names (``sqlite:///abs/path``, ``sqlite://rel/path`` or a plain path)."""
    if _SCHEME.match(spec):
        rest = spec.split("://", 1)[1]
        return Path(rest).expanduser()
    return Path(spec).expanduser()


def open_journal(
    spec: str | os.PathLike[str] | None = None,
    *,
    durability: str = "normal",
    readonly: bool | None = None,
    allow_unsafe_permissions: bool | None = None,
    follow_symlinks: bool | None = None,
) -> Journal:
    """The journal ``spec`` names; None means ``$NBDURABLE_JOURNAL``, else ``.nbdurable/journal.db`` here."""
    if spec is None:
        spec = os.environ.get("NBDURABLE_JOURNAL") or None
    if isinstance(spec, str) and journal_kind(spec) == "postgres":
        try:
            from ._postgres import PostgresJournal
        except ImportError as exc:
            raise ConfigError(
                f"the journal {describe_spec(spec)!r} is a PostgreSQL database, which needs psycopg: "
                f"pip install 'nbdurable[postgres]' ({exc})"
            ) from None
        return PostgresJournal(spec, durability=durability, readonly=bool(readonly))  # type: ignore[arg-type]
    from ._sqlite import SQLiteJournal

    path: Any = sqlite_path(spec) if isinstance(spec, str) else spec
    return SQLiteJournal(
        path,
        durability=durability,  # type: ignore[arg-type]
        readonly=readonly,
        allow_unsafe_permissions=allow_unsafe_permissions,
        follow_symlinks=follow_symlinks,
    )
