"""Flow-control options, as users declare them: ``nd.Concurrency``, ``nd.Throttle``, ``nd.RateLimit``,
``nd.Timeouts``, ``nd.CancelOn``, ``nd.Debounce``, ``nd.Priority``, ``nd.Singleton``, ``nd.BatchEvents``
and shared ``nd.Limit``s.

Plain frozen values checked when made (bad input is refused where it is written);
the controller (``_controller``) enforces them through the journal.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any, Literal

from .._duration import Duration, parse_duration
from .._errors import ConfigError

__all__ = [
    "BatchEvents",
    "CancelOn",
    "Concurrency",
    "Debounce",
    "Limit",
    "Priority",
    "RateLimit",
    "Singleton",
    "Throttle",
    "Timeouts",
    "cancel_on_options",
    "key_of",
    "limits",
]


def _check_key(key: str | None, what: str) -> None:
    if key is not None:
        from ..expr import compile_expression

        compile_expression(key, allowed_roots=("event",))


def _positive(n: int, what: str) -> None:
    if not isinstance(n, int) or isinstance(n, bool) or n < 1:
        raise ConfigError(f"{what} must be a whole number of 1 or more, got {n!r}")


@dataclasses.dataclass(frozen=True)
class Concurrency:
    """At most ``limit`` runs execute at once (per value of ``key``, an expression over the event).

    Runs that durably sleep or wait for an event give their slot back meanwhile.
    """

    limit: int
    key: str | None = None

    def __post_init__(self) -> None:
        _positive(self.limit, "Concurrency(limit=...)")
        _check_key(self.key, "Concurrency(key=...)")


@dataclasses.dataclass(frozen=True)
class Throttle:
    """At most ``limit`` run starts per ``period`` (per ``key``); later starts are delayed, never dropped."""

    limit: int
    period: Duration
    key: str | None = None

    def __post_init__(self) -> None:
        _positive(self.limit, "Throttle(limit=...)")
        parse_duration(self.period, what="Throttle(period=...)")
        _check_key(self.key, "Throttle(key=...)")


@dataclasses.dataclass(frozen=True)
class RateLimit:
    """At most ``limit`` runs per ``period`` (per ``key``); the rest are skipped, and journaled as "skipped"."""

    limit: int
    period: Duration
    key: str | None = None

    def __post_init__(self) -> None:
        _positive(self.limit, "RateLimit(limit=...)")
        parse_duration(self.period, what="RateLimit(period=...)")
        _check_key(self.key, "RateLimit(key=...)")


@dataclasses.dataclass(frozen=True)
class Singleton:
    """At most one run of the function per ``key`` at a time, across every process on the journal.

    A new run while one runs is ``mode="skip"``: ended ``skipped``, with the running run named in
    its reason; or ``mode="cancel"``: the running run is cancelled and the new one runs.
    """

    key: str | None = None
    mode: Literal["skip", "cancel"] = "skip"

    def __post_init__(self) -> None:
        if self.mode not in ("skip", "cancel"):
            raise ConfigError(f"Singleton(mode=...) must be 'skip' or 'cancel', got {self.mode!r}")
        _check_key(self.key, "Singleton(key=...)")


@dataclasses.dataclass(frozen=True)
class BatchEvents:
    """One run receives up to ``max_size`` events (``ctx.events``), per ``key``.

    The run starts when its batch is full or ``timeout`` after its first event, whichever
    comes first. Events and batches live in the journal, so a batch survives a restart.
    """

    max_size: int
    timeout: Duration
    key: str | None = None

    def __post_init__(self) -> None:
        _positive(self.max_size, "BatchEvents(max_size=...)")
        parse_duration(self.timeout, what="BatchEvents(timeout=...)")
        _check_key(self.key, "BatchEvents(key=...)")


@dataclasses.dataclass(frozen=True)
class Timeouts:
    """Cancel a run queued longer than ``start``, or running longer than ``finish`` (from its first start)."""

    start: Duration | None = None
    finish: Duration | None = None

    def __post_init__(self) -> None:
        if self.start is not None:
            parse_duration(self.start, what="Timeouts(start=...)")
        if self.finish is not None:
            parse_duration(self.finish, what="Timeouts(finish=...)")


@dataclasses.dataclass(frozen=True)
class CancelOn:
    """An event named ``event`` cancels matching runs (``if_exp`` over ``event`` and ``async``) within ``timeout``."""

    event: str
    if_exp: str | None = None
    timeout: Duration | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.event, str) or not self.event:
            raise ConfigError(f"CancelOn(event=...) must be an event name, got {self.event!r}")
        if self.if_exp is not None:
            from ..expr import compile_expression

            compile_expression(self.if_exp)
        if self.timeout is not None:
            parse_duration(self.timeout, what="CancelOn(timeout=...)")


@dataclasses.dataclass(frozen=True)
class Debounce:
    """Start a run only after ``period`` without a new event for its ``key``; it gets the last event."""

    period: Duration
    key: str | None = None

    def __post_init__(self) -> None:
        parse_duration(self.period, what="Debounce(period=...)")
        _check_key(self.key, "Debounce(key=...)")


@dataclasses.dataclass(frozen=True)
class Priority:
    """``run``: an expression over the event giving seconds of priority (higher starts sooner)."""

    run: str

    def __post_init__(self) -> None:
        from ..expr import compile_expression

        compile_expression(self.run, allowed_roots=("event",))


_limits: dict[str, Limit] = {}


def limits() -> dict[str, Limit]:
    """Shared step limits defined in this process, by name."""
    return _limits


@dataclasses.dataclass(frozen=True)
class Limit:
    """A limit shared by every process on the journal, e.g. a model API's quota.

    ``step.ai`` calls use the Limit named after their provider ("openai", "anthropic")
    when one exists; any step uses one with ``step.run(..., limit="name")``.
    """

    name: str
    requests_per_minute: int | None = None
    tokens_per_minute: int | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise ConfigError(f"Limit needs a name, got {self.name!r}")
        if self.requests_per_minute is None and self.tokens_per_minute is None:
            raise ConfigError(f"Limit({self.name!r}) needs requests_per_minute and/or tokens_per_minute")
        if self.requests_per_minute is not None:
            _positive(self.requests_per_minute, "Limit(requests_per_minute=...)")
        if self.tokens_per_minute is not None:
            _positive(self.tokens_per_minute, "Limit(tokens_per_minute=...)")
        _limits[self.name] = self


def key_of(expr: str | None, event: dict[str, Any]) -> str:
    """The key a flow option's ``key`` expression gives for an event ("" without one)."""
    if expr is None:
        return ""
    from ..expr import evaluate_key

    return evaluate_key(expr, {"event": event}, allowed_roots=("event",))


def cancel_on_options(specs: Sequence[CancelOn], created_at: float) -> list[dict[str, Any]]:
    """The journaled form of cancel_on, so any process (a CLI, another kernel) can apply it."""
    out = []
    for spec in specs:
        deadline = None if spec.timeout is None else created_at + parse_duration(spec.timeout)
        out.append({"event": spec.event, "if_exp": spec.if_exp, "deadline": deadline})
    return out
