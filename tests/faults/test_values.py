"""Values round-trip or are refused, never silently changed.

The rule: what replay returns equals what the first run returned (same types, NaN
equal to NaN), or the first run refuses the value with a SerializationError that
says why and what to return instead. Checked by a hypothesis property through a
real SQLite journal, by the cases the issue reported (a lone surrogate inside a
gather, NaN in a model, int keys, a 5,000-deep result), by their siblings, and by
a replay in a fresh process.
"""

from __future__ import annotations

import asyncio
import collections
import dataclasses
import datetime as dt
import decimal
import enum
import itertools
import json
import math
import zoneinfo
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NamedTuple

import openai
import pydantic
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import nbdurable as nd
from nbdurable.engine._serde import decode, digest_inputs, encode
from nbdurable.journal._protocol import RunRecord, StepRecord, Write
from nbdurable.testing._llm_server import ScriptedLLMServer, reply
from tests.faults.conftest import run_python
from tests.helpers import CrashError, restart

# -- what a step may return (module level: the module of the code at hand) -------------------------


class Color(enum.Enum):
    RED = "red"
    BLUE = "blue"


class Level(enum.IntEnum):
    LOW = 1
    HIGH = 2


class Inner(pydantic.BaseModel):
    x: float
    tags: list[str]


class Outer(pydantic.BaseModel):
    inner: Inner
    counts: dict[str, int]
    when: dt.datetime
    color: Color
    pair: tuple[int, str]
    maybe: float | None = None
    anything: Any = None


@dataclasses.dataclass
class Point:
    x: float
    label: str
    day: dt.date


class Pair(NamedTuple):
    a: int
    b: str


class Name(str):
    pass


class Count(int):
    pass


UTC = dt.timezone.utc
PLUS5 = dt.timezone(dt.timedelta(hours=5, minutes=30))
PARIS = zoneinfo.ZoneInfo("Europe/Paris")

# -- an oracle independent of nbdurable's own comparison ---------------------------------------------


def same(a: Any, b: Any, *, declared_float: bool = False) -> bool:
    """Equal and of the same types all the way down; NaN equals NaN; -0.0 is not 0.0."""
    if type(a) is not type(b):
        return declared_float and type(a) is int and type(b) is float and a == b
    if isinstance(a, float):
        return (math.isnan(a) and math.isnan(b)) or (a == b and math.copysign(1, a) == math.copysign(1, b))
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict):
        return list(map(type, a)) == list(map(type, b)) and a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, (set, frozenset)):
        return a == b and sorted(map(repr, a)) == sorted(map(repr, b))
    if isinstance(a, (dt.datetime, dt.time)):
        return a == b and str(a) == str(b)
    if isinstance(a, decimal.Decimal):
        return str(a) == str(b)
    if isinstance(a, pydantic.BaseModel):
        return same(dict(a), dict(b))
    if dataclasses.is_dataclass(a):
        return same(vars(a), vars(b))
    return bool(a == b)


# -- the property, through a real SQLite journal -----------------------------------------------------

_ids = itertools.count()


class Store:
    """One real journal file; each value is written as a step of one run and read back."""

    def __init__(self, path: Path) -> None:
        self.journal = nd.SQLiteJournal(path)
        self.journal.write([Write("run", run=RunRecord("prop", "prop-fn", "running", created_at=1.0, updated_at=1.0))])

    def round_trip(self, payload: str, tag: str | None) -> tuple[str, str | None]:
        step_id = f"v{next(_ids)}"
        record = StepRecord(
            run_id="prop",
            step_id=step_id,
            name=step_id,
            position=0,
            output=payload,
            output_tag=tag,
            started_at=1.0,
            ended_at=2.0,
        )
        self.journal.write([Write("step", step=record)])
        (back,) = [s for s in self.journal.load_steps("prop") if s.step_id == step_id]
        assert back.damaged == ()
        assert back.output is not None
        return back.output, back.output_tag


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = Store(tmp_path / "values.db")
    yield s
    s.journal.close()


