"""A workflow's source lines are read once, without tokenize, and match what inspect gives.

The code hash journaled with every run is the hash of these lines: if they differed from
``inspect.getsourcelines`` a journal written before would see every function as changed.
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import sys
import types
from collections.abc import Iterator
from pathlib import Path

import pytest

from nbdurable.workflow._source import _def_block, source_lines

# Shapes inspect's block finder treats specially: headers over several lines, trailing comments
# indented less or more than the body, a body on the def line, strings and brackets reaching column 0.
TRICKY = '''
import functools


def deco(f):
    return f


@deco
@functools.lru_cache(
    maxsize=None,
)
def spread(
    a,
    b=1,
):
    """Doc."""
    return a + b
    # kept: indented like the body


# left out: indented less than the body
def one_liner(x): return x  # same line
# after


def text_at_column_0():
    value = """
not the end
"""
    other = [
1, 2,
]
    return value, other


def line_continuation():
    x = 1 + \\
2
    return x
        # deeper comment, kept


def nested():
    def inner():
        return 1

    class Local:
        pass

    return inner, Local


class Holder:
    def method(self):
        return 1

    # between methods

    async def coroutine(self):
        return 2



def last_in_file():
    return "end"

    # trailing, indented like the body
'''


def _functions(module: types.ModuleType) -> Iterator[types.FunctionType]:
    for value in vars(module).values():
        if isinstance(value, types.FunctionType) and value.__module__ == module.__name__:
            yield value
        elif isinstance(value, type) and value.__module__ == module.__name__:
            for member in vars(value).values():
                func = getattr(member, "__func__", member)
                if isinstance(func, types.FunctionType):
                    yield func


def _import_file(path: Path, name: str) -> types.ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    finally:
        del sys.modules[name]
    return module


def test_tricky_shapes_match_inspect(tmp_path: Path) -> None:
    path = tmp_path / "tricky_source.py"
    path.write_text(TRICKY)
    module = _import_file(path, "tricky_source")
    funcs = [*_functions(module), module.nested()[0], module.Holder.method]
    assert len(funcs) >= 10
    for func in funcs:
        expected = inspect.getsourcelines(func)
        got = source_lines(func)
        assert got is not None, func
        assert (got[0], got[1]) == (expected[0], expected[1]), func.__qualname__
        assert got[2] == str(path)


def test_every_function_in_the_package_matches_inspect() -> None:
    """Hundreds of real functions: same lines as inspect, and nearly all without its tokenizer."""
    seen: set[int] = set()
    checked = fast = 0
    importlib.import_module("nbdurable.linter")
    # What `import nbdurable` loads, and the linter: loading every extra would make this test slow.
    modules = [m for name, m in sorted(sys.modules.items()) if name.startswith("nbdurable.")]
    for module in modules:
        for func in _functions(module):
            if id(func) in seen:
                continue
            seen.add(id(func))
            got = source_lines(func)
            try:
                expected = inspect.getsourcelines(func)
            except OSError:  # generated code (a dataclass's __init__): no source either way
                assert got is None, func.__qualname__
                continue
            assert got is not None and (got[0], got[1]) == (expected[0], expected[1]), func.__qualname__
            all_lines, start = inspect.findsource(func)
            fast += _def_block(all_lines[start:]) is not None
            checked += 1
    assert checked > 500
    assert fast / checked > 0.95  # the tokenizer is the rare fallback, not the rule


@pytest.mark.parametrize("func", [len, lambda: 1], ids=["builtin", "lambda"])
def test_no_source_or_not_a_def(func: object) -> None:
    """A builtin has no source (None); a lambda is left to inspect and still matches it."""
    got = source_lines(func)  # type: ignore[arg-type]
    if func is len:
        assert got is None
    else:
        assert got is not None and got[0] == inspect.getsourcelines(func)[0]  # type: ignore[arg-type]
