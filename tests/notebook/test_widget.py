"""Tests for nbdurable.notebook._widget: the live timeline widget and the display that survives saving.

The fast tests plug a recording comm into the `comm` package (the hook ipykernel
itself uses); the `kernel` tests run the widget in a real ipykernel and read the
real comm and display messages a front end would get.
"""

from __future__ import annotations

import asyncio
import json
import os
import queue
import textwrap
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import comm
import pytest
from comm.base_comm import BaseComm
from jupyter_client.blocking.client import BlockingKernelClient
from jupyter_client.manager import KernelManager, start_new_kernel

from nbdurable.notebook._display import TimelineDisplay
from nbdurable.notebook._widget import TimelineWidget, widget_assets_available
from nbdurable.timeline._render import MIME_TYPE, render_html, render_text
from tests.timeline_samples import completed_snapshot, step, waiting_snapshot

REPO = Path(__file__).resolve().parents[2]
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"


class RecordingComm(BaseComm):
    """A comm that keeps what it would send to the front end."""

    def __init__(self, **kwargs: Any) -> None:
        self.published: list[tuple[str, dict[str, Any]]] = []
        super().__init__(**kwargs)

    def publish_msg(
        self,
        msg_type: str,
        data: dict[str, Any] | None = None,
        metadata: dict[str, Any] | None = None,
        buffers: list[bytes] | None = None,
        **keys: Any,
    ) -> None:
        self.published.append((msg_type, data or {}))

    def custom_messages(self) -> list[dict[str, Any]]:
        return [d["content"] for t, d in self.published if t == "comm_msg" and d.get("method") == "custom"]

    def snapshot_updates(self) -> list[dict[str, Any]]:
        return [
            d["state"]["snapshot"]
            for t, d in self.published
            if t == "comm_msg" and d.get("method") == "update" and "snapshot" in d.get("state", {})
        ]


@pytest.fixture
def recording(monkeypatch: pytest.MonkeyPatch) -> Callable[[TimelineWidget], RecordingComm]:
    monkeypatch.setattr(comm, "create_comm", lambda *a, **kw: RecordingComm(*a, **kw))

    def get(widget: TimelineWidget) -> RecordingComm:
        assert isinstance(widget.comm, RecordingComm)
        return widget.comm

    return get


def _front_end_sends(widget: TimelineWidget, content: Any) -> None:
    """Deliver a custom message the way ipykernel hands a comm_msg to the widget's comm."""
    widget.comm.handle_msg({"content": {"data": {"method": "custom", "content": content}}, "buffers": []})


def _numbered(i: int) -> dict[str, Any]:
    snap = waiting_snapshot()
    snap["run"]["steps_done"] = i
    return snap


# ---------------------------------------------------------------- updates


def test_the_built_front_end_is_in_the_package() -> None:
    assert widget_assets_available()
    source = (REPO / "nbdurable" / "static" / "widget.js").read_text()
    assert "nbd-timeline" in source
    assert str(TimelineWidget._esm) == source


def test_push_sends_the_first_at_once_then_coalesces_and_always_sends_the_last(
    recording: Callable[[TimelineWidget], RecordingComm],
) -> None:
    async def scenario() -> TimelineWidget:
        widget = TimelineWidget(_numbered(0), min_interval=0.2)
        for i in range(1, 31):  # 30 pushes over ~0.3 s
            widget.push(_numbered(i))
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.35)  # let the timer send the last one
        return widget

    widget = asyncio.run(scenario())
    sent = [s["run"]["steps_done"] for s in recording(widget).snapshot_updates()]
    assert sent[0] == 1, "the first push after a quiet period goes out at once"
    assert sent[-1] == 30, "the last push is always sent"
    assert 2 <= len(sent) <= 4, f"30 pushes in ~0.3 s at 5/s should make 2-4 sends, made {sent}"
    assert widget.sent_count == len(sent)
    assert not widget.pending


