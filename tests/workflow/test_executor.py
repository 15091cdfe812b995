"""The one step executor (engine/_executor.py): every step kind, replayed, answers what it answered the first time."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import json
import sqlite3
import types
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import pydantic
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

import nbdurable as nd
import nbdurable.engine._executor as executor_module
from nbdurable.engine import registry
from tests.helpers import count_type_hints, interrupt, reset_engine, restart, until

KINDS = ("run", "run_async", "retry", "send", "sleep", "value", "wait", "invoke", "parallel", "fail")


async def _mixed_run(path: Path, kinds: list[str]) -> tuple[list[list[Any]], Counter[str]]:
    """Run a workflow made of ``kinds`` until it crashes at its end, restart, resume it: what each execution saw."""
    calls: Counter[str] = Counter()
    seen: list[list[Any]] = []
    tag = uuid.uuid4().hex[:8]

    @nd.function(id=f"mix-child-{tag}")
    async def child(ctx: nd.Context) -> str:
        def make() -> str:
            calls[f"child:{ctx.run_id}"] += 1
            return uuid.uuid4().hex

        out: str = await ctx.step.run("make", make)
        return out

    def fresh(name: str) -> Any:
        def fn() -> str:
            calls[name] += 1
            return uuid.uuid4().hex  # a new value each time it runs: a replay that ran it again would differ

        return fn

    async def one(step: nd.Step, i: int, kind: str) -> Any:
        name = f"{kind}-{i}"
        if kind == "run":
            return await step.run(name, fresh(name))
        if kind == "run_async":

            async def later() -> str:
                await asyncio.sleep(0)
                return str(fresh(name)())

            return await step.run(name, later)
        if kind == "retry":

            def flaky() -> str:
                calls[name] += 1
                if calls[name] == 1:
                    raise ValueError("the first attempt fails")
                return uuid.uuid4().hex

            return await step.run(name, flaky, retries=1)
        if kind == "fail":

            def broken() -> str:
                calls[name] += 1
                raise nd.NonRetriableError(f"step {name} fails for good")

            try:
                await step.run(name, broken)
            except nd.StepError as exc:
                return f"failed: {exc.error_type}"
            raise AssertionError("a failed step must raise StepError")
        if kind == "send":
            return await step.send_event(name, {"name": f"mix/{tag}", "data": {"i": i}})
        if kind == "sleep":
            await step.sleep(name, 0.001)
            return "slept"
        if kind == "value":
            return str(step.uuid())
        if kind == "wait":
            ev = await step.wait_for_event(name, event=f"mix/{tag}", timeout=0.05)
            return None if ev is None else [ev.id, ev.data]
        if kind == "invoke":
            return await step.invoke(name, function=child, data={"i": i})
        assert kind == "parallel"
        a, b = f"{name}-a", f"{name}-b"
        return list(await step.parallel([lambda: step.run(a, fresh(a)), lambda: step.run(b, fresh(b))]))

    @nd.function(id=f"mix-{tag}")
    async def mixed(ctx: nd.Context) -> int:
        results = [await one(ctx.step, i, kind) for i, kind in enumerate(kinds)]
        seen.append(results)
        if len(seen) == 1:
            await asyncio.sleep(3600)  # the first execution stops here: interrupted, as by a dying kernel
        return len(results)

    saved_base = executor_module._BACKOFF_BASE
    executor_module._BACKOFF_BASE = 0.001
    try:
        mixed.start(run_id=f"mix-{tag}")
        await until(lambda: len(seen) == 1, timeout=30, what="the end of the first execution")
        await interrupt(f"mix-{tag}")
        first_calls = Counter(calls)
        restart(path)
        assert await nd.get_run(f"mix-{tag}").resume().result() == len(kinds)
        assert calls == first_calls, "a completed step ran again on replay"
    finally:
        executor_module._BACKOFF_BASE = saved_base
        for handle in nd.runs(limit=None):
            with contextlib.suppress(nd.NbDurableError):
                if handle.status in ("queued", "running", "sleeping", "waiting"):
                    handle.cancel()
        registry().pop(mixed.id, None)
        registry().pop(child.id, None)
    return seen, calls


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(kinds=st.lists(st.sampled_from(KINDS), min_size=1, max_size=7))
@example(kinds=["send", "wait", "wait", "retry", "parallel", "invoke", "value", "sleep", "fail", "run", "run_async"])
def test_any_mix_of_step_kinds_replays_to_the_same_results_without_running_a_step_again(
    tmp_path_factory: pytest.TempPathFactory, kinds: list[str]
) -> None:
    """Property: a workflow of any mix of step kinds, resumed after its first execution, gets the same value
    from every step (each value is new whenever its code runs) and no completed step's code runs again."""
    path = tmp_path_factory.mktemp("mix") / "journal.db"
    reset_engine()
    nd.configure(path, poll_interval=0.02)
    try:
        seen, calls = asyncio.run(_mixed_run(path, kinds))
    finally:
        reset_engine()
    assert len(seen) == 2
    assert seen[0] == seen[1]
    unclaimed = 0  # events sent and not yet taken by a wait: a wait takes one if there is one, else times out
    for i, kind in enumerate(kinds):
        if kind == "send":
            unclaimed += 1
        elif kind == "wait":
            assert (seen[0][i] is not None) == (unclaimed > 0)
            unclaimed -= seen[0][i] is not None
    for i, kind in enumerate(kinds):
        if kind in ("run", "run_async", "fail"):
            assert calls[f"{kind}-{i}"] == 1
        elif kind == "retry":
            assert calls[f"retry-{i}"] == 2  # one failed attempt, one that completed; none on replay
        elif kind == "parallel":
            assert calls[f"parallel-{i}-a"] == calls[f"parallel-{i}-b"] == 1
    invoked = sum(1 for kind in kinds if kind == "invoke")
    assert sum(n for key, n in calls.items() if key.startswith("child:")) == invoked


