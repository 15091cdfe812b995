"""nbdurable's version, for the modules that report it (``nd.__version__`` is this string)."""

from __future__ import annotations

__all__ = ["__version__"]

try:
    from ._version import __version__  # written by the build from labextension/package.json
except ImportError:  # pragma: no cover - a source tree that was never built or installed
    __version__ = "0+unknown"
