"""A private PostgreSQL server for tests and benchmarks: ``initdb`` in a temporary folder, a free loopback port.

No Docker and no system service: the server runs from Debian's binaries
(``/usr/lib/postgresql/<version>/bin``, or wherever ``pg_config --bindir`` or the PATH
points), as the current user, or as the ``postgres`` user when the current one is
root (the server refuses to run as root). Its socket folder is the temporary folder
itself (``-k``), so it never touches ``/var/run/postgresql``; it listens on 127.0.0.1
only and trusts local connections, which is fine for a throw-away test cluster and
nothing else. ``stop()`` (or leaving the ``with`` block) stops it and removes its folder,
also when a test failed.
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType

from .._errors import ConfigError

__all__ = ["PostgresServer", "find_postgres_bin"]


def find_postgres_bin() -> Path | None:
    """The folder of ``initdb`` and ``pg_ctl``: ``$NBDURABLE_PG_BIN``, Debian's newest, pg_config's, or the PATH."""
    env = os.environ.get("NBDURABLE_PG_BIN")
    candidates = [env] if env else []
    versions = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/initdb"),
        key=lambda p: int(Path(p).parent.parent.name) if Path(p).parent.parent.name.isdigit() else 0,
    )
    candidates += [str(Path(p).parent) for p in reversed(versions)]
    pg_config = shutil.which("pg_config")
    if pg_config:
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            out = subprocess.run(  # noqa: S603 - pg_config found on the PATH, fixed arguments
                [pg_config, "--bindir"], capture_output=True, text=True, check=True, timeout=10
            )
            candidates.append(out.stdout.strip())
    on_path = shutil.which("initdb")
    if on_path:
        candidates.append(str(Path(on_path).parent))
    for folder in candidates:
        if folder and (Path(folder) / "initdb").is_file() and (Path(folder) / "pg_ctl").is_file():
            return Path(folder)
    return None


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class PostgresServer:
    """A throw-away PostgreSQL cluster on 127.0.0.1; ``url`` is its superuser's connection URL.

    ``fsync=False`` (the default for tests) makes commits skip the disk flush: the
    processes the tests kill are the clients, never the server, so nothing is lost
    by it; benchmarks pass ``fsync=True`` to measure what a real server does.
    """

    def __init__(self, *, fsync: bool = False, settings: Sequence[str] = ()) -> None:
        self.fsync = fsync
        self.settings = tuple(settings)
        self.port = 0
        self.folder: Path | None = None
        self._as: list[str] = []

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def url_for(self, database: str, user: str = "postgres") -> str:
        return f"postgresql://{user}@127.0.0.1:{self.port}/{database}"

    def _run(self, *args: str, timeout: float = 120) -> None:
        # The server's own programs, found by find_postgres_bin, with arguments built here.
        proc = subprocess.run(  # noqa: S603
            [*self._as, *args], capture_output=True, text=True, timeout=timeout, check=False
        )
        if proc.returncode != 0:
            log = ""
            if self.folder is not None and (self.folder / "log").exists():
                log = (self.folder / "log").read_text(errors="replace")[-3000:]
            raise ConfigError(
                f"{Path(args[0]).name} failed (exit {proc.returncode}): {proc.stderr.strip() or proc.stdout.strip()}"
                + (f"\nserver log:\n{log}" if log else "")
            )

    def start(self) -> PostgresServer:
        bindir = find_postgres_bin()
        if bindir is None:
            raise ConfigError(
                "PostgreSQL's server programs (initdb, pg_ctl) are not installed: install them (Debian: "
                "apt-get install -y postgresql; scripts/test.sh does it), or point NBDURABLE_PG_BIN at their folder."
            )
        folder = Path(tempfile.mkdtemp(prefix="nbdurable-pg-"))
        self.folder = folder
        if os.geteuid() == 0:
            # The server refuses to run as root: run it as the postgres user, in a folder that user owns.
            import pwd

            try:
                pw = pwd.getpwnam("postgres")
            except KeyError:
                raise ConfigError(
                    "running as root, the test server needs the 'postgres' user to run as (Debian's postgresql "
                    "package creates it)"
                ) from None
            os.chown(folder, pw.pw_uid, pw.pw_gid)
            self._as = ["runuser", "-u", "postgres", "--"]
        self.port = _free_port()
        self._run(
            str(bindir / "initdb"),
            "-D",
            str(folder / "data"),
            "-A",
            "trust",
            "-U",
            "postgres",
            "-E",
            "UTF8",
            "--no-sync",
            "--no-instructions",
        )
        options = [f"-p {self.port}", f"-k {folder}", "-c listen_addresses=127.0.0.1", "-c max_connections=200"]
        if not self.fsync:
            options += ["-c fsync=off", "-c synchronous_commit=off", "-c full_page_writes=off"]
        options += [f"-c {s}" for s in self.settings]
        self._run(
            str(bindir / "pg_ctl"), "-D", str(folder / "data"), "-l", str(folder / "log"), "-w",
            "-o", " ".join(options), "start",
        )  # fmt: skip
        self._bindir = bindir
        return self

    def stop(self) -> None:
        """Stop the server at once and remove its folder (nothing in it is worth keeping)."""
        folder, self.folder = self.folder, None
        if folder is None:
            return
        try:
            if (folder / "data" / "postmaster.pid").exists():
                subprocess.run(  # noqa: S603 - pg_ctl of the server this object started
                    [
                        *self._as,
                        str(self._bindir / "pg_ctl"),
                        "-D",
                        str(folder / "data"),
                        "-m",
                        "immediate",
                        "-w",
                        "stop",
                    ],
                    capture_output=True,
                    timeout=60,
                    check=False,
                )
        finally:
            shutil.rmtree(folder, ignore_errors=True)

    def create_database(self, name: str, *, owner: str | None = None) -> str:
        """Create a database (and, with ``owner``, a login role without superuser that owns it); its URL."""
        import psycopg
        from psycopg import sql

        with psycopg.connect(self.url, autocommit=True) as conn:
            if owner is not None:
                conn.execute(
                    sql.SQL("CREATE ROLE {} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE").format(sql.Identifier(owner))
                )
                conn.execute(sql.SQL("CREATE DATABASE {} OWNER {}").format(sql.Identifier(name), sql.Identifier(owner)))
            else:
                conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        return self.url_for(name, owner or "postgres")

    def __enter__(self) -> PostgresServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
