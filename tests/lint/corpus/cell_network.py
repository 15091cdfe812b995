%%durable scrape
# expect: ND321@6
"""A requests call made in the cell body runs again on every replay."""
import requests

html = requests.get("https://example.invalid").text  # <- ND321
links = await step.run("parse", parse_links, html)
