# expect: ND311@12, ND311@13, ND311@14
"""Environment reads: os.environ[...], os.getenv, and environ imported by name."""
import os
from os import environ

import nbdurable as nd


@nd.function(id="deploy", trigger="deploy/requested")
async def deploy(ctx):
    step = ctx.step
    region = os.environ["REGION"]  # <- ND311
    stage = os.getenv("STAGE", "dev")  # <- ND311
    debug = environ.get("DEBUG") == "1"  # <- ND311
    return await step.run("deploy", do_deploy, region, stage, debug)


def do_deploy(region, stage, debug):
    return region, stage, debug
