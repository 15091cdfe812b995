"""The HTTP handlers: every one behind Jupyter's authentication and authorization (resource ``nbdurable``).

Reads answer from worker threads; actions run on the server's loop. POST bodies are
read only from an authenticated client and only up to ``max_body_size`` (the
Content-Length is checked before a byte of the body is read). Errors are JSON:
``{"message", "reason", ...}`` as Jupyter's own API gives them.
"""

from __future__ import annotations

import asyncio
import json
import math
from collections.abc import Awaitable, Callable
from importlib import resources
from typing import Any, TypeVar, cast

from jupyter_server.auth.decorator import authorized
from jupyter_server.base.handlers import APIHandler
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from tornado import web
from tornado.iostream import StreamClosedError

from .._about import __version__
from .._errors import ConfigError, JournalBusyError, NbDurableError
from ..timeline import build_snapshot
from ._errors import ApiError
from ._feed import FeedHub, Subscriber, sse
from ._service import ListQuery, Service

__all__ = ["handlers"]

T = TypeVar("T")
F = TypeVar("F", bound=Callable[..., Any])
M = TypeVar("M", bound=BaseModel)
# Resume and rerun run code in the server process: the "execute" action, as Jupyter calls running code.
_execute = cast(Callable[[F], F], authorized("execute"))
_KEEPALIVE = 15.0  # seconds between comments on an idle feed, so proxies keep it open and dead clients show


