"""Turn step results into journal text and back, JSON by default.

Results are stored as JSON so journals stay readable, diffable and safe to share:
loading pickle runs code, so it is used only when a step asks for it. The type of
the top-level value is recorded as a short tag so datetimes, UUIDs, bytes, pydantic
models and dataclasses come back as what they were; nested values come back as
their JSON form unless ``output_type`` (or the callable's return annotation) says
what to rebuild.
"""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import decimal
import enum
import functools
import hashlib
import json
import sys
import uuid
from typing import Any, Literal

from ._errors import SerializationError

__all__ = ["Serializer", "decode", "digest_inputs", "encode", "hash_inputs"]

Serializer = Literal["json", "pickle"]

_PLAIN = (str, int, float, bool, type(None))
_PLAIN_TYPES = frozenset({str, int, float, bool, dict, list})
_dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


def _jsonable(value: Any) -> Any:
    """``json.dumps`` fallback for nested values: pydantic knows most library types."""
    try:
        import pydantic_core
    except ImportError:  # pragma: no cover - pydantic is a hard dependency
        raise TypeError(type(value).__name__) from None
    try:
        return pydantic_core.to_jsonable_python(value, bytes_mode="base64", serialize_unknown=False)
    except pydantic_core.PydanticSerializationError as exc:
        raise TypeError(f"{type(value).__module__}.{type(value).__qualname__}") from exc


def _class_path(cls: type) -> str:
    return f"{cls.__module__}:{cls.__qualname__}"


def encode(value: Any, *, serializer: Serializer = "json", where: str = "") -> tuple[str, str | None]:
    """Return ``(payload, type_tag)`` for ``value``; ``type_tag`` is None for plain JSON.

    Raises SerializationError naming ``where`` (run and step) and the type, before
    anything is written, so a bad result never leaves a half-written journal.
    """
    if serializer == "pickle":
        import pickle

        try:
            return base64.b64encode(pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)).decode("ascii"), "pickle"
        except Exception as exc:
            raise SerializationError(f"{where}: the result could not be pickled ({exc}).") from exc
    try:
        cls = type(value)
        if cls in _PLAIN:
            return _dumps(value), None
        if cls is dict or cls is list:
            return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=_jsonable), None
        if cls is tuple:
            return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=_jsonable), "tuple"
        if cls is set or cls is frozenset:
            items = sorted(value, key=repr)
            return json.dumps(items, ensure_ascii=False, separators=(",", ":"), default=_jsonable), cls.__name__
        if isinstance(value, dt.datetime):
            return _dumps(value.isoformat()), "datetime"
        if isinstance(value, dt.date):
            return _dumps(value.isoformat()), "date"
        if isinstance(value, dt.time):
            return _dumps(value.isoformat()), "time"
        if isinstance(value, dt.timedelta):
            return _dumps(value.total_seconds()), "timedelta"
        if isinstance(value, uuid.UUID):
            return _dumps(str(value)), "uuid"
        if isinstance(value, (bytes, bytearray)):
            return _dumps(base64.b64encode(value).decode("ascii")), "bytes"
        if isinstance(value, decimal.Decimal):
            return _dumps(str(value)), "decimal"
        if isinstance(value, enum.Enum):
            inner, _ = encode(value.value, where=where)
            return inner, "enum:" + _class_path(cls)
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            return json.dumps(_jsonable(value), ensure_ascii=False, separators=(",", ":")), "dataclass:" + _class_path(
                cls
            )
        if "pydantic" in sys.modules:
            import pydantic

            if isinstance(value, pydantic.BaseModel):
                return value.model_dump_json(), "model:" + _class_path(cls)
        return json.dumps(_jsonable(value), ensure_ascii=False, separators=(",", ":")), None
    except (TypeError, ValueError) as exc:
        bad = str(exc) or type(value).__name__
        raise SerializationError(
            f"{where}: the result (a {type(value).__module__}.{type(value).__qualname__}) cannot be stored as JSON "
            f"because of a {bad} inside it. Return JSON types, a pydantic model, a dataclass, datetime, UUID or bytes "
            "instead (convert it inside the step), or pass serializer='pickle' to this step if you trust every "
            "reader of the journal."
        ) from exc


@functools.lru_cache(maxsize=256)
def _adapter(tp: Any) -> Any:
    import pydantic

    try:
        return pydantic.TypeAdapter(tp, config=pydantic.ConfigDict(val_json_bytes="base64", ser_json_bytes="base64"))
    except pydantic.PydanticUserError:
        # Models and dataclasses carry their own config and refuse an outer one.
        return pydantic.TypeAdapter(tp)


