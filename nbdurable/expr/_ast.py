"""The node types of a parsed expression: the only shapes the evaluator ever sees."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

# A compiled node: takes the variables (event, async, loop variables) and returns the value.
Fn = Callable[[Mapping[str, Any]], Any]

# Plain slotted classes rather than dataclasses: defining sixteen dataclasses cost
# several milliseconds of import time, and nbdurable must import fast.


class Node:
    __slots__ = ("depth", "end", "start")

    def __init__(self, start: int, end: int, depth: int) -> None:
        self.start = start
        self.end = end
        self.depth = depth  # longest path to a leaf; bounded so evaluation cannot overflow the stack


class Lit(Node):
    __slots__ = ("value",)

    def __init__(self, start: int, end: int, depth: int, *, value: Any) -> None:
        super().__init__(start, end, depth)
        self.value = value


class Name(Node):
    __slots__ = ("name",)

    def __init__(self, start: int, end: int, depth: int, *, name: str) -> None:
        super().__init__(start, end, depth)
        self.name = name


class Select(Node):
    __slots__ = ("dot_pos", "field", "field_pos", "operand")

    def __init__(
        self, start: int, end: int, depth: int, *, operand: Node, field: str, dot_pos: int, field_pos: int
    ) -> None:
        super().__init__(start, end, depth)
        self.operand = operand
        self.field = field
        self.dot_pos = dot_pos
        self.field_pos = field_pos


class Index(Node):
    __slots__ = ("bracket_pos", "index", "operand")

    def __init__(self, start: int, end: int, depth: int, *, operand: Node, index: Node, bracket_pos: int) -> None:
        super().__init__(start, end, depth)
        self.operand = operand
        self.index = index
        self.bracket_pos = bracket_pos


class Unary(Node):
    __slots__ = ("odd", "op", "operand")

    def __init__(self, start: int, end: int, depth: int, *, op: str, odd: bool, operand: Node) -> None:
        super().__init__(start, end, depth)
        self.op = op  # "!" or "-"
        self.odd = odd  # whether the run of operators flips the value
        self.operand = operand


class Arith(Node):
    """A left-to-right run of operators of one precedence level: a + b - c."""

    __slots__ = ("operands", "ops")

    def __init__(
        self, start: int, end: int, depth: int, *, operands: tuple[Node, ...], ops: tuple[tuple[str, int], ...]
    ) -> None:
        super().__init__(start, end, depth)
        self.operands = operands
        self.ops = ops  # (operator, position), one fewer than operands


class Compare(Node):
    __slots__ = ("left", "op", "op_pos", "right")

    def __init__(self, start: int, end: int, depth: int, *, op: str, op_pos: int, left: Node, right: Node) -> None:
        super().__init__(start, end, depth)
        self.op = op
        self.op_pos = op_pos
        self.left = left
        self.right = right


class Logic(Node):
    __slots__ = ("op", "operands")

    def __init__(self, start: int, end: int, depth: int, *, op: str, operands: tuple[Node, ...]) -> None:
        super().__init__(start, end, depth)
        self.op = op  # "&&" or "||"
        self.operands = operands


class Cond(Node):
    __slots__ = ("cond", "op_pos", "other", "then")

    def __init__(self, start: int, end: int, depth: int, *, cond: Node, then: Node, other: Node, op_pos: int) -> None:
        super().__init__(start, end, depth)
        self.cond = cond
        self.then = then
        self.other = other
        self.op_pos = op_pos


class List(Node):
    __slots__ = ("items",)

    def __init__(self, start: int, end: int, depth: int, *, items: tuple[Node, ...]) -> None:
        super().__init__(start, end, depth)
        self.items = items


class Map(Node):
    __slots__ = ("entries",)

    def __init__(self, start: int, end: int, depth: int, *, entries: tuple[tuple[Node, Node], ...]) -> None:
        super().__init__(start, end, depth)
        self.entries = entries


class Call(Node):
    __slots__ = ("args", "name", "name_pos", "target")

    def __init__(
        self,
        start: int,
        end: int,
        depth: int,
        *,
        name: str,
        name_pos: int,
        target: Node | None,
        args: tuple[Node, ...],
    ) -> None:
        super().__init__(start, end, depth)
        self.name = name
        self.name_pos = name_pos
        self.target = target  # None for size(x), the receiver for x.size()
        self.args = args


class Macro(Node):
    __slots__ = ("body", "cond", "name", "name_pos", "target", "var")

    def __init__(
        self,
        start: int,
        end: int,
        depth: int,
        *,
        name: str,
        name_pos: int,
        target: Node,
        var: str,
        body: Node,
        cond: Node | None = None,
    ) -> None:
        super().__init__(start, end, depth)
        self.name = name  # one of MACROS
        self.name_pos = name_pos
        self.target = target
        self.var = var
        self.body = body
        self.cond = cond  # the filter of the three-argument map(x, cond, body)
