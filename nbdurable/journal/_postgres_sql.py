"""The PostgreSQL journal's SQL: statements built once per schema, and values to and from columns.

Apart from :mod:`._postgres` so the journal class holds behaviour (connections, commits, claims, flow
control) and this module holds text: the statements with fixed-type placeholders (each is prepared
once), the connection-string checks done before any connection, and the conversions between records
and rows. Nothing here opens a connection.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import psycopg
import psycopg.conninfo
from psycopg import sql

from .._errors import ConfigError
from ._protocol import StepRecord
from ._rows import check_step
from ._sqlite_schema import _JSON_RUN_FIELDS, _RUN_COLS, _STEP_COLS, _dumps, _loads

__all__ = [
    "DEFAULT_SCHEMA",
    "Statements",
    "check_conninfo",
    "check_schema",
    "field_value",
    "split_dsn",
    "step_params",
    "steps_from_rows",
]

DEFAULT_SCHEMA = "nbdurable"
_SCHEMA_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,47}")

# The placeholder casts give every parameter a fixed type, so each statement is prepared once.
_RUN_CASTS = (
    "%s::text, %s::text, %s::text, %s::text, %s::text, %s::text, %s::text, %s::text, %s::text, %s::text, %s::text, "
    "%s::text, %s::text, %s::bigint, %s::bigint, %s::text, %s::text, %s::float8, %s::float8, %s::float8, %s::bigint, "
    "%s::float8, %s::text"
)
_STEP_WRITE_COLS = _STEP_COLS + ", ai, ai_tokens_in, ai_tokens_out, ai_cost"
_STEP_CASTS = (
    "%s::text, %s::text, %s::bigint, %s::text, %s::text, %s::bigint, %s::text, %s::text, %s::text, %s::text, "
    "%s::float8, %s::float8, %s::float8, %s::text, %s::text, %s::boolean, %s::bigint, %s::bigint, %s::float8"
)
_STEP_UPDATE = ", ".join(f"{c.strip()} = excluded.{c.strip()}" for c in _STEP_WRITE_COLS.split(","))


def check_schema(name: str) -> str:
    if not isinstance(name, str) or not _SCHEMA_RE.fullmatch(name):
        raise ConfigError(
            f"the PostgreSQL schema name must be a letter or underscore followed by letters, digits or "
            f"underscores (at most 48), got {name!r}"
        )
    return name


_SSLMODES = ("disable", "allow", "prefer", "require", "verify-ca", "verify-full")


def check_conninfo(conninfo: str) -> None:
    """Refuse a connection string libpq would refuse only when connecting, so the fault names the string.

    libpq parses option names and URL syntax up front but checks a port or an sslmode only
    when it connects, and then reports it as a connection failure (which would read as
    "the server cannot be reached" and be retried): checked here, once, before any retry.
    """
    params = psycopg.conninfo.conninfo_to_dict(conninfo)  # ProgrammingError: syntax, unknown options
    for port in str(params.get("port") or "").split(","):
        if port.strip() and not (port.strip().isdigit() and 0 < int(port) < 65536):
            raise psycopg.ProgrammingError(f"the port must be a number from 1 to 65535, got {port.strip()!r}")
    sslmode = params.get("sslmode")
    if sslmode is not None and sslmode not in _SSLMODES:
        raise psycopg.ProgrammingError(f"sslmode must be one of {', '.join(_SSLMODES)}, got {sslmode!r}")


def split_dsn(spec: str) -> tuple[str, str | None]:
    """Take nbdurable's own ``schema`` parameter out of a URL or key=value string (libpq would refuse it)."""
    if "://" in spec:
        base, _, query = spec.partition("?")
        kept: list[str] = []
        schema = None
        for part in query.split("&") if query else []:
            key, _, value = part.partition("=")
            if key == "schema":
                from urllib.parse import unquote

                schema = unquote(value)
            else:
                kept.append(part)
        return (base + ("?" + "&".join(kept) if kept else "")), schema
    params = psycopg.conninfo.conninfo_to_dict(spec)
    schema_value = params.pop("schema", None)
    return psycopg.conninfo.make_conninfo("", **params), None if schema_value is None else str(schema_value)


def _ai_columns(meta: dict[str, Any] | None) -> tuple[bool | None, int | None, int | None, float | None]:
    """What a listing sums of a step, from its meta: (is an AI step, tokens in, tokens out, cost)."""
    info = meta.get("ai") if isinstance(meta, dict) else None
    if not isinstance(info, dict):
        return None, None, None, None
    cost = info.get("cost")
    priced = float(cost) if isinstance(cost, (int, float)) and not isinstance(cost, bool) else None
    return True, _as_int(info.get("tokens_in")), _as_int(info.get("tokens_out")), priced


def _as_int(value: Any) -> int:
    """A token count as SQLite's CAST(... AS INTEGER) reads it: numbers truncated, text by its leading digits."""
    if isinstance(value, (bool, int)):
        return int(value)
    if isinstance(value, float):
        return int(value) if value == value and abs(value) < 2**63 else 0
    if isinstance(value, str):
        found = re.match(r"\s*[-+]?\d+", value)
        return int(found.group()) if found else 0
    return 0


