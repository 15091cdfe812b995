"""Turn step results into journal text and back: JSON by default, checked both ways.

Two promises rest here (docs/architecture.md, "Opening a journal from someone else"):

- **A journal never chooses which class is built.** A row's type tag (``enum:``,
  ``model:``, ``dataclass:`` + ``module:qualname``) is a hint checked against the
  types the code at hand allows, never a lookup of an arbitrary class: decoding
  builds plain JSON values, a fixed set of value types (``_VALUE_TAGS``), the type
  the code declares (``output_type`` or the producing function's return
  annotation, built by pydantic), and a tagged class only when it is registered
  (``nd.register_type``), named in the declared type, or defined in the producing
  function's own module (found in that module's namespace, never imported) and of
  the tag's kind. Anything else is plain JSON with a warning, or an error on replay.
- **A value round-trips or is refused.** ``encode`` decodes its own payload the way
  replay will and compares (same types, NaN equal to NaN); a value that would come
  back different fails the first run with a SerializationError saying what to
  return instead, so replay always equals the first run.

Pickle is used only when a step asks for it, because loading pickle runs code.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import decimal
import enum
import functools
import hashlib
import inspect
import io
import json
import sys
import types
import typing
import uuid
import warnings
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Iterator
from typing import Any, Literal, TypeVar

from .._errors import ConfigError, SerializationError, SerializationWarning
from ..flow._function_options import storable_text
from ._roundtrip import MAX_DEPTH, TooDeepError, describe, first_difference, first_non_json, kind_of

__all__ = [
    "MAX_DEPTH",
    "MAX_PAYLOAD_BYTES",
    "Serializer",
    "decode",
    "describing",
    "digest_inputs",
    "encode",
    "encode_plain",
    "hash_inputs",
    "input_digest",
    "module_of",
    "register_type",
    "return_type",
    "same_annotation",
    "storable_text",
]

Serializer = Literal["json", "pickle"]
C = TypeVar("C", bound=type)

# What one journaled value may weigh. SQLite refuses strings over 1e9 bytes (SQLITE_MAX_LENGTH); far
# below that, a result this big belongs in a file whose path the step returns.
MAX_PAYLOAD_BYTES = 256 * 1024 * 1024

_PLAIN = (str, int, float, bool, type(None))
_PLAIN_TYPES = frozenset({str, int, float, bool, dict, list})
_dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


def _jsonable(value: Any) -> Any:
    """``json.dumps`` fallback for nested values: pydantic knows most library types.

    Aliases and NaN/inf are kept so that pydantic can validate the form back.
    """
    try:
        import pydantic_core
    except ImportError:  # pragma: no cover - pydantic is a hard dependency
        raise TypeError(type(value).__name__) from None
    try:
        return pydantic_core.to_jsonable_python(
            value,
            bytes_mode="base64",
            serialize_unknown=False,
            by_alias=True,
            round_trip=True,
            inf_nan_mode="constants",
        )
    except pydantic_core.PydanticSerializationError as exc:
        raise TypeError(f"{type(value).__module__}.{type(value).__qualname__}") from exc


def _class_path(cls: type) -> str:
    return f"{cls.__module__}:{cls.__qualname__}"


# -- classes the code vouches for ----------------------------------------------------------------

_registered: dict[str, type] = {}


def register_type(cls: C) -> C:
    """Let journaled values of ``cls`` (an Enum, a pydantic model or a dataclass) be rebuilt as ``cls``.

    Usable as a decorator. Needed only for a class that is neither the declared
    return type of the step (or workflow) function nor defined in that function's
    own module: a journal may then name it and get it built.
    """
    if not isinstance(cls, type) or kind_of(cls) is None:
        raise ConfigError(
            f"nd.register_type needs an Enum, a pydantic model or a dataclass class, got {cls!r}. Other types come "
            "back through a declared type: annotate the step function's return type or pass output_type=."
        )
    _registered[_class_path(cls)] = cls
    return cls


_annotations: weakref.WeakKeyDictionary[Any, Any] = weakref.WeakKeyDictionary()
_NO_TYPE = object()
# Resolved return annotations by code object: notebook code passes a new lambda, closure or bound
# method to each step, and resolving per function object cost ~17 µs a step. Holds the code, the
# raw annotation and the globals it was resolved in; cleared when it grows past _BY_CODE_MAX.
_by_code: dict[types.CodeType, tuple[object, object, Any]] = {}
_BY_CODE_MAX = 4096


def describing(fn: Any) -> Any:
    """The function whose annotation, module and code describe what ``fn`` returns.

    A ``functools.partial`` is described by the function it wraps (its bound arguments are inputs,
    not code), and a callable object by its ``__call__``: otherwise ``-> Model`` on either is not
    seen, and its value cannot be rebuilt on replay. A class is left as it is.
    """
    while isinstance(fn, functools.partial):
        fn = fn.func
    if not isinstance(fn, (types.FunctionType, types.MethodType, types.BuiltinFunctionType, type)) and isinstance(
        inspect.getattr_static(type(fn), "__call__", None), types.FunctionType
    ):
        return fn.__call__
    return fn


def same_annotation(known: object, raw: object) -> bool:
    """Whether two raw return annotations are equal: ``-> list[int]`` without ``from __future__ import
    annotations`` is a new object each time its ``def`` runs (a closure per step), yet resolves the same."""
    try:
        return type(known) is type(raw) and bool(known == raw)
    except Exception:
        return False


def return_type(fn: Any) -> Any:
    """The callable's return annotation, resolved once per code object (None when there is none).

    Why by code: a closure made per step is a new function with the same code, so the same
    annotation; the raw annotation and the globals are compared too, so a function whose
    annotation or namespace differs is resolved again.
    """
    if type(fn) is not types.FunctionType and type(fn) is not types.MethodType:
        fn = describing(fn)
    target = getattr(fn, "__func__", fn)
    code = getattr(target, "__code__", None)
    if type(code) is not types.CodeType or hasattr(target, "__wrapped__"):
        return _return_type_of(target)  # a decorated function, a builtin: by object
    raw = (getattr(target, "__annotations__", None) or {}).get("return", _NO_TYPE)
    if raw is _NO_TYPE:
        return None  # no annotation: nothing to resolve (a lambda)
    namespace = getattr(target, "__globals__", None)
    cached = _by_code.get(code)
    if cached is not None and cached[1] is namespace and (cached[0] is raw or same_annotation(cached[0], raw)):
        return cached[2]
    found = _resolve_return(target)
    if len(_by_code) >= _BY_CODE_MAX:
        _by_code.clear()
    _by_code[code] = (raw, namespace, found)
    return found


def _return_type_of(target: Any) -> Any:
    if "return" not in (getattr(target, "__annotations__", None) or {}):
        return None  # a builtin, a class: no return annotation
    try:
        found = _annotations.get(target, _NO_TYPE)
    except TypeError:
        return None
    if found is _NO_TYPE:
        found = _resolve_return(target)
        try:
            _annotations[target] = found
        except TypeError:
            pass
    return found


# Return annotations written as these names, not shadowed in the function's module, are these builtins.
_BUILTIN_NAMES: dict[str, Any] = {
    t.__name__: t for t in (str, int, float, bool, bytes, dict, list, tuple, set, frozenset, object)
} | {"None": None}


def _resolve_return(target: Any) -> Any:
    """The return annotation evaluated (``typing.get_type_hints``), None for none, Any, object or None."""
    found = None
    raw = (getattr(target, "__annotations__", None) or {}).get("return", _NO_TYPE)
    if type(raw) is str and raw in _BUILTIN_NAMES and raw not in (getattr(target, "__globals__", None) or {}):
        # "str" under `from __future__ import annotations`: get_type_hints would compile it (~0.1 ms, paid by the
        # first step of every run that resolves it in a fresh process) to find the builtin it names.
        found = _BUILTIN_NAMES[raw]
    elif raw is not _NO_TYPE:
        try:
            found = typing.get_type_hints(target).get("return")
        except Exception:
            found = None
    if found is type(None) or found is Any or found is object:
        found = None
    if inspect.iscoroutinefunction(target) and found is not None and typing.get_origin(found) in (Coroutine, Awaitable):
        found = typing.get_args(found)[-1]
    return found


def module_of(fn: Any) -> str | None:
    """The module of the code that produced a value: its own classes may be rebuilt from a tag."""
    fn = describing(fn)
    target = getattr(fn, "__func__", fn)
    module = getattr(target, "__module__", None)
    return module if isinstance(module, str) else None


@functools.lru_cache(maxsize=256)
def _named_in(tp: Any) -> dict[str, type]:
    """Classes a declared type names (``Model | Stream[Chunk]`` names both), by ``module:qualname``."""
    found: dict[str, type] = {}
    todo, seen = [tp], 0
    while todo and seen < 200:
        item = todo.pop()
        seen += 1
        if isinstance(item, type) and typing.get_origin(item) is None:  # list[int] is a type on Python 3.10
            found[_class_path(item)] = item
        todo.extend(a for a in typing.get_args(item) if not isinstance(a, (str, int, float, bytes, bool)))
        origin = typing.get_origin(item)
        if isinstance(origin, type):
            todo.append(origin)
    return found


def _defined_in(module_name: str, qualname: str) -> type | None:
    """The class ``qualname`` defined in the already-imported module ``module_name``, or None.

    Reads namespaces (``vars``), so no module ``__getattr__`` or import runs; a name
    the module merely imported from elsewhere does not count.
    """
    obj: Any = sys.modules.get(module_name)
    if not isinstance(obj, types.ModuleType):
        return None
    for part in qualname.split("."):
        if part == "<locals>" or not (isinstance(obj, (type, types.ModuleType))):
            return None
        obj = vars(obj).get(part)
    if isinstance(obj, type) and obj.__module__ == module_name and obj.__qualname__ == qualname:
        return obj
    return None


def _allowed_class(kind: str, path: str, output_type: Any, module: str | None) -> type | None:
    """The class a tag names, if the code at hand vouches for it and it is of the tag's kind."""
    module_name, sep, qualname = path.partition(":")
    if not sep or not qualname:
        return None
    cls = _registered.get(path)
    if cls is None and output_type is not None:
        try:
            cls = _named_in(output_type).get(path)
        except TypeError:  # an unhashable annotation
            cls = None
    if cls is None and module is not None and module == module_name:
        cls = _defined_in(module_name, qualname)
    return cls if cls is not None and kind_of(cls) == kind else None


