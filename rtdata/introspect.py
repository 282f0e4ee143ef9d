"""A project's tables and columns, learnt from the REST schema PostgREST serves.

PostgREST describes every exposed table at ``GET /rest/v1/`` as an OpenAPI 2.0 (Swagger)
document: one ``definitions`` entry per table, one property per column whose ``format`` is the
Postgres type, ``required`` for the ``NOT NULL`` columns and key notes in ``description``
(``<pk/>``, ``<fk table='t' column='c'/>``). :func:`parse_openapi` reads such a document into
a :class:`ProjectSchema` (pure); :func:`fetch_schema` and :func:`fetch_schema_async` fetch it;
:func:`schema_from_migrations` builds the same from SQL migrations, without a server; and
:func:`bindings_for` turns a schema into the channel bindings of a collector that follows
every table.

Supabase serves ``/rest/v1/`` only to a secret (``service_role``) key; an anon key is refused
with 401 or 403, which :class:`IntrospectionRefused` reports.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Final

import httpx

from rtdata.config import Binding

if TYPE_CHECKING:
    from rtdata.server.schema import Schema

__all__ = [
    "OPENAPI_ACCEPT",
    "RESYNC_COLUMN",
    "ColumnInfo",
    "IntrospectionError",
    "IntrospectionRefused",
    "ProjectSchema",
    "TableInfo",
    "bindings_for",
    "fetch_schema",
    "fetch_schema_async",
    "parse_openapi",
    "schema_from_migrations",
]

OPENAPI_ACCEPT: Final = "application/openapi+json"
"""The ``Accept`` header that asks PostgREST's root for its OpenAPI document."""

RESYNC_COLUMN: Final = "updated_at"
"""The column :func:`bindings_for` picks as a table's resync column when it is a timestamp."""

_TIMESTAMPS: Final = frozenset({"timestamp with time zone", "timestamp without time zone"})
_FOREIGN_KEY: Final = re.compile(r"<fk table='([^']*)' column='([^']*)'/>")
_PRIMARY_KEY: Final = "<pk/>"


class IntrospectionError(ValueError):
    """The REST schema could not be read or is not PostgREST's OpenAPI document.

    The message names the URL and the problem, never the key.
    """


class IntrospectionRefused(IntrospectionError):
    """The server refused the key (HTTP 401 or 403); retrying with the same key will not help."""


@dataclass(frozen=True)
class ColumnInfo:
    """One column as the REST schema describes it.

    Attributes:
        name: Column name.
        pg_type: Postgres type name as PostgREST's ``format`` gives it (``bigint``, ``text``,
            ``timestamp with time zone``, ``integer[]``, an enum's name); empty when the
            document gives none.
        nullable: False for a ``NOT NULL`` column (PostgREST's ``required``).
        enum_values: The labels of the column's enum type, in order; empty for other columns
            (and for arrays of an enum, whose labels PostgREST does not list).
        foreign_key: ``(table, column)`` a single-column foreign key references, or ``None``.
        has_default: Whether the document shows a default (PostgREST leaves out defaults that
            are not JSON values, such as an identity column's ``nextval(...)``).
    """

    name: str
    pg_type: str
    nullable: bool = True
    enum_values: tuple[str, ...] = ()
    foreign_key: tuple[str, str] | None = None
    has_default: bool = False

    @property
    def is_timestamp(self) -> bool:
        """Whether the column is a ``timestamp`` with or without time zone."""
        return self.pg_type in _TIMESTAMPS


@dataclass(frozen=True)
class TableInfo:
    """One table (or view) as the REST schema describes it.

    Attributes:
        name: Table name.
        columns: Columns by name, in the table's column order (a read-only mapping).
        primary_key: Primary-key columns in column order (the document does not tell the
            constraint's order); empty for a view or a table without one.
    """

    name: str
    columns: Mapping[str, ColumnInfo] = field(hash=False)
    primary_key: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "columns", MappingProxyType(dict(self.columns)))
        missing = [c for c in self.primary_key if c not in self.columns]
        if missing:
            raise IntrospectionError(
                f"table {self.name!r}: primary-key columns {missing} are not among its columns"
            )


@dataclass(frozen=True)
class ProjectSchema:
    """Every table a project exposes over REST.

    Attributes:
        tables: Tables by name, in the document's order (a read-only mapping).
    """

    tables: Mapping[str, TableInfo] = field(hash=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "tables", MappingProxyType(dict(self.tables)))

    def columns(self, table: str) -> tuple[str, ...]:
        """Return the column names of ``table`` in order.

        Raises:
            KeyError: The schema has no such table; the message lists the ones it has.
        """
        found = self.tables.get(table)
        if found is None:
            raise KeyError(f"no table {table!r} in the REST schema (it has {sorted(self.tables)})")
        return tuple(found.columns)

    def has_column(self, table: str, column: str) -> bool:
        """Tell whether ``table`` exists and has ``column``."""
        found = self.tables.get(table)
        return found is not None and column in found.columns

    def keyless(self) -> tuple[str, ...]:
        """Return the tables without a primary key (views, mostly), in order."""
        return tuple(name for name, table in self.tables.items() if not table.primary_key)


