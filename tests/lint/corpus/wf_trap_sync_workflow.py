# expect: none
"""A sync workflow with a (ctx, step) signature: the `step` parameter is recognised."""
import random

import nbdurable as nd


@nd.function(id="sync-wf", trigger="go")
def sync_wf(ctx, step):
    value = step.run("draw", lambda: random.random())
    return step.run("use", lambda: value)
