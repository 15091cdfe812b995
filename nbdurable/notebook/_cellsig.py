"""Signatures on the cell source a run keeps, so resuming from a journal never runs someone else's code.

A ``%%durable`` cell's run keeps the cell's source in the journal so ``%durable resume`` can rebuild it
after a restart. But a journal is untrusted data (a colleague's, a download, a file edited by hand), and
rebuilding a cell from it runs whatever source it holds. So this user's kernel signs the source when it
starts the run, with an HMAC key kept in this user's Jupyter data folder and readable by them only (the
way Jupyter signs the notebooks a user trusts), and a source is rebuilt only when its signature checks.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import stat
import tempfile
from pathlib import Path

from .._errors import ConfigError

__all__ = ["SIGNATURE_OPTION", "secret_path", "sign_source", "source_is_signed"]

#: The run option that holds the signature (options are journaled with the run).
SIGNATURE_OPTION = "source_signature"
_DOMAIN = b"nbdurable cell source v1\x00"
_KEY_BYTES = 32


def secret_path() -> Path:
    """Where this user's signing key lives: ``$NBDURABLE_SECRET_FILE``, else Jupyter's data folder."""
    override = os.environ.get("NBDURABLE_SECRET_FILE")
    if override:
        return Path(override).expanduser()
    from jupyter_core.paths import jupyter_data_dir

    return Path(jupyter_data_dir()) / "nbdurable_secret"


def _key() -> bytes:
    """This user's key, made on first use; refused if others can read it (they could forge signatures)."""
    path = secret_path()
    if not path.exists():
        _create(path)
    info = path.stat()
    if info.st_mode & (stat.S_IRWXG | stat.S_IRWXO) or (hasattr(os, "getuid") and info.st_uid != os.getuid()):
        raise ConfigError(
            f"the key that signs durable cells' source, {path}, is readable or writable by other users or owned by "
            f"another user, so anyone could sign code for this kernel to run. Run `chmod 600 {path}` if it is "
            "yours, or delete it (a new one is made; runs signed with the old one then resume with --trust-source)."
        )
    key = path.read_bytes()
    if len(key) < _KEY_BYTES:
        raise ConfigError(f"the key at {path} is {len(key)} bytes, too short to sign with: delete it to make a new one")
    return key


def _create(path: Path) -> None:
    """Write a new random key atomically: two kernels starting at once end up with the same key."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".nbdurable_secret.")  # mkstemp makes it 0600
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(secrets.token_bytes(_KEY_BYTES))
            f.flush()
            os.fsync(f.fileno())
        try:
            os.link(tmp, path)  # fails if another kernel made the key first: that one wins
        except FileExistsError:
            pass
    finally:
        os.unlink(tmp)


def sign_source(function_id: str, source: str) -> str:
    """The signature of ``source`` as the body of the cell function ``function_id``, with this user's key."""
    message = _DOMAIN + function_id.encode() + b"\x00" + source.encode()
    return hmac.new(_key(), message, hashlib.sha256).hexdigest()


def source_is_signed(function_id: str, source: str, signature: object) -> bool:
    """True when ``signature`` is this user's signature of ``source``: the source is this user's own cell."""
    if not isinstance(signature, str) or not signature:
        return False
    return hmac.compare_digest(sign_source(function_id, source), signature)
