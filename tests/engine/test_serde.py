"""Step results in the journal: JSON by default, the original types back on replay, pickle only on request."""

from __future__ import annotations

import dataclasses
import datetime as dt
import decimal
import enum
import math
import re
import sys
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pydantic
import pytest

import nbdurable as nd
from nbdurable.engine._serde import decode, digest_inputs, encode, hash_inputs
from tests.helpers import CrashError, count_type_hints

# -- types a user returns from steps (module level, so the journal can name them) -----------------


class Color(enum.Enum):
    RED = "red"
    GREEN = "green"


class Level(enum.IntEnum):
    LOW = 1
    HIGH = 2


class Point(pydantic.BaseModel):
    x: int
    y: int


class Order(pydantic.BaseModel):
    id: uuid.UUID
    placed: dt.datetime
    items: list[Point]
    total: decimal.Decimal
    note: str | None = None


@dataclasses.dataclass
class Box:
    label: str
    size: tuple[int, int]
    when: dt.datetime


@dataclasses.dataclass
class Crate:
    box: Box
    tags: list[str]
    color: Color


class Opaque:
    """Not JSON: no dataclass, no model."""

    def __init__(self, n: int) -> None:
        self.n = n

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Opaque) and other.n == self.n

    def __hash__(self) -> int:
        return self.n


LOADED: list[str] = []


def _mark_loaded() -> Opaque:
    LOADED.append("pickle ran code")
    return Opaque(0)


class Trap:
    """Unpickling it runs code: exactly what must never happen by default."""

    def __reduce__(self) -> tuple[Callable[[], Opaque], tuple[()]]:
        return (_mark_loaded, ())


UTC = dt.timezone.utc
WHEN = dt.datetime(2030, 1, 31, 12, 30, 15, 123456, tzinfo=UTC)
ID = uuid.UUID("12345678-1234-5678-1234-567812345678")

VALUES: list[Any] = [
    True,
    0,
    -5,
    2**70,
    1.5,
    "text with ünïcode ✓ and \u0000",
    "",
    [],
    {},
    [1, "a", None, {"k": [True, 2.5]}],
    {"a": {"b": [1.5, None]}, "ü": "✓"},
    WHEN,
    dt.datetime(2030, 1, 31, 12, 0, tzinfo=dt.timezone(dt.timedelta(hours=-5))),
    dt.datetime(2030, 1, 31, 12, 0),
    dt.date(2030, 1, 31),
    dt.time(23, 59, 58, 1000),
    dt.timedelta(days=2, seconds=3, microseconds=4),
    ID,
    b"\x00\xffbinary",
    b"",
    decimal.Decimal("1.10"),
    decimal.Decimal("-0.000000000000000000001"),
    (1, "a", None),
    (),
    {3, 1, 2},
    frozenset({"a", "b"}),
    Color.GREEN,
    Level.HIGH,
    Point(x=1, y=2),
    Order(id=ID, placed=WHEN, items=[Point(x=1, y=2), Point(x=3, y=4)], total=decimal.Decimal("9.99")),
    Box("small", (2, 3), WHEN),
    Crate(Box("big", (9, 9), WHEN), ["fragile"], Color.RED),
]


async def run_then_replay(path: Path, workflow: nd.Function[Any], run_id: str = "serde") -> None:
    """Run ``workflow`` (which raises CrashError when ctx.attempt == 0), restart the engine, resume it."""
    with pytest.raises(nd.RunFailedError, match="CrashError"):
        await workflow.run(run_id=run_id)
    nd.configure(path, poll_interval=0.02)  # a new engine on the same file: a restart
    await nd.get_run(run_id).resume().result()


def iso(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))


def same(a: Any, b: Any) -> bool:
    return type(a) is type(b) and a == b


# -- round trips ------------------------------------------------------------------------------------


@pytest.mark.parametrize("value", VALUES, ids=lambda v: type(v).__name__)
def test_encode_decode_round_trip_keeps_type(value: Any) -> None:
    # The classes are defined in this module, the module of the code at hand: replay may rebuild them.
    payload, tag = encode(value, module=__name__)
    back = decode(payload, tag, module=__name__)
    assert same(back, value), (back, value)


def test_none_float_specials_and_bytearray() -> None:
    assert decode(*encode(None)) is None
    assert math.isnan(decode(*encode(math.nan)))
    assert decode(*encode(math.inf)) == math.inf
    assert same(decode(*encode(bytearray(b"ab"))), bytearray(b"ab"))


