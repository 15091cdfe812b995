"""The public surface of ``import nbdurable as nd``: what ``__all__`` promises, and that importing stays light.

The rule for ``__all__``: it is sorted, has no duplicates, and equals exactly the
*public names of the module*, which are

* every name ``dir(nbdurable)`` lists (this includes names loaded lazily through the
  module's ``__getattr__``) that does not start with an underscore,
* except submodules (``nd.ai``, ``nd.agent``, ``nd.testing``: reached as attributes,
  not exported by ``from nbdurable import *``),
* except helpers imported from ``typing`` or ``__future__`` (``Any``,
  ``TYPE_CHECKING``, ``annotations``), which are implementation details,
* except IPython's extension hooks (``load_ipython_extension``,
  ``unload_ipython_extension``): IPython looks them up by name for ``%load_ext``;
  they are a protocol, not API to call,
* plus ``__version__``, the one dunder a user reads.
"""

from __future__ import annotations
import __future__

import inspect
import json
import subprocess
import sys
import types
import typing
from pathlib import Path

import pytest

import nbdurable as nd
from nbdurable import _errors

REPO = Path(__file__).resolve().parent.parent
IPYTHON_HOOKS = frozenset({"load_ipython_extension", "unload_ipython_extension"})
_MISSING = object()


def public_names() -> set[str]:
    names = {"__version__"}
    for name in dir(nd):
        if name.startswith("_") or name in IPYTHON_HOOKS:
            continue
        value = getattr(nd, name)
        if isinstance(value, types.ModuleType):
            continue
        if any(getattr(helpers, name, _MISSING) is value for helpers in (typing, __future__)):
            continue
        names.add(name)
    return names


def test_all_is_sorted_and_unique() -> None:
    assert list(nd.__all__) == sorted(nd.__all__)
    assert len(set(nd.__all__)) == len(nd.__all__)


def test_all_equals_the_public_names() -> None:
    exported = set(nd.__all__)
    public = public_names()
    assert exported - public == set(), "in __all__ but not a public name of the module"
    assert public - exported == set(), "public names missing from __all__"


def test_every_exported_name_resolves() -> None:
    for name in nd.__all__:
        assert getattr(nd, name) is not None, name


def test_star_import_gives_exactly_all() -> None:
    namespace: dict[str, object] = {}
    exec("from nbdurable import *", namespace)
    namespace.pop("__builtins__", None)
    assert set(namespace) == set(nd.__all__)


def test_the_core_api_is_there() -> None:
    for name in (
        "function",
        "Function",
        "Context",
        "Step",
        "Event",
        "send",
        "runs",
        "get_run",
        "configure",
        "RunHandle",
        "StepView",
        "current_step",
        "StepInfo",
        "Journal",
        "SQLiteJournal",
        "MemoryJournal",
        "parse_duration",
    ):
        assert name in nd.__all__, name


def test_every_library_error_is_exported_and_shares_one_root() -> None:
    for name in _errors.__all__:
        assert name in nd.__all__, name
        cls = getattr(nd, name)
        assert cls is getattr(_errors, name)
        if name.endswith("Warning"):
            assert issubclass(cls, UserWarning)
        elif name == "RunCancelledError":
            # A cancel, not a failure: like asyncio.CancelledError, `except Exception` must not swallow it.
            assert issubclass(cls, BaseException) and not issubclass(cls, Exception)
        else:
            assert issubclass(cls, nd.NbDurableError), name
    # And nothing else exported is an exception outside the tree.
    for name in nd.__all__:
        value = getattr(nd, name)
        if isinstance(value, type) and issubclass(value, BaseException):
            exempt = (nd.NbDurableError, nd.ReplayDeterminismWarning, nd.SerializationWarning, nd.RunCancelledError)
            assert issubclass(value, exempt), name


def test_exported_classes_and_functions_have_docstrings() -> None:
    for name in nd.__all__:
        value = getattr(nd, name)
        if inspect.isclass(value) or inspect.isfunction(value):
            assert (value.__doc__ or "").strip(), f"nd.{name} has no docstring"


def test_version() -> None:
    assert isinstance(nd.__version__, str)
    parts = nd.__version__.split(".")
    assert len(parts) >= 2 and all(p.isdigit() for p in parts[:2])


def test_unknown_attributes_raise_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no_such_thing"):
        nd.no_such_thing  # noqa: B018


