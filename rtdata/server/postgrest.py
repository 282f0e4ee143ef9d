"""PostgREST's request language, shared by every REST backend: the query string, the
``Prefer``/``Accept``/``Range`` headers, request bodies and ``Content-Range``.

Pure functions on strings and mappings: no aiohttp, no database. Every REST backend (the
in-memory one in :mod:`rtdata.server.rest`, the Postgres one in
:mod:`rtdata.server.postgres.rest_pg`) reads requests through here, so
they answer the same request the same way up to the database.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

import orjson

from rtdata.filters import Condition, FilterError, parse_condition
from rtdata.server.limits import MAX_FILTER_BYTES, MAX_ROWS_PER_INSERT
from rtdata.server.store import Row, StoreError, filter_error

__all__ = [
    "OBJECT_MEDIA_TYPE",
    "RestQuery",
    "accept",
    "content_range",
    "embedding_error",
    "load_json",
    "parse_query",
    "patch_body",
    "post_rows",
    "prefer",
    "requested_range",
    "singular_error",
]

_IGNORED: Final = frozenset({"apikey"})  # the gateway's key parameter, not a filter
_LOGIC: Final = frozenset({"or", "and", "not.or", "not.and"})
OBJECT_MEDIA_TYPE: Final = "application/vnd.pgrst.object+json"
"""The media type that asks for one object instead of an array."""
_ARRAY_TYPES: Final = frozenset(
    {"application/json", "application/vnd.pgrst.array+json", "application/*", "*/*"}
)
_RANGE: Final = re.compile(r"^(\d+)-(\d*)$")
_LAST_ROW: Final = 2**63 - 2
"""The highest row offset a range may name: Postgres takes ``LIMIT``/``OFFSET`` as ``bigint``,
and no table has more rows, so a larger bound (of any length) means the same as this one."""


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
        StoreError: 400 ``PGRST100`` naming the parameter that does not parse; 400 ``22021``
            for a NUL byte in any name or value.
    """
    items = list(params.items()) if isinstance(params, Mapping) else list(params)
    query = RestQuery()
    for key, value in items:
        if "\x00" in key or "\x00" in value:
            # What Postgres says of a NUL byte in a text parameter; no backend may see one.
            raise StoreError(400, "22021", 'invalid byte sequence for encoding "UTF8": 0x00')
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
                _check_filter_size(key, value)
                query.conditions.append(parse_condition(key, value, dialect="postgrest"))
        except FilterError as exc:
            raise filter_error(FilterError(exc.reason, f"{key}={value}", exc.sqlstate)) from None
        except ValueError as exc:
            raise StoreError(
                400, "PGRST100", f'"failed to parse {key} ({value})"', str(exc)
            ) from None
    return query


def _check_filter_size(key: str, value: str) -> None:
    size_bytes = len(value.encode("utf-8", "surrogatepass"))
    if size_bytes > MAX_FILTER_BYTES:
        raise StoreError(
            400,
            "PGRST100",
            f'"failed to parse filter on {key[:64]!r} (a value of {size_bytes} bytes)"',
            f"a filter may be at most {MAX_FILTER_BYTES} bytes long (MAX_FILTER_BYTES)",
        )


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


# ---------------------------------------------------------------- headers


def prefer(headers: Iterable[str]) -> dict[str, str]:
    """Return the ``Prefer`` preferences of every ``Prefer`` header value, as ``key -> value``
    (``""`` for a bare token); a later value of the same key wins."""
    found: dict[str, str] = {}
    for header in headers:
        for item in header.split(","):
            key, _, value = item.strip().partition("=")
            if key:
                found[key.strip()] = value.strip()
    return found


def accept(header: str | None) -> tuple[bool, bool]:
    """Return ``(singular object wanted, nulls stripped)`` from an ``Accept`` header.

    Raises:
        StoreError: 406 ``PGRST107`` when no listed media type is served.
    """
    header = (header or "").strip()
    if not header:
        return False, False
    for part in header.split(","):
        media, *params = (p.strip().lower() for p in part.split(";"))
        stripped = "nulls=stripped" in params
        if media == OBJECT_MEDIA_TYPE:
            return True, stripped
        if media in _ARRAY_TYPES:
            return False, stripped
    raise StoreError(406, "PGRST107", f"None of these media types are available: {header}")


def requested_range(
    range_header: str | None, method: str, query: RestQuery
) -> tuple[int, int | None]:
    """Return the requested rows as ``(first, last or None)``: the ``Range`` header (read
    only for ``GET``/``HEAD``) intersected with ``offset``/``limit``. Bounds past the last
    row Postgres can address (``bigint``) are read as that row, however long their digits.

    Raises:
        StoreError: 416 ``PGRST103`` for a range whose upper bound is below its lower one.
    """
    lower, upper = 0, None
    match = _RANGE.match((range_header or "").strip())
    if match and method in {"GET", "HEAD"}:
        lower, upper = _row_offset(match[1]), _row_offset(match[2]) if match[2] else None
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
    lower = min(lower, _LAST_ROW)
    return lower, None if upper is None else min(upper, _LAST_ROW)