def test_flush_sends_now_and_factories_are_called_only_when_sending(
    recording: Callable[[TimelineWidget], RecordingComm],
) -> None:
    calls: list[int] = []

    def factory(i: int) -> Callable[[], dict[str, Any]]:
        def build() -> dict[str, Any]:
            calls.append(i)
            return _numbered(i)

        return build

    async def scenario() -> TimelineWidget:
        widget = TimelineWidget(_numbered(0), min_interval=10)
        widget.push(factory(1))  # sent at once
        for i in range(2, 50):
            widget.push(factory(i))  # coalesced: only the last is ever built
        assert widget.pending
        widget.flush()
        assert not widget.pending
        widget.flush()  # nothing queued: no send
        return widget

    widget = asyncio.run(scenario())
    assert calls == [1, 49]
    assert [s["run"]["steps_done"] for s in recording(widget).snapshot_updates()] == [1, 49]


def test_push_without_an_event_loop_sends_at_once(recording: Callable[[TimelineWidget], RecordingComm]) -> None:
    widget = TimelineWidget(_numbered(0), min_interval=10)
    widget.push(_numbered(1))
    widget.push(_numbered(2))
    assert [s["run"]["steps_done"] for s in recording(widget).snapshot_updates()] == [1, 2]


def test_widget_state_stays_bounded(recording: Callable[[TimelineWidget], RecordingComm]) -> None:
    snap = waiting_snapshot()
    snap["steps"] = [step(step_id=f"s{i}", name=f"s{i}", position=i, output_preview="y" * 50_000) for i in range(2000)]
    widget = TimelineWidget(snap, max_steps=100)
    assert len(widget.snapshot["steps"]) == 100
    assert widget.snapshot["steps_omitted"] == 1900
    assert widget.snapshot["steps"][-1]["step_id"] == "s1999"
    assert len(json.dumps(widget.snapshot)) < 2_100_000
    snap["run"]["steps_done"] = 2000
    widget.push(snap)
    [sent] = recording(widget).snapshot_updates()
    assert len(sent["steps"]) == 100
    assert sent["run"]["steps_done"] == 2000


def test_a_snapshot_update_is_the_message_ipywidgets_sends(
    recording: Callable[[TimelineWidget], RecordingComm],
) -> None:
    """TimelineWidget.send_state skips ipywidgets' search for binary parts; the message must stay the same."""
    import ipywidgets

    snap = completed_snapshot()
    snap["steps"][0]["output_preview"] = "plain text, <b>markup</b> & a NaN: " + str(float("nan"))
    snap["run"]["cost"] = float("nan")  # json_safe makes it None: no value a JSON encoder refuses
    widget = TimelineWidget(waiting_snapshot())
    widget.push(snap)  # no event loop: sent at once
    ipywidgets.Widget.send_state(widget, "snapshot")  # what ipywidgets itself sends for the same state
    ours, theirs = [d for t, d in recording(widget).published if t == "comm_msg"]
    assert ours == theirs
    assert ours["method"] == "update" and ours["buffer_paths"] == []
    assert ours["state"]["snapshot"]["run"]["cost"] is None
    json.dumps(ours, allow_nan=False)


def test_mimebundle_has_the_widget_view_and_the_static_parts() -> None:
    widget = TimelineWidget(waiting_snapshot())
    result = widget._repr_mimebundle_()
    assert result is not None
    data, _metadata = result
    assert data[WIDGET_VIEW]["model_id"] == widget.model_id
    assert data[MIME_TYPE] == widget.snapshot
    assert data["text/html"] == render_html(widget.snapshot)
    assert data["text/plain"] == render_text(widget.snapshot)


# ---------------------------------------------------------------- actions


def test_actions_reach_callbacks_and_the_front_end_gets_an_answer(
    recording: Callable[[TimelineWidget], RecordingComm],
) -> None:
    widget = TimelineWidget(waiting_snapshot())
    got: list[Any] = []
    record = got.append
    assert widget.on_action(record) is record
    payload = {"action": "send_event", "event": "support/ticket.approved", "data": {"ok": True}, "step_id": "approval"}
    _front_end_sends(widget, payload)
    _front_end_sends(widget, {"action": "cancel"})
    _front_end_sends(widget, {"action": "rerun", "step_id": "lookup"})
    assert got == [payload, {"action": "cancel"}, {"action": "rerun", "step_id": "lookup"}]
    assert recording(widget).custom_messages() == [
        {"type": "action_result", "action": "send_event", "ok": True, "message": "Sent support/ticket.approved."},
        {"type": "action_result", "action": "cancel", "ok": True, "message": "Cancel requested."},
        {"type": "action_result", "action": "rerun", "ok": True, "message": "Rerun from lookup requested."},
    ]