def _finite(value: Any) -> Any:
    """The value with NaN and infinities as None: a journal is untrusted, and JSON has no such numbers."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return value


def dumps(value: Any) -> str:
    try:
        return json.dumps(value, allow_nan=False, default=str)
    except ValueError:
        return json.dumps(_finite(value), allow_nan=False, default=str)


class _Base(APIHandler):
    """Authentication, authorization under the ``nbdurable`` resource, JSON errors, and the services."""

    auth_resource = "nbdurable"

    @property
    def service(self) -> Service:
        service: Service = self.settings["nbdurable_api"]["service"]
        return service

    @property
    def hub(self) -> FeedHub:
        hub: FeedHub = self.settings["nbdurable_api"]["hub"]
        return hub

    def journal_argument(self) -> str | None:
        return self.get_query_argument("journal", None) or None

    async def in_thread(self, fn: Callable[..., T], *args: Any) -> T:
        return await _mapped(asyncio.to_thread(fn, *args))

    def reply(self, value: Any, status: int = 200) -> None:
        self.set_status(status)
        self.finish(dumps(value))

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        exc = kwargs.get("exc_info", (None, None, None))[1]
        if isinstance(exc, ApiError):
            self.set_header("Content-Type", "application/json")
            self.finish(dumps({"message": exc.message, "reason": self._reason, **exc.detail}))
            return
        super().write_error(status_code, **kwargs)


async def _mapped(awaitable: Awaitable[T]) -> T:
    """Library errors as HTTP answers: bad input 400, a journal that cannot be read or is busy 503."""
    try:
        return await awaitable
    except ApiError:
        raise
    except ConfigError as exc:
        raise ApiError(400, str(exc)) from exc
    except JournalBusyError as exc:
        raise ApiError(503, f"{exc}; try again in a moment") from exc
    except NbDurableError as exc:
        raise ApiError(503, str(exc)) from exc


async def _now(fn: Callable[[], T]) -> T:
    async def call() -> T:
        return fn()

    return await _mapped(call())


@web.stream_request_body
class _Post(_Base):
    """A POST whose body is read only up to the configured size, before anything is done with it.

    A refused request (no or wrong credentials, a missing XSRF token) is answered once its
    body is in, so the client reads the 403 instead of a reset connection; the size limit
    holds for it as for any other (Jupyter's own API reads up to 512 MB before checking).
    """

    _body: bytearray
    _refusal: web.HTTPError | None = None

    async def prepare(self) -> None:  # type: ignore[override]
        limit = int(self.settings["nbdurable_api"]["max_body_size"])
        self._limit = limit
        self._body = bytearray()
        self._size = 0
        try:
            await super().prepare()
        except web.HTTPError as exc:
            self._refusal = exc
        declared = self.request.headers.get("Content-Length")
        if declared is not None and (not declared.isdigit() or int(declared) > limit):
            raise ApiError(413, f"the request body is over the limit of {limit} bytes (c.NbDurable.max_body_size)")
        self.request.connection.set_max_body_size(limit)  # type: ignore[union-attr]

    def data_received(self, chunk: bytes) -> None:
        self._size += len(chunk)
        if self._size > self._limit:
            raise ApiError(413, f"the request body is over the limit of {self._limit} bytes")
        if self._refusal is None:
            self._body.extend(chunk)

    def parsed(self, model: type[M]) -> M:
        """The body checked against ``model`` (an empty body is an empty object); first, any refusal."""
        if self._refusal is not None or not self.current_user:
            raise self._refusal or web.HTTPError(403)
        try:
            return model.model_validate_json(bytes(self._body) or b"{}")
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in e['loc']) or 'body'}: {e['msg']}" for e in exc.errors(include_url=False)
            )
            raise ApiError(400, f"the request body is not valid: {problems}"[:2000]) from None


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class EmptyBody(_Strict):
    pass


class CancelBody(_Strict):
    reason: str | None = Field(default=None, max_length=1000)


class RerunBody(_Strict):
    from_step: str = Field(min_length=1, max_length=1000)


class EventBody(_Strict):
    name: str = Field(min_length=1)
    data: dict[str, Any] = Field(default_factory=dict)
    id: str | None = Field(default=None, min_length=1)


class JournalsHandler(_Base):
    @web.authenticated
    @authorized
    async def get(self) -> None:
        self.reply(await self.in_thread(self.service.journals_json))


class RunsHandler(_Base):
    @web.authenticated
    @authorized
    async def get(self) -> None:
        arg = self.get_query_argument
        query = ListQuery(
            status=arg("status", None),
            function=arg("function", None),
            journal=arg("journal", None),
            text=arg("text", None),
            limit=arg("limit", None),
            cursor=arg("cursor", None),
        )
        self.reply(await self.in_thread(self.service.list_runs, query))


class RunHandler(_Base):
    @web.authenticated
    @authorized
    async def get(self, run_id: str) -> None:
        served, _ = await self.in_thread(self.service.find, run_id, self.journal_argument())
        engine = Service.local_engine(served, run_id)
        if engine is not None:  # executing in this process: its live state is on this loop
            self.reply(build_snapshot(engine, run_id))
        else:
            self.reply(await self.in_thread(self.service.snapshot, served, run_id))


class CancelHandler(_Post):
    @web.authenticated
    @authorized
    async def post(self, run_id: str) -> None:
        body = self.parsed(CancelBody)
        served, _ = await self.in_thread(self.service.find, run_id, self.journal_argument())
        user = getattr(self.current_user, "username", None) or "a user"
        reason = body.reason or f"cancelled from the Jupyter server by {user}"
        self.reply(await _now(lambda: self.service.cancel(served, run_id, reason)))


class ResumeHandler(_Post):
    @web.authenticated
    @_execute
    async def post(self, run_id: str) -> None:
        self.parsed(EmptyBody)
        served, _ = await self.in_thread(self.service.find, run_id, self.journal_argument())
        self.reply(await _now(lambda: self.service.resume(served, run_id)), 202)


class RerunHandler(_Post):
    @web.authenticated
    @_execute
    async def post(self, run_id: str) -> None:
        body = self.parsed(RerunBody)
        served, _ = await self.in_thread(self.service.find, run_id, self.journal_argument())
        self.reply(await _now(lambda: self.service.rerun(served, run_id, body.from_step)), 202)


class EventsHandler(_Post):
    @web.authenticated
    @authorized
    async def post(self) -> None:
        body = self.parsed(EventBody)
        served = await self.in_thread(self.service.event_journal, self.journal_argument())
        self.reply(await _now(lambda: self.service.send(served, body.name, body.data, body.id)), 202)


class FeedHandler(_Base):
    """Server-sent events: ``hello``, then ``run`` for each run that changed, ``journals``, ``reset``."""

    _sub: Subscriber | None = None

    @web.authenticated
    @authorized
    async def get(self) -> None:
        journal = self.journal_argument()
        if journal:
            await self.in_thread(self.service.journals.get, journal)  # 400 or 404 before the stream starts
        try:
            self._sub = sub = await self.hub.subscribe(journal)
        except NbDurableError as exc:
            raise ApiError(503, str(exc)) from exc
        self.set_header("Content-Type", "text/event-stream")
        self.set_header("Cache-Control", "no-cache")
        self.set_header("X-Accel-Buffering", "no")
        try:
            hello = {"version": __version__, "journal": journal, "poll_interval": self.hub.poll_interval}
            self.write("retry: 2000\n" + sse("hello", hello))
            await self.flush()
            while True:
                try:
                    message = await asyncio.wait_for(sub.queue.get(), timeout=_KEEPALIVE)
                except asyncio.TimeoutError:
                    message = ": keep-alive\n\n"
                if message is None:
                    break
                self.write(message)
                await self.flush()
        except StreamClosedError:
            return
        finally:
            self.hub.unsubscribe(sub)
        self.finish(set_content_type="text/event-stream")

    def on_connection_close(self) -> None:
        if self._sub is not None:
            self._sub.put(None)
        super().on_connection_close()


class OpenAPIHandler(_Base):
    @web.authenticated
    @authorized
    async def get(self) -> None:
        text = resources.files("nbdurable.server").joinpath("openapi.json").read_text(encoding="utf-8")
        self.finish(text)


def handlers() -> list[tuple[str, type[_Base]]]:
    """The routes, relative to the server's base_url."""
    run = r"/nbdurable/api/runs/(?P<run_id>[^/]+)"
    return [
        (r"/nbdurable/api/journals", JournalsHandler),
        (r"/nbdurable/api/runs", RunsHandler),
        (run, RunHandler),
        (run + "/cancel", CancelHandler),
        (run + "/resume", ResumeHandler),
        (run + "/rerun", RerunHandler),
        (r"/nbdurable/api/events", EventsHandler),
        (r"/nbdurable/api/feed", FeedHandler),
        (r"/nbdurable/api/openapi.json", OpenAPIHandler),
    ]
