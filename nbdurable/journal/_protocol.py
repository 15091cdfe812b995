"""The journal's storage interface and the records it keeps.

The engine talks to storage only through :class:`Journal`, a small synchronous
protocol: SQLite (the embedded default, ``_sqlite.py``), PostgreSQL (many
processes on many machines, ``_postgres.py``) and memory (tests, ``_memory.py``)
implement it. It is synchronous
on purpose: the engine batches writes itself (group commit) and one in-thread
SQLite commit costs less than a single hop to a worker thread.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import Any, Literal, Protocol, get_args, runtime_checkable

__all__ = [
    "ACTIVE_STATUSES",
    "FINAL_STATUSES",
    "PLAIN_CODE_HASH",
    "PLAIN_INPUT_HASH",
    "PLAIN_NAME",
    "PLAIN_OUTPUT",
    "PLAIN_OUTPUT_TAG",
    "PLAIN_POSITION",
    "PLAIN_STEP_ID",
    "RUN_STATUSES",
    "ActiveStatus",
    "EventRecord",
    "FinalStatus",
    "Journal",
    "ReplaySteps",
    "RunRecord",
    "RunStatus",
    "StepRecord",
    "StepStatus",
    "StepSummary",
    "Write",
]

# The statuses are spelled here once; the sets below are made from these Literals.
FinalStatus = Literal["completed", "failed", "cancelled", "skipped"]
ActiveStatus = Literal["running", "sleeping", "waiting"]
RunStatus = Literal["queued", ActiveStatus, FinalStatus, "interrupted"]
StepStatus = Literal["completed", "failed", "retrying", "sleeping", "waiting"]
FINAL_STATUSES: frozenset[FinalStatus] = frozenset(get_args(FinalStatus))
"""A run in one of these has ended for good (``interrupted`` has not: it can be resumed)."""
ACTIVE_STATUSES: frozenset[ActiveStatus] = frozenset(get_args(ActiveStatus))
RUN_STATUSES: tuple[RunStatus, ...] = ("queued", *get_args(ActiveStatus), *get_args(FinalStatus), "interrupted")


@dataclasses.dataclass(slots=True)
class RunRecord:
    """One run of a workflow: what started it, where it stands, how it ended."""

    run_id: str
    function_id: str
    status: str = "queued"
    event: dict[str, Any] | None = None  # the trigger event as {"name", "data", "id", "ts"}
    result: str | None = None  # encoded payload
    result_tag: str | None = None
    error: dict[str, Any] | None = None  # {"type", "message", "traceback"}
    code_hash: str = ""
    kind: str = "function"  # "function" or "cell"
    source: str | None = None  # the cell source for %%durable runs, so they resume without the cell
    options: dict[str, Any] | None = None
    parent_run_id: str | None = None
    owner: str | None = None  # "host:pid:start" of the process executing it
    attempt: int = 0  # how many times it has been started or resumed
    event_seq: int = 0  # last event seq when the run was created: later events can satisfy waits
    status_reason: str | None = None
    warnings: list[dict[str, Any]] | None = None
    created_at: float = 0.0
    updated_at: float = 0.0
    ended_at: float | None = None
    # The fencing token: bumped by every claim, carried by every write of the owner (see claim_run).
    epoch: int = 0
    # Until when the owner's claim holds without a heartbeat; what decides liveness for owners on other hosts.
    lease_until: float | None = None
    # The worker queue the run was handed to ("default" or a name); None for a run executed where it was started.
    queue: str | None = None
    # Columns whose stored value was not what nbdurable writes (set when reading, see _rows.check_run).
    damaged: tuple[str, ...] = ()


@dataclasses.dataclass(slots=True)
class StepRecord:
    """What the journal knows of one step of one run."""

    run_id: str
    step_id: str
    name: str
    position: int
    kind: str = "run"  # run, sleep, wait, invoke, send, ai, value
    status: str = "completed"
    attempt: int = 0
    input_hash: str = ""
    output: str | None = None
    output_tag: str | None = None
    error: dict[str, Any] | None = None
    started_at: float = 0.0
    ended_at: float | None = None
    next_at: float | None = None  # sleep deadline, wait timeout, next retry
    meta: dict[str, Any] | None = None  # tokens, AI call, wait details, input preview, consumed event seq
    code_hash: str = ""
    damaged: tuple[str, ...] = ()  # columns not as nbdurable writes them (see _rows.check_step)


# Where a plain step's row (ReplaySteps.plain) holds what replay reads: only those columns are read for it.
PLAIN_STEP_ID = 0
PLAIN_NAME = 1  # None: the step's name is its id
PLAIN_POSITION = 2
PLAIN_INPUT_HASH = 3  # None (no inputs) or the hash as 8 bytes
PLAIN_OUTPUT = 4  # JSON text, or None
PLAIN_OUTPUT_TAG = 5
PLAIN_CODE_HASH = 6  # None or the hash as 8 bytes


@dataclasses.dataclass(slots=True)
class ReplaySteps:
    """A run's journaled steps as replay loads them (``Journal.load_replay``).

    ``plain`` holds the completed ``run`` steps that carry nothing but their result and their inputs'
    hash and preview (most steps of most runs), as rows of only what replay reads (``PLAIN_*``; the
    preview stays in the journal), every column of the row already
    checked: replay reads them in place, and ``whole`` makes StepRecords of some (one query) when a
    view or a message needs the whole step. Why: building and checking a record per step was about
    a third of a replay, and fetching the columns replay does not read another quarter. ``records``
    holds every other step, checked (a damaged one is there, with ``damaged`` set).
    """

    records: list[StepRecord] = dataclasses.field(default_factory=list)
    plain: list[tuple[Any, ...]] = dataclasses.field(default_factory=list)
    whole: Callable[[Sequence[tuple[Any, ...]]], list[StepRecord]] | None = None

    def record(self, row: tuple[Any, ...]) -> StepRecord:
        """One plain row's StepRecord."""
        assert self.whole is not None
        return self.whole([row])[0]