# ------------------------------------------------------------ the document (pure)


def parse_openapi(document: Mapping[str, Any]) -> ProjectSchema:
    """Read PostgREST's OpenAPI 2.0 document into a :class:`ProjectSchema`.

    Tolerant of what real servers send: a view has no primary key and maybe no ``required``,
    a property may lack ``format`` (its ``pg_type`` is then empty), and unknown fields are
    ignored.

    Raises:
        IntrospectionError: The document is not PostgREST's OpenAPI 2.0 document, or a
            definition is not shaped like one; the message says which part.
    """
    if not isinstance(document, Mapping):
        raise IntrospectionError(
            f"the REST schema is a JSON {type(document).__name__}, not an object"
        )
    if document.get("swagger") != "2.0":
        version = document.get("openapi")
        what = f"OpenAPI {version}" if version is not None else "a document without swagger: 2.0"
        raise IntrospectionError(f"the REST schema is {what}, not PostgREST's OpenAPI 2.0")
    definitions = document.get("definitions", {})  # left out when nothing is exposed
    if not isinstance(definitions, Mapping):
        raise IntrospectionError("the REST schema's definitions is not an object")
    return ProjectSchema({name: _table(name, body) for name, body in definitions.items()})


def _table(name: str, body: Any) -> TableInfo:
    if not isinstance(body, Mapping):
        raise IntrospectionError(f"definition {name!r} is not an object")
    properties = body.get("properties", {})
    required = body.get("required", [])
    if not isinstance(properties, Mapping):
        raise IntrospectionError(f"definition {name!r}: properties is not an object")
    if not isinstance(required, list) or not all(isinstance(r, str) for r in required):
        raise IntrospectionError(f"definition {name!r}: required is not a list of names")
    columns: dict[str, ColumnInfo] = {}
    primary_key: list[str] = []
    for column, prop in properties.items():
        if not isinstance(prop, Mapping):
            raise IntrospectionError(f"definition {name!r}: property {column!r} is not an object")
        note = prop.get("description")
        note = note if isinstance(note, str) else ""
        format_ = prop.get("format")
        labels = prop.get("enum")
        fk = _FOREIGN_KEY.search(note)
        columns[column] = ColumnInfo(
            name=column,
            pg_type=format_ if isinstance(format_, str) else "",
            nullable=column not in required,
            enum_values=tuple(str(v) for v in labels) if isinstance(labels, list) else (),
            foreign_key=(fk.group(1), fk.group(2)) if fk else None,
            has_default="default" in prop,
        )
        if _PRIMARY_KEY in note:
            primary_key.append(column)
    return TableInfo(name, columns, tuple(primary_key))


def bindings_for(schema: ProjectSchema, db_schema: str = "public") -> tuple[Binding, ...]:
    """Return one all-events binding per table of ``schema`` that has a primary key.

    Tables without one (see :meth:`ProjectSchema.keyless`) are left out: their rows have no
    key to be kept by. A table whose :data:`RESYNC_COLUMN` is a timestamp gets it as its
    resync column; others get none.

    Args:
        schema: The project's tables.
        db_schema: The Postgres schema the tables live in.
    """
    return tuple(
        Binding(
            table.name,
            db_schema,
            primary_key=table.primary_key,
            resync_column=RESYNC_COLUMN if _resyncable(table) else None,
        )
        for table in schema.tables.values()
        if table.primary_key
    )


def _resyncable(table: TableInfo) -> bool:
    column = table.columns.get(RESYNC_COLUMN)
    return column is not None and column.is_timestamp


# ------------------------------------------------------------ migrations


def schema_from_migrations(path: str | Path, db_schema: str = "public") -> ProjectSchema:
    """Return the :class:`ProjectSchema` PostgREST would serve for a set of SQL migrations.

    Reads them with :func:`rtdata.server.schema.load_schema` (a file, or a folder's ``*.sql``
    in name order) and describes the tables of ``db_schema`` as the local server's
    ``/rest/v1/`` does.

    Raises:
        IntrospectionError: The migrations cannot be read (the message names file, line and
            problem).
    """
    from rtdata.server.schema import SchemaError, load_schema

    try:
        schema = load_schema(path)
    except SchemaError as exc:
        raise IntrospectionError(str(exc)) from exc
    return _from_schema(schema, db_schema)


