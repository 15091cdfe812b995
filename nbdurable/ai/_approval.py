"""The contract of an agent's approval wait: its event, and the ``if_exp`` that names the tool call.

The agent writes it (a wait for ``APPROVAL_EVENT`` whose ``if_exp`` names the call
id); a surface reads it back from the wait step's journaled metadata alone (the
timeline's suggested payload, a CLI) without importing the agent.
"""

from __future__ import annotations

import json
import re

__all__ = ["APPROVAL_EVENT", "approval_call_id", "approval_if_exp"]

APPROVAL_EVENT = "nbdurable/tool.approval"

_CALL_ID_EXP = re.compile(r'^async\.data\.call_id == ("(?:[^"\\]|\\.)*")$')


def approval_if_exp(call_id: str) -> str:
    """The ``if_exp`` of the wait for the approval of tool call ``call_id``."""
    return f"async.data.call_id == {json.dumps(call_id)}"


def approval_call_id(if_exp: str | None) -> str | None:
    """The tool call id an approval wait is for (from its ``if_exp``), or None for other waits.

    Lets a surface (the timeline's buttons, a CLI) answer an agent's approval wait
    knowing only the wait step's journaled metadata.
    """
    match = _CALL_ID_EXP.match(if_exp or "")
    if match is None:
        return None
    value = json.loads(match.group(1))
    return value if isinstance(value, str) else None
