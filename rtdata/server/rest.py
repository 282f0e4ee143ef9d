"""The PostgREST-shaped REST path of the local server: ``/rest/v1/<table>``.

The subset supabase-py and plain HTTP clients use:

- ``GET``/``HEAD``: ``select=`` (``*``, columns, ``alias:column``), every operator of
  :mod:`rtdata.filters` (PostgREST dialect: ``*`` is ``%`` in ``like``), ``order=`` terms
  ``col[.asc|.desc][.nullsfirst|.nullslast]``, ``limit``/``offset`` and the ``Range`` header,
  ``Prefer: count=exact`` (``Content-Range``, 206 for a partial page, 416 past the end) and
  ``Accept: application/vnd.pgrst.object+json`` (one object, or 406 ``PGRST116``).
- ``POST`` of one object or an array, all or nothing; ``columns=``; ``Prefer: missing=default``;
  ``Prefer: resolution=merge-duplicates|ignore-duplicates`` with ``on_conflict=`` (upsert).
- ``PATCH``/``DELETE`` with filters; without any filter they fail like Supabase's safeupdate.
- ``Prefer: return=representation|minimal``; errors in PostgREST's JSON shape.

Deliberate differences: a query parameter that is neither reserved nor a valid filter is a 400
``PGRST100`` (PostgREST ignores some), ``or``/``and`` trees, embedding and casts are not
supported, ``count=planned|estimated`` count exactly, and ``limit`` on ``PATCH``/``DELETE`` is
ignored.

Row-level read policies plug in through ``row_filter``; writes obey row-level security for
the caller's ``claims`` in the store (see :func:`handle`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from aiohttp import web

from rtdata.server import postgrest
from rtdata.server.postgrest import OBJECT_MEDIA_TYPE, RestQuery, parse_query
from rtdata.server.schema import Column, TableSchema
from rtdata.server.store import Claims, Row, StoreError, TableStore
from rtdata.server.values import comparable, json_bytes

__all__ = ["RestQuery", "RowFilter", "error_response", "handle", "parse_query"]

RowFilter = Callable[[TableSchema, list[Row]], list[Row]]
"""``row_filter(table, rows)`` returns the rows of ``table`` the caller may read."""


def _prefer(request: web.Request) -> dict[str, str]:
    return postgrest.prefer(request.headers.getall("Prefer", []))


def _accept(request: web.Request) -> tuple[bool, bool]:
    return postgrest.accept(request.headers.get("Accept"))


def _range(request: web.Request, query: RestQuery) -> tuple[int, int | None]:
    return postgrest.requested_range(request.headers.get("Range"), request.method, query)


# ---------------------------------------------------------------- responses


def _json(
    body: Any, status: int = 200, headers: Mapping[str, str] | None = None, singular: bool = False
) -> web.Response:
    return web.Response(
        body=json_bytes(body),
        status=status,
        content_type=OBJECT_MEDIA_TYPE if singular else "application/json",
        charset="utf-8",
        headers=headers,
    )


def error_response(exc: StoreError, headers: Mapping[str, str] | None = None) -> web.Response:
    """Render a :class:`StoreError` as PostgREST does."""
    return _json(exc.body(), exc.status, headers)


def _singular_check(rows: list[Row]) -> None:
    if len(rows) != 1:
        raise postgrest.singular_error(len(rows))


def _render(rows: list[Row], table: TableSchema, query: RestQuery, stripped: bool) -> list[Row]:
    names = [c.name for c in table.columns]
    out = []
    for row in rows:
        shaped: Row = {}
        for alias, column in query.select:
            if column == "*":
                shaped.update((n, row.get(n)) for n in names)
            else:
                shaped[alias] = row.get(column)
        out.append({k: v for k, v in shaped.items() if v is not None} if stripped else shaped)
    return out


def _check_columns(table: TableSchema, query: RestQuery) -> None:
    embedding = postgrest.embedding_error(table.name, query)
    if embedding is not None:
        raise embedding
    wanted = [c for _, c in query.select if c != "*"] + [c for c, _, _ in query.order]
    for name in wanted:
        if table.column(name) is None:
            raise StoreError(400, "42703", f"column {table.name}.{name} does not exist")


# ---------------------------------------------------------------- handlers


async def handle(
    request: web.Request,
    store: TableStore,
    row_filter: RowFilter | None = None,
    claims: Claims | None = None,
) -> web.Response:
    """Serve one request on ``/rest/v1/<table>``.

    Args:
        request: The request; ``match_info["table"]`` names the table.
        store: The database.
        row_filter: The extension point for row-level read policies. When given, it is called
            as ``row_filter(table, rows)`` with the rows that match the filters and returns the
            rows the caller may see, for ``GET``/``HEAD`` (before ordering, paging and
            counting).
        claims: The caller's verified JWT claims. Writes obey the table's row-level
            security for them (see :meth:`TableStore.insert`), and the rows a write returns
            must pass its SELECT policies, as on Postgres. Reads and writes need the table
            privileges of their role (``42501`` otherwise). ``None`` reads and writes
            without RLS or privilege checks.
    """
    name = request.match_info["table"]
    try:
        query = parse_query(request.query.items())
        table = store.table(name)
        _check_columns(table, query)
        prefer = _prefer(request)
        singular, stripped = _accept(request)
        if request.method in {"GET", "HEAD"}:
            read = (singular, stripped)
            return _read(request, store, table, query, prefer, read, row_filter, claims)
        check = _singular_check if singular else None
        returning = prefer.get("return") == "representation"
        if request.method == "POST":
            rows = _payload(await request.read(), table, query, prefer)
            resolution = prefer.get("resolution")
            if resolution in {"merge-duplicates", "ignore-duplicates"}:
                written = store.upsert(
                    name,
                    rows,
                    on_conflict=query.on_conflict,
                    resolution="merge" if resolution == "merge-duplicates" else "ignore",
                    before_commit=check,
                    claims=claims,
                    returning=returning,
                )
            else:
                written = store.insert(
                    name, rows, before_commit=check, claims=claims, returning=returning
                )
        elif request.method in {"PATCH", "DELETE"}:
            if not query.conditions:
                verb = "UPDATE" if request.method == "PATCH" else "DELETE"
                raise StoreError(400, "21000", f"{verb} requires a WHERE clause")
            if request.method == "DELETE":
                written = store.delete(name, query.conditions, before_commit=check, claims=claims)
            else:
                patch = postgrest.patch_body(await request.read(), query)
                if patch:
                    written = store.update(
                        name, query.conditions, patch, before_commit=check, claims=claims
                    )
                else:  # PostgREST runs no UPDATE for an empty body, but a SELECT
                    store.select(name, query.conditions, claims=claims)
                    written = []
                    if check is not None:
                        check(written)
        else:
            raise StoreError(405, "PGRST117", f"Unsupported HTTP method: {request.method}")
        return _written(request.method, table, written, query, prefer, (singular, stripped))
    except StoreError as exc:
        return error_response(exc)


def _read(
    request: web.Request,
    store: TableStore,
    table: TableSchema,
    query: RestQuery,
    prefer: Mapping[str, str],
    accept: tuple[bool, bool],
    row_filter: RowFilter | None,
    claims: Claims | None,
) -> web.Response:
    rows = store.select(table.name, query.conditions, claims=claims)
    if row_filter is not None:
        rows = row_filter(table, rows)
    for column, descending, nulls_first in reversed(query.order):
        col = table.column(column)
        assert col is not None  # checked by _check_columns
        present = [r for r in rows if r.get(column) is not None]
        nulls = [r for r in rows if r.get(column) is None]
        present.sort(key=_sort_key(col), reverse=descending)
        rows = nulls + present if nulls_first else present + nulls
    lower, upper = _range(request, query)
    page = rows[lower:] if upper is None else rows[lower : upper + 1]
    total = len(rows) if "count" in prefer else None
    headers = {"Content-Range": postgrest.content_range(lower, lower + len(page) - 1, total)}
    if total is not None and lower > total:
        raise_range = StoreError(
            416,
            "PGRST103",
            "Requested range not satisfiable",
            f"An offset of {lower} was requested, but there are only {total} rows.",
        )
        return error_response(raise_range, headers)
    singular, stripped = accept
    if singular:
        _singular_check(page)
    status = 206 if total is not None and len(page) < total else 200
    body = _render(page, table, query, stripped)
    return _json(body[0] if singular else body, status, headers, singular)


def _sort_key(column: Column) -> Callable[[Row], Any]:
    def key(row: Row) -> Any:
        value = comparable(column, row[column.name])
        return (1, 0.0) if isinstance(value, float) and value != value else (0, value)

    return key


def _payload(
    raw: bytes, table: TableSchema, query: RestQuery, prefer: Mapping[str, str]
) -> list[Row]:
    known = {c.name for c in table.columns}
    return postgrest.post_rows(raw, table.name, known, query, prefer)


def _written(
    method: str,
    table: TableSchema,
    rows: list[Row],
    query: RestQuery,
    prefer: Mapping[str, str],
    accept: tuple[bool, bool],
) -> web.Response:
    created = method == "POST"
    total = len(rows) if "count" in prefer else None
    # PostgREST: "*/N" after an insert, "0-(n-1)/N" after an update or delete.
    first, last = (1, 0) if created else (0, len(rows) - 1)
    headers = {"Content-Range": postgrest.content_range(first, last, total)}
    if prefer.get("return") != "representation":
        return web.Response(status=201 if created else 204, headers=headers)
    singular, stripped = accept
    body = _render(rows, table, query, stripped)
    if singular:
        _singular_check(body)
    return _json(body[0] if singular else body, 201 if created else 200, headers, singular)
