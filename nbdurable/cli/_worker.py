"""Worker processes: ``nbdurable worker MODULE [MODULE ...]`` executes runs handed to workers, on any machine.

A worker imports the modules (which define ``@nd.function``s), then serves those functions
from the journal, with no coordinator of its own: PostgreSQL (or, on one machine, SQLite)
is the only shared state.

- **Work** is a run with a ``queue``: started with ``fn.start(..., on="workers")``, by an
  event a served function is triggered by, by ``step.invoke`` of a function defined only in
  workers, or left by a worker that stopped. ``Journal.claim_next`` reserves the oldest
  unowned ones atomically (``FOR UPDATE SKIP LOCKED`` on PostgreSQL), so workers never get
  the same run; the engine's claim (a conditional update that bumps the fencing epoch)
  follows, as for any run.
- **Events** become runs here when the sender did not start them (it does not define the
  function): a cursor per function in the journal says how far the event log was turned
  into runs; the trigger table makes each (event, function) one run, whoever creates it.
- **Ownership** is host, process and lease: the engine's heartbeat renews the lease of
  every run executing here; a run whose owner's lease ran out (a killed or cut-off worker)
  is reserved by another worker and resumes from its last committed step. On this host a
  dead owner is seen at once (its pid).
- **Stopping** (SIGTERM, SIGINT): no new runs; each run finishes the step it is in, then
  gives up its claim (owner cleared, status kept), so another worker continues it at once.
  A second signal, or the grace period running out, stops the steps in flight too (they
  run again elsewhere: steps are at-least-once).

Wake-ups come from the journal's notifications on its work channel (a run handed to workers, a
claim given up, an event); a worker does not hear the other workers' runs and steps. A poll every
``poll`` seconds covers leases that run out, which nobody announces.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import importlib
import importlib.util
import logging
import os
import signal
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .._errors import ConfigError, JournalBusyError, JournalError, NbDurableError
from ..journal._owner import is_alive, this_owner

if TYPE_CHECKING:
    from ..engine._engine import Engine
    from ..engine._handle import RunHandle
    from ..engine._registry import Workflow
    from ..journal._protocol import RunRecord

__all__ = ["Worker", "WorkerOptions", "import_modules", "main"]

_log = logging.getLogger("nbdurable.worker")
_BATCH = 200  # events read per dispatch query


@dataclasses.dataclass(frozen=True)
class WorkerOptions:
    """What one worker serves and how much at once."""

    concurrency: int = 16  # runs executing steps at once (sleeping and waiting runs do not count)
    queues: tuple[str, ...] | None = None  # None: every queue
    functions: tuple[str, ...] | None = None  # None: every function the modules define
    poll: float = 1.0  # seconds between looks for work nobody announced (leases that ran out)
    grace: float = 30.0  # seconds stopping waits for steps in flight before stopping them too

    def __post_init__(self) -> None:
        if not isinstance(self.concurrency, int) or self.concurrency < 1:
            raise ConfigError(f"--concurrency must be a whole number of 1 or more, got {self.concurrency!r}")
        if self.poll <= 0 or self.grace < 0:
            raise ConfigError("--poll must be positive and --grace zero or more")


def import_modules(names: Sequence[str]) -> list[str]:
    """Import each module (dotted name, or a .py file), which registers its functions; their names."""
    if "" not in sys.path and os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())  # as `python -m` does: modules next to the worker are found
    done = []
    for name in names:
        try:
            if name.endswith(".py") or os.sep in name:
                path = Path(name).resolve()
                if not path.is_file():
                    raise ConfigError(f"no Python file at {name!r} to serve")
                spec = importlib.util.spec_from_file_location(path.stem, path)
                if spec is None or spec.loader is None:
                    raise ConfigError(f"cannot import {name!r}")
                module = importlib.util.module_from_spec(spec)
                sys.modules[path.stem] = module
                spec.loader.exec_module(module)
            else:
                importlib.import_module(name)
        except ModuleNotFoundError as exc:
            raise ConfigError(f"cannot import {name!r}: {exc}. Run the worker where the module is importable") from exc
        done.append(name)
    return done


class Worker:
    """Serves the registered functions from ``engine``'s journal until stopped."""

    def __init__(self, engine: Engine, options: WorkerOptions | None = None) -> None:
        from ..engine._registry import registry

        self.engine = engine
        self.options = options or WorkerOptions()
        wanted = self.options.functions
        served = dict(registry())
        if wanted is not None:
            missing = sorted(set(wanted) - set(served))
            if missing:
                raise ConfigError(
                    f"--function {', '.join(missing)}: not defined by the modules given (they define "
                    f"{', '.join(sorted(served)) or 'no @nd.function'})"
                )
            served = {fid: served[fid] for fid in wanted}
        if not served:
            raise ConfigError("the modules define no @nd.function to serve: give the modules that define them")
        self.functions: dict[str, Workflow] = served
        self.owner = this_owner()
        self._wake = asyncio.Event()
        self._stopping = False
        self._hard = False
        self._handles: dict[str, RunHandle[Any]] = {}
        self._followers: set[asyncio.Task[None]] = set()
        self.started = 0
        self.finished: dict[str, int] = {}
        self._last_sweep = 0.0

    # -- the loop -----------------------------------------------------------------------------------

    @property
    def busy(self) -> int:
        """Runs here that execute steps now (a run sleeping or waiting for an event costs no concurrency)."""
        return sum(1 for st in self.engine.active.values() if st.status in ("queued", "running"))

    async def run(self) -> None:
        """Serve until ``stop()``; then let the runs here finish their steps and give them up."""
        engine = self.engine
        engine.listen()
        engine.notice_hooks.append(self._on_notice)
        _log.info(
            "worker %s serving %s from %s (concurrency %d%s)",
            self.owner,
            ", ".join(sorted(self.functions)),
            engine.journal.location,
            self.options.concurrency,
            f", queues {', '.join(self.options.queues)}" if self.options.queues else "",
        )
        try:
            while not self._stopping:
                self._wake.clear()
                try:
                    await self._dispatch_events()
                    self._sweep_dead_owners()
                    self._take_work()
                except JournalBusyError as exc:
                    _log.warning("worker: the journal is busy or unreachable (%s); trying again", exc)
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), timeout=self.options.poll)
        finally:
            with contextlib.suppress(ValueError):
                engine.notice_hooks.remove(self._on_notice)
            await self._drain()

    def stop(self) -> None:
        """Stop taking work; a second call stops the steps in flight too."""
        if self._stopping:
            self._hard = True
        self._stopping = True
        self._wake.set()

    def _on_notice(self, kind: str, key: str) -> None:
        # Work handed over (a run queued, a claim given up), an event: what a worker looks for. Other
        # workers' runs and steps are not announced to workers at all (the journal's runs channel).
        if kind in ("work", "event", "reconnect"):
            self._wake.set()

    # -- taking work --------------------------------------------------------------------------------

    def _take_work(self) -> None:
        from ..flow import lease_ttl

        free = self.options.concurrency - self.busy
        while free > 0 and not self._stopping:
            now = time.time()
            got = self.engine.journal.claim_next(
                self.owner,
                queues=self.options.queues,
                function_ids=list(self.functions),
                now=now,
                lease_until=now + lease_ttl(),
                limit=free,
            )
            for rec in got:
                self._execute(rec.run_id, rec.function_id, rec.attempt, rec)
            if len(got) < free:
                return
            free = self.options.concurrency - self.busy

    def _execute(self, run_id: str, function_id: str, attempt: int, record: RunRecord | None = None) -> None:
        function = self.functions[function_id]
        try:
            handle = self.engine.start(function, run_id=run_id, record=record)  # as claimed: not read again
        except NbDurableError as exc:
            _log.warning("run %s (%s) not started here: %s", run_id, function_id, exc)
            return
        self.started += 1
        self._handles[run_id] = handle
        _log.info("run %s %s: %s", run_id, function_id, "resumed" if attempt else "started")
        follower = asyncio.ensure_future(self._follow(handle, function_id, time.monotonic()))
        self._followers.add(follower)
        follower.add_done_callback(self._followers.discard)

    async def _follow(self, handle: RunHandle[Any], function_id: str, began: float) -> None:
        """Log how the run ended here (one line per run), and make room for more work."""
        try:
            await handle.result()
            outcome = "completed"
        except NbDurableError as exc:
            outcome = f"{handle.status}: {str(exc)[:200]}"
        finally:
            self._handles.pop(handle.run_id, None)
            self._wake.set()
        state = self.engine.finished.get(handle.run_id)
        released = state is not None and state.released
        status = "released to another worker" if released else outcome
        self.finished[status.split(":")[0]] = self.finished.get(status.split(":")[0], 0) + 1
        _log.info("run %s %s: %s in %.2fs", handle.run_id, function_id, status, time.monotonic() - began)

    # -- events into runs ---------------------------------------------------------------------------

    async def _dispatch_events(self) -> None:
        """Turn events after each served function's cursor into runs for workers (once per event and function)."""
        journal = self.engine.journal
        for function in self.functions.values():
            if not function.options.triggers:
                continue
            name = f"dispatch:{function.id}"
            cursor = journal.get_cursor(name)
            if cursor is None:
                # A function's triggers count from when a worker first served it, as for a deployed function.
                journal.move_cursor(name, journal.last_event_seq(), expect=None)
                continue
            while True:
                batch = journal.events_after(None, cursor, limit=_BATCH)
                if not batch:
                    break
                for ev in batch:
                    if function.triggered_by(ev.name):
                        self.engine.queue_for_event(function, ev)
                        await asyncio.sleep(0)  # the runs executing here keep stepping meanwhile
                if not journal.move_cursor(name, batch[-1].seq, expect=cursor):
                    break  # another worker moved it: it turns the rest into runs (the trigger table dedupes)
                cursor = batch[-1].seq
                if len(batch) < _BATCH:
                    break

    def _sweep_dead_owners(self) -> None:
        """Runs for workers whose owner on this host died: resumed now, not when their lease runs out."""
        now = time.monotonic()
        if now - self._last_sweep < max(self.options.poll, 1.0) or self.busy >= self.options.concurrency:
            return  # a worker with no room could not take those runs: it leaves them to one that has
        self._last_sweep = now
        host = self.owner.partition(":")[0]
        for rec in self.engine.journal.list_runs(statuses=["running", "sleeping", "waiting", "queued"], limit=500):
            if (
                rec.queue is None
                or rec.owner is None
                or rec.owner == self.owner
                or rec.function_id not in self.functions
                or rec.owner.partition(":")[0] != host
                or (self.options.queues is not None and rec.queue not in self.options.queues)
                or rec.run_id in self.engine.active
                or is_alive(rec.owner, rec.lease_until)
            ):
                continue
            if self.busy >= self.options.concurrency:
                return
            self._execute(rec.run_id, rec.function_id, rec.attempt)

    # -- stopping -----------------------------------------------------------------------------------

    async def _drain(self) -> None:
        """Let each run here finish its step, then give it up to another worker (all of them: sleeping ones too)."""
        engine = self.engine
        for run_id in list(engine.active):
            engine.release(run_id)
        deadline = time.monotonic() + self.options.grace
        while engine.active and not self._hard and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        for run_id in list(engine.active):
            _log.warning("run %s: stopping its step in flight (it runs again where the run resumes)", run_id)
            engine.release(run_id, now=True)
        while engine.active:
            await asyncio.sleep(0.01)
        if self._followers:
            await asyncio.gather(*self._followers, return_exceptions=True)
        _log.info(
            "worker %s stopped: %d run(s) taken, %s",
            self.owner,
            self.started,
            ", ".join(f"{n} {k}" for k, n in sorted(self.finished.items())) or "none ended here",
        )


async def serve(engine: Engine, options: WorkerOptions) -> None:
    """Run a worker until SIGTERM or SIGINT (a second one stops the steps in flight)."""
    worker = Worker(engine, options)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, worker.stop)
    await worker.run()


def main(args: Any) -> int:
    """``nbdurable worker``: the command line's entry (``args`` parsed by ``__main__``)."""
    logging.basicConfig(
        level=getattr(logging, str(args.log_level).upper(), logging.INFO),
        format="%(asctime)s %(levelname)s %(message)s",
        stream=sys.stderr,
    )
    if args.lease_ttl is not None:
        os.environ["NBDURABLE_LEASE_TTL"] = str(args.lease_ttl)
    from ..engine._engine import configure

    try:
        import_modules(args.modules)
        options = WorkerOptions(
            concurrency=args.concurrency,
            queues=tuple(args.queue) if args.queue else None,
            functions=tuple(args.function) if args.function else None,
            poll=args.poll,
            grace=args.grace,
        )
        engine = configure(args.journal, durability=getattr(args, "durability", "normal"))
        asyncio.run(serve(engine, options))
    except (ConfigError, JournalError) as exc:
        print(f"nbdurable worker: {exc}", file=sys.stderr)
        return 2
    return 0
