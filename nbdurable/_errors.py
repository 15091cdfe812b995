"""The exceptions and warnings nbdurable raises.

One root, :class:`NbDurableError`, so ``except nd.NbDurableError`` catches every
failure that comes from the library itself (not from user code inside a step).
Every message says what happened, where (run id, step id) and what to do next.
The one exception outside it is :class:`RunCancelledError`, a cancel rather than a
failure: a ``BaseException`` so that ``except Exception`` cannot swallow it.

The tree::

    NbDurableError
    ├── ConfigError                 bad option, bad duration, bad argument
    │   ├── ExpressionError         an ``if_exp`` that does not parse or evaluate
    │   └── InvalidEventError       an event refused at the door (not storable JSON, too big, bad name)
    ├── LintError                   source the determinism linter cannot read or parse
    ├── JournalError                the journal cannot be opened, read or written
    │   ├── JournalVersionError     written by a newer nbdurable
    │   ├── JournalBusyError        locked by another process for too long
    │   │   └── JournalUnavailableError  the journal's database server cannot be reached (retried the same way)
    │   ├── JournalFullError        the disk (or a file size limit or quota) is full
    │   ├── JournalReadOnlyError    the file or its folder cannot be written here
    │   ├── JournalCorruptError     the file is damaged (or not an SQLite database)
    │   ├── JournalPermissionError  owned by another user, writable by others, or a symlink
    │   └── JournalRecordError      a run or step row holds what nbdurable never writes (edited, damaged)
    ├── SerializationError          a step result that cannot be stored
    ├── FunctionNotFoundError       resuming a run whose code is not defined here
    ├── UntrustedSourceError        a journal's cell source not signed by this user: never run
    ├── RunOwnedElsewhereError      the run is being executed by another live process
    │   └── ClaimLostError          this process's claim on a run was taken over: it writes no more
    ├── StepError                   a step failed after its retries (original type kept)
    ├── RunFailedError              awaiting the result of a failed run
    ├── RunInterruptedError         awaiting a run whose process stopped part-way
    ├── InvokeTimeoutError          ``step.invoke`` timed out
    ├── NonDeterminismError         replay diverged and ``determinism="strict"``
    ├── NonRetriableError           raised by user code: fail the step (or the run) at once
    │   └── NestedStepError         a step called inside another step's function
    ├── RetryAfterError             raised by user code: retry after a delay
    └── server.ApiError             an error answer of the Jupyter server's REST API (also a tornado
                                    HTTPError; only raised inside the server's handlers)

    BaseException
    └── RunCancelledError           the run was cancelled (in its workflow, and awaiting its result)

    UserWarning
    ├── ReplayDeterminismWarning    replay may differ from the original run
    └── SerializationWarning        a journaled value read back as plain JSON (its class is not declared here)
"""

from __future__ import annotations

import datetime as _dt

from ._timespec import DurationError, deadline_seconds, duration_seconds

__all__ = [
    "ClaimLostError",
    "ConfigError",
    "ExpressionError",
    "FunctionNotFoundError",
    "InvalidEventError",
    "InvokeTimeoutError",
    "JournalBusyError",
    "JournalCorruptError",
    "JournalError",
    "JournalFullError",
    "JournalPermissionError",
    "JournalReadOnlyError",
    "JournalRecordError",
    "JournalUnavailableError",
    "JournalVersionError",
    "LintError",
    "NbDurableError",
    "NestedStepError",
    "NonDeterminismError",
    "NonRetriableError",
    "ReplayDeterminismWarning",
    "RetryAfterError",
    "RunCancelledError",
    "RunFailedError",
    "RunInterruptedError",
    "RunOwnedElsewhereError",
    "SerializationError",
    "SerializationWarning",
    "StepError",
    "UntrustedSourceError",
]


class NbDurableError(Exception):
    """Root of every exception nbdurable raises itself."""


class ConfigError(NbDurableError, ValueError):
    """An option, argument or duration is not valid.

    Also a ValueError so code that validates input generically still catches it.
    """


class ExpressionError(ConfigError):
    """An ``if_exp`` expression that cannot be parsed or evaluated.

    Carries the expression and the 0-based character position of the problem so
    the message can point at it with a caret.
    """

    def __init__(self, message: str, *, expression: str = "", position: int | None = None) -> None:
        self.expression = expression
        self.position = position
        if expression and position is not None:
            # Show the line holding the problem with a caret under it (expressions may span lines).
            start = expression.rfind("\n", 0, position) + 1
            end = expression.find("\n", position)
            line = expression[start : end if end != -1 else len(expression)]
            caret = " " * (position - start) + "^"
            message = f"{message}\n  {line}\n  {caret}"
        super().__init__(message)