def step_params(s: StepRecord) -> tuple[Any, ...]:
    ai, tokens_in, tokens_out, cost = _ai_columns(s.meta)
    return (
        s.step_id,
        None if s.name == s.step_id else s.name,
        s.position,
        None if s.kind == "run" else s.kind,
        None if s.status == "completed" else s.status,
        s.attempt,
        s.input_hash or None,
        s.output,
        s.output_tag,
        _dumps(s.error),
        s.started_at,
        s.ended_at,
        s.next_at,
        _dumps(s.meta),
        s.code_hash or None,
        ai,
        tokens_in,
        tokens_out,
        cost,
    )


def field_value(name: str, value: Any) -> Any:
    return _dumps(value) if name in _JSON_RUN_FIELDS else value


class Statements:
    """The SQL of one schema, built once (the schema name is an identifier, quoted, never a value)."""

    def __init__(self, schema: str) -> None:
        s = sql.Identifier(schema).as_string(None)
        self.s = s
        self.insert_run = (
            f"WITH i AS (INSERT INTO {s}.runs ({_RUN_COLS}) VALUES ({_RUN_CASTS}) "
            "ON CONFLICT (run_id) DO NOTHING RETURNING 1) "
            f"SELECT {s}.nbd_lost(%s) WHERE NOT EXISTS (SELECT 1 FROM i)"
        )
        step_insert = (
            f"i AS (INSERT INTO {s}.steps (rn, {_STEP_WRITE_COLS}) SELECT r.rn, {_STEP_CASTS} FROM r "
            f"ON CONFLICT (rn, step_id) DO UPDATE SET {_STEP_UPDATE} RETURNING 1) "
            f"SELECT {s}.nbd_lost(%s) WHERE NOT EXISTS (SELECT 1 FROM i)"
        )
        # FOR SHARE: a claim (an UPDATE of the run row) cannot commit between this check and this write.
        self.fenced_step = (
            f"WITH r AS (SELECT rn FROM {s}.runs WHERE run_id = %s AND epoch = %s FOR SHARE), " + step_insert
        )
        self.step = f"WITH r AS (SELECT rn FROM {s}.runs WHERE run_id = %s), " + step_insert
        self.trigger = (
            f"WITH i AS (INSERT INTO {s}.triggers (event_id, function_id, run_id) VALUES (%s, %s, %s) "
            "ON CONFLICT (event_id, function_id) DO NOTHING RETURNING run_id) "
            f"SELECT {s}.nbd_taken(%s) WHERE NOT EXISTS (SELECT 1 FROM i) AND NOT EXISTS ("
            f"SELECT 1 FROM {s}.triggers WHERE event_id = %s AND function_id = %s AND run_id = %s)"
        )
        self.delete_run = (
            f"WITH r AS (SELECT rn FROM {s}.runs WHERE run_id = %s), "
            f"st AS (DELETE FROM {s}.steps WHERE rn IN (SELECT rn FROM r)), "
            f"tr AS (DELETE FROM {s}.triggers WHERE run_id = %s) "
            f"DELETE FROM {s}.runs WHERE run_id = %s"
        )
        self.get_run = f"SELECT {_RUN_COLS} FROM {s}.runs WHERE run_id = %s"
        self.load_steps = (
            f"SELECT {_STEP_COLS} FROM {s}.steps WHERE rn = (SELECT rn FROM {s}.runs WHERE run_id = %s) "
            "ORDER BY position"
        )
        self.add_event = (
            f"INSERT INTO {s}.events (event_id, name, data, ts) "
            "SELECT %s::text, %s::text, %s::text, %s::float8 FROM (SELECT pg_advisory_xact_lock(%s::bigint)) l "
            "ON CONFLICT (event_id) DO NOTHING RETURNING seq"
        )
        self.acquire_slot = f"SELECT * FROM {s}.nbd_acquire_slot(%s, %s, %s, %s, %s, %s, %s, %s)"
        self.take_mark = f"SELECT * FROM {s}.nbd_take_mark(%s, %s, %s, %s, %s, %s, %s)"


def steps_from_rows(run_id: str, rows: Sequence[Sequence[Any]]) -> list[StepRecord]:
    """A run's step records from rows of ``_STEP_COLS`` (defaults stored as NULL filled back in), checked."""
    return [
        # Positional, in the columns' order: this runs once per step on every load (replay's hot path), and
        # keyword arguments cost ~0.3 us more per row. Everywhere else StepRecord is built with keywords.
        check_step(
            StepRecord(
                run_id,
                r[0],
                r[1] if r[1] is not None else r[0],
                r[2],
                r[3] or "run",
                r[4] or "completed",
                r[5],
                r[6] or "",
                r[7],
                r[8],
                None if r[9] is None else _loads(r[9]),
                r[10],
                r[11],
                r[12],
                None if r[13] is None else _loads(r[13]),
                r[14] or "",
            )
        )
        for r in rows
    ]
