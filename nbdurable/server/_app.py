"""The Jupyter server extension: configuration (``c.NbDurable.*``), the services behind the handlers, shutdown."""

from __future__ import annotations

import importlib
import os

from jupyter_server.extension.application import ExtensionApp
from traitlets import Bool, Float, Int, List, Unicode

from ._feed import FeedHub
from ._handlers import handlers
from ._journals import JournalSet, ScanLimits
from ._service import Service

__all__ = ["NbDurable"]


class NbDurable(ExtensionApp):
    """nbdurable's REST API and live feed in the Jupyter server: runs of every journal under the root."""

    name = "nbdurable"
    load_other_extensions = True

    journals = List(
        Unicode(),
        help="Journals to serve besides those found under root_dir and $NBDURABLE_JOURNAL: paths, absolute or "
        "relative to root_dir (the only way to serve a journal file outside root_dir), or PostgreSQL URLs.",
    ).tag(config=True)
    scan = Bool(True, help="Look for .nbdurable/journal.db files under root_dir.").tag(config=True)
    scan_depth = Int(4, help="How many folder levels below root_dir the scan for journals descends.").tag(config=True)
    scan_max_dirs = Int(5000, help="The most folders one scan looks at.").tag(config=True)
    scan_max_journals = Int(100, help="The most journals one scan serves.").tag(config=True)
    scan_interval = Float(30.0, help="Seconds a scan's result is reused before looking again.").tag(config=True)
    max_runs_per_journal = Int(
        10_000, help="The newest runs of each journal that listings and the feed keep track of."
    ).tag(config=True)
    poll_interval = Float(0.5, help="Seconds between looks at the journals' change counters for the live feed.").tag(
        config=True
    )
    max_body_size = Int(1 << 20, help="The largest request body (bytes) the API accepts.").tag(config=True)
    function_modules = List(
        Unicode(),
        help="Modules imported when the server starts, so runs of the @nd.function workflows they define can be "
        "resumed and rerun in the server process. Without them, resume and rerun answer 409 with where to do it.",
    ).tag(config=True)

    def initialize_settings(self) -> None:
        assert self.serverapp is not None
        root = self.serverapp.root_dir
        limits = ScanLimits(
            depth=self.scan_depth if self.scan else -1,
            max_dirs=self.scan_max_dirs,
            max_journals=self.scan_max_journals,
            interval=self.scan_interval,
        )
        journal_set = JournalSet(
            root,
            configured=self.journals,
            env=os.environ.get("NBDURABLE_JOURNAL"),
            limits=limits,
            max_runs=self.max_runs_per_journal,
        )
        for module in self.function_modules:
            importlib.import_module(module)  # the administrator's configuration names code to load; no request does
        self.service = Service(journal_set)
        self.hub = FeedHub(journal_set, poll_interval=self.poll_interval)
        self.settings["nbdurable_api"] = {"service": self.service, "hub": self.hub, "max_body_size": self.max_body_size}
        self.log.info("nbdurable: serving the journals under %s (GET /nbdurable/api/journals)", root)

    def initialize_handlers(self) -> None:
        self.handlers.extend(handlers())

    async def stop_extension(self) -> None:
        """Close the feeds and the journals; runs the server was executing are left interrupted (resumable)."""
        await self.hub.stop()
        await self.service.journals.aclose()
