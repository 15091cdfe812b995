"""The in-process state of one executing run: its journal view, step ids and live steps.

Replay is a dictionary lookup: the run's journaled steps are loaded with one query
when it starts, and every step call checks here first. This is also where replay
divergence is noticed (another path, other inputs, changed code).
"""

from __future__ import annotations

import array
import asyncio
import contextvars
import dataclasses
import re
from collections.abc import Callable, Iterable, Sequence
from time import time as _clock
from typing import TYPE_CHECKING, Any, Literal, NamedTuple, cast

from .._errors import ConfigError, NestedStepError, NonDeterminismError, ReplayDeterminismWarning, RunCancelledError
from .._redact import StreamRedactor
from ..journal._protocol import (
    PLAIN_NAME,
    PLAIN_POSITION,
    PLAIN_STEP_ID,
    FinalStatus,
    ReplaySteps,
    RunRecord,
    StepRecord,
    StepStatus,
)
from ._serde import storable_text
from ._usercode import linted_lines, warn_at_user, workflow_code

if TYPE_CHECKING:
    from ._engine import Engine
    from ._registry import Workflow

__all__ = [
    "OUTPUT_PREVIEW",
    "RECENT_BATCH",
    "RECENT_STEPS",
    "LiveStep",
    "Outcome",
    "OutcomeStatus",
    "RerunFrom",
    "RunState",
    "RunningStep",
    "StepInfo",
    "Tally",
    "current_run",
    "current_run_var",
    "current_step",
    "current_step_var",
]


@dataclasses.dataclass(frozen=True, slots=True)
class StepInfo:
    """What a step's own code can learn about the step running it (``nd.current_step()``).

    ``idempotency_key`` is stable across retries and restarts: pass it to payment
    APIs and the like so an at-least-once step has an exactly-once effect.
    """

    run_id: str
    step_id: str
    attempt: int
    idempotency_key: str


@dataclasses.dataclass(slots=True)
class LiveStep:
    """A step this process has reached in this run (what the timeline shows)."""

    step_id: str
    name: str
    kind: str
    position: int
    status: str
    replayed: bool
    started_at: float
    ended_at: float | None = None
    attempt: int = 0
    max_attempts: int = 1
    next_at: float | None = None
    input_preview: str | None = None
    error: dict[str, Any] | None = None
    meta: dict[str, Any] | None = None
    output_preview: str | None = None
    output_size: int | None = None
    output: str | None = None  # kept for AI steps only (their response), while the step is in memory

    def to_record(
        self,
        run_id: str,
        *,
        status: StepStatus,
        attempt: int = 0,
        input_hash: str = "",
        output: str | None = None,
        output_tag: str | None = None,
        error: dict[str, Any] | None = None,
        started_at: float | None = None,
        ended_at: float | None = None,
        next_at: float | None = None,
        meta: dict[str, Any] | None = None,
        code_hash: str = "",
    ) -> StepRecord:
        """The journal row of this step now: its identity from here, its state as given."""
        return StepRecord(
            run_id=run_id,
            step_id=self.step_id,
            name=self.name,
            position=self.position,
            kind=self.kind,
            status=status,
            attempt=attempt,
            input_hash=input_hash,
            output=output,
            output_tag=output_tag,
            error=error,
            started_at=self.started_at if started_at is None else started_at,
            ended_at=ended_at,
            next_at=next_at,
            meta=meta,
            code_hash=code_hash,
        )


# What next_id appends to the 2nd, 3rd... step of one name; no user step name may look like it.
_COUNTER_FORM = re.compile(r":[0-9]+\Z")


def _renamed(name: str) -> str:
    """A suggestion for a step name of the counter form: ``fetch:1`` -> ``fetch-1``."""
    head, _, tail = name.rpartition(":")
    return f"{head}-{tail}"