@dataclasses.dataclass(slots=True, frozen=True)
class EventRecord:
    """One event as stored: a sequence number gives a total order across processes."""

    seq: int
    event_id: str
    name: str
    data: dict[str, Any]
    ts: float


@dataclasses.dataclass(slots=True, frozen=True)
class StepSummary:
    """What a listing shows of a run's steps, computed by the journal without loading them.

    ``total`` and ``done`` leave out journaled values (``step.now()`` ...), as the timeline
    does. ``attempts`` and ``last_at`` move whenever any step of the run is written, so a
    watcher can tell that a run changed from its summary alone.
    """

    total: int = 0
    done: int = 0
    failed: int = 0
    attempts: int = 0  # failed attempts summed over the steps: grows when a step retries
    last_at: float | None = None  # the latest start or end of any step
    ai_steps: int = 0
    tokens_in: int = 0
    tokens_out: int = 0
    cost: float | None = None  # None when there is no AI step, or one whose cost is unknown


@dataclasses.dataclass(slots=True)
class Write:
    """One change in a batch: ``op`` is "run" (insert a new run), "run_update", "step", "trigger" or "delete_run".

    A "run" write is a claim of a new run id: it never replaces a run that exists
    (the batch then fails with ClaimLostError). A "step" or "run_update" write with
    an ``epoch`` is fenced: it applies only while the run's epoch is still that one.
    "delete_run" removes the run ``run_id`` with its steps (a LangGraph thread deleted
    through its checkpointer); nothing else deletes.
    """

    op: Literal["run", "run_update", "step", "trigger", "delete_run"]
    run: RunRecord | None = None
    step: StepRecord | None = None
    run_id: str = ""
    fields: dict[str, Any] | None = None
    event_id: str = ""
    function_id: str = ""
    epoch: int | None = None
    # A run_update applies only if the run's status is not one of these (checked in the same
    # transaction): how a cancel and a run's last write cannot both win.
    unless_status: frozenset[str] | None = None

    @property
    def target(self) -> str:
        """The run this write is about."""
        if self.run is not None:
            return self.run.run_id
        if self.step is not None:
            return self.step.run_id
        return self.run_id


