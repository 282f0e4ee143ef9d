"""The local server's REST schema: PostgREST's OpenAPI 2.0 document, served at ``/rest/v1/``.

The shape follows PostgREST's own encoder (``src/PostgREST/Response/OpenAPI.hs``):

- ``definitions`` has one object per table: ``required`` lists every ``NOT NULL`` column
  (PostgREST lists them even when they have a default; an empty list is left out), and each
  property has ``format`` (the Postgres type as ``format_type()`` names it: ``bigint``,
  ``timestamp with time zone``, ``text[]``, an enum's own name), ``type`` (``integer``,
  ``number``, ``string``, ``boolean`` or ``array``; none for ``json``/``jsonb``), ``items`` for
  arrays, ``enum`` with an enum type's labels, ``default`` when the default is a JSON value
  (see :func:`json_default`) and a ``description`` note for keys:
  ``"Note:\\nThis is a Primary Key.<pk/>"`` and, for a single-column foreign key,
  ``"This is a Foreign Key to `table.column`.<fk table='table' column='column'/>"`` on its own
  line after it.
- ``paths`` has ``/`` (this document) and ``/{table}`` with ``get``, ``post``, ``patch`` and
  ``delete``, whose ``parameters`` point into the shared ``parameters`` section.

Everything here is pure: a :class:`rtdata.server.schema.Schema` in, a JSON-ready dict out.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError

from rtdata.server.schema import Column, Schema, TableSchema

__all__ = [
    "OPENAPI_MEDIA_TYPE",
    "acceptable",
    "definition",
    "description",
    "document",
    "foreign_key_of",
    "format_name",
    "json_default",
    "swagger_type",
]

OPENAPI_MEDIA_TYPE: Final = "application/openapi+json"
"""The media type PostgREST answers ``GET /`` with."""

_FORMATS: Final[Mapping[str, str]] = {
    "int2": "smallint",
    "int4": "integer",
    "int8": "bigint",
    "numeric": "numeric",
    "float4": "real",
    "float8": "double precision",
    "text": "text",
    "varchar": "character varying",
    "bpchar": "character",
    "bool": "boolean",
    "uuid": "uuid",
    "timestamptz": "timestamp with time zone",
    "timestamp": "timestamp without time zone",
    "date": "date",
    "json": "json",
    "jsonb": "jsonb",
}
# PostgREST's toSwaggerType: these names map as listed, json has no type, "x[]" is an array and
# every other name (dates, uuid, enums, ...) is a string.
_SWAGGER_TYPES: Final[Mapping[str, str | None]] = {
    "character varying": "string",
    "character": "string",
    "text": "string",
    "boolean": "boolean",
    "smallint": "integer",
    "integer": "integer",
    "bigint": "integer",
    "numeric": "number",
    "real": "number",
    "double precision": "number",
    "json": None,
    "jsonb": None,
}
_ANSWERS: Final = (
    "application/json",
    "application/vnd.pgrst.object+json;nulls=stripped",
    "application/vnd.pgrst.object+json",
    "text/csv",
)
_ACCEPTED: Final = frozenset({OPENAPI_MEDIA_TYPE, "application/json", "application/*", "*/*"})
_NO_DEFAULT: Final = object()


def format_name(column: Column) -> str:
    """Return the type name PostgREST shows as ``column``'s ``format``: Postgres's
    ``format_type()`` without modifiers (``bigint``, ``character varying``, ``integer[]``),
    or the enum's own name for an enum column."""
    if column.type.startswith("_"):
        return format_name(Column(column.name, column.type[1:])) + "[]"
    return _FORMATS.get(column.type, column.type)


def swagger_type(format_: str) -> str | None:
    """Return the OpenAPI ``type`` PostgREST gives a column of type ``format_``, or ``None``
    (json and jsonb have none)."""
    if format_.endswith("[]"):
        return "array"
    return _SWAGGER_TYPES.get(format_, "string")


