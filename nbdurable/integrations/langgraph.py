"""LangGraph on nbdurable: a checkpointer backed by the journal, and graph runs that wait durably at interrupts.

``NbDurableSaver`` is a ``BaseCheckpointSaver`` (sync and async) that keeps each
LangGraph thread as one run of the journal, ``langgraph:<thread_id>``: every
checkpoint (one per super-step) and every task's writes (one per node that ran) is
a step row of that run, so the thread's timeline shows the graph as it advances,
and a graph run again after a kernel restart resumes from its last checkpoint
(nodes that finished in an unfinished super-step keep their writes and do not run
again). A pending ``interrupt()`` is a waiting row. No new table: runs and steps
hold everything. The thread's run is storage, not an execution: its status stays
"completed" (the run executing the graph, ``run_graph``'s, has the live status).

``run_graph(graph, input, thread_id=...)`` drives a graph inside an nbdurable run
(joining a ``%%durable`` cell or an ``@nd.function``, else starting its own): it
invokes the graph once per resume, and at an ``interrupt()`` it waits durably for a
``langgraph/resume`` event for the thread, which the timeline's send button, ``%durable
send`` or ``resume()`` deliver; the answer becomes ``Command(resume=...)``.

Values are stored with LangGraph's own serializer, in its strict mode by default
(only types on its allowlist are rebuilt from msgpack; ``with_allowlist`` adds the
graph's own), so reading a journal never imports arbitrary classes.
"""

from __future__ import annotations

from . import require

require("langgraph", "langgraph")

import base64
import builtins
import json
import random
import time
from collections.abc import AsyncIterator, Iterator, Sequence
from typing import Any

from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import (
    WRITES_IDX_MAP,
    BaseCheckpointSaver,
    ChannelVersions,
    Checkpoint,
    CheckpointMetadata,
    CheckpointTuple,
    get_checkpoint_id,
    get_checkpoint_metadata,
    writes_sort_key,
)
from langgraph.checkpoint.serde.base import SerializerProtocol
from langgraph.checkpoint.serde.jsonplus import JsonPlusSerializer
from langgraph.checkpoint.serde.types import INTERRUPT, RESUME

# The journal records: the one place this integration reaches below the public API (a checkpointer is storage).
from .._duration import Duration
from .._errors import ConfigError, JournalBusyError, RunCancelledError
from ..engine import Engine, get_engine
from ..journal._protocol import RunRecord, StepRecord, Write
from ..workflow import Step, join_or_start, send

__all__ = ["RESUME_EVENT", "THREAD_FUNCTION", "NbDurableSaver", "resume", "run_graph", "thread_run_id"]

THREAD_FUNCTION = "langgraph"
"""The function id of the journal runs that hold LangGraph threads."""

RESUME_EVENT = "langgraph/resume"
"""The event that answers an ``interrupt()``: ``{"thread_id": ..., "resume": <value>}``."""

_BUSY_TIMEOUT = 30.0


def thread_run_id(thread_id: str) -> str:
    """The journal run that holds a LangGraph thread's checkpoints."""
    return f"langgraph:{thread_id}"


def _resume_if(thread_id: str) -> str:
    return f"async.data.thread_id == {json.dumps(thread_id)}"


class _Row:
    """One decoded step row of a thread run: a checkpoint, a task's writes, or an interrupt."""

    __slots__ = ("doc", "record")

    def __init__(self, record: StepRecord) -> None:
        self.record = record
        self.doc: dict[str, Any] = json.loads(record.output) if record.output else {}