# -- encoding -------------------------------------------------------------------------------------


class _RefusedError(Exception):
    """A value that would not come back the same; the message says why and what to do."""


def encode_plain(value: Any, output_type: Any = None) -> str | None:
    """The journal text of a plain scalar that comes back as itself (the common case, kept cheap), else None.

    None says "use :func:`encode`", which also explains a refusal (an int too long for text, say).
    """
    if type(value) in _PLAIN and (output_type is None or output_type is type(value)):
        try:
            payload: str = _dumps(value)
        except ValueError:
            return None  # an int too long for text: encode refuses it, with the message
        if payload.isascii() and len(payload) * 4 <= MAX_PAYLOAD_BYTES:
            return payload
    return None


def encode(
    value: Any,
    *,
    serializer: Serializer = "json",
    where: str = "",
    output_type: Any = None,
    module: str | None = None,
) -> tuple[str, str | None]:
    """Return ``(payload, type_tag)`` for ``value``; ``type_tag`` is None for plain JSON.

    ``output_type`` and ``module`` are what decoding will be given on replay (see
    ``decode``). Raises SerializationError naming ``where`` (run and step), before
    anything is written, when the value cannot be stored or would not come back equal.
    """
    if serializer == "pickle":
        import pickle

        try:
            return base64.b64encode(pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)).decode("ascii"), "pickle"
        except Exception as exc:
            raise SerializationError(f"{_at(where)}the result could not be pickled ({exc}).") from exc
    plain = encode_plain(value, output_type)
    if plain is not None:
        return plain, None
    try:
        if isinstance(value, _LAZY):
            raise _RefusedError(_lazy_result(value))
        payload, tag = _encode(value)
        _check_storable(payload)
        _check_round_trip(value, payload, tag, output_type, module)
    except _RefusedError as exc:
        raise SerializationError(f"{_at(where)}{exc}") from None
    except (RecursionError, TooDeepError):
        raise SerializationError(
            f"{_at(where)}the result is nested more than {MAX_DEPTH} levels deep, more than the journal keeps (a "
            "deeper value could not be read back reliably). Flatten it, or store it in a file and return the path."
        ) from None
    except (TypeError, ValueError) as exc:
        raise SerializationError(f"{_at(where)}{_not_json(value, exc)}") from exc
    return payload, tag


