"""PostgREST requests served by Postgres under the caller's role: the REST path's I/O shell.

Each request runs in one transaction that first does what PostgREST does: ``role`` (``SET LOCAL
ROLE``) from the verified JWT's ``role`` claim (the anon role without one),
``request.jwt.claims``, ``request.method``, ``request.path`` and ``request.headers``, all local
to the transaction, and a ``statement_timeout`` that bounds the request. Then one statement of
:mod:`rtdata.server.postgres.rest_sql` runs, so grants and RLS policies decide what is read
and written, exactly as on Supabase. A singular request that did not find exactly one row
rolls its write back.

Errors come back in PostgREST's shape (:class:`~rtdata.server.store.StoreError`): the request
language's own (``PGRST1xx``), the schema cache's (``PGRST204``, ``PGRST205``) and Postgres's
SQLSTATE with the HTTP status PostgREST gives it (:func:`status_of`).

The table cache is read from the catalog on first use and again when a request names a table it
does not know (a migration may have added it); :meth:`PostgresRest.forget_schema` drops it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, Final

import orjson
import psycopg
from aiohttp import web

from rtdata.server import openapi, postgrest
from rtdata.server.postgres import rest_sql
from rtdata.server.postgres.rest_catalog import read_schema
from rtdata.server.postgrest import OBJECT_MEDIA_TYPE, RestQuery
from rtdata.server.schema import Schema, TableSchema
from rtdata.server.store import StoreError

__all__ = [
    "DEFAULT_STATEMENT_TIMEOUT_MS",
    "Connect",
    "PostgresRest",
    "RestRequest",
    "RestResponse",
    "connect_each",
    "status_of",
]

DEFAULT_STATEMENT_TIMEOUT_MS: Final = 5_000
"""How long one request's statement may run before Postgres cancels it (``57014``)."""

Connect = Callable[[], AbstractAsyncContextManager[psycopg.AsyncConnection[Any]]]
"""``connect()`` lends a connection for one request (a pool's ``connection`` fits)."""

_SETTINGS: Final = (
    "select set_config('role', $1, true), set_config('request.jwt.claims', $2, true),"
    " set_config('request.method', $3, true), set_config('request.path', $4, true),"
    " set_config('request.headers', $5, true), set_config('statement_timeout', $6, true)"
)
# PostgREST's pgErrorStatus: exact codes first, then two-character classes, else 400.
_STATUS_EXACT: Final = {
    "23503": 409,
    "23505": 409,
    "25006": 405,
    "53400": 500,
    "57P01": 503,
    "P0001": 400,
    "42883": 404,
    "42P01": 404,
    "42P17": 500,
}
_STATUS_CLASS: Final = {
    "08": 503,
    "09": 500,
    "0L": 403,
    "0P": 403,
    "25": 500,
    "28": 403,
    "2D": 500,
    "38": 500,
    "39": 500,
    "3B": 500,
    "40": 500,
    "53": 503,
    "54": 500,
    "55": 500,
    "57": 500,
    "58": 500,
    "F0": 500,
    "HV": 500,
    "P0": 500,
    "XX": 500,
}


def status_of(sqlstate: str, *, anonymous: bool) -> int:
    """Return the HTTP status PostgREST answers a Postgres error ``sqlstate`` with.

    ``42501`` (insufficient privilege) is 401 for an anonymous caller and 403 otherwise;
    unique and foreign-key violations are 409; an undefined table or function is 404;
    connection and resource errors 503; server-side failures (``57014`` statement timeout
    among them) 500; every other error, bad input included, 400.
    """
    if sqlstate == "42501":
        return 401 if anonymous else 403
    return _STATUS_EXACT.get(sqlstate) or _STATUS_CLASS.get(sqlstate[:2], 400)


@dataclass(frozen=True, slots=True)
class RestRequest:
    """One request on ``/rest/v1/<table>``, independent of the HTTP server.

    Attributes:
        method: ``GET``, ``HEAD``, ``POST``, ``PATCH`` or ``DELETE``.
        table: The table the path names.
        params: Query-string items in order.
        headers: Request headers as ``(name, value)`` pairs (names in any case; ``Prefer`` may
            repeat).
        body: The raw body.
    """

    method: str
    table: str
    params: Sequence[tuple[str, str]] = ()
    headers: Sequence[tuple[str, str]] = ()
    body: bytes = b""

    def header(self, name: str) -> str | None:
        """Return the first value of header ``name`` (any case), or ``None``."""
        wanted = name.lower()
        return next((v for k, v in self.headers if k.lower() == wanted), None)

    def header_values(self, name: str) -> list[str]:
        """Return every value of header ``name`` (any case), in order."""
        wanted = name.lower()
        return [v for k, v in self.headers if k.lower() == wanted]


