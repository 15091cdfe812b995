%%durable references
# expect: none
"""Library functions passed to step.run as callables (not called here) run inside the step."""
import time

import pandas as pd
import requests

frame = await step.run("load", pd.read_csv, "prices.csv")
page = await step.run("get", requests.get, "https://example.invalid")
stamp = await step.run("clock", time.time)