def _from_schema(schema: Schema, db_schema: str) -> ProjectSchema:
    from rtdata.server import openapi

    tables: dict[str, TableInfo] = {}
    for table in schema.tables.values():
        if table.schema != db_schema:
            continue
        columns = {
            c.name: ColumnInfo(
                name=c.name,
                pg_type=openapi.format_name(c),
                nullable=c.nullable,
                enum_values=() if c.type.startswith("_") else c.enum_values,
                foreign_key=openapi.foreign_key_of(table, c.name),
                has_default=openapi.json_default(c)[0],
            )
            for c in table.columns
        }
        primary_key = tuple(c for c in columns if c in table.primary_key)
        tables[table.name] = TableInfo(table.name, columns, primary_key)
    return ProjectSchema(tables)


# ------------------------------------------------------------ over HTTP


def _endpoint(url: str) -> str:
    return url.rstrip("/") + "/rest/v1/"


def _headers(key: str, token: str | None) -> dict[str, str]:
    """The request's headers.

    Raises:
        IntrospectionRefused: The key or token holds characters no HTTP header can carry
            (the message does not show them).
    """
    for name, secret in (("key", key), ("token", token)):
        if secret is not None and not (secret.isascii() and secret.isprintable()):
            raise IntrospectionRefused(
                f"the {name} holds characters an HTTP header cannot carry (not shown); "
                "check SUPABASE_KEY"
            )
    return {
        "apikey": key,
        "Authorization": f"Bearer {token or key}",
        "Accept": OPENAPI_ACCEPT,
    }


def _redact(text: str, *secrets: str | None) -> str:
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text


def _failure(
    endpoint: str, exc: httpx.HTTPError | httpx.InvalidURL, *secrets: str | None
) -> IntrospectionError:
    detail = _redact(str(exc), *secrets)
    return IntrospectionError(
        f"cannot read the REST schema at {endpoint}: {type(exc).__name__}"
        + (f": {detail}" if detail else "")
    )


def _read(endpoint: str, response: httpx.Response) -> ProjectSchema:
    """Turn the answer of ``GET /rest/v1/`` into a schema, or a typed error."""
    status = response.status_code
    if status in (401, 403):
        raise IntrospectionRefused(
            f"{endpoint} refused the key (HTTP {status}); Supabase serves the REST schema"
            " only to a secret (service_role) key"
        )
    if status != 200:
        raise IntrospectionError(f"{endpoint} answered HTTP {status}, not the REST schema")
    try:
        document = response.json()
    except ValueError:
        content_type = response.headers.get("content-type", "no content type")
        raise IntrospectionError(f"{endpoint} did not answer JSON ({content_type})") from None
    try:
        return parse_openapi(document)
    except IntrospectionError as exc:
        raise IntrospectionError(f"{endpoint}: {exc}") from None


def fetch_schema(
    url: str, key: str, *, timeout_s: float = 10.0, token: str | None = None
) -> ProjectSchema:
    """Fetch and parse the REST schema of the project at ``url``.

    Args:
        url: Project URL such as ``https://<ref>.supabase.co``.
        key: API key, sent as ``apikey`` (and as the bearer token unless ``token`` is given).
        timeout_s: Network timeout of the request.
        token: A user access token to send as ``Authorization: Bearer`` instead of ``key``.

    Raises:
        IntrospectionRefused: The server refused the key (HTTP 401 or 403).
        IntrospectionError: The network failed, the server answered another error or not
            JSON, or the document is not PostgREST's. The message names the URL, never the key.
    """
    endpoint = _endpoint(url)
    try:
        with httpx.Client(timeout=timeout_s) as client:
            response = client.get(endpoint, headers=_headers(key, token))
    except (httpx.HTTPError, httpx.InvalidURL) as exc:
        raise _failure(endpoint, exc, key, token) from None
    return _read(endpoint, response)


async def fetch_schema_async(
    url: str,
    key: str,
    *,
    timeout_s: float = 10.0,
    token: str | None = None,
    client: httpx.AsyncClient | None = None,
) -> ProjectSchema:
    """Fetch and parse the REST schema like :func:`fetch_schema`, on an event loop.

    Args:
        url: Project URL.
        key: API key.
        timeout_s: Network timeout of the request.
        token: A user access token to send instead of ``key`` as the bearer token.
        client: An open client to send the request with; a new one when omitted.

    Raises:
        IntrospectionRefused: The server refused the key (HTTP 401 or 403).
        IntrospectionError: As :func:`fetch_schema`.
    """
    endpoint = _endpoint(url)
    try:
        if client is not None:
            response = await client.get(endpoint, headers=_headers(key, token), timeout=timeout_s)
        else:
            async with httpx.AsyncClient(timeout=timeout_s) as own:
                response = await own.get(endpoint, headers=_headers(key, token))
    except (httpx.HTTPError, httpx.InvalidURL) as exc:
        raise _failure(endpoint, exc, key, token) from None
    return _read(endpoint, response)