@dataclass(frozen=True, slots=True)
class RestResponse:
    """The answer to a :class:`RestRequest`.

    Attributes:
        status: HTTP status.
        body: JSON bytes (Postgres's own rendering for rows), empty for none.
        headers: Response headers (``Content-Range`` among them).
        content_type: The body's media type, or ``None`` without a body.
    """

    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    content_type: str | None = None

    def json(self) -> Any:
        """Return the body parsed, or ``None`` when empty."""
        return orjson.loads(self.body) if self.body else None


def connect_each(conninfo: str) -> Connect:
    """Return a :data:`Connect` that opens a new connection per request and closes it after;
    for tests and light use (a pool is faster)."""

    @asynccontextmanager
    async def connect() -> Any:
        async with await psycopg.AsyncConnection.connect(conninfo) as conn:
            yield conn

    return connect


class PostgresRest:
    """Serves PostgREST requests from a Postgres database under each caller's role.

    Args:
        connect: Lends a connection per request; the login role must be able to ``SET ROLE``
            to every role a token names (Supabase's ``authenticator``, or a superuser).
        db_schema: The exposed schema.
        anon_role: The role of a token without a ``role`` claim.
        statement_timeout_ms: The bound on each request's statement.
    """

    def __init__(
        self,
        connect: Connect,
        *,
        db_schema: str = "public",
        anon_role: str = "anon",
        statement_timeout_ms: int = DEFAULT_STATEMENT_TIMEOUT_MS,
    ) -> None:
        self._connect = connect
        self.db_schema = db_schema
        self.anon_role = anon_role
        self.statement_timeout_ms = statement_timeout_ms
        self._schema: Schema | None = None  # the schema cache; None until read

    def forget_schema(self) -> None:
        """Drop the cached catalog; the next request reads it again (after a migration)."""
        self._schema = None

    async def execute(self, request: RestRequest, claims: Mapping[str, Any]) -> RestResponse:
        """Answer ``request`` for a caller whose verified JWT claims are ``claims``.

        Never raises for a bad request or a database refusal: those are PostgREST-shaped
        error responses. Connection failures (the database is down) propagate.
        """
        try:
            return await self._execute(request, claims)
        except StoreError as exc:
            return _error(exc)

    async def openapi(self, host: str) -> dict[str, Any]:
        """Return PostgREST's OpenAPI document of the exposed schema, from the catalog."""
        async with self._connect() as conn:
            schema = await self._tables(conn, None)
            await conn.rollback()
        return openapi.document(schema, host, self.db_schema)

    async def handle(self, request: web.Request, claims: Mapping[str, Any]) -> web.Response:
        """Serve an aiohttp request on ``/rest/v1/<table>`` (``match_info["table"]``)."""
        answer = await self.execute(
            RestRequest(
                request.method,
                request.match_info["table"],
                tuple(request.query.items()),
                tuple(request.headers.items()),
                await request.read(),
            ),
            claims,
        )
        return web.Response(
            status=answer.status,
            body=answer.body or None,
            headers=answer.headers,
            content_type=answer.content_type,
            charset="utf-8" if answer.content_type else None,
        )

    # ------------------------------------------------------------ internals

    async def _tables(self, conn: psycopg.AsyncConnection[Any], wanted: str | None) -> Schema:
        if self._schema is None or (wanted is not None and wanted not in self._schema.tables):
            self._schema = await read_schema(conn, self.db_schema)
        return self._schema

    async def _execute(self, request: RestRequest, claims: Mapping[str, Any]) -> RestResponse:
        query = postgrest.parse_query(request.params)
        prefer = postgrest.prefer(request.header_values("Prefer"))
        singular, stripped = postgrest.accept(request.header("Accept"))
        role = str(claims.get("role") or self.anon_role)
        async with self._connect() as conn:
            table = (await self._tables(conn, request.table)).tables.get(request.table)
            await conn.rollback()  # the catalog read's transaction; the request has its own
            if table is None:
                raise StoreError(
                    404,
                    "PGRST205",
                    f"Could not find the table '{self.db_schema}.{request.table}' in the"
                    " schema cache",
                )
            plan = _plan(request, query, prefer, (singular, stripped), table)
            try:
                async with conn.transaction():
                    cursor = psycopg.AsyncRawCursor(conn)
                    await cursor.execute(_SETTINGS, self._settings(request, role, claims))
                    await cursor.execute(plan.statement.sql, plan.statement.params)
                    row = await cursor.fetchone()
                    assert row is not None  # every statement returns exactly one row
                    total, page_rows, body = row
                    if singular and page_rows != 1:
                        raise postgrest.singular_error(page_rows)
            except psycopg.Error as exc:
                raise _database_error(exc, anonymous=role == self.anon_role) from None
        return plan.respond(total, page_rows, body)

    def _settings(
        self, request: RestRequest, role: str, claims: Mapping[str, Any]
    ) -> tuple[str, ...]:
        headers = {k.lower(): v for k, v in request.headers}
        return (
            role,
            orjson.dumps(dict(claims)).decode(),
            request.method,
            f"/{request.table}",
            orjson.dumps(headers).decode(),
            str(self.statement_timeout_ms),
        )