_LAZY = (Iterator, AsyncIterator)


def _lazy_result(value: Any) -> str:
    """Why a generator, an iterator or an open file cannot be a step's result, and what to return instead.

    Storing one would use it up (the caller would get an empty one back), and a replay could not
    give back something that makes its items as it goes: the step must hand over what it made.
    """
    name = f"{type(value).__module__}.{type(value).__qualname__}"
    if isinstance(value, io.IOBase):
        return f"the result is an open file ({name}): return what was read from it (f.read()) or its path instead."
    if isinstance(value, AsyncIterator):
        return (
            f"the result is an async iterator ({name}), whose items come later: collect them inside the step and "
            "return the list ([item async for item in ...])."
        )
    return (
        f"the result is an iterator ({name}), whose items are made as it is read: storing it would use it up, and a "
        "replay could not give it back. Return a list of its items instead (list(...) inside the step)."
    )


def _not_json(value: Any, exc: BaseException) -> str:
    """Why ``value`` has no JSON form, and what to return instead."""
    text = str(exc)
    name = f"{type(value).__module__}.{type(value).__qualname__}"
    if "integer string conversion" in text:
        return (
            f"the result (a {name}) holds an int of more than 4,300 digits, more than JSON text holds reliably. "
            "Return it as a str (str(n)) and convert it back where it is used."
        )
    if "Circular reference" in text:
        return f"the result (a {name}) contains itself (a circular reference). Return a value without cycles."
    return (
        f"the result (a {name}) cannot be stored as JSON because of a {text or type(value).__name__} inside it. "
        "Return JSON types, a pydantic model, a dataclass, datetime, UUID or bytes instead (convert it inside the "
        "step), or pass serializer='pickle' to this step if you trust every reader of the journal."
    )


