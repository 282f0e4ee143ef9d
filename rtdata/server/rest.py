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

Row-level read policies plug in through ``row_filter`` (see :func:`handle`).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

import orjson
from aiohttp import web

from rtdata.filters import Condition, FilterError, parse_condition
from rtdata.server.schema import Column, TableSchema
from rtdata.server.store import Row, StoreError, TableStore, filter_error
from rtdata.server.values import comparable

__all__ = ["RestQuery", "RowFilter", "error_response", "handle", "parse_query"]

RowFilter = Callable[[TableSchema, list[Row]], list[Row]]
"""``row_filter(table, rows)`` returns the rows of ``table`` the caller may read."""

_RESERVED: Final = frozenset({"select", "order", "limit", "offset", "on_conflict", "columns"})
_IGNORED: Final = frozenset({"apikey"})  # the gateway's key parameter, not a filter
_LOGIC: Final = frozenset({"or", "and", "not.or", "not.and"})
_OBJECT: Final = "application/vnd.pgrst.object+json"
_ARRAY_TYPES: Final = frozenset(
    {"application/json", "application/vnd.pgrst.array+json", "application/*", "*/*"}
)
_RANGE: Final = re.compile(r"^(\d+)-(\d*)$")


@dataclass
class RestQuery:
    """A parsed PostgREST query string.

    Attributes:
        select: ``(output name, column)`` pairs; ``("*", "*")`` stands for every column.
        embedded: Names of embedded resources asked for in ``select`` (not supported).
        conditions: Filters, ANDed.
        order: ``(column, descending, nulls_first)`` terms.
        limit: Row limit, or ``None``.
        offset: Rows to skip, or ``None``.
        on_conflict: The ``on_conflict`` columns, or ``None``.
        columns: The ``columns`` parameter, or ``None``.
    """

    select: list[tuple[str, str]] = field(default_factory=lambda: [("*", "*")])
    embedded: list[str] = field(default_factory=list)
    conditions: list[Condition] = field(default_factory=list)
    order: list[tuple[str, bool, bool]] = field(default_factory=list)
    limit: int | None = None
    offset: int | None = None
    on_conflict: list[str] | None = None
    columns: list[str] | None = None


def parse_query(params: Mapping[str, str] | Iterable[tuple[str, str]]) -> RestQuery:
    """Parse query parameters into a :class:`RestQuery`.

    Raises:
        StoreError: 400 ``PGRST100`` naming the parameter that does not parse.
    """
    items = list(params.items()) if isinstance(params, Mapping) else list(params)
    query = RestQuery()
    for key, value in items:
        try:
            if key == "select":
                _parse_select(value, query)
            elif key == "order":
                query.order = [_order_term(term) for term in _split(value)]
            elif key in {"limit", "offset"}:
                number = int(value)
                if number < 0:
                    raise ValueError(f"{key} must be >= 0")
                setattr(query, key, number)
            elif key == "on_conflict":
                query.on_conflict = [_name(n) for n in _split(value)]
            elif key == "columns":
                query.columns = [_name(n) for n in _split(value)]
            elif key in _LOGIC:
                raise ValueError("or/and filters are not supported by the local server")
            elif key not in _IGNORED:
                query.conditions.append(parse_condition(key, value, dialect="postgrest"))
        except FilterError as exc:
            raise filter_error(FilterError(exc.reason, f"{key}={value}", exc.sqlstate)) from None
        except ValueError as exc:
            raise StoreError(
                400, "PGRST100", f'"failed to parse {key} ({value})"', str(exc)
            ) from None
    return query


def _split(text: str) -> list[str]:
    # Commas outside double quotes and parentheses separate items.
    parts, current, depth, quoted = [], "", 0, False
    for ch in text:
        quoted = not quoted if ch == '"' else quoted
        depth += (ch == "(") - (ch == ")") if not quoted else 0
        if ch == "," and not quoted and depth == 0:
            parts.append(current.strip())
            current = ""
        else:
            current += ch
    parts.append(current.strip())
    if any(not p for p in parts):
        raise ValueError("empty item")
    return parts


def _name(text: str) -> str:
    text = text.strip()
    if len(text) >= 2 and text[0] == text[-1] == '"':
        return re.sub(r"\\(.)", r"\1", text[1:-1])
    if not text:
        raise ValueError("empty name")
    return text


def _parse_select(value: str, query: RestQuery) -> None:
    query.select, query.embedded = [], []
    for item in _split(value) if value.strip() else ["*"]:
        if "(" in item:
            query.embedded.append(_name(item.split("(")[0].split(":")[-1].split("!")[0]))
        elif "::" in item or "->" in item:
            raise ValueError("casts and JSON paths in select are not supported by the local server")
        elif item == "*":
            query.select.append(("*", "*"))
        else:
            alias, colon, column = item.partition(":")
            query.select.append((_name(alias), _name(column)) if colon else (_name(item),) * 2)