@pytest.mark.parametrize(
    ("content", "message_part"),
    [
        ({"action": "explode"}, "unknown action 'explode'"),
        ({"action": "rerun"}, "needs the step_id"),
        ({"action": "send_event", "data": {}}, "needs the name of the event"),
        (["not", "an", "object"], "must be a JSON object"),
    ],
)
def test_invalid_actions_are_refused_with_a_reason(
    recording: Callable[[TimelineWidget], RecordingComm], content: Any, message_part: str
) -> None:
    widget = TimelineWidget(waiting_snapshot())
    got: list[Any] = []
    widget.on_action(got.append)
    _front_end_sends(widget, content)
    assert got == []
    [reply] = recording(widget).custom_messages()
    assert reply["ok"] is False
    assert message_part in reply["message"]


def test_a_failing_callback_or_no_callback_is_reported(recording: Callable[[TimelineWidget], RecordingComm]) -> None:
    widget = TimelineWidget(waiting_snapshot())
    _front_end_sends(widget, {"action": "cancel"})

    def refuse(action: Any) -> None:
        raise RuntimeError("run run-1 already finished")

    widget.on_action(refuse)
    _front_end_sends(widget, {"action": "cancel"})
    first, second = recording(widget).custom_messages()
    assert first["ok"] is False
    assert "Nothing in this kernel handles timeline actions" in first["message"]
    assert second == {
        "type": "action_result",
        "action": "cancel",
        "ok": False,
        "message": "cancel failed: RuntimeError: run run-1 already finished",
    }


def test_async_callbacks_are_awaited_before_answering(recording: Callable[[TimelineWidget], RecordingComm]) -> None:
    async def scenario() -> tuple[TimelineWidget, list[str]]:
        widget = TimelineWidget(waiting_snapshot())
        events: list[str] = []

        async def approve(action: Any) -> None:
            await asyncio.sleep(0.05)
            events.append(action["event"])

        widget.on_action(approve)
        _front_end_sends(widget, {"action": "send_event", "event": "go", "data": 1})
        assert recording(widget).custom_messages() == [], "no answer before the callback finished"
        await asyncio.sleep(0.2)
        return widget, events

    widget, events = asyncio.run(scenario())
    assert events == ["go"]
    assert recording(widget).custom_messages() == [
        {"type": "action_result", "action": "send_event", "ok": True, "message": "Sent go."}
    ]


def test_display_outside_a_kernel_shows_only_the_static_view() -> None:
    shown = TimelineDisplay(waiting_snapshot())
    assert shown.widget is None
    assert TimelineDisplay(waiting_snapshot(), live=True).widget is not None


# ---------------------------------------------------------------- in a real kernel


@pytest.fixture(scope="module")
def kernel() -> Iterator[BlockingKernelClient]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
    km: KernelManager
    km, kc = start_new_kernel(kernel_name="python3", env=env, cwd=str(REPO))
    try:
        yield kc
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)


def _drain(kc: BlockingKernelClient) -> None:
    while True:
        try:
            kc.get_iopub_msg(timeout=0.1)
        except queue.Empty:
            return


def _run(kc: BlockingKernelClient, code: str, timeout: float = 60) -> list[dict[str, Any]]:
    """Execute code and return the iopub messages it caused, failing on an error."""
    msg_id = kc.execute(textwrap.dedent(code))
    messages: list[dict[str, Any]] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        msg = kc.get_iopub_msg(timeout=deadline - time.monotonic())
        if msg["parent_header"].get("msg_id") != msg_id:
            continue
        if msg["msg_type"] == "error":
            raise AssertionError("\n".join(msg["content"]["traceback"]))
        if msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle":
            return messages
        messages.append(msg)
    raise AssertionError(f"cell did not finish in {timeout} s:\n{code}")