class RunningStep:
    """What ``current_step_var`` holds while a step's code runs; its :class:`StepInfo` is made only when asked for.

    Every attempt of every step sets one, and few step functions ask (a frozen dataclass costs
    a microsecond to build): the StepInfo is built on the first ``nd.current_step()`` and kept.
    """

    __slots__ = ("_info", "attempt", "run_id", "step_id")

    def __init__(self, run_id: str, step_id: str, attempt: int) -> None:
        self.run_id = run_id
        self.step_id = step_id
        self.attempt = attempt
        self._info: StepInfo | None = None

    def info(self) -> StepInfo:
        if self._info is None:
            self._info = StepInfo(self.run_id, self.step_id, self.attempt, f"{self.run_id}/{self.step_id}")
        return self._info


current_run_var: contextvars.ContextVar[RunState | None] = contextvars.ContextVar("nbdurable_run", default=None)
current_step_var: contextvars.ContextVar[RunningStep | None] = contextvars.ContextVar("nbdurable_step", default=None)


def current_run() -> RunState | None:
    return current_run_var.get()


def current_step() -> StepInfo | None:
    """The step whose code is running now, or None outside a step."""
    running = current_step_var.get()
    return None if running is None else running.info()


# Steps that ended here kept in memory for a watching timeline (it shows at most 500): between RECENT_STEPS and
# RECENT_STEPS + RECENT_BATCH of them, the older ones pushed out in batches.
RECENT_STEPS = 500
RECENT_BATCH = 100
# Characters of a step's output a timeline shows, whether the step is read from memory or the journal.
OUTPUT_PREVIEW = 2000


@dataclasses.dataclass(slots=True)
class Tally:
    """Totals of steps no longer held in memory: what the timeline's header adds up."""

    steps: int = 0
    done: int = 0
    ai: int = 0
    tokens_in: int = 0
    tokens_out: int = 0
    cost: float = 0.0
    cost_unknown: bool = False

    def add_all(self, lives: Iterable[LiveStep]) -> None:
        """Count steps in one loop: a watched run pushes a batch of them out every RECENT_BATCH steps.

        Why one loop with local counters (not ``add`` per step): a method call and attribute writes
        per step were a measurable share of the live timeline's cost.
        """
        steps = done = 0
        for live in lives:
            steps += 1
            if live.status == "completed":
                done += 1
            if live.meta:
                self._add_ai(live.meta.get("ai"))
        self.steps += steps
        self.done += done

    def _add_ai(self, info: object) -> None:
        if isinstance(info, dict):
            self.ai += 1
            self.tokens_in += int(info.get("tokens_in") or 0)
            self.tokens_out += int(info.get("tokens_out") or 0)
            cost = info.get("cost")
            if cost is None:
                self.cost_unknown = True
            else:
                self.cost += float(cost)


class ReplayedIds:
    """Which journaled steps a run answered from the journal: a (journaled position, step id) set, held compactly.

    Why: a long replay would otherwise keep a set entry and a string per step (~110 bytes), and
    splitting ``name:k`` ids into one bit per ``k`` cost ~0.8 µs per replayed step. Here each
    position holds the hash of the id replayed there (8 bytes); a second id at a position (a
    function-level retry that took another path) goes to a plain set. Asked by the journal's
    record (position and id), as views are.
    """

    __slots__ = ("_hashes", "_more")

    _UNSET = -1  # no str hashes to -1 (CPython keeps it for errors)
    _MAX_POSITION = 1 << 24  # a journal claiming a larger position (edited) goes to the set

    def __init__(self) -> None:
        self._hashes = array.array("q")
        self._more: set[tuple[int, str]] = set()

    def add(self, position: int, step_id: str) -> None:
        hashes, h = self._hashes, hash(step_id)
        if 0 <= position < len(hashes):
            held = hashes[position]
            if held == h or held == self._UNSET:
                hashes[position] = h
                return
        elif 0 <= position < min(self._MAX_POSITION, 2 * len(hashes) + 64):
            # Doubling: a long replay grows it rarely. Only near its end: an edited journal's step at position
            # 16,000,000 must not make a three-step replay allocate 128 MB (it goes to the set instead).
            hashes.extend(array.array("q", [self._UNSET]) * (max(position + 1, 2 * len(hashes)) - len(hashes)))
            hashes[position] = h
            return
        self._more.add((position, step_id))

    def has(self, position: int, step_id: str) -> bool:
        """Whether the step journaled at ``position`` as ``step_id`` was answered from the journal."""
        hashes = self._hashes
        if 0 <= position < len(hashes) and hashes[position] == hash(step_id):
            return True
        return bool(self._more) and (position, step_id) in self._more

    def __bool__(self) -> bool:
        return bool(self._more) or any(h != self._UNSET for h in self._hashes)


