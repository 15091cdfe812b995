"""Show a run's live timeline in the cell that started it, fed by the engine's change feed.

Notices are coalesced by the widget (a few updates a second) and a snapshot is
built only when an update is actually sent, so a long run with the timeline
open costs little more than one without. Buttons act through the engine: send
the awaited event, cancel, rerun from a step.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._feed import Notice
    from ._run import RunHandle

__all__ = ["display_run", "maybe_display"]


def maybe_display(handle: RunHandle[Any]) -> None:
    """Show the timeline when a top-level run is started from a notebook cell (not from scripts or child runs)."""
    import sys

    if "ipykernel" not in sys.modules:
        return
    from ._runstate import current_run_var

    if current_run_var.get() is not None:
        return
    try:
        from IPython import get_ipython

        shell = get_ipython()
    except ImportError:
        return
    if shell is None or not hasattr(shell, "kernel"):
        return
    try:
        display_run(handle)
    except ImportError:
        pass


def display_run(handle: RunHandle[Any]) -> Any:
    """Display ``handle``'s timeline (live while the run goes on, static once it ends); returns the display."""
    from ._snapshot import build_snapshot
    from ._widget import TimelineAction, TimelineDisplay

    engine = handle._engine
    run_id = handle.run_id

    def snapshot() -> dict[str, Any]:
        return build_snapshot(engine, run_id)

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

    view = TimelineDisplay(snapshot(), on_action=act)
    view.show()
    if view.finished or (
        handle.status in ("completed", "failed", "cancelled", "skipped") and run_id not in engine.active
    ):
        view.finish(snapshot())
        return view

    def on_notice(notice: Notice) -> None:
        if notice.run_id != run_id and notice.kind != "event":
            return
        if notice.kind == "run_finished":
            unsubscribe()
            view.finish(snapshot())
            return
        view.update(snapshot)

    unsubscribe = engine.subscribe(on_notice)
    return view