@pytest.mark.asyncio
async def test_a_step_failed_for_good_is_answered_from_the_journal_with_its_error(journal_path: Path) -> None:
    """The executor's failed-step replay: the same StepError (type, message) and the step's code not run again."""
    calls = 0

    @nd.function(id="exec-failed-replay")
    async def flow(ctx: nd.Context) -> str:
        def broken() -> None:
            nonlocal calls
            calls += 1
            raise KeyError("missing")

        try:
            await ctx.step.run("broken", broken, retries=0)
        except nd.StepError as exc:
            seen.append(exc)
            if len(seen) == 1:
                await asyncio.sleep(3600)  # interrupted here, as by a dying kernel
            return f"{exc.error_type}: {exc.error_message} ({exc.step_id})"
        return "no error"

    seen: list[nd.StepError] = []
    flow.start(run_id="exec-failed")
    await until(lambda: len(seen) == 1, what="the step's failure")
    await interrupt("exec-failed")
    restart(journal_path)
    assert await nd.get_run("exec-failed").resume().result() == "KeyError: 'missing' (broken)"
    assert calls == 1
    assert str(seen[0]) == str(seen[1])


_json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3),
    max_leaves=10,
)


@settings(max_examples=400, deadline=None)
@given(
    value=_json_values,
    wanted=st.sampled_from([None, str, int, float, bool, dict, list]),
    pad=st.sampled_from(["", " ", "\n", "x", "]", ",1"]),
    before=st.booleans(),
)
@example(value=[[[[]]]], wanted=None, pad="", before=False)
def test_the_replay_fast_path_reads_a_journaled_value_as_json_loads_does(
    value: Any, wanted: Any, pad: str, before: bool
) -> None:
    """plain_value answers only with what json.loads gives (same types, -0.0, NaN), and only when it fits ``wanted``.

    Text it does not answer (padding, trailing data, not JSON, another type) goes to the general decode.
    """
    text = json.dumps(value)
    text = pad + text if before else text + pad
    got = executor_module.plain_value(text, wanted)
    try:
        expected = json.loads(text)
    except ValueError:
        assert got is executor_module._UNREADABLE
        return
    fits = wanted is None or (isinstance(expected, wanted) and not (wanted is int and isinstance(expected, bool)))
    if got is executor_module._UNREADABLE:
        assert (pad.strip() == "" and pad) or not fits, (text, wanted)  # only padding or another type goes the long way
        return
    assert fits and type(got) is type(expected) and json.dumps(got) == json.dumps(expected)