class RerunFrom(BaseException):
    """Raised through the workflow when on_change="rerun" meets a step whose code changed.

    A BaseException so a workflow's ``except Exception`` cannot swallow it.
    """

    def __init__(self, step_id: str) -> None:
        super().__init__(step_id)
        self.step_id = step_id


OutcomeStatus = Literal[FinalStatus, "interrupted", "lost"]


class Outcome(NamedTuple):
    """How a run ended in this process: ``lost`` when another process owns it now (nothing was written)."""

    status: OutcomeStatus
    value: Any
    error: dict[str, Any] | None
    reason: str
    exc: BaseException | None


class RunState:
    """One run executing in this process."""

    def __init__(
        self,
        engine: Engine,
        run_id: str,
        function: Workflow | None,
        *,
        determinism: str = "warn",
        retries: int = 3,
        on_change: str = "warn",
    ) -> None:
        self.engine = engine
        self.run_id = run_id
        self.function = function
        self.determinism = determinism
        self.on_change = on_change
        self.retries = retries
        self.record: RunRecord | None = None
        self.status = "queued"
        self.status_reason: str | None = None
        self.started_at = _clock()
        self.ended_at: float | None = None
        self.warnings: list[dict[str, Any]] = []
        self.wake = asyncio.Event()
        self.task: asyncio.Task[Any] | None = None
        self.done: asyncio.Future[Any] | None = None
        # How the run ended in this process, once it has.
        self.outcome: Outcome | None = None
        self._clear_replay()
        self._init_replay_checks()
        self._init_live_steps()
        self._init_control()

    def _clear_replay(self) -> None:
        """What replay looks steps up in: empty until :meth:`load` fills it (again, on a restart).

        A journaled step is a StepRecord, or the journal's row of a plain completed step (a tuple, see
        ReplaySteps): the executor replays those from the row; :meth:`record_of` makes the record.
        """
        self.journaled: dict[str, StepRecord | tuple[Any, ...]] = {}
        self.by_position: dict[int, StepRecord | tuple[Any, ...]] = {}
        self.to_records: Callable[[Sequence[tuple[Any, ...]]], list[StepRecord]] | None = None
        self.counters: dict[str, int] = {}
        self.position = 0
        # Journaled completed steps not reached yet in this execution (divergence); only the journal's.
        self.unreached: set[str] = set()
        # Outer step id -> the NestedStepError its code met: the step fails even if its code caught it.
        self.nested: dict[str, NestedStepError] = {}

    def _init_replay_checks(self) -> None:
        """What replay notes to tell a divergence (other path, inputs or code) and to answer steps once."""
        self.legacy_names: set[str] = set()  # step names of the counter form that a 0.1.0 journal holds
        self.replayed = ReplayedIds()  # ids of the steps answered from the journal
        self.replaying = False
        self.changed_code: list[str] = []
        self.consumed_seqs: set[int] = set()
        self.unusable_seqs: set[int] = set()  # journaled events a wait skipped (see Engine._unusable)
        self.reported_sites: set[tuple[str, int, str]] = set()
        self.advised = False  # the advice on where to look for a divergence's cause was given

    def _init_live_steps(self) -> None:
        """Steps in flight here, and the ended ones a timeline may still show.

        A step that ends leaves ``live``: kept in ``recent`` while a timeline watches (at most
        RECENT_STEPS, the highest positions), otherwise only counted. Memory per executed step
        is then O(1) with no timeline and bounded with one; views read older steps from the journal.
        """
        self.live: dict[str, LiveStep] = {}
        self.redactors: dict[str, StreamRedactor] = {}  # per streaming step in flight (see stream)
        self.recent: dict[int, LiveStep] = {}
        self.evicted = Tally()  # steps that left `recent`, for the timeline's totals
        self.memory_partial = False  # some step that ended here is in the journal only

    def _init_control(self) -> None:
        """Who may write the run, and what asks it to stop: claims, cancels, deadlines, halts."""
        self.finish_deadline: float | None = None  # Timeouts(finish=...), from the journaled first start
        self.finish_reason = ""
        self.cancel_requested = False
        self.cancel_reason = ""
        self.interrupt_requested = False  # Engine.interrupt (Ctrl-C): stop here, resumable
        self.superseded_by: str | None = None  # on_change="rerun": the run this one continues as
        self.retry_failed = False
        self.change_token = -1
        self.checked_at = 0.0  # when poll_cancel last re-read the run (the slow poll of journals that notify)
        self.released = False  # given up to another process (a worker stopping): its claim is cleared when it stops
        # The fencing epoch of this process's claim on the run (0 until claimed); every write carries it.
        self.epoch = 0
        # Why this run must stop here: its journal failed, or another process claimed it.
        self.halt: BaseException | None = None

    # -- loading ------------------------------------------------------------------------------------

    def load(self, record: RunRecord, steps: ReplaySteps) -> None:
        self.record = record
        self.retry_failed = record.status == "failed"
        journaled, unreached, by_position = self.journaled, self.unreached, self.by_position
        for s in steps.records:
            journaled[s.step_id] = s
            if s.status == "completed" and s.kind != "value":
                unreached.add(s.step_id)
            if s.name == s.step_id and s.step_id[-1:].isdigit() and _COUNTER_FORM.search(s.step_id):
                self.legacy_names.add(s.step_id)  # a 0.1.0 step named like a repeat: it keeps working
            by_position.setdefault(s.position, s)
            if s.meta and "event_seq" in s.meta and s.status == "completed":
                self.consumed_seqs.add(int(s.meta["event_seq"]))
        for row in steps.plain:  # completed "run" steps, as rows (one loop per step of a long replay)
            step_id = row[PLAIN_STEP_ID]
            journaled[step_id] = row
            unreached.add(step_id)
            name = row[PLAIN_NAME]
            if (name is None or name == step_id) and step_id[-1:].isdigit() and _COUNTER_FORM.search(step_id):
                self.legacy_names.add(step_id)
            by_position.setdefault(row[PLAIN_POSITION], row)
        if steps.plain:
            self.to_records = steps.whole
        self.replaying = bool(steps.plain) or any(s.status == "completed" for s in steps.records)

    def restart(self, steps: ReplaySteps) -> None:
        """The body is executed again from the top (a function-level retry): steps replay from ``steps``."""
        assert self.record is not None
        retry_failed = self.retry_failed
        self._clear_replay()
        self.load(self.record, steps)
        self.retry_failed = retry_failed

    def record_of(self, entry: StepRecord | tuple[Any, ...]) -> StepRecord:
        """A journaled step (see :meth:`_clear_replay`) as its StepRecord."""
        if type(entry) is tuple:
            assert self.to_records is not None
            return self.to_records([entry])[0]
        assert isinstance(entry, StepRecord)
        return entry

    def journaled_record(self, step_id: str) -> StepRecord | None:
        """The journaled step ``step_id`` as a StepRecord (None if the journal has none, or it was answered)."""
        entry = self.journaled.get(step_id)
        return None if entry is None else self.record_of(entry)

    def records(self) -> dict[str, StepRecord]:
        """Every journaled step still held, as StepRecords (for a view): rows become records here, once."""
        journaled = self.journaled
        rows = [e for e in journaled.values() if type(e) is tuple]
        if rows:
            assert self.to_records is not None
            for rec in self.to_records(rows):  # one query for all of them
                journaled[rec.step_id] = rec
            for position, entry in list(self.by_position.items()):
                if type(entry) is tuple:
                    self.by_position[position] = journaled.get(entry[PLAIN_STEP_ID]) or self.record_of(entry)
        return cast("dict[str, StepRecord]", journaled)  # every entry is a StepRecord now

    # -- step identity ------------------------------------------------------------------------------

    def next_id(self, name: str) -> tuple[str, int]:
        """The stable id of the next step called ``name`` (``name``, ``name:1``...) and its position.

        Ids are unambiguous because no step name may end in ``:<number>`` (the form given to the
        2nd, 3rd... step of a name), except the ones a 0.1.0 journal of this run already holds.
        """
        outer = current_step_var.get()
        if outer is not None and outer.run_id == self.run_id:
            raise self._nested(outer.step_id, name)
        n = self.counters.get(name)
        if n is None:
            self._check_name(name)
            n = 0
        self.counters[name] = n + 1
        if n == 0:
            step_id = name
        else:
            step_id = f"{name}:{n}"
            if step_id in self.legacy_names:
                raise ConfigError(
                    f"{self.where(step_id)}: this is step {n + 1} named {name!r}, whose id {step_id!r} is also the "
                    f"name of another step this run journaled (nbdurable 0.1.0 let a step be named {step_id!r}), so "
                    f"the two cannot be told apart on replay. Rename the step named {step_id!r} (e.g. "
                    f"{_renamed(step_id)!r}) and start a new run, or rerun this one from before that step."
                )
        position = self.position
        self.position += 1
        if self.unreached:
            self.unreached.discard(step_id)
            if not self.unreached:
                self.unreached = set()  # an emptied set keeps its table: let a long replay's go
        return step_id, position

    def _nested(self, outer: str, name: str) -> NestedStepError:
        """The error for step ``name`` called inside step ``outer``'s function (kept so ``outer`` fails)."""
        err = NestedStepError(
            f"{self.where(outer)}: step {name!r} was called inside the function of step {outer!r}; nested steps "
            f"are not supported (the outer step's one result is journaled, so steps inside it could never replay). "
            f"Call {name!r} from the workflow, before or after {outer!r}, or call its function directly inside "
            f"{outer!r}. Step {outer!r} fails without retries.",
            run_id=self.run_id,
            step_id=outer,
            nested_step=name,
        )
        self.nested.setdefault(outer, err)
        return err

    def _check_name(self, name: str) -> None:
        """Refuse a step name the journal could not store, or one of the form nbdurable gives repeats."""
        if not isinstance(name, str) or not name:
            raise TypeError(f"a step needs a non-empty string name first, got {name!r}")
        if name[-1:].isdigit() and _COUNTER_FORM.search(name) and name not in self.legacy_names:
            raise ConfigError(
                f"{self.where()}: step name {name!r} ends in ':<number>', the form nbdurable gives the 2nd, 3rd... "
                f"step of one name ('fetch', 'fetch:1', 'fetch:2'), so two steps could share an id. Rename it, "
                f"e.g. {_renamed(name)!r}."
            )
        if not name.isascii() and not storable_text(name):
            raise ConfigError(
                f"{self.where()}: the step name {name!r} is not valid Unicode text (it holds a lone surrogate, as a "
                "file name that is not UTF-8 gives): name steps with plain text."
            )

    def stream(self, step_id: str, text: str) -> None:
        """Show ``text`` after the live output of a step in flight; nothing is journaled.

        Redacted here across pieces: a secret split over two tokens is masked too (a tail that could
        still be the start of one is held back until the next piece says).
        """
        redactor = self.redactors.get(step_id)
        if redactor is None:
            redactor = self.redactors[step_id] = StreamRedactor()
        text = redactor.feed(text)
        if not text:
            return
        live = self.live.get(step_id)
        if live is not None:
            # Only the tail is kept: a long stream must not grow the process's memory or the widget's payload.
            live.output_preview = ((live.output_preview or "") + text)[-2000:]
            live.output_size = (live.output_size or 0) + len(text)
        self.engine.notify("stream", self.run_id, step_id, text)

    def add_warning(self, text: str, step_id: str | None = None) -> None:
        """Note a warning on the run: its timeline shows it and the journal keeps it when the run ends."""
        self.warnings.append({"message": text, "step_id": step_id})

    def where(self, step_id: str | None = None) -> str:
        if step_id is None:
            return f"run {self.run_id!r}"
        return f"run {self.run_id!r}, step {step_id!r}"

    def poll_cancel(self) -> None:
        """Raise if the run was cancelled (here, elsewhere, by its timeout) or must stop here."""
        self.engine.poll_cancel(self)

    def check_cancelled(self) -> None:
        if self.interrupt_requested:
            raise asyncio.CancelledError(f"run {self.run_id!r} was interrupted")
        if self.cancel_requested:
            raise RunCancelledError(
                f"run {self.run_id!r} was cancelled{': ' + self.cancel_reason if self.cancel_reason else ''}",
                run_id=self.run_id,
                reason=self.cancel_reason,
            )

    # -- memory -------------------------------------------------------------------------------------

    def step_ended(self, live: LiveStep) -> None:
        """A step executed here ended (its row is committed): stop holding it, unless a timeline watches.

        Without a watcher nothing of the step stays (the journal has it). With one, the last
        RECENT_STEPS steps (at least) stay, so the timeline's few updates a second read nothing; the ones pushed
        out are only counted, and they are older than any row the timeline shows.
        """
        self.live.pop(live.step_id, None)
        redactor = self.redactors.pop(live.step_id, None)
        if redactor is not None:
            rest = redactor.flush()  # the tail held back in case it began a secret: the stream is over
            if rest:
                self.engine.notify("stream", self.run_id, live.step_id, rest)
        self.journaled.pop(live.step_id, None)  # a retrying/sleeping row from before: superseded now
        if not self.engine.feed.subscribers:
            self.memory_partial = True
            return
        self.recent[live.position] = live
        if len(self.recent) > RECENT_STEPS + RECENT_BATCH:
            self._evict_recent()

    def _evict_recent(self) -> None:
        """Keep the RECENT_STEPS highest positions; the older ones only add to the totals.

        Done once per RECENT_BATCH steps with one sort (steps end in about position order), instead of
        a heap push and pop on every step a timeline watches.
        """
        recent = self.recent
        pop = recent.pop
        self.evicted.add_all([pop(position) for position in sorted(recent)[: len(recent) - RECENT_STEPS]])

    def replayed_row(self, row: tuple[Any, ...], position: int) -> None:
        """A plain row was answered from the journal (``executor.replay_run``): noted replayed, then a watching
        view is told with the step's record, or the row is let go (:meth:`forget`)."""
        step_id = row[PLAIN_STEP_ID]
        self.replayed.add(row[PLAIN_POSITION], step_id)
        if self.engine.feed.subscribers:
            self.engine.notify("step_replayed", self.run_id, step_id, record=self.records()[step_id])
        else:
            self.forget(step_id, position)

    def forget(self, step_id: str, position: int) -> None:
        """A journaled step was answered and no timeline watches: drop its record (views page it from the journal).

        Never looked up again: an id is reached once per execution, and positions only grow.
        """
        self.journaled.pop(step_id, None)
        self.by_position.pop(position, None)
        self.memory_partial = True
        if not self.journaled:
            self.journaled = {}  # an emptied dict keeps its table: let a long replay's go
        if not self.by_position:
            self.by_position = {}

    def release_memory(self) -> None:
        """The run ended here: keep what handles and views use (outcome, replayed ids, warnings), drop the rest.

        Views of an ended run read its steps from the journal.
        """
        self.journaled = {}
        self.by_position = {}
        self.counters = {}
        self.live = {}
        self.redactors = {}
        self.recent = {}
        self.unreached = set()
        self.consumed_seqs = set()
        self.reported_sites = set()
        self.memory_partial = True

    # -- divergence ---------------------------------------------------------------------------------

    def diverged(
        self,
        message: str,
        step_id: str | None,
        advice: str = "",
        *,
        journaled_step: str | None = None,
        found_step: str | None = None,
    ) -> None:
        """Report a replay that differs from the journal: a warning at the user's line, or an error when strict.

        ``advice`` (where to look for the cause) is given once per run, with the first report.
        """
        if advice and not self.advised:
            self.advised = True
            message = f"{message} {self._cause(advice)}"
        text = f"{self.where(step_id)}: {message}"
        self.add_warning(text, step_id)
        self.engine.notify("warning", self.run_id, step_id, text)
        if self.determinism == "off":
            return
        if self.determinism == "strict":
            raise NonDeterminismError(
                text + " (determinism='strict' stops here; use determinism='warn' to keep going with the journal)",
                run_id=self.run_id,
                step_id=step_id,
                journaled_step=journaled_step,
                found_step=found_step,
            )
        warn_at_user(ReplayDeterminismWarning(text), task=self.task, code=workflow_code(self.function))

    def _cause(self, advice: str) -> str:
        """The advice, or the lines the static check already named in this run's code (the likely cause)."""
        code = workflow_code(self.function)
        lines = sorted(linted_lines(code.co_filename)) if code is not None else []
        if not lines:
            return advice
        shown = ", ".join(str(n) for n in lines[:8]) + (" ..." if len(lines) > 8 else "")
        return f"The likely cause is code the determinism check reported at line(s) {shown}; see its fixes."

    def check_replayed(self, rec: StepRecord, position: int, input_hash: str, preview: str | None) -> None:
        if rec.input_hash and input_hash and rec.input_hash != input_hash:
            before = (rec.meta or {}).get("input", "?")
            self.diverged(
                f"reached with other inputs than journaled (journaled {before}, now {preview}); the journaled "
                f"result is used. If the inputs should differ, rerun from this step: nd.rerun({self.run_id!r}, "
                f"from_step={rec.step_id!r})",
                rec.step_id,
                advice="If they should not, look for code outside steps that computes them from the clock, random "
                "numbers, files or the environment.",
            )

    def check_new(self, step_id: str, position: int) -> None:
        entry = self.by_position.get(position)
        if entry is None:
            return
        # A plain row is a completed step: its id is all that is needed (no record built for it).
        if type(entry) is tuple:
            other_id, completed = entry[PLAIN_STEP_ID], True
        else:
            other = self.record_of(entry)
            other_id, completed = other.step_id, other.status == "completed"
        if other_id != step_id and completed:
            self.diverged(
                f"new step {step_id!r} reached where the journal has {other_id!r} (position {position}); "
                "the workflow took another path than when the journal was written.",
                step_id,
                advice="Look for code outside steps that reads the clock, random numbers, files or the environment.",
                journaled_step=other_id,
                found_step=step_id,
            )

    def _position_of(self, step_id: str) -> int:
        entry = self.journaled.get(step_id)
        if entry is None:
            return 0
        return entry[PLAIN_POSITION] if type(entry) is tuple else self.record_of(entry).position

    def check_unreached(self) -> None:
        missing = sorted(self.unreached, key=self._position_of)
        if missing:
            shown = ", ".join(repr(m) for m in missing[:5]) + (" ..." if len(missing) > 5 else "")
            self.diverged(
                f"{len(missing)} journaled step(s) were never reached on replay: {shown}. The workflow took "
                "another path than when the journal was written.",
                None,
                advice="Look for code outside steps that reads the clock, random numbers, files or the environment.",
                journaled_step=missing[0],
            )