def test_plain_json_has_no_tag_and_is_readable_json() -> None:
    payload, tag = encode({"name": "ünï", "n": [1, 2]})
    assert tag is None
    assert payload == '{"name":"ünï","n":[1,2]}'


@pytest.mark.asyncio
async def test_every_type_comes_back_as_itself_on_replay(journal_path: Path) -> None:
    seen: list[list[Any]] = []
    calls: list[int] = []

    def produce(i: int) -> Any:
        calls.append(i)
        return VALUES[i]

    @nd.function(id="serde-all-types", retries=0)
    async def wf(ctx: nd.Context) -> None:
        seen.append([await ctx.step.run(f"v{i}", produce, i) for i in range(len(VALUES))])
        if ctx.attempt == 0:
            raise CrashError

    await run_then_replay(journal_path, wf)
    assert calls == list(range(len(VALUES)))  # every step ran once, on the first execution
    first, replayed = seen
    for original, got, back in zip(VALUES, first, replayed, strict=True):
        assert got is original
        assert same(back, original), (back, original)


@pytest.mark.asyncio
async def test_none_result_is_journaled_and_replayed(journal_path: Path) -> None:
    seen: list[Any] = []
    calls: list[int] = []

    @nd.function(id="serde-none", retries=0)
    async def wf(ctx: nd.Context) -> None:
        seen.append(await ctx.step.run("nothing", lambda: calls.append(1)))
        if ctx.attempt == 0:
            raise CrashError

    await run_then_replay(journal_path, wf)
    assert seen == [None, None]
    assert calls == [1]


# -- nested values, output_type and return annotations ----------------------------------------------


def nested() -> dict[str, Any]:
    return {"when": WHEN, "id": ID, "points": [Point(x=1, y=2)], "pair": (1, 2)}


def test_nested_values_without_a_declared_type_are_refused_not_changed() -> None:
    # Undeclared, a nested datetime would replay as its ISO string: the first run refuses it instead.
    with pytest.raises(nd.SerializationError) as info:
        encode(nested(), where="run 'r', step 'n'")
    text = str(info.value)
    assert text.startswith("run 'r', step 'n': ")
    assert "result['when']" in text and "datetime" in text
    assert "output_type=" in text and "annotate" in text  # says what to do
    # Declared, the same value round-trips exactly.
    declared = dict[str, dt.datetime | uuid.UUID | list[Point] | tuple[int, int]]
    payload, tag = encode(nested(), output_type=declared)
    assert same(decode(payload, tag, output_type=declared), nested())


def _numbers() -> Any:
    yield 1


async def _later() -> Any:
    yield 1


@pytest.mark.parametrize(
    ("make", "said"),
    [
        (_numbers, "an iterator (builtins.generator), whose items are made as it is read"),
        (lambda: map(str, [1, 2]), "an iterator (builtins.map)"),
        (lambda: iter([1]), "an iterator (builtins.list_iterator)"),
        (_later, "an async iterator (builtins.async_generator), whose items come later"),
        (lambda: open(__file__), "an open file (_io.TextIOWrapper): return what was read from it"),
    ],
)
def test_a_lazy_result_is_refused_saying_what_to_return_and_is_not_used_up(make: Callable[[], Any], said: str) -> None:
    """A generator, iterator or open file is refused by name before anything reads it (storing it would use it up,
    and a replay could not give it back), with what to return instead; whatever output_type says."""
    for output_type in (None, list[int]):
        value = make()
        try:
            with pytest.raises(nd.SerializationError, match=re.escape(said)) as info:
                encode(value, where="run 'r', step 'g'", output_type=output_type)
            assert str(info.value).startswith("run 'r', step 'g': the result is ")
            assert "list" in str(info.value) or "path" in str(info.value)
            if hasattr(value, "__next__") and not hasattr(value, "read"):
                assert next(value) is not None, "refusing it used it up"
        finally:
            if hasattr(value, "close"):
                value.close()
            elif hasattr(value, "aclose"):
                value.aclose().close()


def test_a_generator_inside_a_result_is_named_where_it_is() -> None:
    with pytest.raises(nd.SerializationError, match=r"at result\['rows'\], a generator makes its items as it is read"):
        encode({"rows": _numbers()}, where="run 'r', step 'g'")


