"""The local server's aiohttp application and :class:`LocalServer`, its thread-owning handle."""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import threading
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import Any, Final, TypeVar

from aiohttp import WSMsgType, web

from rtdata import protocol
from rtdata.server import rest
from rtdata.server.auth import DEFAULT_JWT_SECRET, AuthError, Keys, decode_token
from rtdata.server.realtime import RealtimeHub
from rtdata.server.schema import Schema, load_schema
from rtdata.server.store import TableStore
from rtdata.simulate import MIGRATIONS_DIR

__all__ = ["DEFAULT_PORT", "IDLE_TIMEOUT_S", "LocalServer", "build_app"]

log = logging.getLogger(__name__)
T = TypeVar("T")

DEFAULT_PORT: Final = 54321
"""The port the local Supabase stack uses."""

IDLE_TIMEOUT_S: Final = 60.0
"""A websocket that sends nothing for this long is closed (Phoenix's default timeout)."""

_MAX_FRAME_BYTES: Final = 1 << 20
_HUB: Final = web.AppKey("hub", RealtimeHub)
_STORE: Final = web.AppKey("store", TableStore)
_SECRET: Final = web.AppKey("secret", str)


def build_app(store: TableStore, hub: RealtimeHub, jwt_secret: str) -> web.Application:
    """Assemble the routes: realtime websocket and REST on the given store and hub."""
    app = web.Application(client_max_size=16 * _MAX_FRAME_BYTES)
    app[_STORE], app[_HUB], app[_SECRET] = store, hub, jwt_secret
    app.router.add_get("/realtime/v1/websocket", _websocket)
    app.router.add_get("/socket/websocket", _websocket)
    app.router.add_route("*", "/rest/v1/{table}", _rest)
    return app


def _api_key(request: web.Request) -> str | None:
    auth = request.headers.get("Authorization", "")
    if auth.lower().startswith("bearer "):
        return auth[7:].strip()
    return (
        request.headers.get("apikey")
        or request.headers.get("x-api-key")
        or request.query.get("apikey")
    )


async def _rest(request: web.Request) -> web.StreamResponse:
    try:
        decode_token(_api_key(request), request.app[_SECRET])
    except AuthError as exc:
        body = {"code": "PGRST301", "message": str(exc), "details": None, "hint": None}
        return web.json_response(body, status=401)
    return await rest.handle(request, request.app[_STORE])


async def _websocket(request: web.Request) -> web.StreamResponse:
    key = request.headers.get("x-api-key") or request.query.get("apikey")
    try:
        decode_token(key, request.app[_SECRET])
    except AuthError as exc:
        return web.json_response({"error": str(exc)}, status=401)
    vsn = request.query.get("vsn", protocol.VSN)
    if vsn != protocol.VSN:
        return web.json_response({"error": f"unsupported serializer vsn {vsn!r}"}, status=400)
    ws = web.WebSocketResponse(max_msg_size=_MAX_FRAME_BYTES)
    await ws.prepare(request)
    outbox: asyncio.Queue[str] = asyncio.Queue()
    session = request.app[_HUB].connect(outbox.put_nowait)
    writer = asyncio.create_task(_write_loop(ws, outbox))
    try:
        while True:
            try:
                msg = await ws.receive(timeout=IDLE_TIMEOUT_S)
            except TimeoutError:
                log.info("realtime: closing a socket idle for %.0f s", IDLE_TIMEOUT_S)
                break
            if msg.type == WSMsgType.TEXT:
                session.receive(msg.data)
            elif msg.type == WSMsgType.BINARY:
                request.app[_HUB].note_bad_input("binary frame", "binary frames need vsn 2.0.0")
            else:  # CLOSE, CLOSING, CLOSED or ERROR
                break
    finally:
        session.close()
        writer.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await writer
        await ws.close()
    return ws


async def _write_loop(ws: web.WebSocketResponse, outbox: asyncio.Queue[str]) -> None:
    while True:
        frame = await outbox.get()
        try:
            await ws.send_str(frame)
        except ConnectionError:
            return


