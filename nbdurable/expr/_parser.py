"""Recursive descent over CEL's grammar, checking names, functions and nesting as it goes."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any, NoReturn

from ._ast import Arith, Call, Compare, Cond, Index, List, Lit, Logic, Macro, Map, Name, Node, Select, Unary
from ._lexer import Token, tokenize
from ._limits import INT_MAX, INT_MIN, MAX_DEPTH, MAX_NESTING
from ._messages import syntax_error
from ._time import TIMESTAMP_GETTERS
from ._values import DURATION, TIMESTAMP, TYPES

RELOPS = frozenset({"==", "!=", "<", "<=", ">", ">=", "in"})
RESERVED = frozenset(
    {
        "as", "break", "const", "continue", "else", "for", "function", "if", "import",
        "let", "loop", "package", "namespace", "return", "var", "void", "while",
    }
)  # fmt: skip
MACROS = frozenset({"exists", "all", "exists_one", "existsOne", "map", "filter"})
# name -> the numbers of arguments it takes
METHODS: dict[str, tuple[int, ...]] = {
    "size": (0,),
    "contains": (1,),
    "startsWith": (1,),
    "endsWith": (1,),
    "matches": (1,),
    **dict.fromkeys(TIMESTAMP_GETTERS, (0, 1)),
}
FUNCTIONS: dict[str, tuple[int, ...]] = dict.fromkeys(
    ("size", "has", "int", "double", "string", "bool", "dyn", "type", "timestamp", "duration"), (1,)
)
FUNCTIONS["matches"] = (2,)
# Names that mean a type wherever no variable of that name is in scope, e.g. type(x) == int.
PROTOBUF_TYPES = {"google.protobuf.Timestamp": TIMESTAMP, "google.protobuf.Duration": DURATION}
EXAMPLE = "event.data.ticket_id == async.data.ticket_id"
MACRO_HINT = "list.exists(x, x == 1), list.all(x, x > 0), list.map(x, x * 2) or list.filter(x, x > 0)"
# Words people bring from Python or JavaScript, with what to write instead.
HINTS = {
    "and": "'and' is not an operator here; use && (e.g. a == 1 && b == 2)",
    "or": "'or' is not an operator here; use || (e.g. a == 1 || b == 2)",
    "not": "'not' is not an operator here; use ! (and !(x in list) for 'not in')",
    "is": "'is' is not an operator here; use == or !=",
    "True": "write true in lower case",
    "False": "write false in lower case",
    "None": "write null for a missing value",
    "undefined": "write null, or test for a field with has(event.data.field)",
    "lambda": f"lambdas are not available; to test the items of a list use {MACRO_HINT}",
    "for": f"loops and comprehensions are not available; use {MACRO_HINT}",
    "if": "use the conditional operator: condition ? value_if_true : value_if_false",
    "else": "use the conditional operator: condition ? value_if_true : value_if_false",
    "import": "imports are not available in expressions",
}


def describe(tok: Token) -> str:
    if tok.kind == "ident":
        return f"the name '{tok.text}'"
    if tok.kind in ("int", "float"):
        return f"the number {tok.text}"
    if tok.kind == "string":
        return "a string"
    if tok.kind == "qident":
        return f"the quoted field name {tok.text}"
    if tok.kind == "lit":
        return tok.text
    return f"'{tok.text}'"


class Parser:
    """Recursive descent over CEL's grammar; every node it can build is one of the classes above."""

    def __init__(self, source: str, roots: frozenset[str]) -> None:
        self.src = source
        self.roots = roots
        self.tokens = tokenize(source)
        self.i = 0
        self.nesting = 0
        self.scope: list[str] = []  # variables bound by macros, innermost last

    # -- helpers

    def fail(self, pos: int, message: str) -> NoReturn:
        raise syntax_error(self.src, pos, message)

    def peek(self) -> Token:
        return self.tokens[self.i]

    def advance(self) -> Token:
        tok = self.tokens[self.i]
        if tok.kind != "eof":
            self.i += 1
        return tok

    def at(self, text: str) -> bool:
        tok = self.tokens[self.i]
        return tok.kind == "op" and tok.text == text

    def unexpected(self, tok: Token, expected: str) -> NoReturn:
        if tok.kind == "eof":
            self.fail(tok.start, f"the expression ends too early; expected {expected}")
        if tok.kind == "ident" and tok.text in HINTS:
            self.fail(tok.start, HINTS[tok.text])
        if tok.kind == "op" and tok.text == "*" and self.i > 0 and self.tokens[self.i - 1].text == "*":
            self.fail(tok.start, "there is no power operator **; multiply instead")
        self.fail(tok.start, f"found {describe(tok)} where {expected} should be")

    def expect(self, text: str, expected: str) -> Token:
        if not self.at(text):
            self.unexpected(self.peek(), expected)
        return self.advance()

    def node(self, cls: type[Node], start: int, children: Sequence[Node], **fields: Any) -> Any:
        depth = 1 + max((c.depth for c in children), default=0)
        if depth > MAX_DEPTH:
            self.fail(start, f"the expression is nested more than {MAX_DEPTH} levels deep; split it into simpler ones")
        end = self.tokens[self.i - 1].end if self.i > 0 else start
        return cls(start=start, end=end, depth=depth, **fields)

    def check_name(self, tok: Token, what: str, *, hints: bool = True, reserved: bool = True) -> None:
        if hints and tok.text in HINTS:
            self.fail(tok.start, HINTS[tok.text])
        if tok.text.startswith("__"):
            self.fail(
                tok.start,
                f"{what} starting with '__' are not allowed; for a data key with that name write "
                f"[{json.dumps(tok.text)}] (e.g. event.data[{json.dumps(tok.text)}])",
            )
        if reserved and tok.text in RESERVED:
            self.fail(tok.start, f"'{tok.text}' is a reserved word in CEL and cannot be used as a name; "
                      f'for a data key with that name write ["{tok.text}"]')  # fmt: skip

    # -- grammar, lowest precedence first

    def parse(self) -> Node:
        if self.peek().kind == "eof":
            self.fail(0, f"the expression is empty; write a condition such as {EXAMPLE}")
        tree = self.expr()
        tok = self.peek()
        if tok.kind != "eof":
            if tok.kind == "op" and tok.text in (")", "]", "}"):
                self.fail(tok.start, f"'{tok.text}' has no matching opening bracket")
            self.unexpected(tok, "the end of the expression (join conditions with && or ||)")
        return tree

    def expr(self) -> Node:
        self.nesting += 1
        try:
            if self.nesting > MAX_NESTING + 1:  # the whole expression is level 1, 32 brackets may follow
                self.fail(
                    self.peek().start, f"brackets are nested more than {MAX_NESTING} deep; simplify the expression"
                )
            start = self.peek().start
            cond = self.or_()
            if not self.at("?"):
                return cond
            q = self.advance()
            then = self.or_()
            self.expect(":", "':' between the two results of condition ? a : b")
            other = self.expr()
            node: Node = self.node(Cond, start, (cond, then, other), cond=cond, then=then, other=other, op_pos=q.start)
            return node
        finally:
            self.nesting -= 1

    def or_(self) -> Node:
        return self.logic("||", self.and_)

    def and_(self) -> Node:
        return self.logic("&&", self.relation)

    def logic(self, op: str, operand: Callable[[], Node]) -> Node:
        start = self.peek().start
        first = operand()
        if not self.at(op):
            return first
        items = [first]
        while self.at(op):
            self.advance()
            items.append(operand())
        node: Node = self.node(Logic, start, items, op=op, operands=tuple(items))
        return node

    def relation(self) -> Node:
        start = self.peek().start
        left = self.addition()
        tok = self.peek()
        if not (tok.kind == "op" and tok.text in RELOPS):
            return left
        self.advance()
        right = self.addition()
        nxt = self.peek()
        if nxt.kind == "op" and nxt.text in RELOPS:
            self.fail(nxt.start, "comparisons do not chain; write a < b && b < c instead of a < b < c")
        node: Node = self.node(Compare, start, (left, right), op=tok.text, op_pos=tok.start, left=left, right=right)
        return node

    def addition(self) -> Node:
        return self.arith(("+", "-"), self.multiplication)

    def multiplication(self) -> Node:
        return self.arith(("*", "/", "%"), self.unary)

    def arith(self, ops: tuple[str, ...], operand: Callable[[], Node]) -> Node:
        start = self.peek().start
        first = operand()
        operands = [first]
        found: list[tuple[str, int]] = []
        while (tok := self.peek()).kind == "op" and tok.text in ops:
            self.advance()
            found.append((tok.text, tok.start))
            operands.append(operand())
        if not found:
            return first
        node: Node = self.node(Arith, start, operands, operands=tuple(operands), ops=tuple(found))
        return node

    def unary(self) -> Node:
        tok = self.peek()
        if not (tok.kind == "op" and tok.text in ("!", "-")):
            return self.member()
        op, count = tok.text, 0
        while self.at(op):
            self.advance()
            count += 1
        odd = count % 2 == 1
        nxt = self.peek()
        if op == "-" and nxt.kind in ("int", "float"):
            # Fold the sign into the literal so the smallest int64 can be written.
            self.advance()
            value = -nxt.value if odd else nxt.value
            if nxt.kind == "int" and not INT_MIN <= value <= INT_MAX:
                self.fail(nxt.start, "this integer does not fit in 64 bits; write it as a double, e.g. 1e20")
            lit: Node = self.node(Lit, tok.start, (), value=value)
            return self.member_suffix(lit, tok.start)
        operand = self.member()
        node: Node = self.node(Unary, tok.start, (operand,), op=op, odd=odd, operand=operand)
        return node

    def member(self) -> Node:
        start = self.peek().start
        return self.member_suffix(self.primary(), start)

    def member_suffix(self, node: Node, start: int) -> Node:
        while True:
            tok = self.peek()
            if tok.kind == "float" and tok.text.startswith("."):
                self.fail(tok.start, f"to take an item of a list write [{tok.text[1:]}], not {tok.text}")
            if self.at("."):
                dot = self.advance()
                name = self.peek()
                if name.kind not in ("ident", "qident"):
                    self.unexpected(name, "a field name after '.'")
                self.advance()
                if name.kind == "ident":
                    # Reserved words are fine here: {'if': 1}.if is valid CEL.
                    self.check_name(name, "field names", hints=False, reserved=False)
                if self.at("(") and name.kind == "ident":
                    node = self.method(node, name, start)
                else:
                    field = name.value if name.kind == "qident" else name.text
                    node = self.node(
                        Select, start, (node,), operand=node, field=field, dot_pos=dot.start, field_pos=name.start
                    )
            elif self.at("["):
                bracket = self.advance()
                index = self.expr()
                self.expect("]", "']' to close the index")
                node = self.node(Index, start, (node, index), operand=node, index=index, bracket_pos=bracket.start)
            else:
                return node

    def method(self, target: Node, name: Token, start: int) -> Node:
        self.advance()  # "("
        if name.text in MACROS:
            return self.macro(target, name, start)
        if name.text not in METHODS:
            self.unknown_function(name, methods=True)
        if name.text not in METHODS:
            self.unknown_function(name, methods=True)
        args = self.call_args()
        self.check_arity(name, len(args), METHODS[name.text], method=True)
        node: Node = self.node(
            Call, start, (target, *args), name=name.text, name_pos=name.start, target=target, args=tuple(args)
        )
        return node

    def macro(self, target: Node, name: Token, start: int) -> Node:
        """Parse ``var, body)`` (or ``var, cond, body)`` for map) after ``target.name(``."""
        var = self.peek()
        if var.kind != "ident":
            self.unexpected(var, f"a variable name, as in list.{name.text}(x, ...)")
        self.advance()
        self.check_name(var, "variable names")
        self.expect(",", f"',' after the variable, as in list.{name.text}(x, ...)")
        self.scope.append(var.text)
        try:
            body, cond = self.expr(), None
            if name.text == "map" and self.at(","):
                self.advance()
                body, cond = self.expr(), body
        finally:
            self.scope.pop()
        takes = "a variable, a condition and an expression" if cond else "a variable and one expression"
        self.expect(")", f"')' to close {name.text}(); it takes {takes}")
        parts = (target, body) if cond is None else (target, cond, body)
        node: Node = self.node(
            Macro,
            start,
            parts,
            name="exists_one" if name.text == "existsOne" else name.text,
            name_pos=name.start,
            target=target,
            var=var.text,
            body=body,
            cond=cond,
        )
        return node

    def call_args(self) -> list[Node]:
        """Parse arguments after '(' up to and including ')'."""
        args: list[Node] = []
        if self.at(")"):
            self.advance()
            return args
        while True:
            args.append(self.expr())
            if self.at(","):
                self.advance()
                continue
            self.expect(")", "',' or ')' in the argument list")
            return args

    def unknown_function(self, name: Token, *, methods: bool) -> NoReturn:
        known = sorted(set(METHODS) | MACROS) if methods else sorted(FUNCTIONS)
        shown = ", ".join(f".{k}()" if methods else f"{k}()" for k in known)
        self.fail(name.start, f"unknown function '{name.text}'; the functions available are {shown}")

    def primary(self) -> Node:
        tok = self.peek()
        if tok.kind in ("int", "float", "string", "lit"):
            self.advance()
            if tok.kind == "int" and tok.value > INT_MAX:
                self.fail(tok.start, "this integer does not fit in 64 bits; write it as a double, e.g. 1e20")
            lit: Node = self.node(Lit, tok.start, (), value=tok.value)
            return lit
        if tok.kind == "ident":
            return self.identifier()
        if self.at("("):
            self.advance()
            if self.at(")"):
                self.fail(tok.start, "empty parentheses; put an expression inside them")
            inner = self.expr()
            self.expect(")", "')' to close the parenthesis")
            return inner
        if self.at("["):
            self.advance()
            items = self.sequence("]", self.expr)
            node: Node = self.node(List, tok.start, items, items=tuple(items))
            return node
        if self.at("{"):
            self.advance()
            entries = self.sequence("}", self.map_entry)
            children = [part for entry in entries for part in entry]
            node = self.node(Map, tok.start, children, entries=tuple(entries))
            return node
        if self.at("."):
            self.fail(tok.start, "a name cannot start with '.'; write event.data.x")
        if tok.kind == "qident":
            self.fail(tok.start, 'backquotes quote a field name after a dot, as in event.data.`content-type`; '
                      'for text use double quotes, e.g. "text"')  # fmt: skip
        self.unexpected(tok, "a value (a name such as event, a number, a string, true, false or null)")

    def map_entry(self) -> tuple[Node, Node]:
        key = self.expr()
        self.expect(":", "':' between a key and its value, as in {\"key\": 1}")
        return key, self.expr()

    def sequence(self, close: str, item: Callable[[], Any]) -> list[Any]:
        """Parse comma-separated items after an opening bracket, up to and including ``close``."""
        out: list[Any] = []
        while not self.at(close):
            out.append(item())
            if self.at(","):
                self.advance()
            elif not self.at(close):
                self.unexpected(self.peek(), f"',' or '{close}'")
        self.advance()
        return out

    def identifier(self) -> Node:
        tok = self.advance()
        self.check_name(tok, "names")
        if self.at("("):
            if tok.text not in FUNCTIONS:
                self.unknown_function(tok, methods=False)
            self.advance()
            args = self.call_args()
            self.check_arity(tok, len(args), FUNCTIONS[tok.text], method=False)
            if tok.text == "has" and not isinstance(args[0], Select):
                self.fail(args[0].start, "has() takes a field, as in has(event.data.ticket_id)")
            node: Node = self.node(
                Call, tok.start, args, name=tok.text, name_pos=tok.start, target=None, args=tuple(args)
            )
            return node
        if tok.text not in self.roots and tok.text not in self.scope:
            type_value = self.type_name(tok)
            if type_value is None:
                self.unknown_name(tok)
            lit: Node = self.node(Lit, tok.start, (), value=type_value)
            return lit
        name: Node = self.node(Name, tok.start, (), name=tok.text)
        return name

    def type_name(self, tok: Token) -> Any:
        """The type a name such as ``int`` or ``google.protobuf.Timestamp`` denotes, or None."""
        if tok.text in TYPES:
            return TYPES[tok.text]
        if tok.text != "google":
            return None
        # Only the two protobuf types CEL has as values; read the dotted name ahead.
        parts, j = [tok.text], self.i
        while j + 1 < len(self.tokens) and self.tokens[j].text == "." and self.tokens[j + 1].kind == "ident":
            parts.append(self.tokens[j + 1].text)
            j += 2
            if ".".join(parts) in PROTOBUF_TYPES:
                self.i = j
                return PROTOBUF_TYPES[".".join(parts)]
        return None

    def check_arity(self, name: Token, got: int, allowed: tuple[int, ...], *, method: bool) -> None:
        if got in allowed:
            return
        shown = f".{name.text}()" if method else f"{name.text}()"
        wanted = " or ".join(str(n) for n in allowed)
        self.fail(name.start, f"{shown} takes {wanted} argument{'s' if allowed != (1,) else ''}, not {got}")

    def unknown_name(self, tok: Token) -> NoReturn:
        nxt = self.peek()
        if nxt.kind == "ident" and nxt.text in HINTS:
            # "[x for x in list]": the real mistake is the Python syntax, not the unknown x.
            self.fail(nxt.start, HINTS[nxt.text])
        import difflib  # only needed for this message

        available = sorted(self.roots | set(self.scope))
        close = difflib.get_close_matches(tok.text, available, n=1)
        guess = f"did you mean '{close[0]}'? " if close else ""
        listed = ", ".join(available) if available else "no names"
        self.fail(tok.start, f"unknown name '{tok.text}'; {guess}this expression can use {listed}")
