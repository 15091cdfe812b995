"""CEL expressions for ``if_exp``, ``CancelOn`` and concurrency keys, parsed and evaluated without ``eval``.

Inngest writes these conditions in CEL (Common Expression Language), e.g.
``async.data.ticket_id == event.data.ticket_id``, so the same text works here. The
source is split into tokens, parsed by recursive descent into a tree made only of
the node types below, checked (known names, known functions, nesting depth), and
turned into a chain of small Python closures. No text from the user ever reaches
``eval``, ``exec``, ``compile`` or ``getattr``: field access is a mapping lookup.

Why our own parser and not cel-python (``celpy`` 0.5.0), measured in this venv:

* Speed: its tree-walking ``InterpretedRunner`` took ~150 us per evaluation of
  ``a.x == e.x && a.n > 100``, plus ~100 us to convert each event with
  ``json_to_cel``: ~250 us per candidate event. This module takes ~1 us, or
  ~4 us when the candidate lacks the field.
* Safety: its faster ``CompiledRunner`` transpiles to Python and runs it with
  ``exec`` (and raised ``AttributeError`` on that expression in 0.5.0).
* Side effects: every ``celpy.Environment()`` calls ``sys.setrecursionlimit(2500)``,
  changing the user's kernel.
* Errors: a parse error has a line and column but no text saying what is wrong
  (``a = 1`` gives only a caret); unknown names are found only at evaluation.
* Weight: ~60 ms to import, and five more dependencies (lark, pendulum,
  google-re2, jmespath, pyyaml).

Python's ``ast`` was the other candidate. It was not used because CEL is not
Python: ``&&``, ``||``, ``!``, ``null``, ``cond ? a : b``, ``//`` comments and the
``async`` root would all need rewriting before parsing; ``ast`` offsets are UTF-8
bytes and shift after each rewrite; and its error messages describe Python. A CEL
grammar is small enough to parse directly, with exact character positions.

Semantics follow CEL for JSON-like values (null, bool, int, double, string, list,
map). Three choices:

* A missing field is an error. ``&&`` and ``||`` ignore an error when the other side
  decides the result, as in CEL: ``has(e.x) && e.x > 1`` and ``e.missing == 1 || true``
  work. ``Expression.matches`` counts any remaining error as "no match" (an event
  without the field does not match in Inngest either); ``Expression.evaluate`` raises
  :class:`ExpressionError` naming the field and pointing at it.
* ``matches`` is true only when the result is the boolean ``true``. A string
  ``"false"`` or a number never counts as a match.
* Arithmetic accepts an int and a double together (CEL needs ``double(x)``), because
  JSON does not say whether ``100`` is an int or a double.

Supported: literals (``1``, ``0x1f``, ``1.5``, ``"s"``, ``'s'``, ``r"raw"``,
``'''triple'''``, ``true``, ``false``, ``null``, ``[...]``, ``{k: v}``), ``.field``,
``[index]``, ``! -`` (unary), ``* / %``, ``+ -``, ``< <= > >= == != in``, ``&&``, ``||``,
``? :``, the functions ``size has int double string`` and the methods ``size contains
startsWith endsWith`` and the macros ``exists all exists_one map filter``.

Left out: regex ``matches`` (a user pattern could take unbounded time), uint and
bytes literals, timestamps and durations, ``dyn``/``type``, the three-argument
``map``, and names starting with ``__``. ``a < b < c`` is a compile error with a hint
(CEL would compare a bool with ``c``). Each gets an error that says so.
"""

from __future__ import annotations

import functools
import json
import math
import re
from collections.abc import Callable, Collection, Mapping, Sequence
from typing import Any, NoReturn

from nbdurable._errors import ExpressionError

__all__ = ["Expression", "compile_expression", "evaluate_key"]

_Fn = Callable[[Mapping[str, Any]], Any]

# Each bracket level costs about ten Python frames in the parser; a node about two
# when building and evaluating. These limits keep both far below the default
# recursion limit (1000), also when called from an already deep stack.
_MAX_NESTING = 32
_MAX_DEPTH = 120
_INT_MIN = -(2**63)
_INT_MAX = 2**63 - 1

_IDENT_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_HEX_RE = re.compile(r"0[xX][0-9A-Fa-f]+")
_FLOAT_RE = re.compile(r"[0-9]*\.[0-9]+(?:[eE][+-]?[0-9]+)?|[0-9]+[eE][+-]?[0-9]+")
_INT_RE = re.compile(r"[0-9]+")
_INT_TEXT_RE = re.compile(r"[+-]?[0-9]+")
_DOUBLE_TEXT_RE = re.compile(
    r"[+-]?(?:(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?|inf|infinity|nan)", re.IGNORECASE
)
_WHITESPACE = frozenset(" \t\n\r\f")
_OPS2 = frozenset({"==", "!=", "<=", ">=", "&&", "||"})
_OPS1 = frozenset("()[]{}.,:?+-*/%!<>")
_RELOPS = frozenset({"==", "!=", "<", "<=", ">", ">=", "in"})
_ESCAPES = {
    "\\": "\\", "?": "?", '"': '"', "'": "'", "`": "`",
    "a": "\a", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v",
}  # fmt: skip
_LITERAL_WORDS: dict[str, Any] = {"true": True, "false": False, "null": None}
# CEL reserves these so they can never name a variable or field.
_RESERVED = frozenset(
    {
        "as", "break", "const", "continue", "else", "for", "function", "if", "import",
        "let", "loop", "package", "namespace", "return", "var", "void", "while",
    }
)  # fmt: skip
_MACROS = frozenset({"exists", "all", "exists_one", "map", "filter"})
_METHODS = {"size": 0, "contains": 1, "startsWith": 1, "endsWith": 1}
_FUNCTIONS = {"size": 1, "has": 1, "int": 1, "double": 1, "string": 1}
_EXAMPLE = "event.data.ticket_id == async.data.ticket_id"
_MACRO_HINT = "list.exists(x, x == 1), list.all(x, x > 0), list.map(x, x * 2) or list.filter(x, x > 0)"
# Words people bring from Python or JavaScript, with what to write instead.
_HINTS = {
    "and": "'and' is not an operator here; use && (e.g. a == 1 && b == 2)",
    "or": "'or' is not an operator here; use || (e.g. a == 1 || b == 2)",
    "not": "'not' is not an operator here; use ! (and !(x in list) for 'not in')",
    "is": "'is' is not an operator here; use == or !=",
    "True": "write true in lower case",
    "False": "write false in lower case",
    "None": "write null for a missing value",
    "undefined": "write null, or test for a field with has(event.data.field)",
    "lambda": f"lambdas are not available; to test the items of a list use {_MACRO_HINT}",
    "for": f"loops and comprehensions are not available; use {_MACRO_HINT}",
    "if": "use the conditional operator: condition ? value_if_true : value_if_false",
    "else": "use the conditional operator: condition ? value_if_true : value_if_false",
    "import": "imports are not available in expressions",
}