class NbDurableSaver(BaseCheckpointSaver[str]):
    """A LangGraph checkpointer whose storage is the nbdurable journal (see the module's docstring).

    ``engine`` defaults to the process's (``nd.get_engine()``, the notebook's journal);
    ``serde`` to LangGraph's ``JsonPlusSerializer`` in strict msgpack mode.
    """

    def __init__(self, engine: Engine | None = None, *, serde: SerializerProtocol | None = None) -> None:
        super().__init__(serde=serde or JsonPlusSerializer(allowed_msgpack_modules=None))
        self._engine = engine
        # Decoded rows of the threads used here, by run id, with the journal and change token they are
        # good for: a put reads its thread's rows, and decoding them all again each time costs O(rows).
        self._cache: dict[str, tuple[int, int, builtins.list[_Row]]] = {}

    @property
    def engine(self) -> Engine:
        return self._engine if self._engine is not None else get_engine()

    # -- encoding ------------------------------------------------------------------------------------

    def _pack(self, value: Any) -> list[str]:
        kind, data = self.serde.dumps_typed(value)
        return [kind, base64.b64encode(data).decode("ascii")]

    def _unpack(self, packed: Sequence[str]) -> Any:
        return self.serde.loads_typed((packed[0], base64.b64decode(packed[1])))

    # -- journal access ------------------------------------------------------------------------------

    def _write(self, writes: builtins.list[Write]) -> None:
        """Commit ``writes`` before returning (LangGraph continues only once a checkpoint is stored)."""
        journal = self.engine.journal
        before = journal.change_token()
        deadline = time.monotonic() + _BUSY_TIMEOUT
        delay = 0.005
        while True:
            try:
                journal.write(writes)
                break
            except JournalBusyError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(delay)
                delay = min(delay * 2, 0.2)
        self._update_cache(journal, before, writes)
        for w in writes:
            if w.op == "step" and w.step is not None:
                self.engine.notify("step_finished", w.step.run_id, w.step.step_id, record=w.step)
            elif w.op in ("run", "run_update"):
                self.engine.notify("run_status", w.run.run_id if w.run is not None else w.run_id)

    def _rows(self, thread_id: str) -> builtins.list[_Row]:
        run_id = thread_run_id(thread_id)
        journal = self.engine.journal
        token = journal.change_token()
        hit = self._cache.get(run_id)
        if hit is not None and hit[0] == id(journal) and hit[1] == token:
            return hit[2]
        rows = [_Row(s) for s in journal.load_steps(run_id)]
        self._cache[run_id] = (id(journal), token, rows)
        return rows

    def _update_cache(self, journal: Any, before: int, writes: builtins.list[Write]) -> None:
        """Apply this saver's own writes to the cached rows, or forget a thread another writer touched meanwhile."""
        after = journal.change_token()
        for w in writes:
            run_id = w.step.run_id if w.op == "step" and w.step is not None else w.run_id
            hit = self._cache.get(run_id)
            if hit is None:
                continue
            if w.op == "delete_run" or hit[0] != id(journal) or hit[1] != before:
                del self._cache[run_id]
                continue
            if w.op == "step" and w.step is not None:
                rows = [r for r in hit[2] if r.record.step_id != w.step.step_id]
                rows.append(_Row(w.step))
                rows.sort(key=lambda r: r.record.position)
                self._cache[run_id] = (id(journal), after, rows)
            else:
                self._cache[run_id] = (id(journal), after, hit[2])

    def _ensure_thread(self, thread_id: str, writes: builtins.list[Write]) -> None:
        run_id = thread_run_id(thread_id)
        if self.engine.journal.get_run(run_id) is not None:
            return
        now = time.time()
        writes.append(
            Write(
                "run",
                run=RunRecord(
                    run_id=run_id,
                    function_id=THREAD_FUNCTION,
                    status="completed",
                    event={"name": "langgraph/thread", "data": {"thread_id": thread_id}, "id": run_id, "ts": now},
                    created_at=now,
                    updated_at=now,
                    ended_at=now,
                ),
            )
        )

    @staticmethod
    def _ids(config: RunnableConfig) -> tuple[str, str]:
        configurable = config.get("configurable") or {}
        thread_id = configurable.get("thread_id")
        if thread_id is None:
            raise ConfigError(
                "NbDurableSaver needs a thread_id: invoke the graph with "
                "config={'configurable': {'thread_id': '...'}}; the thread is kept as the journal run "
                "'langgraph:<thread_id>'."
            )
        return str(thread_id), str(configurable.get("checkpoint_ns") or "")

    # -- reading -------------------------------------------------------------------------------------

    def _tuple(self, thread_id: str, ns: str, checkpoint_id: str, rows: Sequence[_Row]) -> CheckpointTuple:
        checkpoints = {r.doc["id"]: r.doc for r in rows if r.doc.get("type") == "checkpoint" and r.doc["ns"] == ns}
        doc = checkpoints[checkpoint_id]
        checkpoint: Checkpoint = self._unpack(doc["checkpoint"])
        blobs: dict[tuple[str, str], list[str]] = {}
        for other in checkpoints.values():
            for channel, (version, *packed) in other["blobs"].items():
                blobs[(channel, str(version))] = packed
        values: dict[str, Any] = {}
        for channel, version in checkpoint["channel_versions"].items():
            packed = blobs.get((channel, str(version)))
            if packed is not None and packed[0] != "empty":
                values[channel] = self._unpack(packed)
        writes: list[tuple[str, str, str, int, list[str]]] = []
        for r in rows:
            if r.doc.get("type") == "writes" and r.doc["ns"] == ns and r.doc["checkpoint"] == checkpoint_id:
                for idx, (channel, *packed) in r.doc["writes"].items():
                    writes.append((r.doc["task"], r.doc["path"], channel, int(idx), packed))
        writes.sort(key=lambda w: writes_sort_key(w[1], w[0], w[3]))
        parent = doc.get("parent")
        return CheckpointTuple(
            config={"configurable": {"thread_id": thread_id, "checkpoint_ns": ns, "checkpoint_id": checkpoint_id}},
            checkpoint={**checkpoint, "channel_values": values},
            metadata=self._unpack(doc["metadata"]),
            parent_config=(
                {"configurable": {"thread_id": thread_id, "checkpoint_ns": ns, "checkpoint_id": parent}}
                if parent
                else None
            ),
            pending_writes=[(task, channel, self._unpack(packed)) for task, _p, channel, _i, packed in writes],
        )

    def get_tuple(self, config: RunnableConfig) -> CheckpointTuple | None:
        thread_id, ns = self._ids(config)
        rows = self._rows(thread_id)
        ids = [r.doc["id"] for r in rows if r.doc.get("type") == "checkpoint" and r.doc["ns"] == ns]
        checkpoint_id = get_checkpoint_id(config)
        if checkpoint_id is None:
            if not ids:
                return None
            checkpoint_id = max(ids)
        elif checkpoint_id not in ids:
            return None
        return self._tuple(thread_id, ns, checkpoint_id, rows)

    def list(
        self,
        config: RunnableConfig | None,
        *,
        filter: dict[str, Any] | None = None,
        before: RunnableConfig | None = None,
        limit: int | None = None,
    ) -> Iterator[CheckpointTuple]:
        if config is not None:
            threads = [self._ids(config)[0]]
            wanted_ns = (config.get("configurable") or {}).get("checkpoint_ns")
            wanted_id = get_checkpoint_id(config)
        else:
            runs = self.engine.journal.list_runs(function_id=THREAD_FUNCTION, limit=None)
            threads = [str((r.event or {}).get("data", {}).get("thread_id", r.run_id[10:])) for r in runs]
            wanted_ns = wanted_id = None
        before_id = get_checkpoint_id(before) if before is not None else None
        left = limit
        for thread_id in threads:
            rows = self._rows(thread_id)
            found = [r.doc for r in rows if r.doc.get("type") == "checkpoint"]
            namespaces = list(dict.fromkeys(d["ns"] for d in found))
            for ns in namespaces:
                if wanted_ns is not None and ns != wanted_ns:
                    continue
                for doc in sorted((d for d in found if d["ns"] == ns), key=lambda d: d["id"], reverse=True):
                    if (wanted_id and doc["id"] != wanted_id) or (before_id and doc["id"] >= before_id):
                        continue
                    if filter:
                        metadata = self._unpack(doc["metadata"])
                        if not all(metadata.get(k) == v for k, v in filter.items()):
                            continue
                    if left is not None:
                        if left <= 0:
                            return
                        left -= 1
                    yield self._tuple(thread_id, ns, doc["id"], rows)

    # -- writing -------------------------------------------------------------------------------------

    def put(
        self,
        config: RunnableConfig,
        checkpoint: Checkpoint,
        metadata: CheckpointMetadata,
        new_versions: ChannelVersions,
    ) -> RunnableConfig:
        thread_id, ns = self._ids(config)
        run_id = thread_run_id(thread_id)
        stored = dict(checkpoint)
        values: dict[str, Any] = stored.pop("channel_values")  # type: ignore[assignment]
        full_metadata = get_checkpoint_metadata(config, metadata)
        blobs = {
            channel: [str(version), *(self._pack(values[channel]) if channel in values else ["empty", ""])]
            for channel, version in new_versions.items()
        }
        step_no = full_metadata.get("step")
        source = full_metadata.get("source")
        doc = {
            "type": "checkpoint",
            "step": step_no,
            "source": source,
            "updated": sorted(new_versions),
            "ns": ns,
            "id": checkpoint["id"],
            "parent": (config.get("configurable") or {}).get("checkpoint_id"),
            "checkpoint": self._pack(stored),
            "metadata": self._pack(full_metadata),
            "blobs": blobs,
        }
        writes: list[Write] = []
        self._ensure_thread(thread_id, writes)
        rows = self._rows(thread_id)
        now = time.time()
        writes.extend(self._close_interrupts(rows, now))
        name = f"{ns + ': ' if ns else ''}super-step {step_no} ({source})"
        writes.append(Write("step", step=self._record(run_id, f"cp|{ns}|{checkpoint['id']}", name, doc, rows, now)))
        self._write(writes)
        return {"configurable": {"thread_id": thread_id, "checkpoint_ns": ns, "checkpoint_id": checkpoint["id"]}}

    def put_writes(
        self,
        config: RunnableConfig,
        writes: Sequence[tuple[str, Any]],
        task_id: str,
        task_path: str = "",
    ) -> None:
        thread_id, ns = self._ids(config)
        run_id = thread_run_id(thread_id)
        checkpoint_id = str((config.get("configurable") or {})["checkpoint_id"])
        step_id = f"w|{ns}|{checkpoint_id}|{task_id}"
        rows = self._rows(thread_id)
        existing = next((r for r in rows if r.record.step_id == step_id), None)
        stored: dict[str, list[str]] = dict(existing.doc["writes"]) if existing is not None else {}
        interrupts: list[Any] = []
        for idx, (channel, value) in enumerate(writes):
            key = WRITES_IDX_MAP.get(channel, idx)
            if key >= 0 and str(key) in stored:
                continue  # a task's regular writes are stored once; special channels are replaced
            stored[str(key)] = [channel, *self._pack(value)]
            if channel == INTERRUPT:
                interrupts.append(value)
        node = _node_of(task_path, writes)
        doc: dict[str, Any] = {"type": "writes", "ns": ns, "checkpoint": checkpoint_id, "task": task_id}
        doc.update(path=task_path, writes=stored)
        batch: list[Write] = []
        self._ensure_thread(thread_id, batch)
        now = time.time()
        name = f"{ns + ': ' if ns else ''}{node}"
        batch.append(Write("step", step=self._record(run_id, step_id, name, doc, rows, now)))
        if any(channel == RESUME for channel, _ in writes):
            batch.extend(self._close_interrupts(rows, now))
        if interrupts:
            wait_id = f"i|{ns}|{checkpoint_id}|{task_id}"
            meta = {"event": RESUME_EVENT, "if_exp": _resume_if(thread_id), "interrupt": _preview(interrupts)}
            position = _position(rows, wait_id, offset=1)
            batch.append(
                Write(
                    "step",
                    step=StepRecord(
                        run_id=run_id,
                        step_id=wait_id,
                        name=f"{ns + ': ' if ns else ''}interrupt in {node}",
                        position=position,
                        kind="wait",
                        status="waiting",
                        started_at=now,
                        meta=meta,
                    ),
                )
            )
        self._write(batch)

    def _record(
        self, run_id: str, step_id: str, name: str, doc: dict[str, Any], rows: Sequence[_Row], now: float
    ) -> StepRecord:
        return StepRecord(
            run_id=run_id,
            step_id=step_id,
            name=name,
            position=_position(rows, step_id),
            output=json.dumps(doc, separators=(",", ":")),
            started_at=now,
            ended_at=now,
        )

    def _close_interrupts(self, rows: Sequence[_Row], now: float) -> builtins.list[Write]:
        """The thread moved on (resumed, or started afresh): its open interrupt waits are answered."""
        out: builtins.list[Write] = []
        for r in rows:
            if r.record.kind == "wait" and r.record.status == "waiting":
                done = StepRecord(**{f: getattr(r.record, f) for f in r.record.__slots__})
                done.status, done.ended_at = "completed", now
                out.append(Write("step", step=done))
        return out

    def delete_thread(self, thread_id: str) -> None:
        self._write([Write("delete_run", run_id=thread_run_id(str(thread_id)))])

    def copy_thread(self, source_thread_id: str, target_thread_id: str) -> None:
        source, target = str(source_thread_id), str(target_thread_id)
        writes: list[Write] = []
        self._ensure_thread(target, writes)
        run_id = thread_run_id(target)
        for r in self._rows(source):
            copied = StepRecord(**{f: getattr(r.record, f) for f in r.record.__slots__})
            copied.run_id = run_id
            if copied.meta and "if_exp" in copied.meta:
                copied.meta = {**copied.meta, "if_exp": _resume_if(target)}
            writes.append(Write("step", step=copied))
        self._write(writes)

    def get_next_version(self, current: str | None, channel: None) -> str:
        # Zero-padded so versions sort as strings; the random part keeps forked branches' versions distinct.
        given: Any = current  # LangGraph passes int versions stored by other savers too
        number = 0 if given is None else (given if isinstance(given, int) else int(str(given).split(".")[0]))
        return f"{number + 1:032}.{random.random():016}"

    # -- async: the journal is local and each call is one short transaction -------------------------

    async def aget_tuple(self, config: RunnableConfig) -> CheckpointTuple | None:
        return self.get_tuple(config)

    async def alist(
        self,
        config: RunnableConfig | None,
        *,
        filter: dict[str, Any] | None = None,
        before: RunnableConfig | None = None,
        limit: int | None = None,
    ) -> AsyncIterator[CheckpointTuple]:
        for item in self.list(config, filter=filter, before=before, limit=limit):
            yield item

    async def aput(
        self,
        config: RunnableConfig,
        checkpoint: Checkpoint,
        metadata: CheckpointMetadata,
        new_versions: ChannelVersions,
    ) -> RunnableConfig:
        return self.put(config, checkpoint, metadata, new_versions)

    async def aput_writes(
        self,
        config: RunnableConfig,
        writes: Sequence[tuple[str, Any]],
        task_id: str,
        task_path: str = "",
    ) -> None:
        self.put_writes(config, writes, task_id, task_path)

    async def adelete_thread(self, thread_id: str) -> None:
        self.delete_thread(thread_id)

    async def acopy_thread(self, source_thread_id: str, target_thread_id: str) -> None:
        self.copy_thread(source_thread_id, target_thread_id)


