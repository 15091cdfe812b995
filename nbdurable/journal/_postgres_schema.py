"""The PostgreSQL journal's schema: versioned migrations, applied in one transaction under an advisory lock.

Everything lives in one schema whose name the user chooses (``nbdurable`` by
default), so several journals can share a database and the journal needs no
privilege beyond creating that schema (``CREATE`` on the database) or owning it.
``{s}`` in each script is the quoted schema name. The version is a row of
``{s}.meta``; ``MIGRATIONS[n]`` brings version n to n + 1, as on SQLite.

Why the flow-control operations are PL/pgSQL functions: each is a check and an
update that must be atomic across processes (on SQLite a ``BEGIN IMMEDIATE``
transaction does it); as one function call under a transaction-scoped advisory
lock for its scope and key it is also one round trip. PL/pgSQL is a trusted
language, installed in every database: creating these functions needs no superuser.
"""

from __future__ import annotations

__all__ = ["MIGRATIONS", "SCHEMA_VERSION"]

# Identifiers compare byte-wise (COLLATE "C"), as on SQLite: queue order and listings do not depend on the
# database's locale, and B-tree lookups on them are cheaper.
_V1 = r"""
CREATE TABLE {s}.meta (
    key text COLLATE "C" PRIMARY KEY,
    value text NOT NULL
);
CREATE TABLE {s}.runs (
    rn bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    run_id text COLLATE "C" NOT NULL UNIQUE,
    function_id text COLLATE "C" NOT NULL,
    status text COLLATE "C" NOT NULL,
    event text,
    result text,
    result_tag text,
    error text,
    code_hash text NOT NULL DEFAULT '',
    kind text NOT NULL DEFAULT 'function',
    source text,
    options text,
    parent_run_id text COLLATE "C",
    owner text COLLATE "C",
    attempt bigint NOT NULL DEFAULT 0,
    event_seq bigint NOT NULL DEFAULT 0,
    status_reason text,
    warnings text,
    created_at double precision NOT NULL,
    updated_at double precision NOT NULL,
    ended_at double precision,
    epoch bigint NOT NULL DEFAULT 0,
    lease_until double precision,
    queue text COLLATE "C"
);
CREATE INDEX runs_by_status ON {s}.runs (status, created_at);
-- What a worker looks through for work: only unfinished runs handed to workers, oldest first.
CREATE INDEX runs_for_workers ON {s}.runs (queue, rn)
    WHERE queue IS NOT NULL AND status IN ('queued', 'running', 'sleeping', 'waiting');
CREATE INDEX runs_by_owner ON {s}.runs (owner) WHERE owner IS NOT NULL;
-- Steps as on SQLite (kind 'run' and status 'completed' stored as NULL, name NULL when it is the step id),
-- plus what a listing sums of an AI step, taken from its meta when written: summaries never parse JSON.
CREATE TABLE {s}.steps (
    rn bigint NOT NULL,
    step_id text COLLATE "C" NOT NULL,
    name text,
    position bigint NOT NULL,
    kind text,
    status text,
    attempt bigint NOT NULL DEFAULT 0,
    input_hash text,
    output text,
    output_tag text,
    error text,
    started_at double precision NOT NULL,
    ended_at double precision,
    next_at double precision,
    meta text,
    code_hash text,
    ai boolean,
    ai_tokens_in bigint,
    ai_tokens_out bigint,
    ai_cost double precision,
    PRIMARY KEY (rn, step_id)
);
CREATE TABLE {s}.events (
    seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    event_id text COLLATE "C" NOT NULL UNIQUE,
    name text COLLATE "C" NOT NULL,
    data text NOT NULL,
    ts double precision NOT NULL
);
CREATE INDEX events_by_name ON {s}.events (name, seq);
CREATE TABLE {s}.triggers (
    event_id text COLLATE "C" NOT NULL,
    function_id text COLLATE "C" NOT NULL,
    run_id text COLLATE "C" NOT NULL,
    PRIMARY KEY (event_id, function_id)
);
CREATE INDEX triggers_by_run ON {s}.triggers (run_id);
CREATE TABLE {s}.leases (
    scope text COLLATE "C" NOT NULL,
    key text COLLATE "C" NOT NULL,
    run_id text COLLATE "C" NOT NULL,
    holder text COLLATE "C" NOT NULL,
    expires_at double precision NOT NULL,
    PRIMARY KEY (scope, key, run_id)
);
CREATE INDEX leases_by_holder ON {s}.leases (holder);
CREATE TABLE {s}.waiters (
    scope text COLLATE "C" NOT NULL,
    key text COLLATE "C" NOT NULL,
    run_id text COLLATE "C" NOT NULL,
    rank double precision NOT NULL,
    holder text COLLATE "C" NOT NULL DEFAULT '',
    seen_at double precision NOT NULL DEFAULT 0,
    PRIMARY KEY (scope, key, run_id)
);
CREATE INDEX waiters_by_rank ON {s}.waiters (scope, key, rank);
CREATE INDEX waiters_by_holder ON {s}.waiters (holder);
CREATE TABLE {s}.marks (
    scope text COLLATE "C" NOT NULL,
    key text COLLATE "C" NOT NULL,
    ts double precision NOT NULL,
    weight bigint NOT NULL DEFAULT 1
);
CREATE INDEX marks_by_key ON {s}.marks (scope, key, ts);
-- Named positions in the event log (how far a worker turned events into runs of a function).
CREATE TABLE {s}.cursors (
    name text COLLATE "C" PRIMARY KEY,
    seq bigint NOT NULL
);

-- Raised inside a write whose claim or fence failed, so the whole transaction (a group commit sent in one
-- round trip) rolls back: NB001 names a run that exists (detail: its owner), NB002 a run that does not.
CREATE FUNCTION {s}.nbd_lost(p_run text) RETURNS boolean LANGUAGE plpgsql AS $$
DECLARE
    v_owner text;
BEGIN
    SELECT owner INTO v_owner FROM {s}.runs WHERE run_id = p_run;
    IF FOUND THEN
        RAISE EXCEPTION USING ERRCODE = 'NB001', MESSAGE = p_run, DETAIL = coalesce(v_owner, '');
    END IF;
    RAISE EXCEPTION USING ERRCODE = 'NB002', MESSAGE = p_run;
END $$;

-- A fenced update held back by its status guard (a cancel got in first): a lost claim only if the epoch moved.
-- VOLATILE, so it reads the row as committed now, not as the statement's snapshot saw it.
CREATE FUNCTION {s}.nbd_fence(p_run text, p_epoch bigint) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM {s}.runs WHERE run_id = p_run AND epoch = p_epoch) THEN
        RETURN true;
    END IF;
    RETURN {s}.nbd_lost(p_run);
END $$;

-- A trigger row that maps the event to another run of the function: the event started it elsewhere first.
CREATE FUNCTION {s}.nbd_taken(p_run text) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION USING ERRCODE = 'NB001', MESSAGE = p_run,
        DETAIL = coalesce((SELECT owner FROM {s}.runs WHERE run_id = p_run), '');
END $$;

CREATE FUNCTION {s}.nbd_acquire_slot(
    p_scope text, p_key text, p_run text, p_holder text, p_limit bigint, p_rank double precision,
    p_expires double precision, p_now double precision,
    OUT acquired boolean, OUT busy bigint, OUT ahead bigint
) LANGUAGE plpgsql AS $$
DECLARE
    v_rank double precision;
    v_stale double precision;
BEGIN
    PERFORM pg_advisory_xact_lock(hashtext('nbdurable:slot:' || p_scope), hashtext(p_key));
    DELETE FROM {s}.leases WHERE scope = p_scope AND key = p_key AND expires_at < p_now;
    -- A waiter that stopped asking (its process died) must not keep its place ahead of live ones.
    v_stale := CASE WHEN p_expires > p_now THEN p_now - (p_expires - p_now) ELSE p_now END;
    DELETE FROM {s}.waiters WHERE scope = p_scope AND key = p_key AND seen_at < v_stale;
    UPDATE {s}.leases SET holder = p_holder, expires_at = p_expires
        WHERE scope = p_scope AND key = p_key AND run_id = p_run;
    IF FOUND THEN
        SELECT count(*) INTO busy FROM {s}.leases WHERE scope = p_scope AND key = p_key;
        acquired := true;
        ahead := 0;
        RETURN;
    END IF;
    INSERT INTO {s}.waiters (scope, key, run_id, rank, holder, seen_at)
        VALUES (p_scope, p_key, p_run, p_rank, p_holder, p_now)
        ON CONFLICT (scope, key, run_id) DO UPDATE SET holder = excluded.holder, seen_at = excluded.seen_at
        RETURNING rank INTO v_rank;
    SELECT count(*) INTO busy FROM {s}.leases WHERE scope = p_scope AND key = p_key;
    SELECT count(*) INTO ahead FROM {s}.waiters
        WHERE scope = p_scope AND key = p_key AND (rank < v_rank OR (rank = v_rank AND run_id < p_run));
    IF busy + ahead < p_limit THEN
        INSERT INTO {s}.leases (scope, key, run_id, holder, expires_at)
            VALUES (p_scope, p_key, p_run, p_holder, p_expires);
        DELETE FROM {s}.waiters WHERE scope = p_scope AND key = p_key AND run_id = p_run;
        acquired := true;
        busy := busy + 1;
        ahead := 0;
    ELSE
        acquired := false;
    END IF;
END $$;

CREATE FUNCTION {s}.nbd_take_mark(
    p_scope text, p_key text, p_now double precision, p_since double precision, p_max_count bigint,
    p_max_weight bigint, p_weight bigint, OUT ok boolean, OUT oldest double precision
) LANGUAGE plpgsql AS $$
DECLARE
    v_count bigint;
    v_total numeric;
BEGIN
    PERFORM pg_advisory_xact_lock(hashtext('nbdurable:mark:' || p_scope), hashtext(p_key));
    -- Marks older than a day serve no window; dropping them keeps the table small.
    DELETE FROM {s}.marks WHERE scope = p_scope AND key = p_key AND ts < p_now - 86400;
    SELECT count(*), coalesce(sum(weight), 0), min(ts) INTO v_count, v_total, oldest
        FROM {s}.marks WHERE scope = p_scope AND key = p_key AND ts >= p_since;
    IF (p_max_count IS NOT NULL AND v_count >= p_max_count)
            OR (p_max_weight IS NOT NULL AND v_total >= p_max_weight) THEN
        ok := false;
        RETURN;
    END IF;
    INSERT INTO {s}.marks (scope, key, ts, weight) VALUES (p_scope, p_key, p_now, p_weight);
    ok := true;
    oldest := NULL;
END $$;
"""

MIGRATIONS: tuple[str, ...] = (_V1,)
SCHEMA_VERSION = len(MIGRATIONS)
