"""Runs as data: the journal's runs and steps as pandas DataFrames, and two runs compared.

``nd.runs_frame()``, ``nd.steps_frame()`` and ``nd.compare()`` live here. Everything is read
through run handles and the Journal protocol, so it works on every journal backend; pandas is
needed only for the frames (``pip install 'nbdurable[analysis]'``).
"""

from __future__ import annotations

from ._compare import Comparison, StepPair, compare
from ._frames import runs_frame, steps_frame

__all__ = ["Comparison", "StepPair", "compare", "runs_frame", "steps_frame"]
