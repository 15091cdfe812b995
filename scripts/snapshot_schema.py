"""Write labextension/schema/snapshot.schema.json from nbdurable/timeline/_schema.py (run after changing it).

The Python tests fail while the committed file differs from the schema the TypedDicts give,
and the TypeScript tests while labextension/src/types.ts names other fields than it does.
Run with the checkout's environment: ``.venv/bin/python scripts/snapshot_schema.py``.
"""

from __future__ import annotations

from pathlib import Path

from nbdurable.timeline._schema import schema_text

OUT = Path(__file__).resolve().parent.parent / "labextension" / "schema" / "snapshot.schema.json"

if __name__ == "__main__":
    OUT.parent.mkdir(exist_ok=True)
    OUT.write_text(schema_text())
    print(f"wrote {OUT}")