def test_import_is_light() -> None:
    """``import nbdurable`` runs at every %load_ext: heavy or optional parts load only when used."""
    code = "import sys, json, nbdurable\nprint(json.dumps(sorted(m for m in sys.modules)))\n"
    out = subprocess.run(
        [sys.executable, "-c", code],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout
    loaded = set(json.loads(out))
    heavy = {
        "pydantic",
        "pydantic_core",
        "httpx",
        "openai",
        "anthropic",
        "IPython",
        "ipywidgets",
        "anywidget",
        "aiosqlite",
        "celpy",
        "nbdurable.agent",
        "nbdurable.ai",
        "nbdurable.testing",
        "nbdurable.linter",
        "nbdurable.expr",
        "nbdurable.ai._http",
        # The notebook surface (magics, widget) and the timeline load only inside a kernel, when shown.
        "nbdurable.notebook",
        "nbdurable.notebook._widget",
        "nbdurable.notebook._magics",
        "nbdurable.timeline",
        "nbdurable.cli",
        "nbdurable.server",
        "jupyter_server",
        "tornado",
        "genai_prices",
        "nbdurable.ai._prices",
        "pandas",
        "pyarrow",
        "nbdurable.analysis",
        "opentelemetry",
        "opentelemetry.trace",
        "nbdurable.otel",
    }
    assert loaded & heavy == set()


def test_declaring_a_workflow_loads_no_engine(tmp_path: Path) -> None:
    """``import nbdurable`` plus the first ``@nd.function`` load no engine, journal, step API or asyncio.

    The engine loads when a run starts; declaring one only checks the options and lints the source.
    Not timed (bench/_first_function.py times it): this checks what is loaded, which is what keeps it cheap.
    """
    script = tmp_path / "declare.py"
    script.write_text(
        "import json, sys\n"
        "import nbdurable as nd\n\n\n"
        '@nd.function(id="declared", retries=0)\n'
        "async def declared(ctx: nd.Context) -> str:\n"
        '    return str(await ctx.step.run("load", lambda: "x"))\n\n\n'
        'assert nd.function is not None and "declared" in nd.engine.registry()\n'
        "print(json.dumps(sorted(sys.modules)))\n",
        encoding="utf-8",
    )
    out = subprocess.run(
        [sys.executable, str(script)], cwd=REPO, capture_output=True, text=True, check=True, timeout=60
    ).stdout
    loaded = set(json.loads(out))
    assert "nbdurable.linter" in loaded  # the source was linted: the decoration did its work
    deferred = {
        "asyncio",
        "sqlite3",
        "logging",
        "uuid",
        "decimal",
        "nbdurable.engine._engine",
        "nbdurable.engine._runstate",
        "nbdurable.engine._executor",
        "nbdurable.engine._serde",
        "nbdurable.journal._sqlite",
        "nbdurable.journal._protocol",
        "nbdurable.flow._controller",
        "nbdurable.workflow._step",
    }
    assert loaded & deferred == set()


def test_lazy_names_are_the_same_objects_as_their_modules() -> None:
    """A name loaded on first use is the object its module defines (no copy, no wrapper)."""
    from nbdurable import engine, journal, workflow
    from nbdurable.engine._engine import Engine
    from nbdurable.journal._sqlite import SQLiteJournal
    from nbdurable.workflow._step import Step

    assert nd.Engine is engine.Engine is Engine
    assert nd.SQLiteJournal is journal.SQLiteJournal is SQLiteJournal
    assert nd.Step is workflow.Step is Step
    with pytest.raises(AttributeError, match="no_such_name"):
        engine.no_such_name  # noqa: B018


def test_configuring_an_engine_loads_what_runs_need(tmp_path: Path) -> None:
    """After ``nd.configure`` the step API is loaded: a run's first step does not pay for importing it."""
    code = (
        "import json, sys\n"
        "import nbdurable as nd\n"
        "assert 'nbdurable.workflow._step' not in sys.modules\n"
        f"nd.configure({str(tmp_path / 'journal.db')!r})\n"
        "print(json.dumps(sorted(sys.modules)))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True, timeout=60
    ).stdout
    loaded = set(json.loads(out))
    assert {"nbdurable.workflow._step", "nbdurable.workflow._logger", "nbdurable.engine._engine"} <= loaded