# --------------------------------------------------------------------------- errors


def _where(source: str, pos: int) -> str:
    if "\n" not in source:
        return f"at position {pos}"
    line = source.count("\n", 0, pos) + 1
    column = pos - (source.rfind("\n", 0, pos) + 1) + 1
    return f"at line {line}, column {column} (position {pos})"


def _syntax_error(source: str, pos: int, message: str) -> ExpressionError:
    return ExpressionError(f"Invalid expression {_where(source, pos)}: {message}.", expression=source, position=pos)


class _EvalError(Exception):
    """A runtime failure inside an expression; the message is built only when someone reads it.

    ``matches`` swallows these for every non-matching candidate event, so raising must be cheap.
    """

    def __init__(self, position: int, make_message: Callable[[], str]) -> None:
        super().__init__()
        self.position = position
        self.make_message = make_message


def _type_error(position: int, template: str, value: Any) -> _EvalError:
    """An error whose message names the CEL type of ``value`` where ``template`` has ``{}``."""
    return _EvalError(position, lambda: template.format(_type_name(value)))


def _type_name(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "double"
    if isinstance(value, str):
        return "string"
    if isinstance(value, Mapping):
        return "map"
    if isinstance(value, (list, tuple)):
        return "list"
    return type(value).__name__


def _show(value: Any) -> str:
    """A short JSON-ish rendering for messages that never fails (Python refuses to print ints over 4300 digits)."""
    try:
        text = json.dumps(value, default=repr, ensure_ascii=False)
    except (TypeError, ValueError, RecursionError):
        return f"a {_type_name(value)}"
    return text if len(text) <= 60 else text[:57] + "..."


def _keys_hint(obj: Mapping[Any, Any]) -> str:
    keys = [k if isinstance(k, str) else _show(k) for k in list(obj)[:12]]
    if not keys:
        return " (it is empty)"
    more = ", ..." if len(obj) > 12 else ""
    return f" (it has: {', '.join(keys)}{more})"


# --------------------------------------------------------------------------- tokens


class _Token:
    __slots__ = ("end", "kind", "start", "text", "value")

    def __init__(self, kind: str, text: str, value: Any, start: int, end: int) -> None:
        self.kind = kind  # "ident", "int", "float", "string", "lit", "op" or "eof"
        self.text = text
        self.value = value
        self.start = start
        self.end = end


def _tokenize(src: str) -> list[_Token]:
    tokens: list[_Token] = []
    i, n = 0, len(src)
    while i < n:
        c = src[i]
        if c in _WHITESPACE:
            i += 1
            continue
        if src.startswith("//", i):
            newline = src.find("\n", i)
            i = n if newline < 0 else newline
            continue
        prefix = _string_prefix(src, i)
        if prefix is not None:
            if "b" in prefix.lower():
                raise _syntax_error(src, i, 'bytes literals (b"...") are not supported; use a plain string')
            value, end = _lex_string(src, i, len(prefix), raw=bool(prefix))
            tokens.append(_Token("string", src[i:end], value, i, end))
            i = end
            continue
        if "0" <= c <= "9" or (c == "." and i + 1 < n and "0" <= src[i + 1] <= "9"):
            tokens.append(_lex_number(src, i))
            i = tokens[-1].end
            continue
        m = _IDENT_RE.match(src, i)
        if m:
            word = m.group()
            if word in _LITERAL_WORDS:
                tokens.append(_Token("lit", word, _LITERAL_WORDS[word], i, m.end()))
            elif word == "in":
                tokens.append(_Token("op", word, None, i, m.end()))
            else:
                tokens.append(_Token("ident", word, word, i, m.end()))
            i = m.end()
            continue
        two = src[i : i + 2]
        if two in _OPS2:
            tokens.append(_Token("op", two, None, i, i + 2))
            i += 2
            continue
        if c == "=":
            raise _syntax_error(src, i, "'=' assigns, it does not compare; use == to compare two values")
        if c == "&":
            raise _syntax_error(src, i, "a single '&' is not an operator; use && for 'and'")
        if c == "|":
            raise _syntax_error(src, i, "a single '|' is not an operator; use || for 'or'")
        if c in _OPS1:
            tokens.append(_Token("op", c, None, i, i + 1))
            i += 1
            continue
        if c == "#":
            raise _syntax_error(src, i, "comments start with //, not #")
        if c == "`":
            raise _syntax_error(src, i, 'backticks do not quote strings; use double quotes, e.g. "text"')
        raise _syntax_error(src, i, f'the character {c!r} cannot be used here; strings need quotes, e.g. "text"')
    tokens.append(_Token("eof", "", None, n, n))
    return tokens


def _string_prefix(src: str, i: int) -> str | None:
    """Return the prefix (``""``, ``"r"``, ``"b"``, ``"rb"``...) when a string literal starts at i."""
    j = i
    while j < len(src) and j - i < 2 and src[j] in "rRbB":
        j += 1
    if j < len(src) and src[j] in "\"'":
        prefix = src[i:j]
        if len(prefix) < 2 or prefix[0].lower() != prefix[1].lower():
            return prefix
    return None


def _lex_string(src: str, start: int, prefix_len: int, *, raw: bool) -> tuple[str, int]:
    n = len(src)
    quote_pos = start + prefix_len
    q = src[quote_pos]
    delim = q * 3 if src.startswith(q * 3, quote_pos) else q
    j = quote_pos + len(delim)
    out: list[str] = []
    while True:
        if j >= n:
            raise _syntax_error(src, start, f"this string is never closed; add the closing {delim}")
        if src.startswith(delim, j):
            return "".join(out), j + len(delim)
        c = src[j]
        if c == "\n" and len(delim) == 1:
            raise _syntax_error(
                src,
                start,
                f"this string is not closed on its line; close it with {q}, or use {q * 3} for several lines",
            )
        if c == "\\" and not raw:
            text, j = _lex_escape(src, j)
            out.append(text)
            continue
        out.append(c)
        j += 1


def _lex_escape(src: str, j: int) -> tuple[str, int]:
    """Decode the escape sequence at src[j] (a backslash); return its text and the index after it."""
    if j + 1 >= len(src):
        raise _syntax_error(src, j, "a backslash ends the text; close the string, or write \\\\ for a backslash")
    c = src[j + 1]
    if c in _ESCAPES:
        return _ESCAPES[c], j + 2
    width = {"x": 2, "X": 2, "u": 4, "U": 8}.get(c)
    if width is not None:
        digits = src[j + 2 : j + 2 + width]
        if len(digits) != width or any(d not in "0123456789abcdefABCDEF" for d in digits):
            raise _syntax_error(src, j, f"\\{c} needs exactly {width} hex digits, e.g. \\{c}{'0' * (width - 2)}41")
        code = int(digits, 16)
        if code > 0x10FFFF or 0xD800 <= code <= 0xDFFF:
            raise _syntax_error(src, j, f"\\{c}{digits} is not a valid Unicode character")
        return chr(code), j + 2 + width
    if c in "0123":
        digits = src[j + 1 : j + 4]
        if len(digits) == 3 and all(d in "01234567" for d in digits):
            return chr(int(digits, 8)), j + 4
        raise _syntax_error(src, j, "an octal escape needs three digits 000-377, e.g. \\101")
    raise _syntax_error(
        src, j, f"unknown escape \\{c}; use \\\\ for a backslash, \\\" or \\' for quotes, \\n for a new line"
    )


def _lex_number(src: str, i: int) -> _Token:
    m = _HEX_RE.match(src, i) or _FLOAT_RE.match(src, i) or _INT_RE.match(src, i)
    assert m is not None  # the caller saw a digit, or a dot and a digit
    end = m.end()
    if end < len(src) and (src[end].isalnum() or src[end] == "_"):
        if src[end] in "uU" and not _FLOAT_RE.fullmatch(m.group()):
            raise _syntax_error(src, end, "unsigned integers (1u) are not supported; drop the 'u'")
        raise _syntax_error(src, i, "a number cannot run into letters; put an operator or a space between them")
    text = m.group()
    if _FLOAT_RE.fullmatch(text):
        value: float | int = float(text)
        if math.isinf(value):
            raise _syntax_error(src, i, "this number is too large for a double")
        return _Token("float", text, value, i, end)
    # Check the length first: int() refuses decimal strings over 4300 digits with a ValueError.
    # 2**63 itself is allowed only as the operand of a minus; the parser checks that.
    if len(text) > 20 or (value := int(text, 16) if text[:2] in ("0x", "0X") else int(text)) > 2**63:
        raise _syntax_error(src, i, "this integer does not fit in 64 bits; write it as a double, e.g. 1e20")
    return _Token("int", text, value, i, end)


# --------------------------------------------------------------------------- tree
# Plain slotted classes rather than dataclasses: defining sixteen dataclasses cost
# several milliseconds of import time, and nbdurable must import fast.


class _Node:
    __slots__ = ("depth", "end", "start")

    def __init__(self, start: int, end: int, depth: int) -> None:
        self.start = start
        self.end = end
        self.depth = depth  # longest path to a leaf; bounded so evaluation cannot overflow the stack


class _Lit(_Node):
    __slots__ = ("value",)

    def __init__(self, start: int, end: int, depth: int, *, value: Any) -> None:
        super().__init__(start, end, depth)
        self.value = value


class _Name(_Node):
    __slots__ = ("name",)

    def __init__(self, start: int, end: int, depth: int, *, name: str) -> None:
        super().__init__(start, end, depth)
        self.name = name


class _Select(_Node):
    __slots__ = ("dot_pos", "field", "field_pos", "operand")

    def __init__(
        self, start: int, end: int, depth: int, *, operand: _Node, field: str, dot_pos: int, field_pos: int
    ) -> None:
        super().__init__(start, end, depth)
        self.operand = operand
        self.field = field
        self.dot_pos = dot_pos
        self.field_pos = field_pos


class _Index(_Node):
    __slots__ = ("bracket_pos", "index", "operand")

    def __init__(self, start: int, end: int, depth: int, *, operand: _Node, index: _Node, bracket_pos: int) -> None:
        super().__init__(start, end, depth)
        self.operand = operand
        self.index = index
        self.bracket_pos = bracket_pos


class _Unary(_Node):
    __slots__ = ("odd", "op", "operand")

    def __init__(self, start: int, end: int, depth: int, *, op: str, odd: bool, operand: _Node) -> None:
        super().__init__(start, end, depth)
        self.op = op  # "!" or "-"
        self.odd = odd  # whether the run of operators flips the value
        self.operand = operand


class _Arith(_Node):
    """A left-to-right run of operators of one precedence level: a + b - c."""

    __slots__ = ("operands", "ops")

    def __init__(
        self, start: int, end: int, depth: int, *, operands: tuple[_Node, ...], ops: tuple[tuple[str, int], ...]
    ) -> None:
        super().__init__(start, end, depth)
        self.operands = operands
        self.ops = ops  # (operator, position), one fewer than operands


class _Compare(_Node):
    __slots__ = ("left", "op", "op_pos", "right")

    def __init__(self, start: int, end: int, depth: int, *, op: str, op_pos: int, left: _Node, right: _Node) -> None:
        super().__init__(start, end, depth)
        self.op = op
        self.op_pos = op_pos
        self.left = left
        self.right = right


class _Logic(_Node):
    __slots__ = ("op", "operands")

    def __init__(self, start: int, end: int, depth: int, *, op: str, operands: tuple[_Node, ...]) -> None:
        super().__init__(start, end, depth)
        self.op = op  # "&&" or "||"
        self.operands = operands


class _Cond(_Node):
    __slots__ = ("cond", "op_pos", "other", "then")

    def __init__(
        self, start: int, end: int, depth: int, *, cond: _Node, then: _Node, other: _Node, op_pos: int
    ) -> None:
        super().__init__(start, end, depth)
        self.cond = cond
        self.then = then
        self.other = other
        self.op_pos = op_pos


class _List(_Node):
    __slots__ = ("items",)

    def __init__(self, start: int, end: int, depth: int, *, items: tuple[_Node, ...]) -> None:
        super().__init__(start, end, depth)
        self.items = items


class _Map(_Node):
    __slots__ = ("entries",)

    def __init__(self, start: int, end: int, depth: int, *, entries: tuple[tuple[_Node, _Node], ...]) -> None:
        super().__init__(start, end, depth)
        self.entries = entries


class _Call(_Node):
    __slots__ = ("args", "name", "name_pos", "target")

    def __init__(
        self,
        start: int,
        end: int,
        depth: int,
        *,
        name: str,
        name_pos: int,
        target: _Node | None,
        args: tuple[_Node, ...],
    ) -> None:
        super().__init__(start, end, depth)
        self.name = name
        self.name_pos = name_pos
        self.target = target  # None for size(x), the receiver for x.size()
        self.args = args


class _Macro(_Node):
    __slots__ = ("body", "name", "name_pos", "target", "var")

    def __init__(
        self, start: int, end: int, depth: int, *, name: str, name_pos: int, target: _Node, var: str, body: _Node
    ) -> None:
        super().__init__(start, end, depth)
        self.name = name  # one of _MACROS
        self.name_pos = name_pos
        self.target = target
        self.var = var
        self.body = body


def _describe(tok: _Token) -> str:
    if tok.kind == "ident":
        return f"the name '{tok.text}'"
    if tok.kind in ("int", "float"):
        return f"the number {tok.text}"
    if tok.kind == "string":
        return "a string"
    if tok.kind == "lit":
        return tok.text
    return f"'{tok.text}'"


class _Parser:
    """Recursive descent over CEL's grammar; every node it can build is one of the classes above."""

    def __init__(self, source: str, roots: frozenset[str]) -> None:
        self.src = source
        self.roots = roots
        self.tokens = _tokenize(source)
        self.i = 0
        self.nesting = 0
        self.scope: list[str] = []  # variables bound by macros, innermost last

    # -- helpers

    def fail(self, pos: int, message: str) -> NoReturn:
        raise _syntax_error(self.src, pos, message)

    def peek(self) -> _Token:
        return self.tokens[self.i]

    def advance(self) -> _Token:
        tok = self.tokens[self.i]
        if tok.kind != "eof":
            self.i += 1
        return tok

    def at(self, text: str) -> bool:
        tok = self.tokens[self.i]
        return tok.kind == "op" and tok.text == text

    def unexpected(self, tok: _Token, expected: str) -> NoReturn:
        if tok.kind == "eof":
            self.fail(tok.start, f"the expression ends too early; expected {expected}")
        if tok.kind == "ident" and tok.text in _HINTS:
            self.fail(tok.start, _HINTS[tok.text])
        if tok.kind == "op" and tok.text == "*" and self.i > 0 and self.tokens[self.i - 1].text == "*":
            self.fail(tok.start, "there is no power operator **; multiply instead")
        self.fail(tok.start, f"found {_describe(tok)} where {expected} should be")

    def expect(self, text: str, expected: str) -> _Token:
        if not self.at(text):
            self.unexpected(self.peek(), expected)
        return self.advance()

    def node(self, cls: type[_Node], start: int, children: Sequence[_Node], **fields: Any) -> Any:
        depth = 1 + max((c.depth for c in children), default=0)
        if depth > _MAX_DEPTH:
            self.fail(start, f"the expression is nested more than {_MAX_DEPTH} levels deep; split it into simpler ones")
        end = self.tokens[self.i - 1].end if self.i > 0 else start
        return cls(start=start, end=end, depth=depth, **fields)

    def check_name(self, tok: _Token, what: str, *, hints: bool = True) -> None:
        if hints and tok.text in _HINTS:
            self.fail(tok.start, _HINTS[tok.text])
        if tok.text.startswith("__"):
            self.fail(
                tok.start,
                f"{what} starting with '__' are not allowed; for a data key with that name write "
                f"[{json.dumps(tok.text)}] (e.g. event.data[{json.dumps(tok.text)}])",
            )
        if tok.text in _RESERVED:
            self.fail(tok.start, f"'{tok.text}' is a reserved word in CEL and cannot be used as a name; "
                      f'for a data key with that name write ["{tok.text}"]')  # fmt: skip

    # -- grammar, lowest precedence first

    def parse(self) -> _Node:
        if self.peek().kind == "eof":
            self.fail(0, f"the expression is empty; write a condition such as {_EXAMPLE}")
        tree = self.expr()
        tok = self.peek()
        if tok.kind != "eof":
            if tok.kind == "op" and tok.text in (")", "]", "}"):
                self.fail(tok.start, f"'{tok.text}' has no matching opening bracket")
            self.unexpected(tok, "the end of the expression (join conditions with && or ||)")
        return tree

    def expr(self) -> _Node:
        self.nesting += 1
        try:
            if self.nesting > _MAX_NESTING:
                self.fail(
                    self.peek().start, f"brackets are nested more than {_MAX_NESTING} deep; simplify the expression"
                )
            start = self.peek().start
            cond = self.or_()
            if not self.at("?"):
                return cond
            q = self.advance()
            then = self.or_()
            self.expect(":", "':' between the two results of condition ? a : b")
            other = self.expr()
            node: _Node = self.node(
                _Cond, start, (cond, then, other), cond=cond, then=then, other=other, op_pos=q.start
            )
            return node
        finally:
            self.nesting -= 1

    def or_(self) -> _Node:
        return self.logic("||", self.and_)

    def and_(self) -> _Node:
        return self.logic("&&", self.relation)

    def logic(self, op: str, operand: Callable[[], _Node]) -> _Node:
        start = self.peek().start
        first = operand()
        if not self.at(op):
            return first
        items = [first]
        while self.at(op):
            self.advance()
            items.append(operand())
        node: _Node = self.node(_Logic, start, items, op=op, operands=tuple(items))
        return node

    def relation(self) -> _Node:
        start = self.peek().start
        left = self.addition()
        tok = self.peek()
        if not (tok.kind == "op" and tok.text in _RELOPS):
            return left
        self.advance()
        right = self.addition()
        nxt = self.peek()
        if nxt.kind == "op" and nxt.text in _RELOPS:
            self.fail(nxt.start, "comparisons do not chain; write a < b && b < c instead of a < b < c")
        node: _Node = self.node(_Compare, start, (left, right), op=tok.text, op_pos=tok.start, left=left, right=right)
        return node

    def addition(self) -> _Node:
        return self.arith(("+", "-"), self.multiplication)

    def multiplication(self) -> _Node:
        return self.arith(("*", "/", "%"), self.unary)

    def arith(self, ops: tuple[str, ...], operand: Callable[[], _Node]) -> _Node:
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
        node: _Node = self.node(_Arith, start, operands, operands=tuple(operands), ops=tuple(found))
        return node

    def unary(self) -> _Node:
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
            if nxt.kind == "int" and not _INT_MIN <= value <= _INT_MAX:
                self.fail(nxt.start, "this integer does not fit in 64 bits; write it as a double, e.g. 1e20")
            lit: _Node = self.node(_Lit, tok.start, (), value=value)
            return self.member_suffix(lit, tok.start)
        operand = self.member()
        node: _Node = self.node(_Unary, tok.start, (operand,), op=op, odd=odd, operand=operand)
        return node

    def member(self) -> _Node:
        start = self.peek().start
        return self.member_suffix(self.primary(), start)

    def member_suffix(self, node: _Node, start: int) -> _Node:
        while True:
            tok = self.peek()
            if tok.kind == "float" and tok.text.startswith("."):
                self.fail(tok.start, f"to take an item of a list write [{tok.text[1:]}], not {tok.text}")
            if self.at("."):
                dot = self.advance()
                name = self.peek()
                if name.kind != "ident":
                    self.unexpected(name, "a field name after '.'")
                self.advance()
                self.check_name(name, "field names", hints=False)
                if self.at("("):
                    node = self.method(node, name, start)
                else:
                    node = self.node(
                        _Select, start, (node,), operand=node, field=name.text, dot_pos=dot.start, field_pos=name.start
                    )
            elif self.at("["):
                bracket = self.advance()
                index = self.expr()
                self.expect("]", "']' to close the index")
                node = self.node(_Index, start, (node, index), operand=node, index=index, bracket_pos=bracket.start)
            else:
                return node

    def method(self, target: _Node, name: _Token, start: int) -> _Node:
        self.advance()  # "("
        if name.text in _MACROS:
            var = self.peek()
            if var.kind != "ident":
                self.unexpected(var, f"a variable name, as in list.{name.text}(x, ...)")
            self.advance()
            self.check_name(var, "variable names")
            self.expect(",", f"',' after the variable, as in list.{name.text}(x, ...)")
            self.scope.append(var.text)
            try:
                body = self.expr()
            finally:
                self.scope.pop()
            self.expect(")", f"')' to close {name.text}(); it takes a variable and one expression")
            node: _Node = self.node(
                _Macro,
                start,
                (target, body),
                name=name.text,
                name_pos=name.start,
                target=target,
                var=var.text,
                body=body,
            )
            return node
        if name.text not in _METHODS:
            self.unknown_function(name, methods=True)
        args = self.call_args()
        wanted = _METHODS[name.text]
        if len(args) != wanted:
            self.fail(
                name.start, f".{name.text}() takes {wanted} argument{'s' if wanted != 1 else ''}, not {len(args)}"
            )
        node = self.node(
            _Call, start, (target, *args), name=name.text, name_pos=name.start, target=target, args=tuple(args)
        )
        return node

    def call_args(self) -> list[_Node]:
        """Parse arguments after '(' up to and including ')'."""
        args: list[_Node] = []
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

    def unknown_function(self, name: _Token, *, methods: bool) -> NoReturn:
        known = sorted(set(_METHODS) | _MACROS) if methods else sorted(_FUNCTIONS)
        shown = ", ".join(f".{k}()" if methods else f"{k}()" for k in known)
        self.fail(name.start, f"unknown function '{name.text}'; the functions available are {shown}")

    def primary(self) -> _Node:
        tok = self.peek()
        if tok.kind in ("int", "float", "string", "lit"):
            self.advance()
            if tok.kind == "int" and tok.value > _INT_MAX:
                self.fail(tok.start, "this integer does not fit in 64 bits; write it as a double, e.g. 1e20")
            lit: _Node = self.node(_Lit, tok.start, (), value=tok.value)
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
            node: _Node = self.node(_List, tok.start, items, items=tuple(items))
            return node
        if self.at("{"):
            self.advance()
            entries = self.sequence("}", self.map_entry)
            children = [part for entry in entries for part in entry]
            node = self.node(_Map, tok.start, children, entries=tuple(entries))
            return node
        if self.at("."):
            self.fail(tok.start, "a name cannot start with '.'; write event.data.x")
        self.unexpected(tok, "a value (a name such as event, a number, a string, true, false or null)")

    def map_entry(self) -> tuple[_Node, _Node]:
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

    def identifier(self) -> _Node:
        tok = self.advance()
        self.check_name(tok, "names")
        if self.at("("):
            if tok.text not in _FUNCTIONS:
                self.unknown_function(tok, methods=False)
            self.advance()
            args = self.call_args()
            if len(args) != 1:
                self.fail(tok.start, f"{tok.text}() takes 1 argument, not {len(args)}")
            if tok.text == "has" and not isinstance(args[0], _Select):
                self.fail(args[0].start, "has() takes a field, as in has(event.data.ticket_id)")
            node: _Node = self.node(
                _Call, tok.start, args, name=tok.text, name_pos=tok.start, target=None, args=tuple(args)
            )
            return node
        if tok.text not in self.roots and tok.text not in self.scope:
            self.unknown_name(tok)
        name: _Node = self.node(_Name, tok.start, (), name=tok.text)
        return name

    def unknown_name(self, tok: _Token) -> NoReturn:
        nxt = self.peek()
        if nxt.kind == "ident" and nxt.text in _HINTS:
            # "[x for x in list]": the real mistake is the Python syntax, not the unknown x.
            self.fail(nxt.start, _HINTS[nxt.text])
        import difflib  # only needed for this message

        available = sorted(self.roots | set(self.scope))
        close = difflib.get_close_matches(tok.text, available, n=1)
        guess = f"did you mean '{close[0]}'? " if close else ""
        listed = ", ".join(available) if available else "no names"
        self.fail(tok.start, f"unknown name '{tok.text}'; {guess}this expression can use {listed}")


# --------------------------------------------------------------------------- evaluation helpers


def _is_number(v: Any) -> bool:
    t = type(v)
    if t is int or t is float:
        return True
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _is_list(v: Any) -> bool:
    return isinstance(v, (list, tuple))


def _equals(a: Any, b: Any) -> bool:
    ta, tb = type(a), type(b)
    if ta is tb and (ta is str or ta is int or ta is float or ta is bool or a is None):
        return bool(a == b)
    if ta is bool or tb is bool:
        return False  # Python says True == 1; CEL does not.
    if _is_number(a) and _is_number(b):
        return bool(a == b)
    if isinstance(a, str) and isinstance(b, str):
        return a == b
    if _is_list(a) and _is_list(b):
        return len(a) == len(b) and all(_equals(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, Mapping) and isinstance(b, Mapping):
        return len(a) == len(b) and all(k in b and _equals(v, b[k]) for k, v in a.items())
    return False


def _check_int(value: int, pos: int) -> int:
    if not _INT_MIN <= value <= _INT_MAX:
        raise _EvalError(pos, lambda: "integer overflow: the result does not fit in 64 bits; use doubles (1.0)")
    return value


def _arith_error(op: str, a: Any, b: Any, pos: int, wants: str) -> _EvalError:
    return _EvalError(pos, lambda: f"'{op}' needs {wants}, not {_type_name(a)} and {_type_name(b)}")


def _apply_arith(op: str, a: Any, b: Any, pos: int) -> Any:
    try:
        return _arith(op, a, b, pos)
    except OverflowError:
        # Only reachable with ints beyond 64 bits coming from the data, mixed with doubles.
        raise _EvalError(pos, lambda: f"'{op}' overflowed: a number in the data is too large for a double") from None


def _arith(op: str, a: Any, b: Any, pos: int) -> Any:
    numbers = _is_number(a) and _is_number(b)
    both_int = numbers and isinstance(a, int) and isinstance(b, int)
    if op == "+":
        if numbers:
            return _check_int(a + b, pos) if both_int else a + b
        if isinstance(a, str) and isinstance(b, str):
            return a + b
        if _is_list(a) and _is_list(b):
            return [*a, *b]
        raise _arith_error(op, a, b, pos, "two numbers, two strings or two lists")
    if not numbers:
        raise _arith_error(op, a, b, pos, "two numbers")
    if op == "-":
        return _check_int(a - b, pos) if both_int else a - b
    if op == "*":
        return _check_int(a * b, pos) if both_int else a * b
    if op == "/":
        if both_int:
            if b == 0:
                raise _EvalError(pos, lambda: "division by zero; check the divisor first, e.g. b != 0 && a / b > 1")
            q = abs(a) // abs(b)  # CEL truncates toward zero
            return _check_int(q if (a >= 0) == (b >= 0) else -q, pos)
        if b == 0:
            if a == 0 or math.isnan(a):
                return math.nan
            return math.copysign(math.inf, a) * math.copysign(1.0, b)
        return a / b
    # "%"
    if not both_int:
        raise _arith_error(op, a, b, pos, "two ints")
    if b == 0:
        raise _EvalError(pos, lambda: "modulus by zero; check the divisor first, e.g. b != 0 && a % b == 0")
    r = abs(a) % abs(b)
    return r if a >= 0 else -r


def _apply_order(op: str, a: Any, b: Any, pos: int) -> bool:
    ta, tb = type(a), type(b)
    comparable = (
        (_is_number(a) and _is_number(b)) or (isinstance(a, str) and isinstance(b, str)) or (ta is bool and tb is bool)
    )
    if not comparable:
        raise _EvalError(
            pos,
            lambda: (
                f"'{op}' compares two numbers, two strings or two bools, not {_type_name(a)} and {_type_name(b)}; "
                "convert one side with int(), double() or string()"
            ),
        )
    if op == "<":
        return bool(a < b)
    if op == "<=":
        return bool(a <= b)
    if op == ">":
        return bool(a > b)
    return bool(a >= b)


def _apply_in(a: Any, b: Any, pos: int) -> bool:
    if _is_list(b):
        return any(_equals(a, item) for item in b)
    if isinstance(b, Mapping):
        if isinstance(a, (str, int, float, bool)):
            return a in b
        return False
    if isinstance(b, str):
        raise _EvalError(
            pos, lambda: "'in' looks in a list or the keys of a map; to search text use text.contains(part)"
        )
    raise _EvalError(pos, lambda: f"'in' needs a list or a map on its right, not {_type_name(b)}")


def _to_int(v: Any, pos: int) -> int:
    if isinstance(v, bool):
        raise _EvalError(pos, lambda: "int() does not take a bool; use cond ? 1 : 0")
    if isinstance(v, int):
        return v
    if isinstance(v, float):
        if math.isfinite(v) and _INT_MIN <= v <= _INT_MAX:
            return int(v)
        raise _EvalError(pos, lambda: f"int() cannot convert {_show(v)}: it is not finite or does not fit in 64 bits")
    if isinstance(v, str):
        if len(v) <= 21 and _INT_TEXT_RE.fullmatch(v):
            return _check_int(int(v), pos)
        raise _EvalError(pos, lambda: f"int() cannot read {_show(v)} as an integer")
    raise _EvalError(pos, lambda: f"int() takes an int, double or string, not {_type_name(v)}")


def _to_double(v: Any, pos: int) -> float:
    if _is_number(v):
        if isinstance(v, int) and not _INT_MIN <= v <= _INT_MAX:
            raise _EvalError(pos, lambda: "double() cannot convert an int that does not fit in 64 bits")
        return float(v)
    if isinstance(v, str) and _DOUBLE_TEXT_RE.fullmatch(v):
        return float(v)
    raise _EvalError(pos, lambda: f"double() takes a number or a numeric string, not {_show(v)}")


def _to_string(v: Any, pos: int) -> str:
    if isinstance(v, str):
        return v
    if isinstance(v, bool):
        return "true" if v else "false"
    if _is_number(v) and not (isinstance(v, int) and not _INT_MIN <= v <= _INT_MAX):
        return repr(v)
    raise _EvalError(pos, lambda: f"string() takes a string, number or bool, not {_type_name(v)}")


def _size(v: Any, pos: int) -> int:
    if isinstance(v, (str, Mapping, list, tuple)):
        return len(v)
    raise _EvalError(pos, lambda: f"size() takes a string, list or map, not {_type_name(v)}")


def _text_method(name: str, a: Any, b: Any, pos: int) -> bool:
    if not (isinstance(a, str) and isinstance(b, str)):
        raise _EvalError(pos, lambda: f".{name}() works on strings, not {_type_name(a)} and {_type_name(b)}")
    if name == "contains":
        return b in a
    if name == "startsWith":
        return a.startswith(b)
    return a.endswith(b)


def _missing_field(obj: Mapping[Any, Any], prefix: str, name: str, pos: int) -> _EvalError:
    return _EvalError(
        pos,
        lambda: (
            f"{prefix} has no field '{name}'{_keys_hint(obj)}; check the name, "
            f"or test for it first with has({prefix}.{name})"
        ),
    )


def _not_a_map(obj: Any, prefix: str, name: str, pos: int) -> _EvalError:
    return _EvalError(pos, lambda: f"cannot read field '{name}' of {prefix}: it is {_type_name(obj)}, not a map")


# --------------------------------------------------------------------------- tree -> closures


class _Builder:
    """Turns a checked tree into nested closures; evaluation then does no tree dispatch at all."""

    def __init__(self, source: str) -> None:
        self.src = source

    def text(self, node: _Node) -> str:
        return self.src[node.start : node.end]

    def build(self, node: _Node) -> _Fn:
        if isinstance(node, _Lit):
            return self.build_lit(node)
        if isinstance(node, _Name):
            return self.build_name(node)
        if isinstance(node, _Select):
            return self.build_select(node)
        if isinstance(node, _Index):
            return self.build_index(node)
        if isinstance(node, _Unary):
            return self.build_unary(node)
        if isinstance(node, _Arith):
            return self.build_arith(node)
        if isinstance(node, _Compare):
            return self.build_compare(node)
        if isinstance(node, _Logic):
            return self.build_logic(node)
        if isinstance(node, _Cond):
            return self.build_cond(node)
        if isinstance(node, _List):
            return self.build_list(node)
        if isinstance(node, _Map):
            return self.build_map(node)
        if isinstance(node, _Call):
            return self.build_call(node)
        if isinstance(node, _Macro):
            return self.build_macro(node)
        raise AssertionError(f"unknown node {node!r}")  # the parser builds no other kind

    def build_lit(self, node: _Lit) -> _Fn:
        value = node.value
        return lambda v: value

    def build_name(self, node: _Name) -> _Fn:
        name, pos = node.name, node.start

        def lookup(v: Mapping[str, Any]) -> Any:
            try:
                return v[name]
            except KeyError:
                raise _EvalError(pos, lambda: f"no value was given for '{name}'") from None

        return lookup

    def build_select(self, node: _Select) -> _Fn:
        # Collapse a.b.c.d into one loop: field paths are the common case and this saves a call per step.
        steps: list[tuple[str, str, int]] = []
        cur: _Node = node
        while isinstance(cur, _Select):
            steps.append((cur.field, self.src[cur.start : cur.dot_pos].rstrip(), cur.field_pos))
            cur = cur.operand
        steps.reverse()
        base = self.build(cur)

        def select(v: Mapping[str, Any]) -> Any:
            obj = base(v)
            for name, prefix, pos in steps:
                if type(obj) is dict or isinstance(obj, Mapping):  # the exact-type test skips the ABC check
                    try:
                        obj = obj[name]
                    except KeyError:
                        raise _missing_field(obj, prefix, name, pos) from None
                else:
                    raise _not_a_map(obj, prefix, name, pos)
            return obj

        return select

    def build_index(self, node: _Index) -> _Fn:
        operand, index = self.build(node.operand), self.build(node.index)
        prefix, pos = self.text(node.operand), node.bracket_pos

        def item(v: Mapping[str, Any]) -> Any:
            obj, key = operand(v), index(v)
            if _is_list(obj):
                if isinstance(key, float) and key.is_integer():
                    key = int(key)
                if not isinstance(key, int) or isinstance(key, bool):
                    raise _EvalError(pos, lambda: f"a list index must be an int, not {_type_name(key)}")
                if not 0 <= key < len(obj):
                    raise _EvalError(
                        pos, lambda: f"index {_show(key)} is out of range for {prefix}, which has {len(obj)} items"
                    )
                return obj[key]
            if isinstance(obj, Mapping):
                try:
                    return obj[key]
                except (KeyError, TypeError):
                    raise _EvalError(pos, lambda: f"{prefix} has no key {_show(key)}{_keys_hint(obj)}") from None
            raise _EvalError(pos, lambda: f"cannot index {prefix}: it is {_type_name(obj)}, not a list or a map")

        return item

    def build_unary(self, node: _Unary) -> _Fn:
        operand, odd, pos = self.build(node.operand), node.odd, node.start
        if node.op == "!":

            def negate(v: Mapping[str, Any]) -> Any:
                x = operand(v)
                if type(x) is not bool:
                    raise _EvalError(pos, lambda: f"'!' needs a bool, not {_type_name(x)}")
                return (not x) if odd else x

            return negate

        def minus(v: Mapping[str, Any]) -> Any:
            x = operand(v)
            if not _is_number(x):
                raise _EvalError(pos, lambda: f"'-' needs a number, not {_type_name(x)}")
            if not odd:
                return x
            return _check_int(-x, pos) if isinstance(x, int) else -x

        return minus

    def build_arith(self, node: _Arith) -> _Fn:
        first, *rest_fns = [self.build(n) for n in node.operands]
        rest = list(zip(node.ops, rest_fns, strict=True))

        def arith(v: Mapping[str, Any]) -> Any:
            acc = first(v)
            for (op, pos), fn in rest:
                acc = _apply_arith(op, acc, fn(v), pos)
            return acc

        return arith

    def build_compare(self, node: _Compare) -> _Fn:
        left, right, op, pos = self.build(node.left), self.build(node.right), node.op, node.op_pos
        if op == "==":
            return lambda v: _equals(left(v), right(v))
        if op == "!=":
            return lambda v: not _equals(left(v), right(v))
        if op == "in":
            return lambda v: _apply_in(left(v), right(v), pos)
        return lambda v: _apply_order(op, left(v), right(v), pos)

    def build_logic(self, node: _Logic) -> _Fn:
        fns = [self.build(n) for n in node.operands]
        positions = [n.start for n in node.operands]
        # CEL: the deciding value wins even when another operand failed, so a missing
        # field on one side of || does not hide a match on the other side.
        decisive = node.op == "||"
        op = node.op

        def logic(v: Mapping[str, Any]) -> Any:
            error: _EvalError | None = None
            for fn, pos in zip(fns, positions, strict=True):
                try:
                    x = fn(v)
                except _EvalError as exc:
                    error = error or exc
                    continue
                if x is decisive:
                    return decisive
                if x is not (not decisive) and error is None:
                    error = _type_error(pos, f"'{op}' needs bools on both sides, not {{}}", x)
            if error is not None:
                raise error
            return not decisive

        return logic

    def build_cond(self, node: _Cond) -> _Fn:
        cond, then, other, pos = self.build(node.cond), self.build(node.then), self.build(node.other), node.op_pos

        def conditional(v: Mapping[str, Any]) -> Any:
            c = cond(v)
            if c is True:
                return then(v)
            if c is False:
                return other(v)
            raise _EvalError(pos, lambda: f"the condition before '?' must be a bool, not {_type_name(c)}")

        return conditional

    def build_list(self, node: _List) -> _Fn:
        fns = [self.build(n) for n in node.items]
        return lambda v: [fn(v) for fn in fns]

    def build_map(self, node: _Map) -> _Fn:
        pairs = [(self.build(k), self.build(val), k.start) for k, val in node.entries]

        def make_map(v: Mapping[str, Any]) -> Any:
            out: dict[Any, Any] = {}
            for key_fn, value_fn, pos in pairs:
                key = key_fn(v)
                if not isinstance(key, (str, int)):  # bool is an int
                    raise _type_error(pos, "a map key must be a string, int or bool, not {}", key)
                out[key] = value_fn(v)
            return out

        return make_map

    def build_call(self, node: _Call) -> _Fn:
        pos = node.name_pos
        if node.name == "has":
            select = node.args[0]
            assert isinstance(select, _Select)  # the parser allows nothing else
            operand, name = self.build(select.operand), select.field
            prefix = self.text(select.operand)

            def has(v: Mapping[str, Any]) -> Any:
                obj = operand(v)
                if isinstance(obj, Mapping):
                    return name in obj
                raise _not_a_map(obj, prefix, name, select.field_pos)

            return has
        args = [self.build(n) for n in node.args]
        target = self.build(node.target) if node.target is not None else None
        if node.name == "size":
            subject = target if target is not None else args[0]
            return lambda v: _size(subject(v), pos)
        if target is not None:  # contains, startsWith, endsWith
            name, arg = node.name, args[0]
            return lambda v: _text_method(name, target(v), arg(v), pos)
        convert = {"int": _to_int, "double": _to_double, "string": _to_string}[node.name]
        arg = args[0]
        return lambda v: convert(arg(v), pos)

    def build_macro(self, node: _Macro) -> _Fn:
        target, body, var, kind, pos = (
            self.build(node.target),
            self.build(node.body),
            node.var,
            node.name,
            node.name_pos,
        )

        def items(v: Mapping[str, Any]) -> tuple[list[Any], dict[str, Any]]:
            coll = target(v)
            if _is_list(coll):
                return list(coll), dict(v)
            if isinstance(coll, Mapping):
                return list(coll), dict(v)  # CEL iterates a map's keys
            raise _EvalError(pos, lambda: f".{kind}() works on a list or a map, not {_type_name(coll)}")

        def check_bool(x: Any) -> bool:
            if type(x) is not bool:
                raise _EvalError(
                    node.body.start, lambda: f"the condition in .{kind}() must be a bool, not {_type_name(x)}"
                )
            return x

        if kind in ("exists", "all"):
            decisive = kind == "exists"

            def quantifier(v: Mapping[str, Any]) -> Any:
                values, scope = items(v)
                error: _EvalError | None = None
                for value in values:
                    scope[var] = value
                    try:
                        x = check_bool(body(scope))
                    except _EvalError as exc:
                        error = error or exc
                        continue
                    if x is decisive:
                        return decisive
                if error is not None:
                    raise error
                return not decisive

            return quantifier

        if kind == "exists_one":

            def exists_one(v: Mapping[str, Any]) -> Any:
                values, scope = items(v)
                count = 0
                for value in values:
                    scope[var] = value
                    count += check_bool(body(scope))
                return count == 1

            return exists_one

        if kind == "map":

            def map_items(v: Mapping[str, Any]) -> Any:
                values, scope = items(v)
                out = []
                for value in values:
                    scope[var] = value
                    out.append(body(scope))
                return out

            return map_items

        def filter_items(v: Mapping[str, Any]) -> Any:
            values, scope = items(v)
            out = []
            for value in values:
                scope[var] = value
                if check_bool(body(scope)):
                    out.append(value)
            return out

        return filter_items


# --------------------------------------------------------------------------- public API


class Expression:
    """A compiled expression: parse once, evaluate against many events.

    Immutable, hashable and safe to share between runs and threads; get one from
    :func:`compile_expression`. Pickling stores only the source and roots.
    """

    __slots__ = ("_fn", "allowed_roots", "source")
    source: str
    allowed_roots: frozenset[str]
    _fn: _Fn

    def __init__(self, source: str, allowed_roots: frozenset[str], fn: _Fn) -> None:
        object.__setattr__(self, "source", source)
        object.__setattr__(self, "allowed_roots", allowed_roots)
        object.__setattr__(self, "_fn", fn)

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"Expression is immutable; compile a new one instead of setting {name!r}")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"Expression is immutable; cannot delete {name!r}")

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Expression):
            return NotImplemented
        return self.source == other.source and self.allowed_roots == other.allowed_roots

    def __hash__(self) -> int:
        return hash((self.source, self.allowed_roots))

    def __repr__(self) -> str:
        return f"Expression({self.source!r}, allowed_roots={sorted(self.allowed_roots)!r})"

    def __reduce__(self) -> tuple[Any, ...]:
        return (_compile_cached, (self.source, self.allowed_roots))

    def evaluate(self, variables: Mapping[str, Any]) -> Any:
        """Evaluate with ``variables`` (e.g. ``{"event": {...}, "async": {...}}``) and return the value.

        Raises :class:`ExpressionError` pointing at the failing part when a field is missing or
        types do not fit, because a caller asking for the value has no sensible default.
        """
        try:
            return self._fn(variables)
        except _EvalError as exc:
            raise ExpressionError(
                f"Expression could not be evaluated {_where(self.source, exc.position)}: {exc.make_message()}.",
                expression=self.source,
                position=exc.position,
            ) from None

    def matches(self, variables: Mapping[str, Any]) -> bool:
        """Whether the expression is ``true`` for ``variables``.

        A missing field or a type mismatch means "no match" rather than an exception, as in
        Inngest: most candidate events simply lack the fields another event type has.
        """
        try:
            return self._fn(variables) is True
        except _EvalError:
            return False