def _stdout(messages: list[dict[str, Any]]) -> str:
    return "".join(m["content"]["text"] for m in messages if m["msg_type"] == "stream")


def _py(snapshot: dict[str, Any]) -> str:
    """A Python expression for the snapshot, to put in a cell."""
    return f"__import__('json').loads({json.dumps(snapshot)!r})"


def _wait_for(kc: BlockingKernelClient, match: Callable[[dict[str, Any]], bool], timeout: float = 10) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            msg = kc.get_iopub_msg(timeout=max(0.01, deadline - time.monotonic()))
        except queue.Empty:
            break
        if match(msg):
            return msg
    raise AssertionError("the expected message did not arrive")


def _send_custom(kc: BlockingKernelClient, comm_id: str, content: dict[str, Any]) -> None:
    msg = kc.session.msg("comm_msg", {"comm_id": comm_id, "data": {"method": "custom", "content": content}})
    kc.shell_channel.send(msg)


def _is_reply(comm_id: str) -> Callable[[dict[str, Any]], bool]:
    def match(msg: dict[str, Any]) -> bool:
        return bool(
            msg["msg_type"] == "comm_msg"
            and msg["content"]["comm_id"] == comm_id
            and msg["content"]["data"].get("method") == "custom"
        )

    return match


@pytest.mark.kernel
def test_in_a_kernel_updates_are_coalesced_on_the_kernel_loop(kernel: BlockingKernelClient) -> None:
    _drain(kernel)
    messages = _run(
        kernel,
        f"""
        import asyncio, copy
        from nbdurable.notebook._widget import TimelineWidget
        base = {_py(waiting_snapshot())}
        base["run"]["waiting_for"] = None
        w = TimelineWidget(base, min_interval=0.25)
        for i in range(40):
            s = copy.deepcopy(base); s["run"]["steps_done"] = i
            w.push(s)
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.5)
        print("sent", w.sent_count, w.model_id)
        """,
    )
    [opened] = [
        m
        for m in messages
        if m["msg_type"] == "comm_open" and m["content"]["data"]["state"].get("_model_name") == "AnyModel"
    ]
    assert opened["content"]["target_name"] == "jupyter.widget"
    state = opened["content"]["data"]["state"]
    assert state["snapshot"]["run"]["function_id"] == "resolve-ticket"
    updates = [
        m["content"]["data"]["state"]["snapshot"]["run"]["steps_done"]
        for m in messages
        if m["msg_type"] == "comm_msg" and "snapshot" in m["content"]["data"].get("state", {})
    ]
    words = _stdout(messages).split()
    assert words[:2] == ["sent", str(len(updates))]
    assert updates[0] == 0
    assert updates[-1] == 39, "the last snapshot is always sent"
    assert 2 <= len(updates) <= 5, f"40 pushes over ~0.45 s at 4/s should make 2-5 sends, made {updates}"
    assert opened["content"]["comm_id"] == words[2]


@pytest.mark.kernel
def test_in_a_kernel_actions_from_the_front_end_reach_python(kernel: BlockingKernelClient) -> None:
    _drain(kernel)
    messages = _run(
        kernel,
        f"""
        import asyncio, json
        from nbdurable.notebook._widget import TimelineWidget
        w2 = TimelineWidget({_py(waiting_snapshot())})
        got = []
        async def approve(action):
            await asyncio.sleep(0.05)
            got.append(action)
        w2.on_action(approve)
        print(w2.model_id)
        """,
    )
    comm_id = _stdout(messages).strip()
    _send_custom(kernel, comm_id, {"action": "send_event", "event": "support/ticket.approved", "data": {"ok": True}})
    reply = _wait_for(kernel, _is_reply(comm_id))
    assert reply["content"]["data"]["content"] == {
        "type": "action_result",
        "action": "send_event",
        "ok": True,
        "message": "Sent support/ticket.approved.",
    }
    _send_custom(kernel, comm_id, {"action": "rerun"})
    refused = _wait_for(kernel, _is_reply(comm_id))
    assert refused["content"]["data"]["content"]["ok"] is False
    out = _stdout(_run(kernel, "print(json.dumps(got))"))
    assert json.loads(out) == [
        {"action": "send_event", "event": "support/ticket.approved", "data": {"ok": True}, "step_id": None}
    ]


