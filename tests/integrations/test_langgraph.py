"""NbDurableSaver and run_graph with the real langgraph: conformance suite, timeline rows, durable interrupts."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Annotated, Any, TypedDict

import pytest
from langgraph.checkpoint.conformance import checkpointer_test, validate
from langgraph.graph import END, START, StateGraph
from langgraph.types import interrupt

import nbdurable as nd
from nbdurable.integrations.langgraph import NbDurableSaver, resume, run_graph, thread_run_id
from tests.helpers import journal, restart, until


@checkpointer_test(name="NbDurableSaver")
async def fresh_saver() -> AsyncIterator[NbDurableSaver]:
    yield NbDurableSaver(nd.configure(nd.MemoryJournal()))


@pytest.mark.asyncio
async def test_langgraphs_own_conformance_suite_passes(journal_path: Path) -> None:
    report = await validate(fresh_saver)
    report.print_report()
    assert report.passed_all_base()
    copy = report.results["copy_thread"]
    assert copy.detected and copy.passed and copy.tests_passed > 0 and copy.tests_failed == 0
    # Not implemented (optional in the suite): deleting single checkpoints (delete_for_runs, prune).
    assert not report.results["prune"].detected and not report.results["delete_for_runs"].detected


@pytest.mark.asyncio
async def test_the_conformance_suite_passes_on_the_sqlite_journal(tmp_path: Path, journal_path: Path) -> None:
    counter = iter(range(1000))

    @checkpointer_test(name="NbDurableSaver-sqlite")
    async def on_disk() -> AsyncIterator[NbDurableSaver]:
        yield NbDurableSaver(nd.Engine(nd.SQLiteJournal(tmp_path / f"conformance-{next(counter)}.db")))

    report = await validate(on_disk)
    assert report.passed_all_base() and report.results["copy_thread"].passed


def concat(left: list[str], right: list[str]) -> list[str]:
    return left + right


class Doc(TypedDict):
    """A graph state: a log of what the nodes did."""

    log: Annotated[list[str], concat]


ran: list[str] = []


def draft(state: Doc) -> dict[str, list[str]]:
    ran.append("draft")
    return {"log": ["drafted"]}


def review(state: Doc) -> dict[str, list[str]]:
    ran.append("review")
    verdict = interrupt({"question": "publish?", "log": state["log"]})
    return {"log": [f"reviewed: {verdict}"]}


def publish(state: Doc) -> dict[str, list[str]]:
    ran.append("publish")
    return {"log": ["published"]}


def build(saver: NbDurableSaver) -> Any:
    builder = StateGraph(Doc)
    for name, fn in (("draft", draft), ("review", review), ("publish", publish)):
        builder.add_node(name, fn)
    builder.add_edge(START, "draft")
    builder.add_edge("draft", "review")
    builder.add_edge("review", "publish")
    builder.add_edge("publish", END)
    return builder.compile(checkpointer=saver)


@pytest.mark.asyncio
async def test_a_thread_is_a_run_with_one_row_per_super_step_and_node(journal_path: Path) -> None:
    saver = NbDurableSaver()
    builder = StateGraph(Doc)
    builder.add_node("draft", draft)
    builder.add_edge(START, "draft")
    builder.add_edge("draft", END)
    graph = builder.compile(checkpointer=saver)
    out = await graph.ainvoke({"log": ["start"]}, {"configurable": {"thread_id": "plain"}})
    assert out == {"log": ["start", "drafted"]}
    run = journal().get_run(thread_run_id("plain"))
    assert run is not None and run.function_id == "langgraph" and run.status == "completed"
    names = [s.name for s in journal().load_steps(thread_run_id("plain"))]
    assert names == ["super-step -1 (input)", "__start__", "super-step 0 (loop)", "draft", "super-step 1 (loop)"]
    # A new saver over the same journal (a restarted kernel) sees the thread.
    state = await build(NbDurableSaver()).aget_state({"configurable": {"thread_id": "plain"}})
    assert state.values == {"log": ["start", "drafted"]}


@pytest.mark.asyncio
@pytest.mark.skipif(
    sys.version_info < (3, 11),
    reason="LangGraph's interrupt() under ainvoke needs Python 3.11: before it, asyncio tasks cannot be given the "
    "context that carries the node's config (LangGraph's ASYNCIO_ACCEPTS_CONTEXT)",
)
async def test_an_interrupt_waits_durably_across_a_restart_and_is_answered_by_the_event(journal_path: Path) -> None:
    ran.clear()
    graph = build(NbDurableSaver())
    first = asyncio.ensure_future(run_graph(graph, {"log": []}, thread_id="doc-1", run_id="review-doc-1"))
    await until(lambda: (r := journal().get_run("review-doc-1")) is not None and r.status == "waiting", what="wait")
    (wait,) = [s for s in journal().load_steps(thread_run_id("doc-1")) if s.kind == "wait"]
    assert wait.status == "waiting" and wait.name == "interrupt in review" and "publish?" in wait.meta["interrupt"]
    assert wait.meta["event"] == "langgraph/resume" and wait.meta["if_exp"] == 'async.data.thread_id == "doc-1"'
    assert nd.get_engine().interrupt("review-doc-1")  # the kernel goes away while the graph waits
    with pytest.raises(nd.RunInterruptedError):
        await first
    assert ran == ["draft", "review"]
    restart(journal_path)
    graph = build(NbDurableSaver())
    second = asyncio.ensure_future(run_graph(graph, {"log": []}, thread_id="doc-1", run_id="review-doc-1"))
    await until(lambda: (r := journal().get_run("review-doc-1")) is not None and r.status == "waiting", what="wait")
    await resume("doc-1", "yes")
    values = await second
    assert values == {"log": ["drafted", "reviewed: yes", "published"]}
    assert ran == ["draft", "review", "review", "publish"], "draft did not run again; review re-ran to read the answer"
    assert all(s.status == "completed" for s in journal().load_steps(thread_run_id("doc-1")))


def test_run_graph_needs_the_journal_checkpointer() -> None:
    builder = StateGraph(Doc)
    builder.add_node("draft", draft)
    builder.add_edge(START, "draft")
    with pytest.raises(nd.ConfigError, match="NbDurableSaver"):
        asyncio.run(run_graph(builder.compile(), {"log": []}, thread_id="x"))


def test_a_thread_id_is_required(journal_path: Path) -> None:
    with pytest.raises(nd.ConfigError, match="thread_id"):
        NbDurableSaver().get_tuple({"configurable": {}})