class Shape(pydantic.BaseModel):
    when: dt.datetime
    id: uuid.UUID
    points: list[Point]
    pair: tuple[int, int]


def typed_nested() -> dict[str, dt.datetime]:
    return {"a": WHEN}


async def async_typed() -> list[Point]:
    return [Point(x=5, y=6)]


def typed_tuple() -> tuple[int, dt.date]:
    return (1, dt.date(2030, 1, 1))


def int_keys() -> dict[int, str]:
    return {1: "a", 2: "b"}


@pytest.mark.asyncio
async def test_output_type_and_annotations_restore_nested_types(journal_path: Path) -> None:
    seen: list[dict[str, Any]] = []

    @nd.function(id="serde-output-type", retries=0)
    async def wf(ctx: nd.Context) -> None:
        step = ctx.step
        seen.append(
            {
                "shape": await step.run("shape", lambda: Shape(**nested()), output_type=Shape),
                "annotated": await step.run("annotated", typed_nested),
                "async": await step.run("async", async_typed),
                "tuple": await step.run("tuple", typed_tuple),
                "int-keys": await step.run("int-keys", int_keys),
                "override": await step.run("override", lambda: {"a": "text"}, output_type=dict[str, str]),
                "list": await step.run("list", lambda: [WHEN, WHEN], output_type=list[dt.datetime]),
            }
        )
        if ctx.attempt == 0:
            raise CrashError

    await run_then_replay(journal_path, wf)
    first, replayed = seen
    assert same(replayed["shape"], Shape(when=WHEN, id=ID, points=[Point(x=1, y=2)], pair=(1, 2)))
    assert same(replayed["annotated"]["a"], WHEN)
    assert same(replayed["async"], [Point(x=5, y=6)])
    assert same(replayed["tuple"], (1, dt.date(2030, 1, 1)))
    assert same(replayed["int-keys"], {1: "a", 2: "b"})
    assert same(replayed["override"], {"a": "text"})
    assert same(replayed["list"], [WHEN, WHEN])
    assert first == replayed


@pytest.mark.asyncio
async def test_a_value_that_does_not_fit_its_declared_type_fails_the_first_run(journal_path: Path) -> None:
    calls: list[str] = []
    caught: list[nd.StepError] = []

    def untyped() -> dict[str, Any]:
        calls.append("untyped")
        return {"when": WHEN}  # Any: would come back as the ISO string

    @nd.function(id="serde-declared-misfit", retries=3)
    async def wf(ctx: nd.Context) -> str:
        for name, fn, output_type in (
            ("any", untyped, None),
            ("override", typed_nested, dict[str, str]),  # the datetime would come back as a str
            ("wrong-int", lambda: "5", int),  # "5" would come back as 5
        ):
            try:
                await ctx.step.run(name, fn, output_type=output_type)
            except nd.StepError as exc:
                caught.append(exc)
        return "done"

    assert await wf.run(run_id="misfit") == "done"
    assert calls == ["untyped"]  # refused at once, not retried
    assert [e.step_id for e in caught] == ["any", "override", "wrong-int"]
    for exc in caught:
        assert "SerializationError" in exc.error_type
        assert "would not come back the same on replay" in exc.error_message
    assert "result['when']" in caught[0].error_message
    assert "dict[str, str]" in caught[1].error_message
    steps = {s.step_id: s for s in nd.get_engine().journal.load_steps("misfit")}
    assert all(s.status == "failed" and s.output is None for s in steps.values())


@pytest.mark.asyncio
async def test_a_result_that_no_longer_fits_output_type_fails_clearly(journal_path: Path) -> None:
    errors: list[BaseException] = []

    @nd.function(id="serde-misfit", retries=0)
    async def wf(ctx: nd.Context) -> None:
        if ctx.attempt == 0:
            await ctx.step.run("value", lambda: {"x": "one"})
            raise CrashError
        try:
            await ctx.step.run("value", lambda: {"x": "one"}, output_type=Point)
        except nd.SerializationError as exc:
            errors.append(exc)

    await run_then_replay(journal_path, wf)
    (exc,) = errors
    assert "run 'serde', step 'value'" in str(exc)
    assert "output_type" in str(exc)


def test_a_journaled_model_that_no_longer_validates_is_a_serialization_error() -> None:
    with pytest.raises(nd.SerializationError, match="step 'p'"):
        decode('{"x":"not a number","y":2}', f"model:{__name__}:Point", module=__name__, where="run 'r', step 'p'")