# -- replay of a new callable per step (lambda, closure, partial, bound method, async closure, module function) --

FORMS = ("lambda", "closure", "partial", "method", "async", "function")


def _module_step() -> str:
    return "function"


def _partial_step(i: int) -> str:
    return f"partial {i}"


class _Tool:
    def fetch(self) -> str:
        return "method"


def _step_of(form: str, i: int, ran: list[str]) -> Any:
    """A new callable for step ``i`` in the given form, as a notebook loop writes them; each notes that it ran."""
    if form == "lambda":
        return lambda: ran.append(form) or f"lambda {i}"
    if form == "closure":

        def closure() -> str:
            ran.append(form)
            return f"closure {i}"

        return closure
    if form == "partial":
        return functools.partial(lambda j: ran.append(form) or _partial_step(j), i)
    if form == "method":
        ran.append(form)  # made per step: noted when made, so a replay makes it without it counting as a run
        ran.pop()
        return _Tool().fetch
    if form == "async":

        async def fetch() -> str:
            ran.append(form)
            return f"async {i}"

        return fetch
    return _module_step


def _set_code_hash(path: Path, run_id: str, step_id: str, digest: bytes) -> None:
    """Edit one step's journaled code hash, as if its code had been different when it ran."""
    with contextlib.closing(sqlite3.connect(path)) as conn, conn:
        changed = conn.execute(
            "UPDATE steps SET code_hash=? WHERE rn=(SELECT rn FROM runs WHERE run_id=?) AND step_id=?",
            (digest, run_id, step_id),
        ).rowcount
    assert changed == 1


@pytest.mark.asyncio
@pytest.mark.parametrize("form", FORMS)
@pytest.mark.parametrize("on_change", ["warn", "error"])
async def test_changed_code_is_noticed_on_replay_whatever_the_step_function_is(
    journal_path: Path, form: str, on_change: str
) -> None:
    """Every form of step function is hashed (a partial as the function it wraps) and checked on replay: the step
    whose journaled hash differs is named (warn) or stops the run (error); the others are not; none runs again."""
    ran: list[str] = []

    @nd.function(id=f"changed-{form}-{on_change}", lint="off", retries=0, on_change=on_change)  # type: ignore[arg-type]
    async def wf(ctx: nd.Context) -> list[str]:
        out = [await ctx.step.run(form, _step_of(form, i, ran)) for i in range(3)]
        if ctx.attempt == 0:
            raise RuntimeError("stop after the steps, the first time")
        return out

    run_id = f"changed-{form}-{on_change}"
    with pytest.raises(nd.RunFailedError):
        await wf.run(run_id=run_id)
    first = list(ran)
    hashes = {s.step_id: s.code_hash for s in nd.get_engine().journal.load_steps(run_id)}
    assert all(hashes[step_id] for step_id in (form, f"{form}:1", f"{form}:2")), hashes
    _set_code_hash(journal_path, run_id, f"{form}:1", b"\0" * 8)
    handle = nd.get_run(run_id).resume()
    if on_change == "error":
        with pytest.raises(nd.RunFailedError, match=rf"step '{form}:1'.*code changed since it ran"):
            await handle.result()
    else:
        with pytest.warns(
            nd.ReplayDeterminismWarning, match=rf"1 replayed step\(s\) changed since they ran \('{form}:1'\)"
        ):
            out = await handle.result()
        assert len(out) == 3
    assert ran == first, "a completed step ran again"


