"""Show a run's timeline in the cell that started it, fed by the engine's change feed.

``TimelineDisplay`` shows the live widget (``nbdurable.notebook._widget``) while a run goes
on and, when it ends, replaces the same output with the final snapshot, static HTML
and text, which every viewer can show with no kernel (saved widget state is
unreliable: a reopened notebook shows "model not found"). Where no widget can be
shown (anywidget cannot be imported, the widget's JavaScript is missing, or no
front end has drawn the widget a moment after it was displayed) the static timeline
is shown instead and updated in place (``update_display_data``), at most once a
second, so a cell never shows nothing.

Notices are coalesced (a few updates a second) and a snapshot is built only when an
update is actually sent, so a long run with the timeline open costs little more than
one without. Buttons act through the engine: send the awaited event, cancel, rerun
from a step.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any, Literal, TypedDict

from ..journal import FINAL_STATUSES
from ..timeline._render import bound_snapshot, is_terminal, timeline_mimebundle

if TYPE_CHECKING:
    from ..engine._feed import Notice
    from ..engine._handle import RunHandle
    from ._widget import TimelineWidget

__all__ = [
    "TIMELINE_ROWS",
    "ActionCallback",
    "SnapshotSource",
    "TimelineAction",
    "TimelineDisplay",
    "display_run",
    "maybe_display",
    "widget_class",
]


class TimelineAction(TypedDict, total=False):
    """A request from the timeline's buttons, as given to ``on_action`` callbacks.

    ``action`` is always set; ``event`` and ``data`` come with "send_event", and
    ``step_id`` with "rerun" (and with "send_event" when the wait is a step).
    """

    action: Literal["send_event", "cancel", "rerun"]
    event: str
    data: Any
    step_id: str | None


ActionCallback = Callable[[TimelineAction], Awaitable[object] | object]
"""Called with each action; may be a coroutine function. An exception is shown to the user."""

SnapshotSource = Mapping[str, Any] | Callable[[], Mapping[str, Any]]
"""A snapshot, or a function that builds one; the function is called only when an update is sent."""


def widget_class() -> type[TimelineWidget] | None:
    """The live widget class, or None when anywidget/ipywidgets cannot be imported or its JavaScript is missing."""
    try:
        from ._widget import TimelineWidget, widget_assets_available
    except ImportError:
        return None
    return TimelineWidget if widget_assets_available() else None


def _in_kernel() -> bool:
    """True inside a Jupyter kernel, where a front end may draw widgets."""
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover - IPython is a dependency
        return False
    shell = get_ipython()
    return shell is not None and getattr(shell, "kernel", None) is not None


TIMELINE_ROWS = 200
"""Steps a notebook's timeline shows (the latest); older ones are counted in ``steps_omitted``."""