@dataclass(frozen=True, slots=True)
class _Plan:
    """A request's statement and how to turn its result row into a response."""

    statement: rest_sql.Statement
    method: str
    first: int
    singular: bool
    representation: bool
    count: bool

    def respond(self, total: int | None, page_rows: int, body: str | None) -> RestResponse:
        text = (body or "").encode()
        if self.singular and text:
            text = text[1:-1]  # json_agg of exactly one row: "[" + row + "]"
        kind = OBJECT_MEDIA_TYPE if self.singular else "application/json"
        if self.method in {"GET", "HEAD"}:
            if total is not None and self.first > total:
                return _error(
                    StoreError(
                        416,
                        "PGRST103",
                        "Requested range not satisfiable",
                        f"An offset of {self.first} was requested, but there are only"
                        f" {total} rows.",
                    ),
                    {"Content-Range": postgrest.content_range(self.first, -1, total)},
                )
            headers = {
                "Content-Range": postgrest.content_range(
                    self.first, self.first + page_rows - 1, total
                )
            }
            status = 206 if total is not None and page_rows < total else 200
            return RestResponse(status, b"" if self.method == "HEAD" else text, headers, kind)
        created = self.method == "POST"
        total = page_rows if self.count else None
        first, last = (1, 0) if created else (0, page_rows - 1)
        headers = {"Content-Range": postgrest.content_range(first, last, total)}
        if not self.representation:
            return RestResponse(201 if created else 204, headers=headers)
        return RestResponse(201 if created else 200, text, headers, kind)


def _plan(
    request: RestRequest,
    query: RestQuery,
    prefer: Mapping[str, str],
    accept: tuple[bool, bool],
    table: TableSchema,
) -> _Plan:
    """Check the request against the table and build its statement."""
    singular, stripped = accept
    embedding = postgrest.embedding_error(table.name, query)
    if embedding is not None:
        raise embedding
    target = rest_sql.Target(table.name, table.schema, table.primary_key)
    method = request.method
    count = "count" in prefer
    if method in {"GET", "HEAD"}:
        first, last = postgrest.requested_range(request.header("Range"), method, query)
        output = rest_sql.Output(body=True, count=count, singular=singular, stripped=stripped)
        statement = rest_sql.select(target, query, first, last, output)
        return _Plan(statement, method, first, singular, True, count)
    representation = prefer.get("return") == "representation"
    output = rest_sql.Output(representation, count, singular, stripped)
    known = {c.name for c in table.columns}
    if method == "POST":
        rows = postgrest.post_rows(request.body, table.name, known, query, prefer)
        _check_keys(table, known, (key for row in rows for key in row))
        resolution = {r.value: r for r in rest_sql.Resolution}.get(prefer.get("resolution", ""))
        statement = rest_sql.insert(target, query, rows, output, resolution)
    elif method in {"PATCH", "DELETE"}:
        if not query.conditions:  # Supabase runs pg-safeupdate
            verb = "UPDATE" if method == "PATCH" else "DELETE"
            raise StoreError(400, "21000", f"{verb} requires a WHERE clause")
        if method == "DELETE":
            statement = rest_sql.delete(target, query, output)
        else:
            patch = postgrest.patch_body(request.body, query)
            _check_keys(table, known, patch)
            if patch:
                statement = rest_sql.update(target, query, patch, output)
            else:  # PostgREST runs no UPDATE for an empty body: an empty page, filters checked
                quiet = rest_sql.Output(representation, False, singular, stripped)
                statement = rest_sql.select(target, query, 0, -1, quiet)
    else:
        raise StoreError(405, "PGRST117", f"Unsupported HTTP method: {method}")
    return _Plan(statement, method, 0, singular, representation, count)


def _check_keys(table: TableSchema, known: set[str], keys: Any) -> None:
    for key in keys:
        if key not in known:
            raise StoreError(
                400,
                "PGRST204",
                f"Could not find the '{key}' column of '{table.name}' in the schema cache",
            )


def _error(exc: StoreError, headers: dict[str, str] | None = None) -> RestResponse:
    return RestResponse(exc.status, orjson.dumps(exc.body()), headers or {}, "application/json")


def _database_error(exc: psycopg.Error, *, anonymous: bool) -> StoreError:
    diag = exc.diag
    sqlstate = exc.sqlstate or "XX000"
    return StoreError(
        status_of(sqlstate, anonymous=anonymous),
        sqlstate,
        diag.message_primary or str(exc),
        diag.message_detail,
        diag.message_hint,
    )