@pytest.mark.asyncio
async def test_a_new_callable_per_step_replays_each_value_as_the_type_it_had(journal_path: Path) -> None:
    """Values of every kind the journal tags or the code declares come back from replay equal and of the same
    type, whichever form of callable produced them (the per-code cache must not mix two functions' types)."""
    import datetime as dt
    import decimal

    @dataclasses.dataclass
    class Box:
        n: int

    class Model(pydantic.BaseModel):
        x: int

    values: list[Any] = [
        Model(x=1),
        Box(2),
        (1, "a"),
        dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.timezone.utc),
        {3, 4},
        b"\x00bytes",
        decimal.Decimal("1.10"),
        uuid.UUID(int=5),
        {"k": [1, 2.5, None]},
        7,
        7.0,
        -0.0,
        True,
        "text",
        None,
    ]

    def produce(i: int) -> Any:
        value = values[i % len(values)]
        form = FORMS[i % len(FORMS)]
        # Each value is returned by a function whose annotation declares its type (one code object per form).
        if form == "lambda":
            return lambda: value
        if form == "closure":

            def closure() -> Any:
                return value

            return closure
        if form == "partial":
            return functools.partial(lambda v: v, value)
        if form == "method":
            return _Holder(value).get
        if form == "async":

            async def later() -> Any:
                return value

            return later

        def typed() -> Model:  # a declared type on a closure: the cache must not hand it to the others
            return Model(x=i)

        return typed

    seen: list[list[Any]] = []

    @nd.function(id="replay-types", lint="off", retries=0)
    async def wf(ctx: nd.Context) -> int:
        got = []
        for i in range(len(values) * len(FORMS)):
            # Now and then the type is declared at the call instead (output_type=), except on the typed closure.
            declared = i % 7 == 0 and FORMS[i % len(FORMS)] != "function"
            got.append(
                await ctx.step.run("v", produce(i), output_type=type(values[i % len(values)]) if declared else None)
            )
        seen.append(got)
        if ctx.attempt == 0:
            raise RuntimeError("stop after the steps, the first time")
        return len(got)

    nd.register_type(Box)
    nd.register_type(Model)
    with pytest.raises(nd.RunFailedError):
        await wf.run(run_id="replay-types")
    assert await nd.get_run("replay-types").resume().result() == len(values) * len(FORMS)
    first, again = seen
    assert [type(v) for v in again] == [type(v) for v in first]
    assert again == first


class _Made(pydantic.BaseModel):  # never registered: only a declared type lets replay rebuild it
    n: int


def _make(n: int) -> _Made:
    return _Made(n=n)


class _Maker:
    def __call__(self, n: int) -> _Made:
        return _Made(n=n * 10)


@pytest.mark.asyncio
async def test_a_partial_and_a_callable_object_declare_their_functions_return_type(journal_path: Path) -> None:
    """A partial's value is what the function it wraps declares, a callable object's what its __call__ declares:
    an unregistered model comes back from a replay in a new engine as itself (before, the first run failed saying
    to annotate the function, which was annotated), and a callable object's code is hashed, so on_change sees it."""
    ran: list[int] = []
    seen: list[list[Any]] = []

    @nd.function(id="described", lint="off", retries=0)
    async def wf(ctx: nd.Context) -> int:
        got = [
            # A lambda's model is rebuilt by its tag: the lambda's module declares the class.
            await ctx.step.run("partial", functools.partial(lambda n: ran.append(n) or _make(n), 1)),
            await ctx.step.run("wrapped", functools.partial(_make, 2)),
            await ctx.step.run("object", _Maker(), 3),
            await ctx.step.run("both", functools.partial(_Maker(), 4)),
        ]
        seen.append(got)
        if ctx.attempt == 0:
            raise RuntimeError("stop after the steps, the first time")
        return len(got)

    with pytest.raises(nd.RunFailedError, match="stop after the steps"):
        await wf.run(run_id="described")
    restart(journal_path)
    assert await nd.get_run("described").resume().result() == 4
    first, again = seen
    assert [type(v) for v in again] == [type(v) for v in first] == [_Made] * 4
    assert again == first == [_Made(n=1), _Made(n=2), _Made(n=30), _Made(n=40)]
    assert ran == [1], "a completed step ran again"
    hashes = {s.step_id: s.code_hash for s in nd.get_engine().journal.load_steps("described")}
    assert hashes["object"] == hashes["both"] == executor_module.callable_hash(_Maker.__call__) != ""
    assert hashes["wrapped"] == executor_module.callable_hash(_make)


class _Holder:
    def __init__(self, value: Any) -> None:
        self.value = value

    def get(self) -> Any:
        return self.value


class _A(pydantic.BaseModel):
    a: int


