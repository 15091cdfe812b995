"""The timeline of a run: one snapshot dict every surface renders, and its static rendering.

``_snapshot`` builds the snapshot from the journal and the live state of a run
executing here; ``_render`` turns one into static HTML and text (what a saved
notebook shows without a kernel) and holds the snapshot's format version. The
notebook's widget, the JupyterLab extension and the server's REST API all show
this one dict (its TypeScript twin is ``labextension/src/types.ts``).
"""

from __future__ import annotations

from ._render import MIME_TYPE, format_age, render_html, render_text, timeline_mimebundle
from ._snapshot import build_snapshot

__all__ = ["MIME_TYPE", "build_snapshot", "format_age", "render_html", "render_text", "timeline_mimebundle"]