def test_a_journaled_enum_value_that_no_longer_exists_is_a_serialization_error() -> None:
    with pytest.raises(nd.SerializationError, match="step 'c'"):
        decode('"purple"', f"enum:{__name__}:Color", module=__name__, where="run 'r', step 'c'")


def test_a_type_the_code_does_not_declare_comes_back_as_json_with_a_warning() -> None:
    with pytest.warns(nd.SerializationWarning, match="register_type"):
        assert decode('{"x":1,"y":2}', "model:no_such_module_xyz:Point") == {"x": 1, "y": 2}
    with pytest.warns(nd.SerializationWarning):
        assert decode('{"x":1,"y":2}', f"model:{__name__}:NoSuchClass", module=__name__) == {"x": 1, "y": 2}
    with pytest.warns(nd.SerializationWarning):
        assert decode('{"x":1}', f"model:{__name__}:test_fn.<locals>.Local", module=__name__) == {"x": 1}
    # Defined and importable, but not vouched for by the code at hand (no module, no declaration):
    with pytest.warns(nd.SerializationWarning):
        assert decode('{"x":1,"y":2}', f"model:{__name__}:Point") == {"x": 1, "y": 2}
    # On replay (strict) the same is an error that says what to do.
    with pytest.raises(nd.SerializationError, match=r"output_type=Point"):
        decode('{"x":1,"y":2}', f"model:{__name__}:Point", where="run 'r', step 's'", strict=True)


