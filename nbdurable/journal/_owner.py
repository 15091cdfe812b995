"""Which process owns a run, and whether that process is still alive.

A run's owner is "host:pid:start" where start is the process's start time, so a
recycled pid is not mistaken for the kernel that died. On this host liveness is
the process's existence; an owner on another host cannot be checked, so its claim
lives as long as its lease (renewed by its heartbeat) has not expired.
"""

from __future__ import annotations

import functools
import os
import socket
import time

__all__ = ["describe_owner", "is_alive", "this_owner"]


def _stat(pid: int) -> tuple[str, str]:
    """(state, start time) of a process from /proc; ("?", "?") where /proc is not there."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            data = fh.read()
        # The command name can hold spaces and parentheses; fields resume after the last ')'.
        fields = data[data.rindex(b")") + 2 :].split()
        return fields[0].decode(), fields[19].decode()
    except (OSError, ValueError, IndexError):
        return "?", "?"


def _start_time(pid: int) -> str:
    return _stat(pid)[1]


@functools.lru_cache(maxsize=1)
def _identity(pid: int) -> str:
    return f"{socket.gethostname()}:{pid}:{_start_time(pid)}"


def this_owner() -> str:
    """The owner string of this process (recomputed after a fork)."""
    return _identity(os.getpid())


def is_alive(owner: str | None, lease_until: float | None = None) -> bool:
    """Whether the process named by ``owner`` still runs.

    On another host: while its lease has not expired (an owner with no lease, from an
    older journal or a flow-control holder, counts as alive).
    """
    if not owner:
        return False
    host, _, rest = owner.partition(":")
    pid_text, _, start = rest.partition(":")
    if host != socket.gethostname():
        return lease_until is None or lease_until > time.time()
    try:
        pid = int(pid_text)
        if pid <= 0:
            return False  # never a process of ours (0 and negatives name process groups): a damaged owner
        os.kill(pid, 0)
    except (ValueError, ProcessLookupError, OverflowError):
        return False
    except PermissionError:
        return True
    state, started = _stat(pid)
    if state in ("Z", "X"):  # killed, not yet reaped by its parent
        return False
    return start in ("?", started)


def describe_owner(owner: str | None) -> str:
    """A short human form of an owner string, for messages."""
    if not owner:
        return "no process"
    host, _, rest = owner.partition(":")
    return f"process {rest.partition(':')[0]} on {host}"
