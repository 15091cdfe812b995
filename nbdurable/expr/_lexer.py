"""Splitting expression text into tokens, with exact character positions for error messages."""

from __future__ import annotations

import math
import re
from typing import Any

from ._messages import syntax_error

IDENT_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
HEX_RE = re.compile(r"0[xX][0-9A-Fa-f]+")
FLOAT_RE = re.compile(r"[0-9]*\.[0-9]+(?:[eE][+-]?[0-9]+)?|[0-9]+[eE][+-]?[0-9]+")
INT_RE = re.compile(r"[0-9]+")
WHITESPACE = frozenset(" \t\n\r\f")
OPS2 = frozenset({"==", "!=", "<=", ">=", "&&", "||"})
OPS1 = frozenset("()[]{}.,:?+-*/%!<>")
ESCAPES = {
    "\\": "\\", "?": "?", '"': '"', "'": "'", "`": "`",
    "a": "\a", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v",
}  # fmt: skip
LITERAL_WORDS: dict[str, Any] = {"true": True, "false": False, "null": None}
# CEL reserves these so they can never name a variable or field.


class Token:
    __slots__ = ("end", "kind", "start", "text", "value")

    def __init__(self, kind: str, text: str, value: Any, start: int, end: int) -> None:
        self.kind = kind  # "ident", "int", "float", "string", "lit", "op" or "eof"
        self.text = text
        self.value = value
        self.start = start
        self.end = end


def tokenize(src: str) -> list[Token]:
    tokens: list[Token] = []
    i, n = 0, len(src)
    while i < n:
        c = src[i]
        if c in WHITESPACE:
            i += 1
            continue
        if src.startswith("//", i):
            newline = src.find("\n", i)
            i = n if newline < 0 else newline
            continue
        prefix = string_prefix(src, i)
        if prefix is not None:
            if "b" in prefix.lower():
                raise syntax_error(src, i, 'bytes literals (b"...") are not supported; use a plain string')
            value, end = lex_string(src, i, len(prefix), raw=bool(prefix))
            tokens.append(Token("string", src[i:end], value, i, end))
            i = end
            continue
        if "0" <= c <= "9" or (c == "." and i + 1 < n and "0" <= src[i + 1] <= "9"):
            tokens.append(lex_number(src, i))
            i = tokens[-1].end
            continue
        m = IDENT_RE.match(src, i)
        if m:
            word = m.group()
            if word in LITERAL_WORDS:
                tokens.append(Token("lit", word, LITERAL_WORDS[word], i, m.end()))
            elif word == "in":
                tokens.append(Token("op", word, None, i, m.end()))
            else:
                tokens.append(Token("ident", word, word, i, m.end()))
            i = m.end()
            continue
        two = src[i : i + 2]
        if two in OPS2:
            tokens.append(Token("op", two, None, i, i + 2))
            i += 2
            continue
        if c == "=":
            raise syntax_error(src, i, "'=' assigns, it does not compare; use == to compare two values")
        if c == "&":
            raise syntax_error(src, i, "a single '&' is not an operator; use && for 'and'")
        if c == "|":
            raise syntax_error(src, i, "a single '|' is not an operator; use || for 'or'")
        if c in OPS1:
            tokens.append(Token("op", c, None, i, i + 1))
            i += 1
            continue
        if c == "#":
            raise syntax_error(src, i, "comments start with //, not #")
        if c == "`":
            tokens.append(_lex_quoted_field(src, i))
            i = tokens[-1].end
            continue
        raise syntax_error(src, i, f'the character {c!r} cannot be used here; strings need quotes, e.g. "text"')
    tokens.append(Token("eof", "", None, n, n))
    return tokens


def _lex_quoted_field(src: str, i: int) -> Token:
    """A backquoted field name, as in event.data.`content-type`: any text but a backquote or a new line."""
    end = src.find("`", i + 1)
    newline = src.find("\n", i + 1)
    if end < 0 or (0 <= newline < end):
        raise syntax_error(src, i, "this backquoted field name is never closed; add the closing `")
    if end == i + 1:
        raise syntax_error(src, i, "a backquoted field name cannot be empty")
    return Token("qident", src[i : end + 1], src[i + 1 : end], i, end + 1)