surrogate_text = st.builds(lambda a, c, b: a + chr(c) + b, st.text(max_size=5), st.integers(0xD800, 0xDFFF), st.text())
keys = st.one_of(st.text(max_size=8), st.integers(), st.booleans(), st.none(), st.floats(), surrogate_text)
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(min_value=10**4000, max_value=10**4400),  # past Python's int-to-text limit
    st.floats(),  # NaN, infinities and -0.0 included
    st.text(),
    surrogate_text,
    st.binary(max_size=16),
    st.binary(max_size=8).map(bytearray),
    st.datetimes(timezones=st.sampled_from([None, UTC, PLUS5, PARIS])),
    st.dates(),
    st.times(),
    st.timedeltas(),
    st.uuids(),
    st.decimals(),
    st.sampled_from([*Color, *Level]),
    st.text(max_size=4).map(Name),
    st.integers().map(Count),
)
hashable = st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=5), st.floats(allow_nan=False))


def _nest(depth: int) -> list[Any]:
    value: list[Any] = []
    for _ in range(depth):
        value = [value]
    return value


def _containers(children: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.one_of(
        st.lists(children, max_size=4),
        st.tuples(children, children),
        st.dictionaries(keys, children, max_size=4),
        st.dictionaries(st.text(max_size=4), children, max_size=4).map(collections.OrderedDict),
        st.frozensets(hashable, max_size=4),
        st.sets(hashable, max_size=4),
        st.builds(Pair, st.integers(), st.text(max_size=4)),
        st.builds(Point, st.floats(), st.text(max_size=4), st.dates()),
        st.builds(Inner, x=st.floats(), tags=st.lists(st.text(max_size=4), max_size=3)),
        st.builds(
            Outer,
            inner=st.builds(Inner, x=st.floats(), tags=st.lists(st.text(max_size=3), max_size=2)),
            counts=st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
            when=st.datetimes(timezones=st.sampled_from([None, UTC, PLUS5])),
            color=st.sampled_from(Color),
            pair=st.tuples(st.integers(), st.text(max_size=3)),
            maybe=st.one_of(st.none(), st.floats()),
            anything=children,
        ),
    )


values = st.one_of(
    st.recursive(scalars, _containers, max_leaves=12),
    st.integers(1, 400).map(_nest),
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(value=values)
def test_every_value_comes_back_the_same_or_is_refused_when_stored(value: Any, store: Store) -> None:
    try:
        payload, tag = encode(value, module=__name__, where="run 'p', step 's'")
    except nd.SerializationError as exc:
        refused = str(exc)
        assert refused.startswith("run 'p', step 's': "), refused
        return
    stored, stored_tag = store.round_trip(payload, tag)  # never refused by SQLite once encode accepted it
    back = decode(stored, stored_tag, module=__name__, strict=True)
    assert same(value, back), (value, back)


DECLARED: list[tuple[Any, st.SearchStrategy[Any]]] = [
    (dict[int, str], st.dictionaries(st.integers(), st.text(max_size=4), max_size=4)),
    (list[dt.datetime], st.lists(st.datetimes(timezones=st.sampled_from([None, UTC, PLUS5])), max_size=3)),
    (tuple[int, ...], st.lists(st.integers(), max_size=4).map(tuple)),
    (set[int], st.sets(st.integers(), max_size=4)),
    (list[Point], st.lists(st.builds(Point, st.floats(), st.text(max_size=3), st.dates()), max_size=3)),
    (Outer, _containers(scalars).filter(lambda v: isinstance(v, Outer))),
    (dict[str, bytes], st.dictionaries(st.text(max_size=3), st.binary(max_size=6), max_size=3)),
    (list[Color], st.lists(st.sampled_from(Color), max_size=3)),
    (Pair, st.builds(Pair, st.integers(), st.text(max_size=4))),
    (float, st.one_of(st.floats(), st.integers(-(2**53), 2**53))),
    (dict[str, Any], st.dictionaries(st.text(max_size=3), st.recursive(scalars, _containers, max_leaves=4))),
]


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_declared_types_come_back_the_same_or_are_refused_when_stored(data: st.DataObject, store: Store) -> None:
    declared, strategy = data.draw(st.sampled_from(DECLARED))
    value = data.draw(strategy)
    try:
        payload, tag = encode(value, output_type=declared, module=__name__)
    except nd.SerializationError:
        return
    stored, stored_tag = store.round_trip(payload, tag)
    back = decode(stored, stored_tag, output_type=declared, module=__name__, strict=True)
    assert same(value, back, declared_float=declared is float), (declared, value, back)


# -- the reported cases, through the engine -----------------------------------------------------------


@pytest.mark.asyncio
async def test_a_lone_surrogate_fails_its_own_step_and_its_siblings_commit(journal_path: Path) -> None:
    calls: list[str] = []

    def make(name: str, value: str) -> Any:
        def step() -> str:
            calls.append(name)
            return value

        return step

    @nd.function(id="values-gather", retries=3)
    async def wf(ctx: nd.Context) -> list[str]:
        results = await asyncio.gather(
            ctx.step.run("a", make("a", "fine")),
            ctx.step.run("b", make("b", "caf\udce9.txt")),  # what os.listdir gives for a latin-1 name
            ctx.step.run("c", make("c", "also fine")),
            return_exceptions=True,
        )
        if ctx.attempt == 0:
            raise CrashError
        return [r if isinstance(r, str) else type(r).__name__ for r in results]

    with pytest.raises(nd.RunFailedError):
        await wf.run(run_id="gather")
    steps = {s.step_id: s for s in nd.get_engine().journal.load_steps("gather")}
    assert (steps["a"].status, steps["a"].output) == ("completed", '"fine"')
    assert (steps["c"].status, steps["c"].output) == ("completed", '"also fine"')
    assert steps["b"].status == "failed" and steps["b"].attempt == 0  # refused at once, not retried
    assert steps["b"].error is not None
    message = steps["b"].error["message"]
    assert "run 'gather', step 'b'" in message and "surrogate" in message and "os.fsencode" in message
    restart(journal_path)
    assert await nd.get_run("gather").resume().result() == ["fine", "StepError", "also fine"]
    assert sorted(calls) == ["a", "b", "b", "c"]  # the siblings ran once; only the refused step ran again


@pytest.mark.asyncio
async def test_one_unstorable_write_in_a_group_commit_fails_alone(journal_path: Path) -> None:
    """The group commit itself: a write SQLite refuses (no encode check saw it) does not poison its batch."""

    @nd.function(id="values-batch", retries=0)
    async def wf(ctx: nd.Context) -> None:
        await ctx.step.run("first", lambda: 1)

    await wf.run(run_id="batch")
    engine = nd.get_engine()

    def record(step_id: str, meta: dict[str, Any]) -> StepRecord:
        return StepRecord(
            run_id="batch",
            step_id=step_id,
            name=step_id,
            position=9,
            started_at=1.0,
            ended_at=2.0,
            output="1",
            meta=meta,
        )

    engine.open_steps += 3  # as three steps in flight do: their commits share one transaction
    try:
        results = await asyncio.gather(
            engine.commit(record("x", {"input": "ok"})),
            engine.commit(record("y", {"input": 10**5000})),  # json cannot write this int: refused inside write
            engine.commit(record("z", {"input": "ok"})),
            return_exceptions=True,
        )
    finally:
        engine.open_steps -= 3
    assert results[0] is None and results[2] is None
    assert isinstance(results[1], nd.SerializationError)
    assert "run 'batch', step 'y'" in str(results[1])
    stored = {s.step_id for s in engine.journal.load_steps("batch")}
    assert stored == {"first", "x", "z"}


@pytest.mark.asyncio
async def test_nan_and_infinities_inside_a_model_replay_as_themselves(journal_path: Path) -> None:
    seen: list[Inner] = []

    @nd.function(id="values-nan", retries=0)
    async def wf(ctx: nd.Context) -> None:
        seen.append(await ctx.step.run("m", lambda: Inner(x=math.nan, tags=[])))
        seen.append(await ctx.step.run("i", lambda: Inner(x=-math.inf, tags=["a"])))
        if ctx.attempt == 0:
            raise CrashError

    with pytest.raises(nd.RunFailedError):
        await wf.run(run_id="nan")
    restart(journal_path)
    await nd.get_run("nan").resume().result()
    _, first_inf, again_nan, again_inf = seen
    assert type(again_nan) is Inner and math.isnan(again_nan.x)
    assert same(again_inf, first_inf) and again_inf.x == -math.inf


@pytest.mark.asyncio
async def test_int_keys_and_deep_results_are_refused_at_once(journal_path: Path) -> None:
    calls: list[str] = []
    caught: dict[str, nd.StepError] = {}

    def deep() -> list[Any]:
        calls.append("deep")
        return _nest(5_000)

    def int_keys() -> Any:  # nothing declared: the keys would come back as text
        calls.append("keys")
        return {1: "a"}

    def typed_keys() -> dict[int, str]:
        return {1: "a"}

    @nd.function(id="values-refused", retries=3)
    async def wf(ctx: nd.Context) -> dict[int, str]:
        for name, fn in (("deep", deep), ("keys", int_keys)):
            try:
                await ctx.step.run(name, fn)
            except nd.StepError as exc:
                caught[name] = exc
        return await ctx.step.run("typed", typed_keys)  # declared: the same dict comes back

    assert await wf.run(run_id="refused") == {1: "a"}
    assert calls == ["deep", "keys"]  # no retry, no backoff: the same value would be refused again
    assert "nested more than 100 levels" in caught["deep"].error_message
    assert "the key 1 (an int) would come back as the str '1'" in caught["keys"].error_message
    assert "dict[int, str]" in caught["keys"].error_message or "annotate" in caught["keys"].error_message
    restart(journal_path)
    assert await nd.get_run("refused").resume().result() == {1: "a"}


# -- siblings: one decision per kind of value ----------------------------------------------------------

REFUSED = "refused"
SIBLINGS: list[tuple[str, Any, Any, str]] = [
    # (case, value, declared type or None, "same" or a phrase of the refusal)
    ("bytes-nested", {"raw": b"\x00\xff"}, None, "base64"),
    ("bytes-nested-declared", {"raw": b"\x00\xff"}, dict[str, bytes], "same"),
    ("tuple-in-list", [(1, 2)], None, "tuple would come back as a plain list"),
    ("tuple-in-list-declared", [(1, 2)], list[tuple[int, int]], "same"),
    ("set-of-mixed-types", {1, "a", None, 2.5}, None, "same"),
    ("set-of-tuples", {(1, 2)}, None, "tuple would come back as a plain list"),
    ("negative-zero", -0.0, None, "same"),
    ("negative-zero-nested", {"z": [-0.0]}, None, "same"),
    ("big-int", 2**200, None, "same"),
    ("huge-int", 10**5000, None, "more than 4,300 digits"),
    ("circular", (lambda d: d.update(me=d) or d)({}), None, "circular reference"),
    ("datetime-fixed-offset", dt.datetime(2030, 1, 1, 12, tzinfo=PLUS5), None, "same"),
    ("datetime-named-zone", dt.datetime(2030, 1, 1, 12, tzinfo=PARIS), None, "time zone"),
    ("datetimes-declared", [dt.datetime(2030, 1, 1, tzinfo=UTC)], list[dt.datetime], "same"),
    ("enum-nested", [Color.RED], None, "Enum member"),
    ("enum-nested-declared", [Color.RED], list[Color], "same"),
    ("intenum-top", Level.HIGH, None, "same"),
    ("str-subclass", Name("x"), None, "subclass of str"),
    ("int-subclass", [Count(3)], None, "subclass of int"),
    ("namedtuple", Pair(1, "a"), None, "would come back as a plain list"),
    ("namedtuple-declared", Pair(1, "a"), Pair, "same"),
    ("ordereddict", collections.OrderedDict(a=1), None, "subclass of dict"),
    ("defaultdict", collections.defaultdict(list, a=[1]), None, "subclass of dict"),
    ("bytearray", bytearray(b"ab"), None, "same"),
    ("int-where-float-declared", 3, float, "same"),
    ("int-subclass-declared", Count(3), int, "plain"),
    ("str-subclass-declared", Name("x"), str, "plain"),
    ("intenum-where-int-declared", Level.HIGH, int, "would come back as an int"),
    ("str-where-int-declared", "5", int, "would come back as an int"),
    ("model-with-any-field", Outer.model_construct(anything=dt.date(2030, 1, 1)), None, REFUSED),
    ("decimal-nan", decimal.Decimal("NaN"), None, "same"),
    ("decimal-exponent", decimal.Decimal("1.10"), None, "same"),
    ("private-model-class", Inner(x=1.0, tags=[]), None, "same"),
]


@pytest.mark.parametrize(("value", "declared", "expected"), [c[1:] for c in SIBLINGS], ids=[c[0] for c in SIBLINGS])
def test_each_kind_of_value_round_trips_or_is_refused(value: Any, declared: Any, expected: str, store: Store) -> None:
    if expected == "plain":  # a subclass of int, float or str where the plain type is declared: that type, equal
        back = decode(*store.round_trip(*encode(value, output_type=declared)), output_type=declared, strict=True)
        assert back == value and type(back) is not type(value)
        return
    if expected != "same":
        with pytest.raises(nd.SerializationError) as info:
            encode(value, output_type=declared, module=__name__, where="run 'r', step 's'")
        assert expected == REFUSED or expected in str(info.value), str(info.value)
        return
    payload, tag = encode(value, output_type=declared, module=__name__)
    back = decode(*store.round_trip(payload, tag), output_type=declared, module=__name__, strict=True)
    assert same(value, back, declared_float=declared is float), (value, back)


# -- classes the code vouches for ----------------------------------------------------------------------


@pytest.mark.asyncio
async def test_a_class_from_elsewhere_needs_a_declaration_or_registration(journal_path: Path) -> None:
    @dataclasses.dataclass
    class Local:  # defined in a function: no module namespace holds it
        n: int

    caught: list[nd.StepError] = []
    seen: list[Any] = []

    @nd.function(id="values-register", retries=0)
    async def wf(ctx: nd.Context) -> None:
        try:
            await ctx.step.run("unregistered", lambda: Local(1))
        except nd.StepError as exc:
            caught.append(exc)
        nd.register_type(Local)
        seen.append(await ctx.step.run("registered", lambda: Local(2)))
        if ctx.attempt == 0:
            raise CrashError

    with pytest.raises(nd.RunFailedError):
        await wf.run(run_id="register")
    (exc,) = caught
    assert "nd.register_type(Local)" in exc.error_message and "output_type=Local" in exc.error_message
    restart(journal_path)
    await nd.get_run("register").resume().result()
    assert seen == [Local(2), Local(2)] and type(seen[1]) is Local
    with pytest.raises(nd.ConfigError, match="register_type"):
        nd.register_type(int)  # type: ignore[type-var]
    assert nd.register_type(Local) is Local  # usable as a decorator


@pytest.mark.asyncio
async def test_an_sdk_object_from_step_ai_wrap_replays_as_its_class(journal_path: Path) -> None:
    """The SDK call's return annotation names the class: the official OpenAI client over real HTTP."""
    seen: list[Any] = []
    with ScriptedLLMServer() as server:
        server.add(reply("hello there", usage=(3, 4)))
        client = openai.OpenAI(api_key="sk-test-values-000", base_url=server.openai_base_url, max_retries=0)

        @nd.function(id="values-wrap", retries=0)
        async def wf(ctx: nd.Context) -> str:
            completion = await ctx.step.ai.wrap(
                "ask", client.chat.completions.create, model="gpt-4o", messages=[{"role": "user", "content": "hi"}]
            )
            seen.append(completion)
            if ctx.attempt == 0:
                raise CrashError
            return str(completion.choices[0].message.content)

        with pytest.raises(nd.RunFailedError):
            await wf.run(run_id="wrap")
        restart(journal_path)
        assert await nd.get_run("wrap").resume().result() == "hello there"
    first, replayed = seen
    assert type(replayed) is type(first) and replayed == first


# -- odd step inputs ---------------------------------------------------------------------------------


def test_odd_step_inputs_are_hashed_and_shown_without_being_consumed() -> None:
    items = (i for i in range(3))
    odd: list[Any] = [
        items,
        _nest(5_000),
        {1: "a", "b": 2, None: 3},
        10**5000,
        "caf\udce9",
        float("nan"),
        object(),
        Outer.model_construct(),
    ]
    for value in odd:
        digest, shown = digest_inputs((value,), {"k": value})
        assert len(digest) == 16 and isinstance(shown, str)
        assert digest == digest_inputs((value,), {"k": value})[0]  # stable
        json.dumps(shown)
    assert list(items) == [0, 1, 2]  # the generator was not consumed by hashing it
    assert digest_inputs(({1: "a", "b": 2},), {})[0] != digest_inputs(({1: "b", "b": 2},), {})[0]


@pytest.mark.asyncio
async def test_a_step_gets_its_generator_input_untouched(journal_path: Path) -> None:
    @nd.function(id="values-generator", retries=0)
    async def wf(ctx: nd.Context) -> list[int]:
        return await ctx.step.run("sum", lambda it: list(it), (i * i for i in range(4)))

    assert await wf.run(run_id="gen") == [0, 1, 4, 9]


# -- a fresh process replays what the first returned --------------------------------------------------

NOTEBOOK = """
import asyncio, dataclasses, datetime as dt, enum, os, sys, uuid
import pydantic
import nbdurable as nd


class Shade(enum.Enum):  # classes a notebook defines: __main__, the module of the steps
    DARK = "dark"


class Reading(pydantic.BaseModel):
    value: float
    at: dt.datetime


@dataclasses.dataclass
class Box:
    size: tuple[int, int]
    label: str


VALUES = [
    lambda: Shade.DARK,
    lambda: Reading(value=float("nan"), at=dt.datetime(2030, 1, 1, tzinfo=dt.timezone.utc)),
    lambda: Box((2, 3), "small"),
    lambda: (1, "a", None),
    lambda: {3, 1, 2},
    lambda: b"\\x00\\xff",
    lambda: dt.datetime(2030, 1, 1, 12, tzinfo=dt.timezone(dt.timedelta(hours=-5))),
    lambda: uuid.UUID(int=7),
    lambda: {"k": [1, 2.5, None, True, -0.0]},
]


def canon(value):
    # Type and value all the way down (an aware datetime by its ISO text: its tzinfo object may differ).
    if isinstance(value, pydantic.BaseModel):
        return (type(value).__qualname__, canon(dict(value)))
    if dataclasses.is_dataclass(value):
        return (type(value).__qualname__, canon(vars(value)))
    if isinstance(value, dict):
        return ("dict", [(canon(k), canon(v)) for k, v in value.items()])
    if isinstance(value, (list, tuple)):
        return (type(value).__qualname__, [canon(v) for v in value])
    if isinstance(value, (set, frozenset)):
        return (type(value).__qualname__, sorted(repr(v) for v in value))
    if isinstance(value, dt.datetime):
        return ("datetime", value.isoformat())
    return (type(value).__qualname__, repr(value))


@nd.function(id="notebook", retries=0)
async def notebook(ctx):
    got = [await ctx.step.run(f"v{i}", make) for i, make in enumerate(VALUES)]
    print(repr(canon(got)), flush=True)
    if ctx.attempt == 0:
        os._exit(9)  # the kernel dies
    return None


async def main():
    nd.configure(sys.argv[1])
    if sys.argv[2] == "first":
        await notebook.run(run_id="nb")
    else:
        await nd.get_run("nb").resume().result()


asyncio.run(main())
"""


def test_a_restarted_process_replays_what_the_first_returned(tmp_path: Path) -> None:
    """Un-annotated notebook code: its own classes (defined in __main__) come back after a restart."""
    script = tmp_path / "notebook.py"
    script.write_text(NOTEBOOK, encoding="utf-8")
    journal = tmp_path / "journal.db"
    first = run_python(script, str(journal), "first", cwd=tmp_path)
    assert first.returncode == 9, first.stderr
    again = run_python(script, str(journal), "replay", cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert first.stdout.strip() and first.stdout == again.stdout
    assert "('Reading', ('dict', [(('str', \"'value'\"), ('float', 'nan'))" in again.stdout
    assert "('Shade', \"<Shade.DARK: 'dark'>\")" in again.stdout