def _at(where: str) -> str:
    return f"{where}: " if where else ""


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=_jsonable)


def _encode(value: Any) -> tuple[str, str | None]:
    cls = type(value)
    if cls in _PLAIN:
        return _dumps(value), None
    if cls is dict or cls is list:
        return _json(value), None
    if cls is tuple:
        return _json(value), "tuple"
    if cls is set or cls is frozenset:
        return _json(sorted(value, key=repr)), cls.__name__
    if cls is dt.datetime:
        return _dumps(value.isoformat()), "datetime"
    if cls is dt.date:
        return _dumps(value.isoformat()), "date"
    if cls is dt.time:
        return _dumps(value.isoformat()), "time"
    if cls is dt.timedelta:
        return _dumps(value.total_seconds()), "timedelta"
    if cls is uuid.UUID:
        return _dumps(str(value)), "uuid"
    if cls is bytes or cls is bytearray:
        return _dumps(base64.b64encode(value).decode("ascii")), cls.__name__
    if cls is decimal.Decimal:
        return _dumps(str(value)), "decimal"
    kind = kind_of(cls)
    if kind == "enum":
        inner, _ = _encode(value.value)
        return inner, "enum:" + _class_path(cls)
    if kind is not None:
        return _json(_jsonable(value)), f"{kind}:" + _class_path(cls)
    return _json(_jsonable(value)), None


def _check_storable(payload: str) -> None:
    """Refuse text SQLite (or any UTF-8 store) cannot hold: lone surrogates, giant payloads."""
    if not payload.isascii():
        try:
            payload.encode("utf-8")
        except UnicodeEncodeError as exc:
            bad = payload[exc.start]
            raise _RefusedError(
                f"the result holds a str with a lone surrogate ({bad!r}), which is not valid Unicode and cannot be "
                "stored (it usually comes from a file name that is not valid UTF-8, read with os.listdir or "
                "similar). Return it as bytes (os.fsencode(name)) or clean it (name.encode('utf-8', "
                "'replace').decode())."
            ) from None
    if len(payload) * 4 > MAX_PAYLOAD_BYTES and len(payload.encode("utf-8")) > MAX_PAYLOAD_BYTES:
        raise _RefusedError(
            f"the result is {len(payload.encode('utf-8')) / 1e6:.0f} MB as JSON, more than the journal keeps for one "
            f"value ({MAX_PAYLOAD_BYTES / 1e6:.0f} MB). Write the data to a file inside the step and return its path."
        )


_HOW = (
    "Declare the type so replay can rebuild it (annotate the return type of the function that produced it, e.g. "
    "-> dict[str, datetime], or pass output_type= to the step), or convert the value inside the step."
)