def json_default(column: Column) -> tuple[bool, Any]:
    """Return ``(True, value)`` when PostgREST shows a ``default`` for ``column``, else
    ``(False, None)``.

    PostgREST shows a default only when it decodes as JSON: a literal of a number or boolean
    column as its value, and any default of a string-typed column (text, timestamps, uuid,
    enums, ...) as text, a quoted literal without its quotes (``'pending'`` → ``"pending"``)
    and an expression as its SQL (``now()``, ``gen_random_uuid()``). Identity columns,
    negative numbers (Postgres stores ``'-1'::integer``) and json, jsonb and array defaults
    have none.
    """
    if column.default is None or column.identity:
        return False, None
    try:
        expr = sqlglot.parse_one(column.default, read="postgres")
    except ParseError:
        return False, None
    while isinstance(expr, exp.Cast):
        expr = expr.this
    kind = swagger_type(format_name(column))
    value: Any = _NO_DEFAULT
    if isinstance(expr, exp.Null):
        pass
    elif kind == "string":
        value = expr.name if isinstance(expr, exp.Literal) else _postgres_text(expr)
    elif kind in ("integer", "number") and isinstance(expr, exp.Literal):
        value = _number(expr.name)
    elif kind == "boolean" and isinstance(expr, exp.Boolean):
        value = bool(expr.this)
    elif kind == "boolean" and isinstance(expr, exp.Literal):
        value = {"true": True, "false": False}.get(expr.name.lower(), _NO_DEFAULT)
    return (False, None) if value is _NO_DEFAULT else (True, value)


def _number(text: str) -> Any:
    try:
        return int(text)
    except ValueError:
        pass
    try:
        return float(text)
    except ValueError:
        return _NO_DEFAULT


def _postgres_text(expr: exp.Expr) -> str:
    # sqlglot reads now() as CURRENT_TIMESTAMP and gen_random_uuid() as UUID(); Postgres keeps
    # the function names, which Supabase migrations use.
    def rename(node: exp.Expr) -> exp.Expr:
        if isinstance(node, exp.CurrentTimestamp):
            return exp.Anonymous(this="now")
        if isinstance(node, exp.Uuid):
            return exp.Anonymous(this="gen_random_uuid")
        return node

    return expr.transform(rename).sql("postgres", normalize_functions="lower")


def foreign_key_of(table: TableSchema, column: str) -> tuple[str, str] | None:
    """Return ``(table, column)`` referenced by the first single-column foreign key on
    ``column``, or ``None``; PostgREST notes no other kind of foreign key."""
    for fk in table.foreign_keys:
        if fk.columns == (column,):
            return fk.table, fk.referenced[0]
    return None


def description(table: TableSchema, column: Column) -> str | None:
    """Return PostgREST's ``description`` note of ``column``: ``Note:`` followed by a line
    for a primary key and a line for a foreign key, or ``None`` for any other column."""
    notes = ["Note:"]
    if column.name in table.primary_key:
        notes.append("This is a Primary Key.<pk/>")
    fk = foreign_key_of(table, column.name)
    if fk is not None:
        other, other_column = fk
        notes.append(
            f"This is a Foreign Key to `{other}.{other_column}`."
            f"<fk table='{other}' column='{other_column}'/>"
        )
    return "\n".join(notes) if len(notes) > 1 else None


def _property(table: TableSchema, column: Column) -> dict[str, Any]:
    format_ = format_name(column)
    prop: dict[str, Any] = {}
    shown, value = json_default(column)
    if shown:
        prop["default"] = value
    note = description(table, column)
    if note is not None:
        prop["description"] = note
    if column.enum_values and not column.type.startswith("_"):
        # PostgREST looks enum labels up by the column's own type, so arrays get none.
        prop["enum"] = list(column.enum_values)
    prop["format"] = format_
    kind = swagger_type(format_)
    if kind is not None:
        prop["type"] = kind
    if kind == "array":
        element = swagger_type(format_[:-2])
        prop["items"] = {} if element is None else {"type": element}
    return prop


def definition(table: TableSchema) -> dict[str, Any]:
    """Return the ``definitions`` entry PostgREST writes for ``table``."""
    body: dict[str, Any] = {}
    required = [c.name for c in table.columns if not c.nullable]
    if required:
        body["required"] = required
    body["properties"] = {c.name: _property(table, c) for c in table.columns}
    body["type"] = "object"
    return body


def _ref(section: str, name: str) -> dict[str, str]:
    return {"$ref": f"#/{section}/{name}"}


