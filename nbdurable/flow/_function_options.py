"""A workflow function's options as one typed, frozen object: what ``@nd.function(...)`` was given, checked.

``@nd.function``, ``nd.Function``, flow control and the engine all read the same
:class:`FunctionOptions`, so an option is declared once (:class:`FunctionArgs` types the
keywords users write, :meth:`FunctionOptions.parse` checks and normalizes them) instead of
being repeated in every signature that passes it on. It sits in ``flow`` because flow
control (below the workflow API) reads it, and the workflow API builds it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Literal, TypedDict, TypeVar

from .._errors import ConfigError
from ._options import BatchEvents, CancelOn, Concurrency, Debounce, Priority, RateLimit, Singleton, Throttle, Timeouts

__all__ = [
    "Determinism",
    "FunctionArgs",
    "FunctionOptions",
    "LintMode",
    "OnChange",
    "Placement",
    "check_placement",
    "storable_text",
]

Determinism = Literal["warn", "strict", "off"]
OnChange = Literal["warn", "rerun", "error"]
LintMode = Literal["warn", "off", "error"]
Placement = Literal["here", "workers"]
T = TypeVar("T")


class FunctionArgs(TypedDict, total=False):
    """The keywords of ``@nd.function(...)`` besides ``id``, as users write them (one or a list where noted)."""

    trigger: str | Sequence[str] | None
    retries: int
    determinism: Determinism
    on_change: OnChange
    lint: LintMode
    concurrency: Concurrency | Sequence[Concurrency] | None
    throttle: Throttle | None
    rate_limit: RateLimit | None
    timeouts: Timeouts | None
    cancel_on: CancelOn | Sequence[CancelOn] | None
    debounce: Debounce | None
    priority: Priority | None
    on: Placement
    queue: str
    on_failure: Callable[..., Awaitable[Any]] | None
    singleton: Singleton | None
    batch_events: BatchEvents | None


@dataclasses.dataclass(frozen=True)
class FunctionOptions:
    """A workflow function's options, checked: lists as tuples, one trigger as a tuple of one.

    Build it with :meth:`parse` (which names the function and the option in its errors);
    :meth:`replace` returns a checked copy with some options changed.
    """

    triggers: tuple[str, ...] = ()
    retries: int = 3
    determinism: Determinism = "warn"
    on_change: OnChange = "warn"
    lint: LintMode = "warn"
    concurrency: tuple[Concurrency, ...] = ()
    throttle: Throttle | None = None
    rate_limit: RateLimit | None = None
    timeouts: Timeouts | None = None
    cancel_on: tuple[CancelOn, ...] = ()
    debounce: Debounce | None = None
    priority: Priority | None = None
    on: Placement = "here"
    queue: str = "default"
    on_failure: Callable[..., Awaitable[Any]] | None = None
    singleton: Singleton | None = None
    batch_events: BatchEvents | None = None

    @classmethod
    def parse(cls, fn_id: str, /, **args: Any) -> FunctionOptions:
        """Check the keywords given to ``@nd.function(id=fn_id, ...)``; a ConfigError names the option and the fix."""
        unknown = sorted(set(args) - set(FunctionArgs.__annotations__))
        if unknown:
            raise ConfigError(f"@nd.function(id={fn_id!r}) takes no option {', '.join(unknown)}")
        trigger = args.pop("trigger", None)
        options = cls(
            triggers=_triggers(trigger, fn_id),
            concurrency=_tuple_of(args.pop("concurrency", None), Concurrency, fn_id, "concurrency"),
            cancel_on=_tuple_of(args.pop("cancel_on", None), CancelOn, fn_id, "cancel_on"),
            **args,
        )
        options.check(fn_id)
        return options

    def replace(self, fn_id: str, **changes: Any) -> FunctionOptions:
        """A copy with ``changes`` (as :meth:`parse` takes them), checked again."""
        current = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name != "triggers"}
        return FunctionOptions.parse(fn_id, **{"trigger": self.triggers, **current, **changes})

    @property
    def has_flow_control(self) -> bool:
        """Whether runs must be admitted by flow control (slots, limits, deadlines) before they execute."""
        return bool(
            self.concurrency
            or self.throttle
            or self.rate_limit
            or self.timeouts
            or self.debounce
            or self.singleton
            or self.batch_events
        )

    def check(self, fn_id: str) -> None:
        """Refuse a value of the wrong type or out of range, naming the function, the option and the fix."""
        where = f"@nd.function(id={fn_id!r})"
        if not isinstance(self.retries, int) or isinstance(self.retries, bool) or self.retries < 0:
            raise ConfigError(f"{where}: retries must be an integer >= 0, got {self.retries!r}")
        _choice(where, "determinism", self.determinism, ("warn", "strict", "off"))
        _choice(where, "on_change", self.on_change, ("warn", "rerun", "error"))
        _choice(where, "lint", self.lint, ("warn", "off", "error"))
        for name, cls in _SINGLE.items():
            _one_of(getattr(self, name), cls, fn_id, name)
        check_placement(self.on, fn_id)
        if not isinstance(self.queue, str) or not self.queue.strip() or not storable_text(self.queue):
            raise ConfigError(f"{where}: queue must be a non-empty name, got {self.queue!r}")
        if self.batch_events is not None and self.debounce is not None:
            raise ConfigError(
                f"{where}: batch_events and debounce cannot go together (each decides when a run "
                "starts and with which events); choose one."
            )


_SINGLE: dict[str, type] = {
    "throttle": Throttle,
    "rate_limit": RateLimit,
    "timeouts": Timeouts,
    "debounce": Debounce,
    "priority": Priority,
    "singleton": Singleton,
    "batch_events": BatchEvents,
}


def check_placement(on: Any, fn_id: str) -> Placement:
    """``on=`` as given to ``@nd.function`` or ``fn.start``: "here" or "workers"."""
    if on not in ("here", "workers"):
        raise ConfigError(
            f"@nd.function(id={fn_id!r}): on= is 'here' (this process) or 'workers' (worker processes), got {on!r}"
        )
    return on  # type: ignore[no-any-return]


def storable_text(text: str) -> bool:
    """Whether ``text`` is valid Unicode (no lone surrogates), as every journal column must be."""
    if text.isascii():
        return True
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _choice(where: str, name: str, value: Any, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        said = ", ".join(repr(a) for a in allowed[:-1]) + f" or {allowed[-1]!r}"
        raise ConfigError(f"{where}: {name} must be {said}, got {value!r}")


def _triggers(trigger: Any, fn_id: str) -> tuple[str, ...]:
    if trigger is None:
        triggers: tuple[Any, ...] = ()
    elif isinstance(trigger, str):
        triggers = (trigger,)
    else:
        triggers = tuple(trigger)
    for t in triggers:
        if not isinstance(t, str) or not t:
            raise ConfigError(f"@nd.function(id={fn_id!r}): each trigger must be an event name, got {t!r}")
    return triggers


def _one_of(value: Any, cls: type[T], fn_id: str, name: str) -> T | None:
    if value is not None and not isinstance(value, cls):
        raise ConfigError(f"@nd.function(id={fn_id!r}): {name}= takes nd.{cls.__name__}(...), got {value!r}")
    return value


def _tuple_of(value: Any, cls: type[T], fn_id: str, name: str) -> tuple[T, ...]:
    if value is None:
        return ()
    if isinstance(value, cls):
        items = [value]
    elif isinstance(value, (list, tuple)):
        items = list(value)
    else:
        raise ConfigError(
            f"@nd.function(id={fn_id!r}): {name}= takes nd.{cls.__name__}(...) or a list of them, got {value!r}"
        )
    for item in items:
        _one_of(item, cls, fn_id, name)
    return tuple(items)