def _check_round_trip(value: Any, payload: str, tag: str | None, output_type: Any, module: str | None) -> None:
    """Refuse a value that replay, given the same code, would not rebuild equal to itself."""
    if output_type is None:
        if tag is None:
            problem = first_non_json(value)
            if problem is not None:
                raise _RefusedError(f"the result would not come back the same on replay: {problem}. {_HOW}")
            return
        if tag in ("tuple", "set", "frozenset"):
            problem = first_non_json(list(value))
            if problem is not None:
                raise _RefusedError(
                    f"the result would not come back the same on replay: inside the {tag}, {problem}. {_HOW}"
                )
            if tag == "tuple":
                return
        kind, _, path = tag.partition(":")
        if path and _allowed_class(kind, path, None, module) is None:
            cls = type(value)
            raise _RefusedError(
                f"the result is a {cls.__module__}.{cls.__qualname__} ({describe(kind)}), and replay rebuilds only "
                "classes the code declares: annotate the return type of the function that produced it (-> "
                f"{cls.__name__}), pass output_type={cls.__name__} to the step, or register the class once with "
                f"nd.register_type({cls.__name__})."
            )
    try:
        back = decode(payload, tag, output_type=output_type, module=module, strict=True)
    except SerializationError as exc:
        _raise_if_too_deep(value)  # Python 3.13's json encodes what is too deep to decode: say so
        raise _RefusedError(f"the result would not come back on replay ({exc}). {_HOW}") from None
    if (
        output_type in (int, float, str)
        and type(back) is output_type
        and isinstance(value, output_type)
        and not isinstance(value, (bool, enum.Enum))
        and value == back
    ):
        return  # a subclass where the plain type is declared (numpy.float64 under -> float): equal, as declared
    problem = first_difference(value, back)
    if problem is not None:
        declared = "" if output_type is None else f" as its declared type {_type_name(output_type)}"
        raise _RefusedError(
            f"the result would not come back the same on replay{declared}: {problem}. Return a value of the declared "
            "type, declare the type it really has (the function's return annotation, or output_type=), or convert "
            "the value inside the step."
        )


def _raise_if_too_deep(value: Any) -> None:
    """Raise TooDeepError when containers in ``value`` nest more than MAX_DEPTH levels (walked without recursion)."""
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, (list, tuple, set, frozenset)):
            children = item
        else:
            continue
        if depth >= MAX_DEPTH:
            raise TooDeepError
        stack.extend((child, depth + 1) for child in children)


def _type_name(tp: Any) -> str:
    # On Python 3.10 a parametrized builtin (dict[str, str]) passes isinstance(tp, type) too.
    if isinstance(tp, type) and typing.get_origin(tp) is None:
        return tp.__qualname__
    return repr(tp).replace("typing.", "")


# -- decoding -------------------------------------------------------------------------------------


@functools.lru_cache(maxsize=256)
def _cached_adapter(tp: Any) -> Any:
    return _build_adapter(tp)


def _build_adapter(tp: Any) -> Any:
    """A pydantic TypeAdapter for ``tp``, or None when pydantic cannot build ``tp`` as a whole."""
    import pydantic

    try:
        return pydantic.TypeAdapter(tp, config=pydantic.ConfigDict(val_json_bytes="base64", ser_json_bytes="base64"))
    except pydantic.PydanticUserError:
        pass
    try:
        # Models and dataclasses carry their own config and refuse an outer one.
        return pydantic.TypeAdapter(tp)
    except Exception:
        return None


def _adapter(tp: Any) -> Any:
    try:
        return _cached_adapter(tp)
    except TypeError:  # unhashable annotations (Annotated with a dict...) are built each time
        return _build_adapter(tp)


def _b64(raw: Any) -> bytes:
    if not isinstance(raw, str):
        raise TypeError(f"expected base64 text, got {type(raw).__name__}")
    return base64.b64decode(raw.encode("ascii"), validate=True)


def _items(raw: Any) -> list[Any]:
    if not isinstance(raw, list):
        raise TypeError(f"expected a JSON list, got {type(raw).__name__}")
    return raw


def _text(raw: Any) -> str:
    if not isinstance(raw, str):
        raise TypeError(f"expected text, got {type(raw).__name__}")
    return raw


def _seconds(raw: Any) -> dt.timedelta:
    if not isinstance(raw, (int, float)) or isinstance(raw, bool):
        raise TypeError(f"expected seconds, got {type(raw).__name__}")
    return dt.timedelta(seconds=raw)


