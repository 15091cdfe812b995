"""The notebook surface: ``%load_ext nbdurable``, ``%%durable`` cells and the live timeline.

``_magics`` (the magics and the cell transformer), ``_cell`` (a cell body compiled
into a workflow function), ``_display`` (a run's timeline in the cell that started
it, fed by the change feed), ``_widget`` (the anywidget view; its JavaScript is
``nbdurable/static/widget.js``). Loaded only inside a Jupyter kernel.
"""

from __future__ import annotations

from ._display import display_run, maybe_display
from ._magics import load_ipython_extension, run_cell, unload_ipython_extension

__all__ = ["display_run", "load_ipython_extension", "maybe_display", "run_cell", "unload_ipython_extension"]
