"""Journal files on disk: kept private, and refused when unsafe (as ssh treats its keys).

A journal holds workflow inputs and results, and replay trusts what it reads there.
Another user who can write the file or its folder could plant steps a run will
replay, or swap the file for a symlink so that nbdurable writes into one of yours.
So what is ours is tightened (the file and SQLite's side files to owner-only, and
nbdurable's own ``.nbdurable`` folder to 0700); a file or folder owned by another
user, or writable by others, is refused unless overridden; and a symlink at the
journal path is not followed unless asked.
"""

from __future__ import annotations

import dataclasses
import os
import pwd
import stat
from pathlib import Path

from .._errors import JournalPermissionError

__all__ = [
    "ALLOW_UNSAFE_ENV",
    "FOLLOW_SYMLINKS_ENV",
    "SIDE_SUFFIXES",
    "Finding",
    "env_flag",
    "inspect",
    "not_writable_reason",
    "secure",
    "tighten",
]

ALLOW_UNSAFE_ENV = "NBDURABLE_ALLOW_UNSAFE_PERMISSIONS"
FOLLOW_SYMLINKS_ENV = "NBDURABLE_FOLLOW_SYMLINKS"
SIDE_SUFFIXES = ("-wal", "-shm", "-journal")
OWN_FOLDER = ".nbdurable"  # the default folder: nbdurable's own, so nbdurable may tighten it


@dataclasses.dataclass(frozen=True, slots=True)
class Finding:
    """One thing wrong with a journal's files: refused (unless overridden), or tightened by a chmod."""

    path: Path
    problem: str
    refused: bool = False
    chmod: int | None = None  # the mode a repair sets (only on what this user owns)

    def describe(self) -> str:
        if self.chmod is not None:
            return f"{self.path}: {self.problem}; tightened to {self.chmod:04o}"
        return f"{self.path}: {self.problem}"


def env_flag(name: str) -> bool:
    """Whether an override environment variable is set to a true value (1, true, yes, on)."""
    return os.environ.get(name, "").strip().lower() in ("1", "true", "yes", "on")


def _user(uid: int) -> str:
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return f"uid {uid}"


def _lstat(path: Path) -> os.stat_result | None:
    try:
        return os.lstat(path)
    except FileNotFoundError:
        return None


def _check_file(path: Path, st: os.stat_result, *, what: str, allow_unsafe: bool) -> list[Finding]:
    me = os.geteuid()
    mode = stat.S_IMODE(st.st_mode)
    if stat.S_ISLNK(st.st_mode):
        return [Finding(path, f"{what} is a symlink (to {os.readlink(path)})", refused=True)]
    if not stat.S_ISREG(st.st_mode):
        return [Finding(path, f"{what} is not a regular file", refused=True)]
    if st.st_uid != me:
        if allow_unsafe:
            return []
        found = [Finding(path, f"{what} is owned by {_user(st.st_uid)}, not by you ({_user(me)})", refused=True)]
        if mode & 0o022:
            found.append(Finding(path, f"{what} is writable by group or others (mode {mode:04o})", refused=True))
        return found
    if mode & 0o077:
        return [Finding(path, f"{what} is readable or writable by others (mode {mode:04o})", chmod=mode & 0o700)]
    return []


def _check_folder(folder: Path, *, allow_unsafe: bool) -> list[Finding]:
    try:
        st = os.stat(folder)
    except FileNotFoundError:
        return []
    me = os.geteuid()
    mode = stat.S_IMODE(st.st_mode)
    ours = st.st_uid == me
    if ours and folder.name == OWN_FOLDER and mode & 0o077:
        return [Finding(folder, f"nbdurable's folder is open to others (mode {mode:04o})", chmod=0o700)]
    if allow_unsafe:
        return []
    found: list[Finding] = []
    if not ours and st.st_uid != 0:
        found.append(
            Finding(
                folder, f"the journal's folder is owned by {_user(st.st_uid)}, not by you ({_user(me)})", refused=True
            )
        )
    # A sticky folder (like /tmp) lets nobody else rename or delete our files in it.
    if mode & 0o022 and not mode & stat.S_ISVTX:
        found.append(
            Finding(
                folder,
                f"the journal's folder is writable by group or others (mode {mode:04o}), so another user could "
                "replace the journal",
                refused=True,
            )
        )
    return found


def inspect(path: Path, *, allow_unsafe: bool, follow_symlinks: bool) -> tuple[Path, list[Finding]]:
    """What is wrong with the journal at ``path`` and its folder; and the path to open (a followed symlink's target)."""
    found: list[Finding] = []
    st = _lstat(path)
    if st is not None and stat.S_ISLNK(st.st_mode):
        if not follow_symlinks:
            return path, [Finding(path, f"the journal path is a symlink (to {os.readlink(path)})", refused=True)]
        path = Path(os.path.realpath(path))
        st = _lstat(path)
    if st is not None:
        found += _check_file(path, st, what="the journal file", allow_unsafe=allow_unsafe)
    for suffix in SIDE_SUFFIXES:
        side = Path(f"{path}{suffix}")
        side_st = _lstat(side)
        if side_st is not None:
            found += _check_file(side, side_st, what=f"SQLite's {suffix[1:]} file", allow_unsafe=allow_unsafe)
    found += _check_folder(path.parent, allow_unsafe=allow_unsafe)
    return path, found


def refusal(path: Path, refused: list[Finding]) -> JournalPermissionError:
    """The error for journal files nbdurable will not use, naming each problem and the overrides."""
    problems = "; ".join(f.describe() for f in refused)
    symlink = any("symlink (to" in f.problem and f.path == path for f in refused)
    hint = (
        f"If you trust it, follow it with nd.configure(..., follow_symlinks=True) or {FOLLOW_SYMLINKS_ENV}=1."
        if symlink
        else "Use a journal in a folder of your own (the default .nbdurable/ is created private), fix the "
        f"ownership or permissions (chmod go-w), or, if you trust every user who can write there, set "
        f"{ALLOW_UNSAFE_ENV}=1 (or nd.configure(..., allow_unsafe_permissions=True))."
    )
    return JournalPermissionError(
        f"nbdurable does not use the journal at {path}: {problems}. Nothing was read or changed. {hint}"
    )


def tighten(findings: list[Finding]) -> None:
    """Apply the chmods of ``findings`` (only ever on what this user owns); a file system that refuses is left be."""
    for f in findings:
        if f.chmod is not None:
            try:
                os.chmod(f.path, f.chmod)
            except OSError:
                pass  # e.g. a read-only file system: nothing else can change it either


def secure(path: Path, *, allow_unsafe: bool, follow_symlinks: bool) -> Path:
    """Refuse unsafe journal files (JournalPermissionError) before anything reads them; the path to open."""
    target, found = inspect(path, allow_unsafe=allow_unsafe, follow_symlinks=follow_symlinks)
    refused = [f for f in found if f.refused]
    if refused:
        raise refusal(path, refused)
    return target


def not_writable_reason(path: Path) -> str | None:
    """Why this process cannot write the journal at ``path`` (an existing file), or None if it can."""
    folder = path.parent
    if not os.access(path, os.W_OK):
        return "the file is not writable by this user, or the file system is read-only"
    if not os.access(folder, os.W_OK | os.X_OK):
        return (
            f"its folder {folder} is not writable by this user (SQLite needs to create its -wal and -shm files there)"
        )
    return None
