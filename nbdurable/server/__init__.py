"""nbdurable in the Jupyter server: a REST API and a live feed of the runs in every served journal.

Enabled automatically when nbdurable is installed (``jupyter server extension list``
shows it); configured with ``c.NbDurable.*``. The endpoints are described by
``openapi.json`` next to this module, also served at ``/nbdurable/api/openapi.json``.
"""

from __future__ import annotations

from ._app import NbDurable

__all__ = ["NbDurable"]