# The value types any journal may ask for: each builds one fixed type from checked JSON.
_VALUE_TAGS: dict[str, Callable[[Any], Any]] = {
    "tuple": lambda raw: tuple(_items(raw)),
    "set": lambda raw: set(_items(raw)),
    "frozenset": lambda raw: frozenset(_items(raw)),
    "datetime": lambda raw: dt.datetime.fromisoformat(_text(raw)),
    "date": lambda raw: dt.date.fromisoformat(_text(raw)),
    "time": lambda raw: dt.time.fromisoformat(_text(raw)),
    "timedelta": _seconds,
    "uuid": lambda raw: uuid.UUID(_text(raw)),
    "bytes": _b64,
    "bytearray": lambda raw: bytearray(_b64(raw)),
    "decimal": lambda raw: decimal.Decimal(_text(raw)),
}


# A declared type that a value tag builds exactly (``-> datetime`` and a "datetime" tag) skips pydantic,
# whose datetimes carry its own tzinfo class.
_TAG_TYPES: dict[str, type] = {
    "tuple": tuple,
    "set": set,
    "frozenset": frozenset,
    "datetime": dt.datetime,
    "date": dt.date,
    "time": dt.time,
    "timedelta": dt.timedelta,
    "uuid": uuid.UUID,
    "bytes": bytes,
    "bytearray": bytearray,
    "decimal": decimal.Decimal,
}


def _damaged(where: str, what: str) -> SerializationError:
    return SerializationError(
        f"{_at(where)}the journaled value cannot be read: {what}. The journal was edited or damaged, or written by "
        "another version of nbdurable; rerun from this step (nd.rerun or %durable rerun) to compute it again."
    )


def _loads(payload: str, where: str) -> Any:
    try:
        return json.loads(payload)
    except (ValueError, RecursionError) as exc:
        raise _damaged(where, f"it is not valid JSON ({str(exc)[:200]})") from None


def decode(
    payload: str,
    tag: str | None,
    *,
    output_type: Any = None,
    module: str | None = None,
    serializer: Serializer = "json",
    where: str = "",
    strict: bool = False,
) -> Any:
    """Rebuild a value from ``encode``'s output, building only types the code at hand allows.

    ``output_type`` is the declared type (pydantic builds it); ``module`` the module
    of the function that produced the value (its own Enums, models and dataclasses
    may be named by the tag). A tag naming any other class gives plain JSON with a
    SerializationWarning, or a SerializationError when ``strict`` (replay, where a
    dict in place of a model would only fail later and less clearly).
    """
    if not isinstance(payload, str) or not (tag is None or isinstance(tag, str)):
        raise _damaged(where, f"its columns hold a {type(payload).__name__} and a {type(tag).__name__}, not text")
    if tag == "pickle":
        return _unpickle(payload, serializer, where)
    if output_type is not None and output_type is not Any and _TAG_TYPES.get(tag or "") is not output_type:
        adapter = _adapter(output_type)
        if adapter is not None:
            try:
                return adapter.validate_json(payload)
            except Exception as exc:
                raise SerializationError(
                    f"{_at(where)}the journaled result does not fit output_type={_type_name(output_type)} "
                    f"({str(exc)[:500]}). If the type changed since the step ran, rerun from this step (nd.rerun or "
                    "%durable rerun)."
                ) from None
    raw = _loads(payload, where)
    if tag is None:
        return raw
    make = _VALUE_TAGS.get(tag)
    if make is not None:
        try:
            return make(raw)
        except Exception as exc:
            raise _damaged(where, f"it is tagged {tag!r} but does not hold one ({str(exc)[:200]})") from None
    kind, _, path = tag.partition(":")
    cls = _allowed_class(kind, path, output_type, module)
    if cls is None:
        return _unexpected(raw, tag, where, strict)
    try:
        if kind == "enum":
            return cls(raw)
        return _adapter(cls).validate_json(payload)
    except Exception as exc:
        raise SerializationError(
            f"{_at(where)}the journaled {path.replace(':', '.')} no longer fits its class as defined now "
            f"({str(exc)[:500]}). If the class changed since the step ran, rerun from this step (nd.rerun or "
            "%durable rerun), or pass output_type= to read it as another type."
        ) from None


