# expect: none
"""Configuration read at import (environment, files, clients) is meant to be stable: not reported."""
import logging
import os
from pathlib import Path

from openai import OpenAI

import nbdurable as nd

API_KEY = os.environ.get("OPENAI_API_KEY", "")
client = OpenAI(api_key=API_KEY)
PROMPT = Path(__file__).with_name("prompt.txt").read_text() if Path(__file__).exists() else ""
logger = logging.getLogger(__name__)
TIMEOUT_S = 30


@nd.function(id="configured", trigger="go")
async def configured(ctx):
    step = ctx.step
    logger.info("starting")
    return await step.ai.wrap(
        "answer",
        client.chat.completions.create,
        model="gpt-4o",
        messages=[{"role": "system", "content": PROMPT}],
        timeout=TIMEOUT_S,
    )
