"""Write the example notebooks from readable Python source (run after editing them here)."""

from __future__ import annotations

from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

HERE = Path(__file__).resolve().parent.parent / "notebooks"


def quickstart() -> nbformat.NotebookNode:
    return new_notebook(
        cells=[
            new_markdown_cell(
                "# nbdurable quickstart\n\n"
                "A `%%durable` cell is a workflow: each `step.run(...)` is checkpointed to a local journal "
                "(`.nbdurable/journal.db` next to this notebook). If the kernel dies part-way, run the cell again: "
                "finished steps replay from the journal in microseconds and the first unfinished one runs."
            ),
            new_code_cell("%load_ext nbdurable\nimport nbdurable as nd"),
            new_markdown_cell("Ordinary set-up: a slow call we would hate to repeat. It prints when it really runs."),
            new_code_cell(
                "import asyncio\n\n\n"
                "async def fetch_page(i: int) -> dict:\n"
                '    """Pretend to call a slow API."""\n'
                '    print(f"  fetching page {i} ...")\n'
                "    await asyncio.sleep(0.4)\n"
                '    return {"page": i, "words": 100 + 17 * i}\n\n\n'
                "def summarize(pages: list[dict]) -> str:\n"
                '    print("  summarizing ...")\n'
                "    return f\"{len(pages)} pages, {sum(p['words'] for p in pages)} words\""
            ),
            new_markdown_cell(
                "The durable cell. `step` is bound here and top-level `await` works; the variables it assigns "
                "land in the notebook when it finishes. Try restarting the kernel while it runs, then run "
                "all cells again."
            ),
            new_code_cell(
                "%%durable quickstart\n"
                "pages = []\n"
                "for i in range(6):\n"
                '    pages.append(await step.run(f"fetch-{i}", fetch_page, i))\n'
                'summary = await step.run("summarize", summarize, pages)\n'
                "finished_at = step.now()  # journaled: the same value on every replay\n"
                'print("done:", summary)'
            ),
            new_code_cell("summary"),
            new_markdown_cell("What the journal knows:"),
            new_code_cell("%durable list"),
            new_code_cell("%durable show quickstart"),
        ],
        metadata={
            "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
            "language_info": {"name": "python"},
        },
    )


def main() -> None:
    HERE.mkdir(exist_ok=True)
    nbformat.write(quickstart(), HERE / "quickstart.ipynb")


if __name__ == "__main__":
    main()
