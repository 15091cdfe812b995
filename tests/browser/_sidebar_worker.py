"""Run one of ``_sidebar_workflows`` on a journal, as a script or another kernel would, for the sidebar tests.

Usage: python _sidebar_worker.py JOURNAL FUNCTION RUN_ID DATA_JSON OUT

When the run ends its status (and result or error) is written to OUT as JSON.
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Any

import nbdurable as nd
from tests.browser import _sidebar_workflows as workflows

journal, function_id, run_id, data, out = sys.argv[1:6]
nd.configure(journal, poll_interval=0.05)
FUNCTIONS = {f.id: f for f in (workflows.steps, workflows.sleeper, workflows.approver, workflows.flaky)}


async def main() -> None:
    handle = FUNCTIONS[function_id].start(run_id=run_id, data=json.loads(data))
    outcome: dict[str, Any]
    try:
        outcome = {"status": "completed", "result": await handle.result()}
    except (nd.NbDurableError, nd.RunCancelledError) as exc:  # a cancel is a BaseException
        outcome = {"status": handle.status, "error": f"{type(exc).__name__}: {exc}"}
    Path(out).write_text(json.dumps(outcome))


asyncio.run(main())