class TimelineDisplay:
    """One run's timeline in one output: the live widget while the run goes on, a static view once it ends.

    ``show()`` displays the widget (whose bundle also carries the snapshot, HTML and
    text); ``update()`` streams snapshots to it; ``finish()`` replaces the output, in
    place, with the final snapshot, HTML and text and closes the widget, so the saved
    notebook shows the timeline with no kernel.

    Without a widget (outside a kernel, ``live=False``, or anywidget unavailable) the
    static view is shown and ``update()`` rewrites it in place every ``static_interval``
    seconds at most. With a widget that no front end has drawn ``static_grace`` seconds
    after ``show()`` (a front end without widget support, or none at all), the same
    in-place updates refresh the static copy that such a front end shows.
    """

    def __init__(
        self,
        snapshot: Mapping[str, Any],
        *,
        on_action: ActionCallback | None = None,
        max_steps: int = TIMELINE_ROWS,
        min_interval: float = 0.25,
        static_interval: float = 1.0,
        static_grace: float = 2.0,
        live: bool | None = None,
    ) -> None:
        self._max_steps = max_steps
        self._static_interval = static_interval
        self._static_grace = static_grace
        self._latest: SnapshotSource = snapshot
        self._handle: Any = None  # IPython's DisplayHandle
        self._finished = False
        self._shown_at = 0.0
        self._refreshed_at = -float("inf")
        self._timer: asyncio.TimerHandle | None = None
        self.static_updates = 0
        """How many in-place updates of the static view were sent (for tests)."""
        cls = widget_class() if live is not False else None
        self._widget: TimelineWidget | None = None
        if cls is not None and (live or (live is None and _in_kernel())):
            self._widget = cls(snapshot, max_steps=max_steps, min_interval=min_interval)
            if on_action is not None:
                self._widget.on_action(on_action)

    @property
    def widget(self) -> TimelineWidget | None:
        """The live widget, or None when showing only the static view (or after finish)."""
        return self._widget

    @property
    def finished(self) -> bool:
        return self._finished

    def _static_bundle(self, snapshot: Mapping[str, Any]) -> dict[str, Any]:
        return timeline_mimebundle(bound_snapshot(snapshot, max_steps=self._max_steps))

    def _bundle(self) -> dict[str, Any]:
        """What the output holds now: the widget view (if any) and the latest static timeline."""
        data: dict[str, Any] = {}
        if self._widget is not None:
            shown = self._widget._repr_mimebundle_()
            if shown is not None:
                data.update(shown[0])
        data.update(self._static_bundle(self._resolve(self._latest)))
        return data

    def show(self) -> None:
        """Display the timeline in the current cell's output (once)."""
        if self._handle is not None:
            return
        from IPython.display import display

        if self._widget is not None:
            self._handle = display(self._widget, display_id=True)  # type: ignore[no-untyped-call]
        else:
            self._handle = display(self._bundle(), raw=True, display_id=True)  # type: ignore[no-untyped-call]
        # A static view's first update goes out at once: the run was only just started (not yet running) when shown.
        self._shown_at = time.monotonic()

    def _ipython_display_(self) -> None:
        self.show()

    @staticmethod
    def _resolve(source: SnapshotSource) -> Mapping[str, Any]:
        return source() if callable(source) else source

    def _wants_static_updates(self) -> bool:
        if self._handle is None or self._finished:
            return False
        if self._widget is None:
            return True
        drawn = self._widget.views_rendered > 0
        return not drawn and time.monotonic() - self._shown_at >= self._static_grace

    @property
    def waiting(self) -> bool:
        """True while the live widget has an update scheduled and no static refresh is due.

        A newer snapshot source given to ``update`` then changes nothing: the scheduled update builds
        its snapshot when it is sent (``display_run`` holds the run's step notices meanwhile).
        """
        widget = self._widget
        return widget is not None and widget.pending and not self._wants_static_updates()

    def update(self, snapshot: SnapshotSource) -> None:
        """Send a newer snapshot (coalesced); a snapshot of an ended run finishes the display."""
        if self._finished:
            return
        self._latest = snapshot
        # callable() first: a source function (every update of a live run) is no Mapping, and an ABC check costs more.
        if not callable(snapshot) and is_terminal(snapshot):
            self.finish(snapshot)
            return
        if self._widget is not None:
            self._widget.push(snapshot)
        if self._timer is None and self._wants_static_updates():
            wait = self._refreshed_at + self._static_interval - time.monotonic()
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:
                wait = 0  # no loop to send the last update later: send now
            if wait <= 0:
                self._refresh_static()
            else:
                self._timer = loop.call_later(wait, self._refresh_static)

    def _refresh_static(self) -> None:
        self._timer = None
        if not self._wants_static_updates():
            return
        self._handle.update(self._bundle(), raw=True)
        self._refreshed_at = time.monotonic()
        self.static_updates += 1

    def finish(self, snapshot: Mapping[str, Any] | None = None) -> None:
        """Replace the output with the final static timeline and close the widget."""
        if self._finished:
            return
        self._finished = True
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        final = self._resolve(self._latest) if snapshot is None else snapshot
        bundle = self._static_bundle(final)
        if self._handle is None:
            from IPython.display import display

            self._handle = display(bundle, raw=True, display_id=True)  # type: ignore[no-untyped-call]
        else:
            self._handle.update(bundle, raw=True)
        if self._widget is not None:
            self._widget.close()
            self._widget = None


def maybe_display(handle: RunHandle[Any]) -> None:
    """Show the timeline when a top-level run is started from a notebook cell (not from scripts or child runs)."""
    import sys

    if "ipykernel" not in sys.modules:
        return
    from ..engine._runstate import current_run_var

    if current_run_var.get() is not None:
        return
    if not _in_kernel():
        return
    display_run(handle)


def display_run(handle: RunHandle[Any]) -> TimelineDisplay:
    """Display ``handle``'s timeline (live while the run goes on, static once it ends); returns the display."""
    from ..timeline._snapshot import build_snapshot

    engine = handle.engine
    run_id = handle.run_id

    def snapshot() -> dict[str, Any]:
        # The state is read now: the step notices held since the update was scheduled are in it, later ones are not.
        engine.feed.release(on_notice)
        # Only the rows the view keeps are built: the widget and the static view both hold TIMELINE_ROWS.
        return build_snapshot(engine, run_id, max_steps=TIMELINE_ROWS)

    def act(action: TimelineAction) -> object:
        kind = action["action"]
        if kind == "send_event":
            data = action.get("data") or {}
            if not isinstance(data, dict):
                raise ValueError("the event payload must be a JSON object")
            engine.send_nowait(action["event"], data)
            return None
        if kind == "cancel":
            engine.cancel(run_id, "cancelled from the timeline")
            return None
        new = engine.rerun(run_id, str(action.get("step_id")))
        display_run(new)
        return None

    def on_notice(notice: Notice) -> None:
        if notice.run_id != run_id and notice.kind != "event":
            return
        if notice.kind == "run_finished":
            unsubscribe()
            unfollow()
            view.finish(snapshot())
            return
        view.update(snapshot)
        if view.waiting:
            # An update is scheduled and builds its snapshot when sent: until then (snapshot() releases)
            # the run's step notices are not delivered here, so a long run costs no call per step.
            engine.feed.hold(on_notice)

    view = TimelineDisplay(snapshot(), on_action=act)
    view.show()
    if view.finished or (handle.status in FINAL_STATUSES and run_id not in engine.active):
        view.finish(snapshot())
        return view

    unsubscribe = engine.subscribe(on_notice)
    # A run executing elsewhere (a worker) reaches the feed through the journal's notifications.
    unfollow = engine.follow(run_id) if run_id not in engine.active else (lambda: None)
    return view