def _order_term(term: str) -> tuple[str, bool, bool]:
    column, *modifiers = term.split(".")
    direction = modifiers.pop(0) if modifiers and modifiers[0] in {"asc", "desc"} else "asc"
    nulls = modifiers.pop(0) if modifiers and modifiers[0] in {"nullsfirst", "nullslast"} else ""
    if modifiers or not column.strip():
        raise ValueError(
            f'bad order term {term!r}: expecting "asc", "desc", "nullsfirst" or "nullslast"'
        )
    descending = direction == "desc"
    # Postgres puts NULLs last ascending and first descending unless told otherwise.
    nulls_first = nulls == "nullsfirst" or (descending and nulls != "nullslast")
    return _name(column), descending, nulls_first


# ---------------------------------------------------------------- request headers


def _prefer(request: web.Request) -> dict[str, str]:
    prefer: dict[str, str] = {}
    for header in request.headers.getall("Prefer", []):
        for item in header.split(","):
            key, _, value = item.strip().partition("=")
            if key:
                prefer[key.strip()] = value.strip()
    return prefer


def _accept(request: web.Request) -> tuple[bool, bool]:
    """Return (singular object wanted, nulls stripped) from ``Accept``."""
    header = request.headers.get("Accept", "").strip()
    if not header:
        return False, False
    for part in header.split(","):
        media, *params = (p.strip().lower() for p in part.split(";"))
        stripped = "nulls=stripped" in params
        if media == _OBJECT:
            return True, stripped
        if media in _ARRAY_TYPES:
            return False, stripped
    raise StoreError(406, "PGRST107", f"None of these media types are available: {header}")


def _range(request: web.Request, query: RestQuery) -> tuple[int, int | None]:
    """Return the requested rows as (first, last or None): the ``Range`` header intersected
    with ``offset``/``limit``."""
    lower, upper = 0, None
    match = _RANGE.match(request.headers.get("Range", "").strip())
    if match and request.method in {"GET", "HEAD"}:
        lower, upper = int(match[1]), int(match[2]) if match[2] else None
        if upper is not None and upper < lower:
            raise StoreError(
                416,
                "PGRST103",
                "Requested range not satisfiable",
                "The lower boundary must be lower than or equal to the upper boundary in the"
                " Range header.",
            )
    if query.offset is not None:
        lower = max(lower, query.offset)
    if query.limit is not None:
        last = (query.offset or 0) + query.limit - 1
        upper = last if upper is None else min(upper, last)
    return lower, upper


# ---------------------------------------------------------------- responses


def _json(
    body: Any, status: int = 200, headers: Mapping[str, str] | None = None, singular: bool = False
) -> web.Response:
    return web.Response(
        body=orjson.dumps(body),
        status=status,
        content_type=_OBJECT if singular else "application/json",
        charset="utf-8",
        headers=headers,
    )


def error_response(exc: StoreError, headers: Mapping[str, str] | None = None) -> web.Response:
    """Render a :class:`StoreError` as PostgREST does."""
    return _json(exc.body(), exc.status, headers)


def _singular_check(rows: list[Row]) -> None:
    if len(rows) != 1:
        raise StoreError(
            406,
            "PGRST116",
            "JSON object requested, multiple (or no) rows returned",
            f"The result contains {len(rows)} rows",
        )


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
    if query.embedded:
        raise StoreError(
            400,
            "PGRST200",
            f"Could not find a relationship between '{table.name}' and '{query.embedded[0]}'"
            " in the schema cache",
        )
    wanted = [c for _, c in query.select if c != "*"] + [c for c, _, _ in query.order]
    for name in wanted:
        if table.column(name) is None:
            raise StoreError(400, "42703", f"column {table.name}.{name} does not exist")


# ---------------------------------------------------------------- handlers


