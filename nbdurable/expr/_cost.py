"""The cost budget of an evaluation, and the static estimate that refuses hopeless expressions at compile time.

Runtime: an expression whose cost can depend on the data gets a fresh budget per evaluation, a
one-item list stored in the variables under a key no expression can name. The parts whose work
grows with the data (macro iterations, comparing lists or maps, ``in`` over a list, concatenation,
text searches, regexes) spend from it and stop with :class:`LimitError` when it runs out. Each
node outside a macro body runs at most once, so their count is charged once, up front.

Static: :func:`estimate` gives the least and the most an expression can cost. The least counts
only what no data can avoid (loops over literal lists, such as nested ``map`` macros over
``[1, 2, ...]``); when it is over the limit the expression is refused before it ever runs.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NamedTuple

from ._ast import Arith, Call, Compare, Cond, Index, List, Lit, Logic, Macro, Map, Name, Node, Select, Unary

BUDGET = "\x00budget"  # never a valid name, so no expression can read or overwrite it

# How many characters (or list items) of C-level work one unit pays for. Measured on CPython:
# scanning text with `in` costs ~3 ns a character whatever the needle, RE2 ~1.5 ns, a copy less.
TEXT_CHARS_PER_UNIT = 100
COPY_ITEMS_PER_UNIT = 8
REGEX_CHARS_PER_UNIT = 128


class LimitError(Exception):
    """An evaluation went over its cost or size limit.

    Deliberately not an ``EvalError``: ``||``, ``&&`` and the macros absorb those when another
    operand decides the result, and a spent budget must stop the whole evaluation.
    """

    def __init__(self, position: int, kind: str, detail: str = "") -> None:
        super().__init__()
        self.position = position
        self.kind = kind  # "cost" or "size"
        self.detail = detail


def spend(v: Mapping[str, Any], units: int, pos: int) -> None:
    """Take ``units`` from the evaluation's budget, stopping it when the budget is spent."""
    budget = v[BUDGET]
    budget[0] -= units
    if budget[0] < 0:
        raise LimitError(pos, "cost")


def text_units(length: int) -> int:
    return 1 + length // TEXT_CHARS_PER_UNIT


def copy_units(length: int) -> int:
    return 1 + length // COPY_ITEMS_PER_UNIT


class Estimate(NamedTuple):
    """The least and the most an evaluation can cost, in units; ``most`` is None when the data decides."""

    least: int
    most: int | None


def node_count(node: Node) -> int:
    """The units one evaluation of ``node`` costs up front: its nodes, a macro's body excluded.

    A macro body runs once per item and is charged per iteration instead.
    """
    if isinstance(node, Macro):
        return 1 + node_count(node.target)
    return 1 + sum(node_count(child) for child in children(node))


def has_macro(node: Node) -> bool:
    """Whether ``node`` loops anywhere: only then does an evaluation need one shared budget."""
    return isinstance(node, Macro) or any(has_macro(child) for child in children(node))


def children(node: Node) -> tuple[Node, ...]:
    """The direct sub-expressions of ``node``."""
    if isinstance(node, (Select, Unary)):
        return (node.operand,)
    if isinstance(node, Index):
        return (node.operand, node.index)
    if isinstance(node, (Arith, Logic)):
        return node.operands
    if isinstance(node, Compare):
        return (node.left, node.right)
    if isinstance(node, Cond):
        return (node.cond, node.then, node.other)
    if isinstance(node, List):
        return node.items
    if isinstance(node, Map):
        return tuple(part for entry in node.entries for part in entry)
    if isinstance(node, Call):
        return node.args if node.target is None else (node.target, *node.args)
    if isinstance(node, Macro):
        return (node.target, node.body) if node.cond is None else (node.target, node.cond, node.body)
    assert isinstance(node, (Lit, Name))
    return ()


def _sizes(node: Node) -> tuple[int, int | None]:
    """The least and most items the list or map ``node`` can have (0 and None when the data decides)."""
    if isinstance(node, List):
        return len(node.items), len(node.items)
    if isinstance(node, Map):
        return len(node.entries), len(node.entries)
    if isinstance(node, Macro) and node.name in ("map", "filter"):
        least, most = _sizes(node.target)
        return (least if node.name == "map" and node.cond is None else 0), most
    if isinstance(node, Arith) and all(op == "+" for op, _ in node.ops):
        parts = [_sizes(n) for n in node.operands]  # list concatenation: the sizes add up
        mosts = [m for _, m in parts]
        return sum(least for least, _ in parts), None if None in mosts else sum(m for m in mosts if m is not None)
    return 0, None


def estimate(node: Node) -> Estimate:
    """The least and most units an evaluation of ``node`` costs, counting macro iterations."""
    if isinstance(node, Macro):
        target = estimate(node.target)
        body = estimate(node.body)
        cond = estimate(node.cond) if node.cond is not None else Estimate(0, 0)
        least_items, most_items = _sizes(node.target)
        # Each iteration pays its nodes up front; a nested macro's iterations are certain only where
        # nothing can skip them (the body of a map without a filter condition).
        per_item_least = 1 + (body.least if node.cond is None else cond.least + node_count(node.body))
        # exists/all stop at the first deciding item, so only the first iteration is certain.
        certain = least_items if node.name in ("map", "filter", "exists_one") else min(least_items, 1)
        # The collection is copied before the loop: copy_units of its size, as the runtime pays.
        least = 1 + target.least + copy_units(least_items) + certain * per_item_least
        most = None
        if most_items is not None and target.most is not None and body.most is not None and cond.most is not None:
            most = 1 + target.most + copy_units(most_items) + most_items * (1 + body.most + cond.most)
        return Estimate(least, most)
    parts = [estimate(child) for child in children(node)]
    if isinstance(node, (Logic, Cond)):
        # Short circuits: every node is paid up front, but only the first operand's loops are certain.
        least = 1 + parts[0].least + sum(node_count(child) for child in children(node)[1:])
    else:
        least = 1 + sum(p.least for p in parts)
    mosts = [p.most for p in parts]
    most = None if None in mosts or _data_sized(node) else 1 + sum(m for m in mosts if m is not None)
    return Estimate(least, most)


def _data_sized(node: Node) -> bool:
    """Whether the work of ``node`` itself (not its children) can grow with the data."""
    if isinstance(node, Compare):
        return not (isinstance(node.left, Lit) or isinstance(node.right, Lit)) or node.op == "in"
    if isinstance(node, Arith):
        return any(op == "+" for op, _ in node.ops)
    if isinstance(node, Call):
        return node.name in ("contains", "startsWith", "endsWith", "matches")
    return isinstance(node, Macro)
