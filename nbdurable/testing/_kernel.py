"""A real Jupyter kernel for tests: start one in a folder, run cells, kill it with SIGKILL."""

from __future__ import annotations

import os
import queue
import shutil
import signal
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jupyter_client.manager import KernelManager


@dataclass
class CellResult:
    """What a cell produced, as a frontend would see it."""

    stdout: str = ""
    stderr: str = ""
    outputs: list[dict[str, Any]] = field(default_factory=list)
    error: dict[str, Any] | None = None
    status: str = ""

    @property
    def text(self) -> str:
        parts = [self.stdout, self.stderr]
        for out in self.outputs:
            data = out.get("data", {})
            if "text/plain" in data:
                parts.append(data["text/plain"])
        if self.error:
            parts.append(f"{self.error['ename']}: {self.error['evalue']}")
        return "\n".join(p for p in parts if p)


class Kernel:
    """One real ipykernel process with its working directory set to ``cwd``."""

    def __init__(self, cwd: Path, env: dict[str, str] | None = None) -> None:
        self.cwd = cwd
        # IPC sockets in a private folder, not TCP: nothing else on the machine can connect, no port can be
        # taken by another process between choosing and binding it, and the kernel has no reason to warn
        # "Kernel is running over TCP without encryption". The folder's path is short: a socket's must fit
        # in about 100 bytes.
        self._ipc_dir = tempfile.mkdtemp(prefix="nbd-kernel-")
        self.km = KernelManager(kernel_name="python3", transport="ipc", ip=os.path.join(self._ipc_dir, "k"))
        kernel_env = {**os.environ, **(env or {})}
        kernel_env.pop("NBDURABLE_JOURNAL", None)
        kernel_env.update(env or {})
        self.km.start_kernel(cwd=str(cwd), env=kernel_env)
        self.kc = self.km.client()
        self.kc.start_channels()
        self.kc.wait_for_ready(timeout=60)

    @property
    def pid(self) -> int:
        provisioner = self.km.provisioner
        assert provisioner is not None
        return int(provisioner.process.pid)  # type: ignore[attr-defined]

    def execute(self, code: str, *, timeout: float = 60, wait: bool = True) -> CellResult:
        msg_id = self.kc.execute(code)
        if not wait:
            return CellResult()
        return self.collect(msg_id, timeout=timeout)

    def collect(self, msg_id: str, *, timeout: float = 60) -> CellResult:
        result = CellResult()
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"cell did not finish in {timeout}s; so far: {result}")
            try:
                msg = self.kc.get_iopub_msg(timeout=remaining)
            except queue.Empty:
                continue
            if msg["parent_header"].get("msg_id") != msg_id:
                continue
            kind, content = msg["msg_type"], msg["content"]
            if kind == "stream":
                if content["name"] == "stdout":
                    result.stdout += content["text"]
                else:
                    result.stderr += content["text"]
            elif kind in ("display_data", "execute_result", "update_display_data"):
                result.outputs.append(content)
            elif kind == "error":
                result.error = content
            elif kind == "status" and content["execution_state"] == "idle":
                break
        result.status = self._reply_status(msg_id)
        return result

    def _reply_status(self, msg_id: str) -> str:
        # A reply left over from an earlier request sent without waiting belongs to that request: skip it.
        deadline = time.monotonic() + 10
        while True:
            reply = self.kc.get_shell_msg(timeout=max(0.1, deadline - time.monotonic()))
            if reply["parent_header"].get("msg_id") == msg_id:
                return str(reply["content"]["status"])

    def drain(self, msg_id: str, into: CellResult, *, seconds: float) -> None:
        """Collect output of a cell still running into ``into`` for up to ``seconds``."""
        deadline = time.monotonic() + seconds
        while (remaining := deadline - time.monotonic()) > 0:
            try:
                msg = self.kc.get_iopub_msg(timeout=remaining)
            except queue.Empty:
                return
            if msg["parent_header"].get("msg_id") != msg_id:
                continue
            if msg["msg_type"] == "stream":
                if msg["content"]["name"] == "stdout":
                    into.stdout += msg["content"]["text"]
                else:
                    into.stderr += msg["content"]["text"]
            elif msg["msg_type"] in ("display_data", "update_display_data"):
                into.outputs.append(msg["content"])

    def run(self, code: str, *, timeout: float = 60) -> CellResult:
        """Execute and fail loudly on an error (for set-up cells)."""
        result = self.execute(code, timeout=timeout)
        if result.error is not None:
            raise AssertionError(f"cell failed: {result.error['ename']}: {result.error['evalue']}\n{result.text}")
        return result

    def kill(self) -> None:
        """SIGKILL the kernel process, as a crash would."""
        os.kill(self.pid, signal.SIGKILL)
        self.km.provisioner.process.wait()  # type: ignore[union-attr]
        self.close()

    def interrupt(self) -> None:
        self.km.interrupt_kernel()

    def close(self) -> None:
        try:
            self.kc.stop_channels()
        finally:
            if self.km.is_alive():
                self.km.shutdown_kernel(now=True)
            self.km.cleanup_resources()
            shutil.rmtree(self._ipc_dir, ignore_errors=True)