async def handle(
    request: web.Request, store: TableStore, row_filter: RowFilter | None = None
) -> web.Response:
    """Serve one request on ``/rest/v1/<table>``.

    Args:
        request: The request; ``match_info["table"]`` names the table.
        store: The database.
        row_filter: The extension point for row-level read policies. When given, it is called
            as ``row_filter(table, rows)`` with the rows that match the filters and returns the
            rows the caller may see. It applies to every read: ``GET``/``HEAD`` (before
            ordering, paging and counting) and the rows a write returns with
            ``return=representation``. It does not yet narrow which rows a write affects.
    """
    name = request.match_info["table"]
    try:
        query = parse_query(request.query.items())
        table = store.table(name)
        _check_columns(table, query)
        prefer = _prefer(request)
        singular, stripped = _accept(request)
        if request.method in {"GET", "HEAD"}:
            return _read(request, store, table, query, prefer, (singular, stripped), row_filter)
        check = _singular_check if singular else None
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
                )
            else:
                written = store.insert(name, rows, before_commit=check)
        elif request.method in {"PATCH", "DELETE"}:
            if not query.conditions:
                verb = "UPDATE" if request.method == "PATCH" else "DELETE"
                raise StoreError(400, "21000", f"{verb} requires a WHERE clause")
            if request.method == "DELETE":
                written = store.delete(name, query.conditions, before_commit=check)
            else:
                patch = _patch(await request.read(), query)
                if patch:
                    written = store.update(name, query.conditions, patch, before_commit=check)
                else:  # PostgREST runs no UPDATE for an empty body
                    store.check_conditions(name, query.conditions)
                    written = []
                    if check is not None:
                        check(written)
        else:
            raise StoreError(405, "PGRST117", f"Unsupported HTTP method: {request.method}")
        return _written(
            request.method, table, written, query, prefer, (singular, stripped), row_filter
        )
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
) -> web.Response:
    rows = store.select(table.name, query.conditions)
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
    headers = {"Content-Range": _content_range(lower, lower + len(page) - 1, total)}
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


def _content_range(lower: int, upper: int, total: int | None) -> str:
    # PostgREST's contentRangeH: "*" for the range when nothing is returned or the total is 0.
    shown = f"{lower}-{upper}" if total != 0 and lower <= upper else "*"
    return f"{shown}/{'*' if total is None else total}"


def _sort_key(column: Column) -> Callable[[Row], Any]:
    def key(row: Row) -> Any:
        value = comparable(column, row[column.name])
        return (1, 0.0) if isinstance(value, float) and value != value else (0, value)

    return key


def _load(raw: bytes) -> Any:
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise StoreError(400, "PGRST102", "Empty or invalid json") from None


def _payload(
    raw: bytes, table: TableSchema, query: RestQuery, prefer: Mapping[str, str]
) -> list[Row]:
    """Return the rows a POST body inserts, as PostgREST reads them."""
    body = _load(raw)
    if query.columns is None:
        if isinstance(body, dict):
            return [body]
        if not isinstance(body, list):
            return []  # PostgREST truncates any other JSON value to an empty array
        if body and not all(isinstance(r, dict) and r.keys() == body[0].keys() for r in body):
            raise StoreError(400, "PGRST102", "All object keys must match")
        return body
    for name in query.columns:
        if table.column(name) is None:
            raise StoreError(
                400,
                "PGRST204",
                f"Could not find the '{name}' column of '{table.name}' in the schema cache",
            )
    rows = [body] if isinstance(body, dict) else body if isinstance(body, list) else []
    if not all(isinstance(r, dict) for r in rows):
        raise StoreError(400, "PGRST102", "All object keys must match")
    # With columns=, keys outside the list are ignored and missing ones are NULL (json
    # populate semantics) unless Prefer: missing=default asks for the column default.
    use_default = prefer.get("missing") == "default"
    return [
        {c: r.get(c) for c in query.columns if c in r or not use_default}
        for r in rows
        if isinstance(r, dict)
    ]


def _patch(raw: bytes, query: RestQuery) -> Row:
    body = _load(raw)
    if isinstance(body, list) and not body:
        return {}
    if not isinstance(body, dict):
        raise StoreError(400, "PGRST102", "PATCH body must be a JSON object")
    if query.columns is not None:
        return {c: body.get(c) for c in query.columns}
    return body


def _written(
    method: str,
    table: TableSchema,
    rows: list[Row],
    query: RestQuery,
    prefer: Mapping[str, str],
    accept: tuple[bool, bool],
    row_filter: RowFilter | None,
) -> web.Response:
    created = method == "POST"
    total = len(rows) if "count" in prefer else None
    # PostgREST: "*/N" after an insert, "0-(n-1)/N" after an update or delete.
    first, last = (1, 0) if created else (0, len(rows) - 1)
    headers = {"Content-Range": _content_range(first, last, total)}
    if prefer.get("return") != "representation":
        return web.Response(status=201 if created else 204, headers=headers)
    visible = row_filter(table, rows) if row_filter is not None else rows
    singular, stripped = accept
    body = _render(visible, table, query, stripped)
    if singular:
        _singular_check(body)
    return _json(body[0] if singular else body, 201 if created else 200, headers, singular)