def compile_expression(source: str, *, allowed_roots: Collection[str] = ("event", "async")) -> Expression:
    """Parse and check ``source``; raise :class:`ExpressionError` with the position of the first problem.

    Results are cached, so compiling the same text again (every replay does) costs a dict lookup.
    """
    if not isinstance(source, str):
        raise ExpressionError(f"An expression must be a string such as {_EXAMPLE!r}, not {type(source).__name__}.")
    roots = frozenset(allowed_roots)
    for root in roots:
        if not isinstance(root, str) or not _IDENT_RE.fullmatch(root) or root in _LITERAL_WORDS or root == "in":
            raise ExpressionError(f"allowed_roots must be plain names such as 'event'; {root!r} is not one.")
    return _compile_cached(source, roots)


@functools.lru_cache(maxsize=1024)
def _compile_cached(source: str, roots: frozenset[str]) -> Expression:
    try:
        tree = _Parser(source, roots).parse()
        fn = _Builder(source).build(tree)
    except RecursionError:
        # Only reachable when the caller's stack is already nearly full; the depth limits cover the rest.
        raise ExpressionError(
            "Invalid expression: it is nested too deeply to parse here; simplify it.", expression=source
        ) from None
    return Expression(source, roots, fn)


def evaluate_key(source: str, variables: Mapping[str, Any], *, allowed_roots: Collection[str] | None = None) -> str:
    """Evaluate a key expression such as ``event.data.tenant_id`` to a string used as a partition key.

    Strings are returned as they are; anything else as compact JSON with sorted keys, so equal values
    give equal keys. ``allowed_roots`` defaults to the names in ``variables``. A missing field raises
    :class:`ExpressionError`: silently putting such events in one shared partition would be worse.
    """
    roots = tuple(variables) if allowed_roots is None else allowed_roots
    expression = compile_expression(source, allowed_roots=roots)
    value = expression.evaluate(variables)
    if isinstance(value, str):
        return value
    try:
        return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    except (TypeError, ValueError) as exc:
        raise ExpressionError(
            f"The key expression gave a {_type_name(value)} that cannot be written as JSON ({exc}); "
            "make it select a string, number or other JSON value.",
            expression=source,
        ) from None