class InvalidEventError(ConfigError):
    """An event refused before it was journaled (data not storable as JSON, too big or deep, a bad name or id).

    Refusing it at the door keeps a bad event from failing, on every resume, the runs that wait for it.
    """


class LintError(NbDurableError, ValueError):
    """The input cannot be linted: missing or unreadable file, bad notebook JSON, syntax error."""

    def __init__(self, message: str, *, path: str | None = None, line: int | None = None) -> None:
        super().__init__(message)
        self.path = path
        self.line = line


class JournalError(NbDurableError):
    """The journal cannot be opened, read or written."""


class JournalVersionError(JournalError):
    """The journal was written by a newer release of nbdurable than this one."""


class JournalBusyError(JournalError):
    """Another process held the journal's write lock for longer than the busy timeout."""


class JournalUnavailableError(JournalBusyError):
    """The journal's database server (PostgreSQL) cannot be reached: down, restarting, or the network is.

    A JournalBusyError because it is handled the same way: writes are retried from the
    event loop for the busy timeout, then the run stops, resumable from its last commit.
    """


class JournalFullError(JournalError):
    """A write failed for lack of room: a full disk, a file size limit (``ulimit -f``) or a quota."""


class JournalReadOnlyError(JournalError):
    """The journal (its file, its folder or the file system) cannot be written by this process.

    Reading still works: such a journal opens read-only.
    """


class JournalCorruptError(JournalError):
    """The journal file is damaged, or is not an SQLite database at all."""


class JournalPermissionError(JournalError):
    """The journal is refused before use: a symlink, owned by another user, or writable by others.

    As ssh does with its keys; the message names the override.
    """


class JournalRecordError(JournalError):
    """A run or step in the journal holds values nbdurable never writes: edited by hand, or damaged.

    Reading shows such a row as unreadable (the timeline, ``list``, ``show``);
    running a run that has one is refused, naming the run, the step and the columns.
    """


class SerializationError(NbDurableError, TypeError):
    """A value cannot be stored in, or restored from, the journal."""


class FunctionNotFoundError(NbDurableError, LookupError):
    """A run cannot resume because its workflow function is not defined in this process."""


class UntrustedSourceError(NbDurableError):
    """A run's cell source in the journal is not signed by this user, so it is not rebuilt and run.

    A journal is data: resuming a ``%%durable`` cell from it would run whatever source it holds. Only
    source this user's kernel signed when it started the run is run again (see ``_cellsig``).
    """


class RunOwnedElsewhereError(NbDurableError):
    """The run is being executed by another live process; two executors would race."""


class ClaimLostError(RunOwnedElsewhereError):
    """Another process claimed a run this process was executing; this process writes nothing more of it.

    The journal refused a write because the run's fencing epoch had moved on (its
    owner here was taken for dead, or the run was resumed elsewhere). ``run_ids``
    lists the runs concerned; ``owners`` maps each to its owner now.
    """

    def __init__(
        self, message: str, *, run_ids: tuple[str, ...] = (), owners: dict[str, str | None] | None = None
    ) -> None:
        super().__init__(message)
        self.run_ids = run_ids
        self.owners = dict(owners or {})


class StepError(NbDurableError):
    """A step failed for good (after its retries).

    Raised into the workflow both on the first run and on replay, so code that
    catches it behaves the same either way. The original exception is kept as
    ``__cause__`` when it happened in this process; its type name, message and
    traceback text are always available, also after a restart.

    For a ``step.invoke`` whose child run failed, the fields are the child's own error
    (its type name, message and traceback), ``child_run_id`` names the child, and
    ``error_class`` is the child's exception class when the child failed in this
    process (a class named by the journal is never looked up or imported).
    ``traceback_full`` keeps nbdurable's own frames too, for debugging.
    """

    def __init__(
        self,
        message: str,
        *,
        run_id: str = "",
        step_id: str = "",
        error_type: str = "",
        error_message: str = "",
        traceback: str = "",
        traceback_full: str = "",
        child_run_id: str | None = None,
        error_class: type[BaseException] | None = None,
    ) -> None:
        super().__init__(message)
        self.run_id = run_id
        self.step_id = step_id
        self.error_type = error_type
        self.error_message = error_message
        self.traceback = traceback
        self.traceback_full = traceback_full or traceback
        self.child_run_id = child_run_id
        self.error_class = error_class


