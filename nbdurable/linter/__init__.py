"""Static check for replay nondeterminism in workflow code, before anything runs.

Code outside steps runs again on every replay. If it reads the clock, draws a random
number, makes a UUID, hashes text, reads a file, the environment or the locale, calls
the network, a database, a service or an LLM, asks for input, iterates a set, acts on
whichever task finishes first, or advances a generator made at import, the replay can
take another path than the original run. This package reads ``@nd.function``
workflows and ``%%durable`` cells with :mod:`ast` (nothing is imported or run) and
reports each such place with a code, what differs on replay, and the fix.

It errs on the side of silence: code inside step callables (lambdas, local functions and
module functions given to ``step.run`` / ``step.ai.wrap``) is not workflow code, the
journaled helpers ``step.now()``, ``step.uuid()`` and ``step.random()`` are fine, and a
clock read that only reaches ``print`` or logging is not reported. A linter that cries wolf
gets turned off.

Codes come in families: ND1xx clock, ND2xx randomness, UUIDs and ``hash()``, ND3xx I/O
(files, environment, process and host facts, network, databases and services,
subprocesses, input), ND4xx LLM clients outside ``step.ai``, ND5xx order (sets,
completion order), ND6xx module and notebook state, ND7xx nondeterministic step names.
A finding on a line carrying ``# nd: ignore`` (or ``# nd: ignore[ND101, ND7]``) is dropped.

The modules: ``_rules`` (codes, the tables of sources, messages), ``_source`` (text, cells,
parsing), ``_syntax`` (questions about syntax trees), ``_module`` (what a module binds),
``_classify`` (name resolution, which call is what), ``_analyzer`` (the walk of one
workflow), ``_api`` (the entry points) and ``_cli`` (``python -m nbdurable lint``). A new
library whose calls do I/O is one entry in ``_rules.IO_MODULES``; a new source of
nondeterminism, one line in a table of ``_rules`` and a corpus file in tests/lint/corpus/.
"""

from __future__ import annotations

from .._errors import LintError
from ._api import lint, lint_cell, lint_path
from ._rules import RULES, Finding

__all__ = ["RULES", "Finding", "LintError", "lint", "lint_cell", "lint_path"]
