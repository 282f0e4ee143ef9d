"""The PostgREST-shaped REST path of the local server: ``/rest/v1/<table>``.

Supported now: ``GET`` with ``select=``, ``col=op.value`` filters, ``order=``, ``limit``,
``offset`` and ``Prefer: count=exact``; ``POST`` of one object or an array; ``PATCH`` and
``DELETE`` with filters; ``Prefer: return=representation|minimal``. Errors use PostgREST's
JSON shape (``code``, ``message``, ``details``, ``hint``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import orjson
from aiohttp import web

from rtdata.filters import Condition, FilterError, parse_condition
from rtdata.server.schema import Column, comparable
from rtdata.server.store import Row, StoreError, TableStore

__all__ = ["RestQuery", "handle", "parse_query"]

_RESERVED = {"select", "order", "limit", "offset", "on_conflict", "columns"}


class RestQuery:
    """A parsed PostgREST query string.

    Attributes:
        columns: Selected columns, or ``None`` for ``*``.
        conditions: Filters, ANDed.
        order: ``(column, descending, nulls_first)`` terms.
        limit: Row limit, or ``None``.
        offset: Rows to skip.
    """

    def __init__(self) -> None:
        self.columns: list[str] | None = None
        self.conditions: list[Condition] = []
        self.order: list[tuple[str, bool, bool]] = []
        self.limit: int | None = None
        self.offset = 0


def parse_query(params: Mapping[str, str] | list[tuple[str, str]]) -> RestQuery:
    """Parse query parameters into a :class:`RestQuery`.

    Raises:
        StoreError: 400 ``PGRST100`` naming the parameter that does not parse.
    """
    items = list(params.items()) if isinstance(params, Mapping) else list(params)
    query = RestQuery()
    for key, value in items:
        try:
            if key == "select":
                names = [c.strip() for c in value.split(",") if c.strip()]
                query.columns = None if names in ([], ["*"]) else names
            elif key == "order":
                query.order = [_order_term(term) for term in value.split(",") if term]
            elif key == "limit":
                query.limit = _non_negative(key, value)
            elif key == "offset":
                query.offset = _non_negative(key, value)
            elif key not in _RESERVED:
                query.conditions.append(parse_condition(key, value))
        except (FilterError, ValueError) as exc:
            raise StoreError(
                400, "PGRST100", f'"failed to parse {key} ({value})"', str(exc)
            ) from None
    return query


def _non_negative(key: str, value: str) -> int:
    number = int(value)
    if number < 0:
        raise ValueError(f"{key} must be >= 0")
    return number


def _order_term(term: str) -> tuple[str, bool, bool]:
    parts = term.split(".")
    column, modifiers = parts[0], parts[1:]
    descending = "desc" in modifiers
    unknown = set(modifiers) - {"asc", "desc", "nullsfirst", "nullslast"}
    if not column or unknown:
        raise ValueError(f"bad order term {term!r}")
    # Postgres puts NULLs last ascending and first descending unless told otherwise.
    nulls_first = "nullsfirst" in modifiers or (descending and "nullslast" not in modifiers)
    return column, descending, nulls_first


def _prefer(request: web.Request) -> set[str]:
    return {p.strip() for p in request.headers.get("Prefer", "").split(",") if p.strip()}


def _json(body: Any, status: int = 200, headers: Mapping[str, str] | None = None) -> web.Response:
    return web.Response(
        body=orjson.dumps(body), status=status, content_type="application/json", headers=headers
    )


def error_response(exc: StoreError) -> web.Response:
    """Render a :class:`StoreError` as PostgREST does."""
    return _json(exc.body(), exc.status)


async def handle(request: web.Request, store: TableStore) -> web.Response:
    """Serve one request on ``/rest/v1/<table>``."""
    name = request.match_info["table"]
    try:
        query = parse_query(list(request.query.items()))
        table = store.table(name)
        prefer = _prefer(request)
        if request.method in {"GET", "HEAD"}:
            return _select(store, name, query, prefer)
        body: Any = None
        if request.method in {"POST", "PATCH"}:
            try:
                body = orjson.loads(await request.read())
            except orjson.JSONDecodeError as exc:
                raise StoreError(400, "PGRST102", "Empty or invalid json", str(exc)) from None
        if request.method == "POST":
            rows = body if isinstance(body, list) else [body]
            if not all(isinstance(r, dict) for r in rows):
                raise StoreError(400, "PGRST102", "All object keys must match")
            written = store.insert(table.name, rows)
            return _written(written, query, prefer, created=True)
        if request.method == "PATCH":
            if not isinstance(body, dict):
                raise StoreError(400, "PGRST102", "PATCH body must be a JSON object")
            return _written(store.update(name, query.conditions, body), query, prefer)
        if request.method == "DELETE":
            return _written(store.delete(name, query.conditions), query, prefer)
        raise StoreError(405, "PGRST117", f"Unsupported HTTP method: {request.method}")
    except StoreError as exc:
        return error_response(exc)


def _written(
    rows: list[Row], query: RestQuery, prefer: set[str], *, created: bool = False
) -> web.Response:
    if "return=representation" in prefer:
        return _json(_project(rows, query.columns), 201 if created else 200)
    return web.Response(status=201 if created else 204)


def _select(store: TableStore, name: str, query: RestQuery, prefer: set[str]) -> web.Response:
    table = store.table(name)
    rows = store.select(name, query.conditions)
    for column, descending, nulls_first in reversed(query.order):
        col = table.column(column)
        if col is None:
            raise StoreError(400, "42703", f"column {name}.{column} does not exist")
        present = [r for r in rows if r.get(column) is not None]
        nulls = [r for r in rows if r.get(column) is None]
        present.sort(key=_sort_key(col), reverse=descending)
        rows = nulls + present if nulls_first else present + nulls
    total = len(rows)
    rows = rows[query.offset :]
    if query.limit is not None:
        rows = rows[: query.limit]
    if query.columns is not None:
        for column in query.columns:
            if table.column(column) is None:
                raise StoreError(400, "42703", f"column {name}.{column} does not exist")
    end = query.offset + len(rows) - 1
    range_text = f"{query.offset}-{end}" if rows else "*"
    count = str(total) if "count=exact" in prefer else "*"
    return _json(_project(rows, query.columns), headers={"Content-Range": f"{range_text}/{count}"})


def _sort_key(column: Column) -> Callable[[Row], Any]:
    def key(row: Row) -> Any:
        return comparable(column, row[column.name])

    return key


def _project(rows: list[Row], columns: list[str] | None) -> list[Row]:
    if columns is None:
        return rows
    return [{c: r.get(c) for c in columns} for r in rows]
