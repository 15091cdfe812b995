"""CEL's type values (``int``, ``string``, ``type(x)``...) and the type of any value an expression handles."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ._time import Duration, Timestamp


class CelType:
    """A CEL type as a value: what ``type(1)`` and the name ``int`` evaluate to."""

    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name

    def __eq__(self, other: object) -> bool:
        return isinstance(other, CelType) and other.name == self.name

    def __hash__(self) -> int:
        return hash(("CelType", self.name))

    def __repr__(self) -> str:
        return self.name


TYPE_NAMES = ("bool", "int", "uint", "double", "string", "bytes", "list", "map", "null_type", "type")
TYPES = {name: CelType(name) for name in TYPE_NAMES}
TIMESTAMP = CelType("google.protobuf.Timestamp")
DURATION = CelType("google.protobuf.Duration")


def type_of(value: Any) -> CelType:
    """The CEL type of a value from the data or from an expression."""
    if value is None:
        return TYPES["null_type"]
    if isinstance(value, bool):
        return TYPES["bool"]
    if isinstance(value, int):
        return TYPES["int"]
    if isinstance(value, float):
        return TYPES["double"]
    if isinstance(value, str):
        return TYPES["string"]
    if isinstance(value, (list, tuple)):
        return TYPES["list"]
    if isinstance(value, Mapping):
        return TYPES["map"]
    if isinstance(value, CelType):
        return TYPES["type"]
    if type(value) is Timestamp:
        return TIMESTAMP
    if type(value) is Duration:
        return DURATION
    return CelType(type(value).__name__)
