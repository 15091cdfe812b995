"""The live timeline widget.

``TimelineWidget`` is an anywidget, so it runs in JupyterLab, Notebook 7, VS Code and
Colab without a frontend extension. ``nbdurable.notebook._display.TimelineDisplay`` shows it
while a run goes on and leaves a static timeline in the saved notebook.

This module imports anywidget and ipywidgets; ``import nbdurable`` must not import
it, so loading the library stays cheap outside notebooks, and the display falls
back to a static timeline when it cannot be imported.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import math
import time
from collections.abc import Awaitable, Mapping
from pathlib import Path
from typing import Any

import anywidget
import traitlets

from ..timeline._render import bound_snapshot, json_safe, timeline_mimebundle
from ._display import ActionCallback, SnapshotSource, TimelineAction

__all__ = [
    "ActionCallback",
    "SnapshotSource",
    "TimelineAction",
    "TimelineWidget",
    "widget_assets_available",
]

_log = logging.getLogger(__name__)

SEND_SPACING = 50
"""The live widget waits at least this many times as long as its last send took before the next one."""
_MAX_INTERVAL = 2.0  # ...but never longer than this between updates, so a slow view still moves

_ESM_PATH = Path(__file__).resolve().parent.parent / "static" / "widget.js"

# Shown in place of the timeline when the package was installed without its built
# front end (a source checkout where `npm run build` was never run).
_MISSING_ESM = """
export default {
  render({ el }) {
    el.textContent = "nbdurable: the timeline widget's JavaScript (nbdurable/static/widget.js) is missing. "
      + "Install nbdurable from a wheel, or run `npm ci && npm run build` in labextension/.";
  }
};
"""


def widget_assets_available() -> bool:
    """True when the built widget bundle is inside the package."""
    return _ESM_PATH.is_file()


def _parse_action(content: object) -> TimelineAction:
    """Check a message from the front end; raise ValueError saying what is wrong with it."""
    if not isinstance(content, Mapping):
        raise ValueError(f"an action message must be a JSON object, got {type(content).__name__}")
    action = content.get("action")
    if action == "cancel":
        return {"action": "cancel"}
    if action == "rerun":
        step_id = content.get("step_id")
        if not isinstance(step_id, str) or not step_id:
            raise ValueError("a rerun action needs the step_id of the step to rerun from")
        return {"action": "rerun", "step_id": step_id}
    if action == "send_event":
        event = content.get("event")
        if not isinstance(event, str) or not event:
            raise ValueError("a send_event action needs the name of the event to send")
        step_id = content.get("step_id")
        return {
            "action": "send_event",
            "event": event,
            "data": content.get("data", {}),
            "step_id": step_id if isinstance(step_id, str) else None,
        }
    raise ValueError(f"unknown action {action!r}; expected send_event, cancel or rerun")


def _success_message(action: TimelineAction) -> str:
    if action["action"] == "send_event":
        return f"Sent {action.get('event', 'the event')}."
    if action["action"] == "rerun":
        return f"Rerun from {action.get('step_id', 'the step')} requested."
    return "Cancel requested."


class TimelineWidget(anywidget.AnyWidget):
    """A run's timeline, live: the snapshot syncs to the front end, actions come back.

    Updates are coalesced: ``push`` sends at most one snapshot per ``min_interval``
    seconds (4 a second by default) using a timer on the running asyncio loop, and
    the last snapshot pushed is always sent. A snapshot that takes long to build and
    send spaces the next ones out further, so sending costs the run at most about
    ``1 / SEND_SPACING`` of its time. The widget keeps at most ``max_steps`` steps, so
    its state stays bounded however long the run.
    """

    _esm = _ESM_PATH if _ESM_PATH.is_file() else _MISSING_ESM
    snapshot = traitlets.Dict().tag(sync=True)

    def __init__(
        self,
        snapshot: Mapping[str, Any] | None = None,
        *,
        max_steps: int = 200,
        min_interval: float = 0.25,
        **kwargs: Any,
    ) -> None:
        self._max_steps = max_steps
        self._min_interval = min_interval
        self._interval = min_interval  # grows past min_interval when sending is slow (see flush)
        self._callbacks: list[ActionCallback] = []
        self._pending: SnapshotSource | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._last_sent = -math.inf
        self._tasks: set[asyncio.Task[None]] = set()
        self.sent_count = 0
        """How many snapshots were sent to the front end (for tests and benchmarks)."""
        self.views_rendered = 0
        """How many views a front end has drawn (each says so once); 0 means no front end shows widgets yet."""
        initial = self._prepare(snapshot) if snapshot is not None else {}
        super().__init__(snapshot=initial, **kwargs)
        self.on_msg(self._on_custom_msg)

    # ------------------------------------------------------------------ updates

    def _prepare(self, snapshot: Mapping[str, Any]) -> dict[str, Any]:
        bounded = json_safe(bound_snapshot(snapshot, max_steps=self._max_steps))
        assert isinstance(bounded, dict)
        return bounded

    def push(self, snapshot: SnapshotSource) -> None:
        """Queue a snapshot; it is sent now if the last send is old enough, else by a timer.

        Without a running event loop there is no timer to send the last one later, so
        the snapshot is sent at once.
        """
        self._pending = snapshot
        if self._timer is not None:
            return
        wait = self._last_sent + self._interval - time.monotonic()
        if wait <= 0:
            self.flush()
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            self.flush()
            return
        self._timer = loop.call_later(wait, self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        self.flush()

    def flush(self) -> None:
        """Send the queued snapshot now, if there is one."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        source = self._pending
        self._pending = None
        if source is None:
            return
        started = time.monotonic()
        snapshot = source() if callable(source) else source
        self.snapshot = self._prepare(snapshot)
        self._last_sent = time.monotonic()
        spaced = min((self._last_sent - started) * SEND_SPACING, _MAX_INTERVAL)
        self._interval = max(self._min_interval, spaced)
        self.sent_count += 1

    def send_state(self, key: Any = None) -> None:
        """Send the snapshot as ipywidgets would, without walking it for binary parts: it has none.

        Why: ``_prepare`` makes it plain JSON (``json_safe``: no bytes or memoryviews), and
        ipywidgets' search of the whole state for buffers (``_remove_buffers``) was about half the
        cost of each live update. The message is the one ipywidgets sends when there are no buffers.
        Any other key, or a snapshot the front end is setting (the property lock), goes through
        ipywidgets.
        """
        if key != "snapshot" or self._property_lock:
            super().send_state(key)
            return
        self._send({"method": "update", "state": self.get_state(key), "buffer_paths": []}, buffers=[])

    @property
    def pending(self) -> bool:
        """True while a pushed snapshot waits for its timer."""
        return self._pending is not None

    # ------------------------------------------------------------------ actions

    def on_action(self, callback: ActionCallback) -> ActionCallback:
        """Call ``callback(action)`` when the user presses approve, cancel or rerun.

        Returns the callback, so this also works as a decorator.
        """
        self._callbacks.append(callback)
        return callback

    def _reply(self, action: str, ok: bool, message: str) -> None:
        self.send({"type": "action_result", "action": action, "ok": ok, "message": message})

    def _on_custom_msg(self, _widget: object, content: object, _buffers: object) -> None:
        if isinstance(content, Mapping) and content.get("type") == "rendered":
            self.views_rendered += 1
            return
        name = str(content.get("action")) if isinstance(content, Mapping) else "?"
        try:
            action = _parse_action(content)
        except ValueError as exc:
            self._reply(name, False, f"The timeline sent an invalid action: {exc}.")
            return
        if not self._callbacks:
            self._reply(
                action["action"],
                False,
                "Nothing in this kernel handles timeline actions for this run; re-run the cell that started it.",
            )
            return
        awaitables: list[Awaitable[object]] = []
        for callback in self._callbacks:
            try:
                result = callback(action)
            except Exception as exc:  # the user sees it in the widget, not as a kernel error
                _log.warning("timeline action %s failed", action["action"], exc_info=True)
                self._reply(action["action"], False, f"{action['action']} failed: {type(exc).__name__}: {exc}")
                return
            if inspect.isawaitable(result):
                awaitables.append(result)
        if not awaitables:
            self._reply(action["action"], True, _success_message(action))
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            self._reply(action["action"], False, f"{action['action']} needs a running event loop in the kernel.")
            return
        task = loop.create_task(self._finish_action(action, awaitables))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _finish_action(self, action: TimelineAction, awaitables: list[Awaitable[object]]) -> None:
        try:
            for awaitable in awaitables:
                await awaitable
        except Exception as exc:  # reported to the user in the widget, not as a kernel error
            _log.warning("timeline action %s failed", action["action"], exc_info=True)
            self._reply(action["action"], False, f"{action['action']} failed: {type(exc).__name__}: {exc}")
            return
        self._reply(action["action"], True, _success_message(action))

    # ------------------------------------------------------------------ display

    def _repr_mimebundle_(self, **kwargs: Any) -> tuple[dict[str, Any], dict[str, Any]] | None:
        """The widget view plus the snapshot, static HTML and text, for viewers without widgets."""
        result = super()._repr_mimebundle_(**kwargs)
        if result is None:
            return None
        data, metadata = result
        return {**data, **timeline_mimebundle(self.snapshot)}, metadata

    def close(self) -> None:
        """Stop the update timer and close the widget's comm."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._pending = None
        super().close()