def _position(rows: Sequence[_Row], step_id: str, offset: int = 0) -> int:
    for r in rows:
        if r.record.step_id == step_id:
            return r.record.position
    return max((r.record.position for r in rows), default=-1) + 1 + offset


def _node_of(task_path: str, writes: Sequence[tuple[str, Any]]) -> str:
    """The node a task ran, from its path (``~__pregel_pull, agent``), for the timeline."""
    parts = [p.strip(" '\"()") for p in task_path.split(",") if p.strip(" '\"()")]
    if parts and not parts[-1].isdigit():
        return parts[-1]
    channels = [c for c, _ in writes]
    return ", ".join(channels[:3]) or "writes"


def _preview(values: list[Any]) -> str:
    from pydantic_core import to_jsonable_python

    text = json.dumps(to_jsonable_python(values, fallback=repr), default=repr)
    return text[:500]


async def resume(thread_id: str, value: Any = None) -> None:
    """Answer the ``interrupt()`` a graph driven by ``run_graph`` waits at: it resumes with ``value``."""
    await send(RESUME_EVENT, {"thread_id": thread_id, "resume": value})


def _jsonable(value: Any) -> Any:
    from pydantic_core import to_jsonable_python

    return to_jsonable_python(value, fallback=repr)


async def run_graph(
    graph: Any,
    input: Any,
    *,
    thread_id: str,
    run_id: str | None = None,
    config: RunnableConfig | None = None,
    interrupt_timeout: Duration = "7d",
) -> Any:
    """Run a compiled LangGraph graph durably to its end, waiting durably at each ``interrupt()``.

    The graph must be compiled with an ``NbDurableSaver``. Inside a ``%%durable`` cell
    or an ``@nd.function`` this joins that run; elsewhere it starts (or, called again
    with the same ``run_id``, resumes) a run of its own. Returns the graph's final state
    values (``graph.ainvoke``'s result). An interrupt is answered by a ``langgraph/resume``
    event for the thread (``resume(thread_id, value)``, the timeline's send button, or
    ``%durable send langgraph/resume '{"thread_id": ..., "resume": ...}'``).
    """
    if not isinstance(getattr(graph, "checkpointer", None), NbDurableSaver):
        raise ConfigError(
            "run_graph needs a graph compiled with an NbDurableSaver: builder.compile(checkpointer=NbDurableSaver())"
        )
    run_config: RunnableConfig = {**(config or {})}
    run_config["configurable"] = {**(run_config.get("configurable") or {}), "thread_id": thread_id}
    saver: NbDurableSaver = graph.checkpointer

    async def body(step: Step) -> Any:
        return await _drive(step, graph, saver, input, thread_id, run_config, interrupt_timeout)

    return await join_or_start(
        body,
        function_id=f"langgraph-run:{getattr(graph, 'name', None) or 'graph'}",
        run_id=run_id,
        data={"thread_id": thread_id},
        journal_as=_jsonable,
    )