@runtime_checkable
class Journal(Protocol):
    """Durable storage for runs, steps and events; every method is short and synchronous."""

    @property
    def location(self) -> str:
        """Where the journal lives, for messages (a path, or ":memory:")."""
        ...

    def write(self, batch: Sequence[Write]) -> None:
        """Apply ``batch`` in one transaction: all of it is durable, or none of it.

        Raises ClaimLostError (naming every run concerned, nothing applied) when a
        "run" write meets an existing run id, a fenced write meets a newer epoch, or a
        "trigger" write finds its event already started another run of that function.
        """
        ...

    def get_run(self, run_id: str) -> RunRecord | None: ...

    def list_runs(
        self, *, statuses: Sequence[str] | None = None, function_id: str | None = None, limit: int | None = None
    ) -> list[RunRecord]:
        """Runs, newest first."""
        ...

    def load_steps(self, run_id: str) -> list[StepRecord]:
        """All steps of a run in the order they were first reached (one query: replay is lookups)."""
        ...

    def load_replay(self, run_id: str) -> ReplaySteps:
        """The steps of a run as replay reads them (one query): ``load_steps``, the plain ones left as rows."""
        ...

    def step_counts(self, run_ids: Sequence[str]) -> dict[str, int]:
        """Completed step counts per run, for listings."""
        ...

    def summarize_steps(self, run_ids: Sequence[str]) -> dict[str, StepSummary]:
        """Per run in the journal: step counts, tokens and cost, aggregated where the steps are stored."""
        ...

    def add_event(self, event_id: str, name: str, data: dict[str, Any], ts: float) -> EventRecord | None:
        """Store an event; None if an event with this id is already stored (sending is idempotent)."""
        ...

    def get_event(self, event_id: str) -> EventRecord | None: ...

    def events_after(self, name: str | None, after_seq: int, *, limit: int = 100) -> list[EventRecord]:
        """Events named ``name`` (any name: None) with seq greater than ``after_seq``, oldest first."""
        ...

    def last_event_seq(self) -> int: ...

    def runs_for_event(self, event_id: str) -> list[tuple[str, str]]:
        """(function_id, run_id) pairs started by an event."""
        ...

    def claim_run(
        self,
        run_id: str,
        owner: str,
        *,
        epoch: int,
        status: str,
        lease_until: float | None,
        fields: dict[str, Any] | None = None,
    ) -> int | None:
        """Take over an existing run, if it is still at ``epoch`` and ``status`` (what the claimer saw).

        One conditional update: set the owner and its lease, bump the epoch, apply
        ``fields`` (status, attempt...). Returns the new epoch, or None when another
        claim (or a cancel) came first and nothing was changed. Two processes never
        both win, and the loser's later writes are refused by the fence.
        """
        ...

    def update_run_if(
        self,
        run_id: str,
        fields: dict[str, Any],
        *,
        expect: dict[str, Any],
        status: str | None = None,
        epoch: int | None = None,
        trigger: tuple[str, str] | None = None,
    ) -> bool:
        """Set ``fields`` of a run only if it still holds ``expect`` (and ``status``, ``epoch``): a compare-and-set.

        ``expect`` maps run fields to the values the writer read (JSON fields compared as stored).
        With ``trigger`` (event id, function id), that event is linked to the run in the same
        transaction. True when applied; False when the run changed meanwhile (or the event already
        started a run of that function), and then nothing was written. How a debounced event and
        the start of the run it would join cannot both win (see flow control in the architecture doc).
        """
        ...

    # -- workers: runs handed to worker processes, and positions in the event log --------------------

    def claim_next(
        self,
        owner: str,
        *,
        queues: Sequence[str] | None,
        function_ids: Sequence[str],
        now: float,
        lease_until: float,
        limit: int,
    ) -> list[RunRecord]:
        """Reserve up to ``limit`` runs handed to workers for ``owner``, oldest first.

        Candidates: unfinished runs with a ``queue`` (one of ``queues``, any when None) of one of
        ``function_ids`` that no process owns, or whose owner's lease ran out before ``now``. Each gets
        ``owner`` and ``lease_until``, so other workers pass it by; the epoch is left for the engine's
        ``claim_run``, which follows. Atomic: two workers asking at once never get the same run.
        """
        ...

    def get_cursor(self, name: str) -> int | None:
        """The event seq a named cursor stands at, None if it does not exist."""
        ...

    def move_cursor(self, name: str, seq: int, *, expect: int | None) -> bool:
        """Set the cursor to ``seq`` if it still stands at ``expect`` (None: create it if absent); False if not."""
        ...

    def change_token(self) -> int:
        """A number that changes whenever another connection (process, engine) commits.

        Cheap enough to poll before every step; this journal's own writes may leave it unchanged.
        """
        ...

    # -- flow control: concurrency slots, and windows of marks for throttles and rate limits --------

    def acquire_slot(
        self, scope: str, key: str, run_id: str, holder: str, *, limit: int, rank: float, expires_at: float, now: float
    ) -> tuple[bool, int, int]:
        """Take one of ``limit`` slots for (scope, key), fairly: waiters go in ``rank`` order.

        Atomic. Expired leases are dropped first; a run that holds a slot renews it.
        Returns (acquired, slots busy, waiters ahead of this run).
        """
        ...

    def release_slot(self, scope: str, key: str, run_id: str) -> None:
        """Give back the run's slot (and its place in the queue)."""
        ...

    def slot_holders(self, scope: str, key: str) -> list[str]:
        """Owners holding slots for (scope, key), to give back slots of processes that died."""
        ...

    def drop_holder(self, holder: str) -> int:
        """Remove every lease held by ``holder`` (a process found dead); returns how many."""
        ...

    def renew_leases(self, holder: str, expires_at: float, *, runs: Sequence[str] = ()) -> None:
        """The heartbeat: push back the expiry of ``holder``'s slot leases, and of its claims on ``runs``."""
        ...

    def take_mark(
        self,
        scope: str,
        key: str,
        *,
        now: float,
        since: float,
        max_count: int | None,
        max_weight: int | None,
        weight: int,
    ) -> tuple[bool, float | None]:
        """Atomically add a mark at ``now`` if the window since ``since`` holds fewer than ``max_count`` marks
        and less than ``max_weight`` weight; else return (False, oldest mark's time) to retry after."""
        ...

    def add_mark(self, scope: str, key: str, ts: float, weight: int) -> None: ...

    def close(self) -> None: ...
