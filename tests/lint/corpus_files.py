"""Reading the determinism corpus: each file declares the findings it must produce.

A header line ``# expect: ND101@7, ND701@9`` (or ``# expect: none``) lists them; lines are
also marked inline with ``# <- CODE`` for the reader, and a test keeps both in step.
"""

from __future__ import annotations

import collections
import re
from pathlib import Path

CORPUS = Path(__file__).resolve().parent / "corpus"
HEADER = re.compile(r"^# expect: (.*)$", re.MULTILINE)
ARROW = re.compile(r"#\s*<-\s*([A-Z0-9, ]+)\s*$")

Key = tuple[str, int]


def expected_findings(text: str) -> collections.Counter[Key]:
    match = HEADER.search(text)
    assert match is not None, "corpus file without a `# expect:` header"
    body = match.group(1).strip()
    expected: collections.Counter[Key] = collections.Counter()
    if body == "none":
        return expected
    for item in body.split(","):
        code, line = item.strip().split("@")
        expected[(code, int(line))] += 1
    return expected


def corpus_files() -> list[Path]:
    return sorted(CORPUS.glob("*.py"))