class _B(pydantic.BaseModel):
    b: int


def test_replay_facts_follow_each_function_sharing_code() -> None:
    """replay_facts answers per code object, yet a function whose annotation or globals differ gets its own type;
    the hash is callable_hash's (a partial: its function's), and a new closure per step is resolved once."""
    from nbdurable.engine._executor import callable_hash, replay_facts

    def make() -> Any:
        def f() -> _A:
            return _A(a=1)

        return f

    first, second = make(), make()
    assert first.__code__ is second.__code__
    assert replay_facts(first) == (bytes.fromhex(callable_hash(first)), _A)
    second.__annotations__ = {"return": _B}
    assert replay_facts(second)[1] is _B and replay_facts(first)[1] is _A
    # The same code and annotation text, resolved in other globals, where the name means another class.
    elsewhere = types.FunctionType(first.__code__, {**first.__globals__, "_A": _B}, closure=first.__closure__)
    elsewhere.__annotations__ = first.__annotations__
    assert replay_facts(elsewhere) == (replay_facts(first)[0], _B)
    assert replay_facts(first)[1] is _A
    assert replay_facts(functools.partial(first)) == (replay_facts(first)[0], _A)  # typed as the function it wraps
    assert replay_facts(functools.partial(functools.partial(_Tool().fetch))) == (replay_facts(_Tool.fetch)[0], str)
    assert replay_facts(_Tool().fetch) == (bytes.fromhex(callable_hash(_Tool.fetch)), str)
    assert replay_facts(lambda: 1)[1] is None and replay_facts(lambda: 1)[0]
    assert replay_facts(len) == (b"", None)  # a builtin: no code of its own to check

    async def coro() -> int:
        return 1

    assert replay_facts(coro)[1] is int
    assert callable_hash(functools.partial(_partial_step, 1)) == callable_hash(_partial_step) != ""


def test_replay_facts_resolve_a_closure_per_step_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """No typing introspection per replayed step: 50 closures of one code object resolve their annotation once."""
    from nbdurable.engine._executor import replay_facts

    calls = count_type_hints(monkeypatch)

    def make(i: int) -> Any:
        def step() -> _Holder:
            return _Holder(i)

        return step

    assert all(replay_facts(make(i))[1] is _Holder for i in range(50))
    assert len(calls) <= 1, f"resolved {len(calls)} times for one code object"


