"""The journal: the Journal protocol and its records, and one module per backend.

``_protocol`` holds the records (RunRecord, StepRecord, EventRecord, Write,
StepSummary), the statuses and the synchronous ``Journal`` protocol; ``_sqlite`` and
``_memory`` implement it (a new backend is one more module here). ``_rows`` checks
rows read back (a journal is untrusted data), ``_files`` keeps journal files private,
``_owner`` reads the owner a process writes on the runs it claims. Nothing here
imports anything of nbdurable above the journal.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .._lazy import load

# Every name loads on first use: declaring a workflow touches no journal (sqlite3 loads with the first one).
_LAZY = {
    "MemoryJournal": "._memory",
    **dict.fromkeys(("describe_owner", "is_alive", "this_owner"), "._owner"),
    **dict.fromkeys(
        (
            "ACTIVE_STATUSES",
            "FINAL_STATUSES",
            "RUN_STATUSES",
            "ActiveStatus",
            "EventRecord",
            "FinalStatus",
            "Journal",
            "RunRecord",
            "RunStatus",
            "StepRecord",
            "StepStatus",
            "StepSummary",
            "Write",
        ),
        "._protocol",
    ),
    **dict.fromkeys(("MAX_JSON_DEPTH", "refuse_damaged", "too_deep"), "._rows"),
    **dict.fromkeys(("SQLiteJournal", "default_journal_path"), "._sqlite"),
}


def __getattr__(name: str) -> Any:
    return load(__name__, _LAZY, name, globals())


if TYPE_CHECKING:
    from ._memory import MemoryJournal
    from ._owner import describe_owner, is_alive, this_owner
    from ._protocol import (
        ACTIVE_STATUSES,
        FINAL_STATUSES,
        RUN_STATUSES,
        ActiveStatus,
        EventRecord,
        FinalStatus,
        Journal,
        RunRecord,
        RunStatus,
        StepRecord,
        StepStatus,
        StepSummary,
        Write,
    )
    from ._rows import MAX_JSON_DEPTH, refuse_damaged, too_deep
    from ._sqlite import SQLiteJournal, default_journal_path


__all__ = [
    "ACTIVE_STATUSES",
    "FINAL_STATUSES",
    "MAX_JSON_DEPTH",
    "RUN_STATUSES",
    "ActiveStatus",
    "EventRecord",
    "FinalStatus",
    "Journal",
    "MemoryJournal",
    "RunRecord",
    "RunStatus",
    "SQLiteJournal",
    "StepRecord",
    "StepStatus",
    "StepSummary",
    "Write",
    "default_journal_path",
    "describe_owner",
    "is_alive",
    "refuse_damaged",
    "this_owner",
    "too_deep",
]
