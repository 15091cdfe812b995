"""Names a package exports but loads on first use (PEP 562), so importing it stays cheap.

``import nbdurable`` and the first ``@nd.function`` need only the workflow declaration:
the engine, the journal and asyncio load when a run starts. Each package lists its lazy
names as ``{name: submodule}`` and hands its ``__getattr__`` to :func:`load`.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import Any

__all__ = ["load"]


def load(package: str, table: Mapping[str, str], name: str, namespace: dict[str, Any]) -> Any:
    """``package.name`` from its submodule in ``table``, kept in the package's ``namespace`` once loaded."""
    module = table.get(name)
    if module is None:
        raise AttributeError(f"module {package!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module, package), name)
    namespace[name] = value
    return value