def string_prefix(src: str, i: int) -> str | None:
    """Return the prefix (``""``, ``"r"``, ``"b"``, ``"rb"``...) when a string literal starts at i."""
    j = i
    while j < len(src) and j - i < 2 and src[j] in "rRbB":
        j += 1
    if j < len(src) and src[j] in "\"'":
        prefix = src[i:j]
        if len(prefix) < 2 or prefix[0].lower() != prefix[1].lower():
            return prefix
    return None


def lex_string(src: str, start: int, prefix_len: int, *, raw: bool) -> tuple[str, int]:
    n = len(src)
    quote_pos = start + prefix_len
    q = src[quote_pos]
    delim = q * 3 if src.startswith(q * 3, quote_pos) else q
    j = quote_pos + len(delim)
    out: list[str] = []
    while True:
        if j >= n:
            raise syntax_error(src, start, f"this string is never closed; add the closing {delim}")
        if src.startswith(delim, j):
            return "".join(out), j + len(delim)
        c = src[j]
        if c == "\n" and len(delim) == 1:
            raise syntax_error(
                src,
                start,
                f"this string is not closed on its line; close it with {q}, or use {q * 3} for several lines",
            )
        if c == "\\" and not raw:
            text, j = lex_escape(src, j)
            out.append(text)
            continue
        out.append(c)
        j += 1


def lex_escape(src: str, j: int) -> tuple[str, int]:
    """Decode the escape sequence at src[j] (a backslash); return its text and the index after it."""
    if j + 1 >= len(src):
        raise syntax_error(src, j, "a backslash ends the text; close the string, or write \\\\ for a backslash")
    c = src[j + 1]
    if c in ESCAPES:
        return ESCAPES[c], j + 2
    width = {"x": 2, "X": 2, "u": 4, "U": 8}.get(c)
    if width is not None:
        digits = src[j + 2 : j + 2 + width]
        if len(digits) != width or any(d not in "0123456789abcdefABCDEF" for d in digits):
            raise syntax_error(src, j, f"\\{c} needs exactly {width} hex digits, e.g. \\{c}{'0' * (width - 2)}41")
        code = int(digits, 16)
        if code > 0x10FFFF or 0xD800 <= code <= 0xDFFF:
            raise syntax_error(src, j, f"\\{c}{digits} is not a valid Unicode character")
        return chr(code), j + 2 + width
    if c in "0123":
        digits = src[j + 1 : j + 4]
        if len(digits) == 3 and all(d in "01234567" for d in digits):
            return chr(int(digits, 8)), j + 4
        raise syntax_error(src, j, "an octal escape needs three digits 000-377, e.g. \\101")
    raise syntax_error(
        src, j, f"unknown escape \\{c}; use \\\\ for a backslash, \\\" or \\' for quotes, \\n for a new line"
    )


def lex_number(src: str, i: int) -> Token:
    m = HEX_RE.match(src, i) or FLOAT_RE.match(src, i) or INT_RE.match(src, i)
    assert m is not None  # the caller saw a digit, or a dot and a digit
    end = m.end()
    if end < len(src) and (src[end].isalnum() or src[end] == "_"):
        if src[end] in "uU" and not FLOAT_RE.fullmatch(m.group()):
            raise syntax_error(src, end, "unsigned integers (1u) are not supported; drop the 'u'")
        raise syntax_error(src, i, "a number cannot run into letters; put an operator or a space between them")
    text = m.group()
    if FLOAT_RE.fullmatch(text):
        value: float | int = float(text)
        if math.isinf(value):
            raise syntax_error(src, i, "this number is too large for a double")
        return Token("float", text, value, i, end)
    # Check the length first: int() refuses decimal strings over 4300 digits with a ValueError.
    # 2**63 itself is allowed only as the operand of a minus; the parser checks that.
    if len(text) > 20 or (value := int(text, 16) if text[:2] in ("0x", "0X") else int(text)) > 2**63:
        raise syntax_error(src, i, "this integer does not fit in 64 bits; write it as a double, e.g. 1e20")
    return Token("int", text, value, i, end)