class RunFailedError(NbDurableError):
    """The run failed; the original exception's type name, message and traceback are kept.

    ``traceback`` shows the user's frames (nbdurable's own are left out); ``traceback_full``
    is the whole traceback, for debugging nbdurable itself.
    """

    def __init__(
        self,
        message: str,
        *,
        run_id: str = "",
        error_type: str = "",
        error_message: str = "",
        traceback: str = "",
        traceback_full: str = "",
    ) -> None:
        super().__init__(message)
        self.run_id = run_id
        self.error_type = error_type
        self.error_message = error_message
        self.traceback = traceback
        self.traceback_full = traceback_full or traceback


class RunCancelledError(BaseException):
    """The run was cancelled: raised into its workflow at the next step, and by awaiting its result.

    A BaseException, like ``asyncio.CancelledError`` and ``KeyboardInterrupt``: workflow code's
    ``except Exception`` must not swallow a cancel and let the run complete. Catch it by name
    (``except nd.RunCancelledError``) to clean up; the run ends cancelled whatever the handler does.
    """

    def __init__(self, message: str, *, run_id: str = "", reason: str = "") -> None:
        super().__init__(message)
        self.run_id = run_id
        self.reason = reason


class RunInterruptedError(NbDurableError):
    """The run's process stopped part-way (kill, kernel restart, Ctrl-C); it can be resumed."""

    def __init__(self, message: str, *, run_id: str = "") -> None:
        super().__init__(message)
        self.run_id = run_id


class InvokeTimeoutError(NbDurableError, TimeoutError):
    """A child run started by ``step.invoke`` did not finish within its timeout."""


class NonDeterminismError(NbDurableError):
    """Replay took another path than the journal, and the run asked for ``determinism="strict"``.

    ``run_id`` and ``step_id`` say where (``step_id`` is None when the run as a whole
    diverged: steps never reached, code changed); ``journaled_step`` is the step the
    journal has at that place, ``found_step`` the one the code reached instead.
    """

    def __init__(
        self,
        message: str,
        *,
        run_id: str = "",
        step_id: str | None = None,
        journaled_step: str | None = None,
        found_step: str | None = None,
    ) -> None:
        super().__init__(message)
        self.run_id = run_id
        self.step_id = step_id
        self.journaled_step = journaled_step
        self.found_step = found_step


class NonRetriableError(NbDurableError):
    """Raise from a step to fail it at once, without using its remaining retries.

    Raised in the workflow's body (outside steps), it fails the run at once, without
    the function-level retries.
    """


class NestedStepError(NonRetriableError):
    """A step was called inside another step's function: nested steps are not supported.

    The outer step's function runs once and its one result is journaled, so steps it
    calls could never replay. The outer step fails at once (not retried), even if its
    code catches this error. ``step_id`` is the outer step, ``nested_step`` the inner one.
    """

    def __init__(self, message: str, *, run_id: str = "", step_id: str = "", nested_step: str = "") -> None:
        super().__init__(message)
        self.run_id = run_id
        self.step_id = step_id
        self.nested_step = nested_step


class RetryAfterError(NbDurableError):
    """Raise from a step (or the workflow's body) to retry it after ``delay`` instead of the usual backoff.

    ``delay`` is seconds, a timedelta, a duration string ("30s", "2m") or an aware
    datetime to retry at.
    """

    def __init__(
        self, message: str, delay: float | str | _dt.timedelta | _dt.datetime, *, cause: BaseException | None = None
    ) -> None:
        super().__init__(message)
        # Checked here so a bad delay points at the raise, not at the engine's retry loop.
        try:
            if isinstance(delay, _dt.datetime):
                deadline_seconds(delay, what="RetryAfterError delay")
            else:
                duration_seconds(delay, what="RetryAfterError delay")
        except DurationError as exc:
            raise ConfigError(str(exc)) from None
        self.delay = delay
        if cause is not None:
            self.__cause__ = cause


class ReplayDeterminismWarning(UserWarning):
    """Code outside steps did something that will differ on replay, or replay already differed."""


class SerializationWarning(UserWarning):
    """A journaled value names a class this code does not declare, so it is read back as plain JSON.

    A journal never chooses which class is built; the message says how to declare
    the class (a return annotation, ``output_type=``, ``nd.register_type``).
    """