def test_decoding_never_imports_a_module_the_journal_names(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    marker = tmp_path / "imported"
    (tmp_path / "serde_evil_module.py").write_text(
        f"open({str(marker)!r}, 'w').close()\nclass Thing:\n    pass\n", encoding="utf-8"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.warns(nd.SerializationWarning):
        assert decode('{"a":1}', "model:serde_evil_module:Thing", module="serde_evil_module") == {"a": 1}
    with pytest.warns(nd.SerializationWarning):
        assert decode('"x"', "enum:serde_evil_module:Thing") == "x"
    assert not marker.exists()
    assert "serde_evil_module" not in sys.modules


# -- results that cannot be stored ------------------------------------------------------------------


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("make", "type_name"),
    [
        (lambda: Opaque(1), "test_serde.Opaque"),
        (lambda: {"fine": 1, "bad": Opaque(2)}, "test_serde.Opaque"),
        (lambda: [1, lambda: None], "function"),
        (object, "builtins.object"),
    ],
)
async def test_an_unserializable_result_fails_the_step_and_writes_no_result(
    journal_path: Path, make: Callable[[], Any], type_name: str
) -> None:
    calls: list[int] = []
    caught: list[nd.StepError] = []

    def produce() -> Any:
        calls.append(1)
        return make()

    @nd.function(id="serde-unserializable", retries=3)
    async def wf(ctx: nd.Context) -> str:
        await ctx.step.run("before", lambda: "ok")
        try:
            await ctx.step.run("bad-result", produce)
        except nd.StepError as exc:
            caught.append(exc)
        return "handled"

    assert await wf.run(run_id="unser") == "handled"
    assert calls == [1]  # retrying would give the same unstorable value
    (exc,) = caught
    assert "SerializationError" in exc.error_type
    text = str(exc)
    assert "run 'unser', step 'bad-result'" in text
    assert type_name in text
    assert "serializer='pickle'" in text  # says what to do
    steps = {s.step_id: s for s in nd.get_engine().journal.load_steps("unser")}
    assert steps["before"].output == '"ok"'
    assert steps["bad-result"].status == "failed"
    assert steps["bad-result"].output is None


@pytest.mark.asyncio
async def test_an_unserializable_run_result_fails_the_run(journal_path: Path) -> None:
    @nd.function(id="serde-bad-run-result", retries=0)
    async def wf(ctx: nd.Context) -> Any:
        await ctx.step.run("a", lambda: 1)
        return Opaque(3)

    with pytest.raises(nd.RunFailedError) as info:
        await wf.run(run_id="bad-result")
    assert "SerializationError" in info.value.error_type
    assert "test_serde.Opaque" in info.value.error_message
    rec = nd.get_engine().journal.get_run("bad-result")
    assert rec is not None and rec.status == "failed" and rec.result is None


# -- pickle -----------------------------------------------------------------------------------------


def test_pickle_only_when_asked() -> None:
    with pytest.raises(nd.SerializationError):
        encode(Opaque(1))
    payload, tag = encode(Opaque(1), serializer="pickle")
    assert tag == "pickle"
    assert decode(payload, tag, serializer="pickle") == Opaque(1)


def test_a_pickled_result_is_not_loaded_without_asking() -> None:
    payload, tag = encode(Trap(), serializer="pickle")
    LOADED.clear()
    with pytest.raises(nd.SerializationError, match="serializer='pickle'") as info:
        decode(payload, tag, where="run 'r', step 's'")
    assert "run 'r', step 's'" in str(info.value)
    assert LOADED == []
    # The payload really runs code when loaded: which is why it is refused by default.
    decode(payload, tag, serializer="pickle")
    assert LOADED == ["pickle ran code"]


@pytest.mark.asyncio
async def test_pickle_steps_replay(journal_path: Path) -> None:
    seen: list[Any] = []

    @nd.function(id="serde-pickle", retries=0)
    async def wf(ctx: nd.Context) -> None:
        seen.append(await ctx.step.run("obj", lambda: Opaque(7), serializer="pickle"))
        if ctx.attempt == 0:
            raise CrashError

    await run_then_replay(journal_path, wf)
    assert seen == [Opaque(7), Opaque(7)]
    (rec,) = nd.get_engine().journal.load_steps("serde")
    assert rec.output_tag == "pickle"


@pytest.mark.asyncio
async def test_replay_refuses_a_pickled_step_that_does_not_ask_for_pickle(journal_path: Path) -> None:
    errors: list[BaseException] = []

    @nd.function(id="serde-pickle-refused", retries=0)
    async def wf(ctx: nd.Context) -> None:
        if ctx.attempt == 0:
            await ctx.step.run("obj", Trap, serializer="pickle")
            raise CrashError
        try:
            await ctx.step.run("obj", Trap)
        except nd.NbDurableError as exc:
            errors.append(exc)

    LOADED.clear()
    await run_then_replay(journal_path, wf)
    (err,) = errors
    assert isinstance(err, nd.SerializationError)
    assert "pickle" in str(err) and "step 'obj'" in str(err)
    assert LOADED == []


# -- input hashes and previews ----------------------------------------------------------------------


def test_hash_inputs_is_stable_and_sensitive() -> None:
    assert hash_inputs((), {}) == ""
    h = hash_inputs((1, "a"), {"k": [1, 2]})
    assert h == hash_inputs((1, "a"), {"k": [1, 2]})
    assert h != hash_inputs((1, "b"), {"k": [1, 2]})
    assert h != hash_inputs((1, "a"), {"k": [1, 3]})
    assert hash_inputs((), {"a": 1, "b": 2}) == hash_inputs((), {"b": 2, "a": 1})
    assert hash_inputs((WHEN, ID, Point(x=1, y=2)), {}) == hash_inputs((WHEN, ID, Point(x=1, y=2)), {})
    assert hash_inputs((Point(x=1, y=2),), {}) != hash_inputs((Point(x=1, y=3),), {})


def test_hash_inputs_ignores_memory_addresses() -> None:
    # Objects without a JSON form (clients, callables) are compared by type, not by their repr.
    assert hash_inputs((object(),), {}) == hash_inputs((object(),), {})
    assert hash_inputs((Opaque(1),), {}) == hash_inputs((Opaque(2),), {})
    assert hash_inputs((Opaque(1),), {}) != hash_inputs((object(),), {})


def test_preview() -> None:
    assert digest_inputs((), {}) == ("", "")
    digest, shown = digest_inputs((1, "a"), {})
    assert shown == '[1,"a"]' and digest == hash_inputs((1, "a"), {})
    assert digest_inputs((1,), {"k": True})[1] == '[1],{"k":true}'
    long = digest_inputs(("x" * 1000,), {}, limit=50)[1]
    assert len(long) == 50 and long.endswith("…")


class _Point(pydantic.BaseModel):
    x: int


class _Other(pydantic.BaseModel):
    y: str


def test_a_builtin_named_by_a_string_annotation_is_resolved_without_get_type_hints(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Under ``from __future__ import annotations`` (this module) ``-> str`` is the string "str": it is the builtin
    without get_type_hints compiling it, unless the function's module binds the name to something else."""
    import types

    from nbdurable.engine._serde import return_type

    calls = count_type_hints(monkeypatch)

    def text() -> str:
        return "a"

    def nothing() -> None:
        return None

    def count() -> int:
        return 1

    assert text.__annotations__["return"] == "str"  # a string, as the module postpones annotations
    assert (return_type(text), return_type(nothing)) == (str, None)
    assert calls == []
    shadowed = types.FunctionType(count.__code__, {**count.__globals__, "int": _Point})
    shadowed.__annotations__ = {"return": "int"}
    assert return_type(shadowed) is _Point and len(calls) == 1  # the module's own int: resolved the long way


def test_a_closure_per_step_with_a_generic_annotation_is_resolved_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without ``from __future__ import annotations`` ``-> list[int]`` is a new object each time a ``def`` runs: the
    cache by code object compares annotations by equality, so the record path (every step on PostgreSQL) does not
    resolve it per step."""
    from nbdurable.engine._serde import return_type

    calls = count_type_hints(monkeypatch)

    def make() -> Callable[[], Any]:
        def f() -> Any:
            return [1]

        f.__annotations__ = {"return": list[int]}  # a new, equal annotation per closure
        return f

    assert {return_type(make()) for _ in range(50)} == {list[int]}
    assert len(calls) <= 1, f"resolved {len(calls)} times for one code object"


def test_return_types_of_functions_sharing_code_follow_each_annotation() -> None:
    """Return types are cached by code object (a closure per step), yet a function whose annotation or globals
    differ from the cached one gets its own; a lambda has none, a partial its function's; an async closure its awaited
    type; a callable object its __call__'s."""
    from nbdurable.engine._serde import return_type

    def make() -> Callable[[], Any]:
        def f() -> _Point:
            return _Point(x=1)

        return f

    first, second = make(), make()
    assert first is not second and first.__code__ is second.__code__
    assert return_type(first) is _Point and return_type(second) is _Point
    second.__annotations__ = {"return": _Other}  # same code, another annotation
    assert return_type(second) is _Other and return_type(first) is _Point

    def make_async() -> Callable[[], Any]:
        async def g() -> int:
            return 1

        return g

    assert return_type(make_async()) is int and return_type(make_async()) is int
    assert return_type(lambda: 1) is None
    import functools

    assert return_type(functools.partial(make)) == Callable[[], Any]
    assert return_type(functools.partial(functools.partial(first))) is _Point

    class Maker:
        def __call__(self) -> _Other:
            return _Other(y="b")

    assert return_type(Maker()) is _Other and return_type(functools.partial(Maker())) is _Other
    assert return_type(Maker) is None  # a class: what calling it makes is not read from annotations

    class Tool:
        def call(self) -> _Other:
            return _Other(y="a")

    assert return_type(Tool().call) is _Other and return_type(Tool().call) is _Other


@pytest.mark.asyncio
async def test_a_model_returned_by_a_new_closure_per_step_replays_as_the_model(journal_path: Path) -> None:
    """The per-code cache serves every replayed closure: each comes back as the declared pydantic model."""
    ran: list[int] = []

    def point_step(i: int) -> Callable[[], _Point]:
        def step() -> _Point:
            ran.append(i)
            return _Point(x=i)

        return step

    @nd.function(id="serde-closures", retries=0, lint="off")
    async def wf(ctx: nd.Context) -> list[int]:
        points = [await ctx.step.run("p", point_step(i)) for i in range(5)]
        if ctx.attempt == 0 and len(ran) == 5:
            raise CrashError("crash after the steps")
        assert all(isinstance(p, _Point) for p in points)
        return [p.x for p in points]

    with pytest.raises(nd.RunFailedError):
        await wf.run(run_id="serde-closures")
    assert await nd.get_run("serde-closures").resume().result() == [0, 1, 2, 3, 4]
    assert ran == [0, 1, 2, 3, 4]


def test_a_closure_per_step_resolves_its_return_type_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """Not per function object: notebook code makes a new closure for every step, and each resolution is costly."""
    from nbdurable.engine import _serde

    calls = count_type_hints(monkeypatch)

    def make(i: int) -> Callable[[], _Point]:
        def step() -> _Point:
            return _Point(x=i)

        return step

    assert all(_serde.return_type(make(i)) is _Point for i in range(50))
    assert len(calls) <= 1, f"resolved {len(calls)} times for one code object"