def _path_item(table: TableSchema) -> dict[str, Any]:
    name = table.name
    filters = [_ref("parameters", f"rowFilter.{name}.{c.name}") for c in table.columns]

    def params(*names: str) -> list[dict[str, str]]:
        return [_ref("parameters", n) for n in names]

    read = params("select", "order", "range", "rangeUnit", "offset", "limit", "preferCount")
    rows = {"type": "array", "items": _ref("definitions", name)}
    return {
        "get": {
            "tags": [name],
            "parameters": filters + read,
            "responses": {
                "200": {"description": "OK", "schema": rows},
                "206": {"description": "Partial Content"},
            },
        },
        "post": {
            "tags": [name],
            "parameters": params(f"body.{name}", "select", "preferPost"),
            "responses": {"201": {"description": "Created"}},
        },
        "delete": {
            "tags": [name],
            "parameters": filters + params("preferReturn"),
            "responses": {"204": {"description": "No Content"}},
        },
        "patch": {
            "tags": [name],
            "parameters": filters + params(f"body.{name}", "preferReturn"),
            "responses": {"204": {"description": "No Content"}},
        },
    }


def _parameters(tables: list[TableSchema]) -> dict[str, Any]:
    def prefer(*values: str) -> dict[str, Any]:
        param: dict[str, Any] = {
            "name": "Prefer",
            "description": "Preference",
            "required": False,
            "in": "header",
            "type": "string",
        }
        if values:
            param["enum"] = list(values)
        return param

    def plain(name: str, where: str, text: str) -> dict[str, Any]:
        return {"name": name, "description": text, "required": False, "in": where, "type": "string"}

    returns = ("return=representation", "return=minimal", "return=none")
    parameters: dict[str, Any] = {
        "preferParams": prefer(),
        "preferReturn": prefer(*returns),
        "preferCount": prefer("count=none"),
        "preferPost": prefer(
            *returns, "resolution=ignore-duplicates", "resolution=merge-duplicates"
        ),
        "select": plain("select", "query", "Filtering Columns"),
        "on_conflict": plain("on_conflict", "query", "On Conflict"),
        "order": plain("order", "query", "Ordering"),
        "range": plain("Range", "header", "Limiting and Pagination"),
        "rangeUnit": {
            **plain("Range-Unit", "header", "Limiting and Pagination"),
            "default": "items",
        },
        "offset": plain("offset", "query", "Limiting and Pagination"),
        "limit": plain("limit", "query", "Limiting and Pagination"),
    }
    for table in tables:
        parameters[f"body.{table.name}"] = {
            "name": table.name,
            "description": table.name,
            "required": False,
            "in": "body",
            "schema": _ref("definitions", table.name),
        }
        for column in table.columns:
            parameters[f"rowFilter.{table.name}.{column.name}"] = {
                "name": column.name,
                "required": False,
                "in": "query",
                "type": "string",
            }
    return parameters


def document(schema: Schema, host: str, db_schema: str = "public") -> dict[str, Any]:
    """Return PostgREST's OpenAPI 2.0 document for the tables of ``schema`` in ``db_schema``.

    Args:
        schema: The tables to describe.
        host: The ``host`` field (``host:port`` clients reach the server at).
        db_schema: The Postgres schema exposed (PostgREST's first ``db-schemas`` entry).
    """
    tables = [t for t in schema.tables.values() if t.schema == db_schema]
    root = {
        "get": {
            "tags": ["Introspection"],
            "summary": "OpenAPI description (this document)",
            "produces": [OPENAPI_MEDIA_TYPE, "application/json"],
            "responses": {"200": {"description": "OK"}},
        }
    }
    return {
        "swagger": "2.0",
        "info": {
            "description": "This is a dynamic API generated by PostgREST",
            "title": "PostgREST API",
            "version": "rtdata local server",
        },
        "host": host,
        "basePath": "/",
        "schemes": ["http"],
        "consumes": list(_ANSWERS),
        "produces": list(_ANSWERS),
        "paths": {"/": root, **{f"/{t.name}": _path_item(t) for t in tables}},
        "definitions": {t.name: definition(t) for t in tables},
        "parameters": _parameters(tables),
        "externalDocs": {
            "description": "PostgREST Documentation",
            "url": "https://postgrest.org/en/stable/references/api.html",
        },
    }


def acceptable(accept: str | None) -> bool:
    """Tell whether an ``Accept`` header admits the OpenAPI document (as JSON or OpenAPI)."""
    if not accept or not accept.strip():
        return True
    offered = {part.split(";")[0].strip().lower() for part in accept.split(",")}
    return bool(offered & _ACCEPTED)