class LocalServer:
    """A local Supabase stand-in (realtime + REST) running on its own thread and event loop.

    Use it as a context manager in tests and notebooks; ``port=0`` picks a free port::

        with LocalServer() as server:
            client = await acreate_client(server.url, server.anon_key)

    Args:
        host: Interface to bind.
        port: TCP port; 0 picks a free one.
        schema: A migrations file or folder, or a parsed :class:`Schema`; the hospital scenario
            when omitted.
        jwt_secret: HS256 secret that API keys and user tokens must be signed with.
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        schema: str | Path | Schema | None = None,
        jwt_secret: str = DEFAULT_JWT_SECRET,
    ) -> None:
        self.host = host
        self.port = port
        if schema is None:
            schema = load_schema(MIGRATIONS_DIR)
        elif not isinstance(schema, Schema):
            schema = load_schema(schema)
        self.schema = schema
        self.keys = Keys.for_secret(jwt_secret)
        self._secret = jwt_secret
        self.store = TableStore(schema)
        self.hub = RealtimeHub(self.store)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._stopping: asyncio.Event | None = None
        self._error: BaseException | None = None

    @property
    def url(self) -> str:
        """Base URL clients use as ``SUPABASE_URL``, for example ``http://127.0.0.1:54321``."""
        return f"http://{self.host}:{self.port}"

    @property
    def anon_key(self) -> str:
        """The ``anon`` API key this server accepts."""
        return self.keys.anon

    @property
    def service_key(self) -> str:
        """The ``service_role`` API key this server accepts."""
        return self.keys.service

    def start(self, timeout_s: float = 10.0) -> LocalServer:
        """Start serving on a background thread and return once the port is bound.

        Raises:
            OSError: The address could not be bound.
            TimeoutError: The server did not come up within ``timeout_s``.
        """
        if self._thread is not None:
            return self
        self._thread = threading.Thread(target=self._run, name="rtdata-local-server", daemon=True)
        self._thread.start()
        if not self._ready.wait(timeout_s):
            raise TimeoutError(f"local server did not start within {timeout_s} s")
        if self._error is not None:
            self._thread.join()
            self._thread = None
            raise self._error
        return self

    def stop(self, timeout_s: float = 10.0) -> None:
        """Stop serving, close every socket and join the thread; safe to call twice."""
        thread, loop, stopping = self._thread, self._loop, self._stopping
        if thread is None:
            return
        if loop is not None and stopping is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(stopping.set)
        thread.join(timeout_s)
        self._thread = None

    def call(self, fn: Callable[[], T], timeout_s: float = 10.0) -> T:
        """Run ``fn`` on the server's loop thread and return its result (the store is not
        thread-safe, so other threads read and write it through here)."""
        loop = self._loop
        if loop is None:
            return fn()
        future: concurrent.futures.Future[T] = concurrent.futures.Future()

        def run() -> None:
            try:
                future.set_result(fn())
            except BaseException as exc:
                future.set_exception(exc)

        loop.call_soon_threadsafe(run)
        return future.result(timeout_s)

    def rows(self, table: str) -> list[dict[str, Any]]:
        """Return a copy of every row of ``table``, read on the server thread."""
        return self.call(lambda: self.store.rows(table))

    def __enter__(self) -> LocalServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"LocalServer(url={self.url!r})"

    def _run(self) -> None:
        try:
            asyncio.run(self._serve())
        except BaseException as exc:  # reported to start(); the thread must not die silently
            self._error = exc
            self._ready.set()

    async def _serve(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stopping = asyncio.Event()
        app = build_app(self.store, self.hub, self._secret)
        runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=1.0)
        await runner.setup()
        try:
            site = web.TCPSite(runner, self.host, self.port)
            await site.start()
            if self.port == 0:
                self.port = int(runner.addresses[0][1])
            self._ready.set()
            await self._stopping.wait()
        finally:
            await runner.cleanup()