def _row_offset(digits: str) -> int:
    # Digits past bigint's range are read as the last row without converting them, so a long
    # header costs nothing (and never meets Python's limit on int conversion of long strings).
    significant = digits.lstrip("0") or "0"
    if len(significant) > len(str(_LAST_ROW)):
        return _LAST_ROW
    return min(int(significant), _LAST_ROW)


def content_range(lower: int, upper: int, total: int | None) -> str:
    """Return the ``Content-Range`` value for rows ``lower..upper`` of ``total`` (``None``:
    not counted), as PostgREST's ``contentRangeH`` writes it: ``*`` for the range when nothing
    is returned or the total is 0."""
    shown = f"{lower}-{upper}" if total != 0 and lower <= upper else "*"
    return f"{shown}/{'*' if total is None else total}"


def embedding_error(table: str, query: RestQuery) -> StoreError | None:
    """PostgREST's 400 ``PGRST200`` for a ``select`` that embeds another table (resource
    embedding is not supported here), or ``None`` when it embeds none."""
    if not query.embedded:
        return None
    return StoreError(
        400,
        "PGRST200",
        f"Could not find a relationship between '{table}' and '{query.embedded[0]}'"
        " in the schema cache",
    )


def singular_error(rows: int) -> StoreError:
    """Return PostgREST's 406 ``PGRST116`` for a singular request that found ``rows`` rows."""
    return StoreError(
        406,
        "PGRST116",
        "JSON object requested, multiple (or no) rows returned",
        f"The result contains {rows} rows",
    )


# ---------------------------------------------------------------- bodies


def load_json(raw: bytes) -> Any:
    """Parse a request body.

    Raises:
        StoreError: 400 ``PGRST102`` for a body that is not JSON.
    """
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise StoreError(400, "PGRST102", "Empty or invalid json") from None


def post_rows(
    raw: bytes,
    table: str,
    known_columns: Collection[str],
    query: RestQuery,
    preferences: Mapping[str, str],
) -> list[Row]:
    """Return the rows a POST body inserts, as PostgREST reads them.

    Without ``columns=``, one object or an array of objects with the same keys (any other JSON
    value inserts nothing). With ``columns=``, keys outside the list are ignored and missing
    ones are NULL, or left out (so the column default applies) under ``Prefer:
    missing=default``.

    Raises:
        StoreError: 400 ``PGRST102`` for invalid JSON or objects with different keys, 413
            ``PGRST102`` for more than :data:`rtdata.server.limits.MAX_ROWS_PER_INSERT` rows,
            400 ``PGRST204`` for a ``columns=`` name ``known_columns`` lacks.
    """
    body = load_json(raw)
    if isinstance(body, list) and len(body) > MAX_ROWS_PER_INSERT:
        raise StoreError(
            413,
            "PGRST102",
            f"Too many rows in one request: {len(body):,} (at most {MAX_ROWS_PER_INSERT:,})",
            hint="Send the rows in several requests",
        )
    if query.columns is None:
        if isinstance(body, dict):
            return [body]
        if not isinstance(body, list):
            return []  # PostgREST truncates any other JSON value to an empty array
        if body and not all(isinstance(r, dict) and r.keys() == body[0].keys() for r in body):
            raise StoreError(400, "PGRST102", "All object keys must match")
        return body
    for name in query.columns:
        if name not in known_columns:
            raise StoreError(
                400,
                "PGRST204",
                f"Could not find the '{name}' column of '{table}' in the schema cache",
            )
    rows = [body] if isinstance(body, dict) else body if isinstance(body, list) else []
    if not all(isinstance(r, dict) for r in rows):
        raise StoreError(400, "PGRST102", "All object keys must match")
    use_default = preferences.get("missing") == "default"
    return [
        {c: r.get(c) for c in query.columns if c in r or not use_default}
        for r in rows
        if isinstance(r, dict)
    ]


def patch_body(raw: bytes, query: RestQuery) -> Row:
    """Return the column values a PATCH body sets (empty for ``[]``: no update at all).

    Raises:
        StoreError: 400 ``PGRST102`` for invalid JSON or a body that is not an object.
    """
    body = load_json(raw)
    if isinstance(body, list) and not body:
        return {}
    if not isinstance(body, dict):
        raise StoreError(400, "PGRST102", "PATCH body must be a JSON object")
    if query.columns is not None:
        return {c: body.get(c) for c in query.columns}
    return body