@pytest.mark.asyncio
async def test_steps_with_inputs_replay_without_a_query_each_and_other_inputs_are_still_noticed(
    journal_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Steps with inputs replay from their plain rows (their inputs' preview stays in the journal) with no query per
    step: only the one reached with other inputs reads its record, to report both previews; none runs again."""
    from nbdurable.journal._sqlite import SQLiteJournal

    ran: list[int] = []
    wholes: list[int] = []
    real = SQLiteJournal._plain_records

    def counting(self: SQLiteJournal, run_id: str, rows: Any) -> Any:
        wholes.append(len(rows))
        return real(self, run_id, rows)

    monkeypatch.setattr(SQLiteJournal, "_plain_records", counting)
    shift = [0]

    def add(a: int, b: int) -> int:
        ran.append(a)
        return a + b

    @nd.function(id="inputs-replay", lint="off", retries=0)
    async def wf(ctx: nd.Context) -> list[int]:
        out = [await ctx.step.run("add", add, i, b=i + (shift[0] if i == 7 else 0)) for i in range(20)]
        if ctx.attempt == 0:
            raise RuntimeError("stop after the steps, the first time")
        return out

    with pytest.raises(nd.RunFailedError):
        await wf.run(run_id="inputs-replay")
    assert ran == list(range(20))
    shift[0] = 1  # step add:7 is reached with another b
    replay = nd.get_engine().journal.load_replay("inputs-replay")
    assert len(replay.plain) == 20 and replay.records == []  # every step with inputs is a plain row
    with pytest.warns(
        nd.ReplayDeterminismWarning,
        match=r"step 'add:7': reached with other inputs than journaled \(journaled \[7\],\{\"b\":7\}, "
        r"now \[7\],\{\"b\":8\}\)",
    ):
        out = await nd.get_run("inputs-replay").resume().result()
    assert out == [2 * i for i in range(20)]  # the journaled results, add:7's too
    assert ran == list(range(20)), "a completed step ran again"
    assert wholes == [1], "a replayed step read its record from the journal (only add:7's preview is needed)"


@pytest.mark.asyncio
async def test_a_watched_replay_tells_each_plain_step_with_its_whole_record(journal_path: Path) -> None:
    """With a view subscribed, every replayed plain step is announced with the record load_steps reads (the
    columns replay does not fetch included: attempt, times, hashes), and none runs again."""
    ran: list[int] = []

    @nd.function(id="watched-replay", lint="off", retries=0)
    async def wf(ctx: nd.Context) -> int:
        total = 0
        for i in range(30):
            total += await ctx.step.run("s", functools.partial(lambda j: ran.append(j) or j, i))
        if ctx.attempt == 0:
            raise RuntimeError("stop after the steps, the first time")
        return total

    with pytest.raises(nd.RunFailedError):
        await wf.run(run_id="watched-replay")
    notices: list[Any] = []
    unsubscribe = nd.get_engine().subscribe(notices.append)
    try:
        assert await nd.get_run("watched-replay").resume().result() == sum(range(30))
    finally:
        unsubscribe()
    assert ran == list(range(30))
    told = {n.step_id: n.record for n in notices if n.kind == "step_replayed" and n.run_id == "watched-replay"}
    stored = {s.step_id: s for s in nd.get_engine().journal.load_steps("watched-replay")}
    assert len(told) == 30 and told == {k: v for k, v in stored.items() if k in told}
    assert all(r.started_at > 0 and r.ended_at and r.code_hash for r in told.values())


@pytest.mark.asyncio
async def test_open_steps_are_counted_back_to_zero_through_replayed_parallel_branches(journal_path: Path) -> None:
    """Replayed steps are not counted open (they write nothing) and executed ones are counted back, in and out of
    step.parallel branches: the count the writer batches commits by ends at zero, never below."""
    ran: list[str] = []
    seen: list[int] = []

    @nd.function(id="open-count", lint="off", retries=0)
    async def wf(ctx: nd.Context) -> list[Any]:
        engine = nd.get_engine()

        def branch(tag: str) -> Any:
            async def body() -> list[str]:
                first = await ctx.step.run(f"{tag}-1", lambda: ran.append(tag) or tag)
                seen.append(engine.open_steps)
                second = await ctx.step.run(f"{tag}-2", lambda: ran.append(tag) or tag)
                return [first, second]

            return body

        out = list(await ctx.step.parallel([branch("a"), branch("b")]))
        out.append(await ctx.step.run("after", lambda: ran.append("after") or "after"))
        seen.append(engine.open_steps)
        if ctx.attempt == 0:
            raise RuntimeError("stop after the steps, the first time")
        return out

    with pytest.raises(nd.RunFailedError):
        await wf.run(run_id="open-count")
    first = list(ran)
    seen.clear()
    assert await nd.get_run("open-count").resume().result() == [["a", "a"], ["b", "b"], "after"]
    assert ran == first, "a completed step ran again"
    assert all(n >= 0 for n in seen) and seen[-1] == 0 and nd.get_engine().open_steps == 0


def test_replay_facts_resolve_an_equal_generic_annotation_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without ``from __future__ import annotations``, ``-> list[X]`` is a new object per closure: equal ones share
    the resolution, an unequal one (another class) gets its own."""
    from nbdurable.engine._executor import replay_facts

    calls = count_type_hints(monkeypatch)

    def make(item: type) -> Any:
        def step() -> Any:
            return []

        step.__annotations__ = {"return": list[item]}  # type: ignore[valid-type]  # a new GenericAlias each time
        return step

    made = [make(_Holder) for _ in range(20)]
    assert made[0].__annotations__["return"] is not made[1].__annotations__["return"]
    assert all(replay_facts(f)[1] == list[_Holder] for f in made)
    assert len(calls) <= 1, f"resolved {len(calls)} times for equal annotations"
    assert replay_facts(make(_A))[1] == list[_A] and replay_facts(made[0])[1] == list[_Holder]