def _resolve(path: str) -> Any | None:
    """Find a class by ``module:qualname`` among modules already imported.

    Never imports: a journal naming a module must not be able to run its code.
    """
    module_name, _, qualname = path.partition(":")
    obj: Any = sys.modules.get(module_name)
    for part in qualname.split("."):
        if obj is None or part == "<locals>":
            return None
        obj = getattr(obj, part, None)
    return obj if isinstance(obj, type) else None


def decode(
    payload: str,
    tag: str | None,
    *,
    output_type: Any = None,
    serializer: Serializer = "json",
    where: str = "",
) -> Any:
    """Rebuild a value from ``encode``'s output, as ``output_type`` when one is given."""
    if tag == "pickle":
        if serializer != "pickle":
            raise SerializationError(
                f"{where}: this result was journaled with pickle, and loading pickle runs code. Pass "
                "serializer='pickle' to this step to load it, only if you trust whoever wrote the journal."
            )
        import pickle

        return pickle.loads(base64.b64decode(payload))  # noqa: S301 - the step asked for pickle explicitly
    if tag is None and output_type in _PLAIN_TYPES:
        # Fast path for the common annotations (-> str, -> dict...): no pydantic on replay.
        raw = json.loads(payload)
        if isinstance(raw, output_type) and not (output_type is int and isinstance(raw, bool)):
            return raw
    if output_type is not None and output_type is not Any:
        try:
            return _adapter(output_type).validate_json(payload)
        except Exception as exc:
            raise SerializationError(
                f"{where}: the journaled result does not fit output_type={output_type!r} ({exc}). If the type "
                "changed since the step ran, rerun from this step (nd.rerun or %durable rerun)."
            ) from exc
    raw = json.loads(payload)
    if tag is None:
        return raw
    if tag == "tuple":
        return tuple(raw)
    if tag == "set":
        return set(raw)
    if tag == "frozenset":
        return frozenset(raw)
    if tag == "datetime":
        return dt.datetime.fromisoformat(raw)
    if tag == "date":
        return dt.date.fromisoformat(raw)
    if tag == "time":
        return dt.time.fromisoformat(raw)
    if tag == "timedelta":
        return dt.timedelta(seconds=raw)
    if tag == "uuid":
        return uuid.UUID(raw)
    if tag == "bytes":
        return base64.b64decode(raw)
    if tag == "decimal":
        return decimal.Decimal(raw)
    kind, _, path = tag.partition(":")
    cls = _resolve(path)
    if cls is None:
        # The class is not defined in this process (yet): give the JSON form rather
        # than importing anything the journal names.
        return raw
    try:
        if kind == "enum":
            return cls(raw)
        return _adapter(cls).validate_python(raw)
    except Exception as exc:
        raise SerializationError(
            f"{where}: the journaled {path.replace(':', '.')} no longer fits its class as defined now ({exc}). "
            "If the class changed since the step ran, rerun from this step (nd.rerun or %durable rerun), or pass "
            "output_type= to read it as another type."
        ) from exc


def _hash_default(value: Any) -> Any:
    try:
        return _jsonable(value)
    except TypeError:
        # Objects without a stable JSON form (clients, callables) are compared by type only:
        # their repr often holds a memory address that changes every run.
        return f"<{type(value).__module__}.{type(value).__qualname__}>"


def digest_inputs(args: tuple[Any, ...], kwargs: dict[str, Any], limit: int = 200) -> tuple[str, str]:
    """A short stable hash of a step's inputs and a readable preview of them, from one JSON pass.

    The hash notices a replay that feeds a step other inputs; the preview is what the timeline
    and divergence warnings show (``[1,"a"]``, or ``[1],{"k":true}`` with keyword arguments).
    """
    if not args and not kwargs:
        return "", ""
    try:
        text = json.dumps([args, kwargs], sort_keys=True, separators=(",", ":"), default=_hash_default)
        shown = text[1:-4] if not kwargs else text[1:-1]
    except (TypeError, ValueError):
        text = repr([type(a).__qualname__ for a in args]) + repr(sorted(kwargs))
        shown = text
    digest = hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=8).hexdigest()
    return digest, shown if len(shown) <= limit else shown[: limit - 1] + "…"


def hash_inputs(args: tuple[Any, ...], kwargs: dict[str, Any]) -> str:
    """The hash part of :func:`digest_inputs` (what replay compares)."""
    return digest_inputs(args, kwargs)[0]
