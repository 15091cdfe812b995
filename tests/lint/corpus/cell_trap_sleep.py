%%durable sleepy-cell
# expect: none
"""Sleeping is fine, and so is step.sleep."""
import asyncio
import time

time.sleep(0.1)
await asyncio.sleep(0.1)
await step.sleep("cool-down", "10s")