async def _drive(
    step: Step,
    graph: Any,
    saver: NbDurableSaver,
    input: Any,
    thread_id: str,
    config: RunnableConfig,
    interrupt_timeout: Any,
) -> Any:
    from langgraph.types import Command

    def head() -> str | None:
        latest = saver.get_tuple({"configurable": {"thread_id": thread_id, "checkpoint_ns": ""}})
        return None if latest is None else str(latest.config["configurable"]["checkpoint_id"])

    value: Any = input
    turn = 0
    while True:
        # Journaled before the graph runs: after a restart, a thread that moved past this checkpoint was already
        # given its input (continue it with None), one that did not is given the input again.
        before = await step.run(f"graph.start-{turn}", head)

        async def invoke(given: Any = value, start: str | None = before) -> list[Any]:
            await graph.ainvoke(None if head() != start else given, config)
            state = await graph.aget_state(config)
            return [_jsonable(getattr(i, "value", i)) for i in getattr(state, "interrupts", ()) or ()]

        # One step per invocation: once it returned, a replay does not run the graph again (LangGraph itself
        # would re-run the interrupted node to reach its interrupt).
        interrupts = await step.run(f"graph.invoke-{turn}", invoke, retries=0)
        if not interrupts:
            state = await graph.aget_state(config)
            return state.values
        event = await step.wait_for_event(
            f"graph.interrupt-{turn}", event=RESUME_EVENT, timeout=interrupt_timeout, if_exp=_resume_if(thread_id)
        )
        if event is None:
            raise RunCancelledError(
                f"thread {thread_id!r}: no answer to its interrupt arrived within {interrupt_timeout}",
                run_id=step.run_id,
                reason="interrupt timed out",
            )
        value = Command(resume=event.data.get("resume"))
        turn += 1
