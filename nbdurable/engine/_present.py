"""How a run is shown: a presenter the layers above hand down (the notebook's live timeline).

The engine and the workflow API know nothing of notebooks. ``import nbdurable``
installs the notebook's presenter (see ``nbdurable/__init__.py``), which shows a
timeline only inside a Jupyter kernel; everywhere else nothing is shown.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from ._handle import RunHandle

__all__ = ["Presenter", "presenter", "set_presenter"]


class Presenter(Protocol):
    """Shows runs to a person, if one is looking."""

    def started(self, handle: RunHandle[Any]) -> None:
        """A run was started (or resumed) from user code: show it where that code runs, if it can be shown."""

    def show(self, handle: RunHandle[Any]) -> Any:
        """Show the run now (a handle displayed as a notebook cell's value); returns the display."""


class _Nowhere:
    """No presenter installed: nothing is shown."""

    def started(self, handle: RunHandle[Any]) -> None:
        return None

    def show(self, handle: RunHandle[Any]) -> Any:
        return None


_presenter: Presenter = _Nowhere()


def presenter() -> Presenter:
    return _presenter


def set_presenter(new: Presenter) -> None:
    """Install how runs are shown (``import nbdurable`` installs the notebook's)."""
    global _presenter
    _presenter = new