def _unexpected(raw: Any, tag: str, where: str, strict: bool) -> Any:
    """A tag naming a class the code does not vouch for: plain JSON (warned), or an error on replay."""
    kind, _, path = tag.partition(":")
    name = path.replace(":", ".") or tag
    short = path.rpartition(":")[2].rpartition(".")[2] or "TheClass"
    if kind in ("enum", "model", "dataclass"):
        said = f"the journal says this value is a {name} ({describe(kind)})"
    else:
        said = f"the journal tags this value {tag!r}, a tag this version of nbdurable does not write"
    text = (
        f"{_at(where)}{said}, a class this code does not declare, so it is not built (a journal never chooses which "
        f"class is built). To get a {short} back, define it, then annotate the return type of the function that "
        f"produced it (-> {short}), pass output_type={short}, or call nd.register_type({short})."
    )
    if strict:
        raise SerializationError(text)
    warnings.warn(SerializationWarning(text + " It is given back as plain JSON."), stacklevel=3)
    return raw


def _unpickle(payload: str, serializer: Serializer, where: str) -> Any:
    if serializer != "pickle":
        raise SerializationError(
            f"{_at(where)}this result was journaled with pickle, and loading pickle runs code. Pass "
            "serializer='pickle' to this step to load it, only if you trust whoever wrote the journal."
        )
    import pickle

    try:
        data = base64.b64decode(payload.encode("ascii"), validate=True)
        return pickle.loads(data)  # noqa: S301 - the step asked for pickle explicitly
    except (binascii.Error, UnicodeEncodeError, ValueError) as exc:
        raise _damaged(where, f"it is not a base64 pickle ({exc})") from None
    except Exception as exc:
        raise SerializationError(f"{_at(where)}the pickled result could not be loaded ({exc!r}).") from exc


# -- step inputs ----------------------------------------------------------------------------------


def _hash_default(value: Any) -> Any:
    if isinstance(value, Iterator):
        # A generator or file handed to a step would be consumed by serializing it: by type only.
        return f"<{type(value).__module__}.{type(value).__qualname__}>"
    try:
        return _jsonable(value)
    except Exception:
        # Objects without a stable JSON form (clients, callables) are compared by type only:
        # their repr often holds a memory address that changes every run.
        return f"<{type(value).__module__}.{type(value).__qualname__}>"


# json.dumps with these options, built once: every step with inputs is hashed on each run and each replay, and
# dumps's own layer was a fifth of that. The text must stay as dumps makes it (journaled hashes are of it).
_INPUT_ENCODERS = tuple(
    json.JSONEncoder(sort_keys=sort_keys, separators=(",", ":"), default=_hash_default) for sort_keys in (True, False)
)


def _inputs_text(args: tuple[Any, ...], kwargs: dict[str, Any]) -> str:
    """The inputs as JSON; any value, however odd, gives some text (inputs are only hashed and shown)."""
    for encoder in _INPUT_ENCODERS:
        try:
            return encoder.encode([args, kwargs])
        except (TypeError, ValueError, RecursionError):
            continue
    return json.dumps([[_type_only(a) for a in args], {k: _type_only(v) for k, v in sorted(kwargs.items())}])


def _type_only(value: Any) -> str:
    return f"<{type(value).__module__}.{type(value).__qualname__}>"


def digest_inputs(args: tuple[Any, ...], kwargs: dict[str, Any], limit: int = 200) -> tuple[str, str]:
    """A short stable hash of a step's inputs and a readable preview of them, from one JSON pass.

    The hash notices a replay that feeds a step other inputs; the preview is what the timeline
    and divergence warnings show (``[1,"a"]``, or ``[1],{"k":true}`` with keyword arguments),
    with secrets masked.
    """
    if not args and not kwargs:
        return "", ""
    text = _inputs_text(args, kwargs)
    shown = text[1:-4] if not kwargs and text.endswith(",{}]") else text[1:-1]
    digest = _text_digest(text).hex()
    # Redacted before it is cut: a secret crossing the cut must not leave a fragment in the journal.
    from .._redact import redact_clipped

    return digest, redact_clipped(shown, limit)


def input_digest(args: tuple[Any, ...], kwargs: dict[str, Any]) -> bytes:
    """The hash of :func:`digest_inputs` as the journal stores it (8 bytes), without the preview.

    What a replay compares: it needs no preview (the journal has one), and redacting one costs more
    than hashing.
    """
    return _text_digest(_inputs_text(args, kwargs))


def _text_digest(text: str) -> bytes:
    return hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=8).digest()


def hash_inputs(args: tuple[Any, ...], kwargs: dict[str, Any]) -> str:
    """The hash part of :func:`digest_inputs` (what replay compares), as hex."""
    return input_digest(args, kwargs).hex() if args or kwargs else ""