@pytest.mark.kernel
def test_in_a_kernel_the_display_ends_as_a_static_timeline(kernel: BlockingKernelClient) -> None:
    _drain(kernel)
    shown = _run(
        kernel,
        f"""
        from nbdurable.notebook._display import TimelineDisplay
        d = TimelineDisplay({_py(waiting_snapshot())})
        d.show()
        """,
    )
    [live] = [m for m in shown if m["msg_type"] == "display_data"]
    display_id = live["content"]["transient"]["display_id"]
    assert set(live["content"]["data"]) == {WIDGET_VIEW, MIME_TYPE, "text/html", "text/plain"}
    model_id = live["content"]["data"][WIDGET_VIEW]["model_id"]

    finished = _run(kernel, f"d.finish({_py(completed_snapshot())}); print(d.widget)")
    [update] = [m for m in finished if m["msg_type"] == "update_display_data"]
    assert update["content"]["transient"]["display_id"] == display_id
    data = update["content"]["data"]
    assert set(data) == {MIME_TYPE, "text/html", "text/plain"}, "no widget view may remain in the saved output"
    assert data[MIME_TYPE]["run"]["status"] == "completed"
    assert "notify" in data["text/plain"]
    assert [m["content"]["comm_id"] for m in finished if m["msg_type"] == "comm_close"] == [model_id]
    assert _stdout(finished).strip() == "None"


@pytest.mark.kernel
def test_in_a_kernel_a_run_s_timeline_updates_live_holds_step_notices_between_sends_and_ends_complete(
    kernel: BlockingKernelClient, tmp_path: Path
) -> None:
    """display_run on a real run: while the widget has an update scheduled the run's step notices are held (the
    feed delivers none to the timeline), yet the widget still updates while the run goes on and the output ends
    as the static timeline of the finished run, every step counted."""
    _drain(kernel)
    steps = 400
    messages = _run(
        kernel,
        f"""
        import asyncio
        import nbdurable as nd
        engine = nd.configure({str(tmp_path / "held.db")!r})
        held = []

        @nd.function(id="kernel-held-feed")
        async def long_run(ctx: nd.Context) -> int:
            for i in range({steps}):
                await ctx.step.run("s", lambda: i)
                if i % 25 == 0:
                    held.append(len(engine.feed.step_subscribers) < len(engine.feed.subscribers))
                    await asyncio.sleep(0.04)  # the kernel's loop turns: the widget's timer sends
            return {steps}

        handle = long_run.start(run_id="held-feed")  # shown by display_run, as from any cell
        print("result", await handle.result(), "held", any(held))
        """,
    )
    assert _stdout(messages).split() == ["result", str(steps), "held", "True"]
    [live] = [m for m in messages if m["msg_type"] == "display_data"]
    assert WIDGET_VIEW in live["content"]["data"]
    updates = [
        m["content"]["data"]["state"]["snapshot"]["run"]["steps_done"]
        for m in messages
        if m["msg_type"] == "comm_msg" and "snapshot" in m["content"]["data"].get("state", {})
    ]
    assert len(updates) >= 2, f"the widget should update while the run goes on, sent {updates}"
    assert updates == sorted(updates) and 0 < updates[-1] <= steps
    [final] = [m for m in messages if m["msg_type"] == "update_display_data"]
    assert final["content"]["transient"]["display_id"] == live["content"]["transient"]["display_id"]
    snapshot = final["content"]["data"][MIME_TYPE]
    assert WIDGET_VIEW not in final["content"]["data"]
    assert snapshot["run"]["status"] == "completed"
    assert snapshot["run"]["steps_done"] == snapshot["run"]["steps_total"] == steps
