"""Table schemas read from SQL migrations, and coercion of JSON values to column types.

Migrations are parsed with sqlglot (Postgres dialect). ``CREATE TABLE`` gives columns, types,
``PRIMARY KEY``, ``NOT NULL`` and ``DEFAULT``; ``ALTER PUBLICATION supabase_realtime ADD TABLE``
marks the tables that stream; ``ALTER TABLE ... REPLICA IDENTITY FULL`` widens ``old_record``.
Any statement not understood is reported once with its file and line in
:attr:`Schema.warnings`, never dropped silently.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError

from rtdata.server.policies import Policy, PolicyError, parse_policy

__all__ = [
    "CastError",
    "Column",
    "Schema",
    "SchemaError",
    "TableSchema",
    "coerce",
    "comparable",
    "load_schema",
]

# sqlglot type name -> Postgres typname, as realtime frames report it in ``columns``.
_TYPNAMES: dict[str, str] = {
    "SMALLINT": "int2",
    "INT": "int4",
    "BIGINT": "int8",
    "SERIAL": "int4",
    "SMALLSERIAL": "int2",
    "BIGSERIAL": "int8",
    "DECIMAL": "numeric",
    "FLOAT": "float4",
    "DOUBLE": "float8",
    "TEXT": "text",
    "VARCHAR": "varchar",
    "CHAR": "bpchar",
    "BOOLEAN": "bool",
    "UUID": "uuid",
    "TIMESTAMPTZ": "timestamptz",
    "TIMESTAMP": "timestamp",
    "DATE": "date",
    "JSON": "json",
    "JSONB": "jsonb",
}
_INT_TYPES = {"int2", "int4", "int8"}
_FLOAT_TYPES = {"float4", "float8"}
_TEXT_TYPES = {"text", "varchar", "bpchar"}


class SchemaError(ValueError):
    """A migration that cannot be used; the text names the file, line and problem."""


class CastError(ValueError):
    """A value that cannot be cast to its column's type (Postgres error 22P02)."""


@dataclass(frozen=True, slots=True)
class Column:
    """One table column.

    Attributes:
        name: Column name.
        type: Postgres typname (``int8``, ``text``, ``_int4`` for an int4 array, ...).
        nullable: False when the column is ``NOT NULL`` or part of the primary key.
        default: SQL of the default expression, or ``None``.
        identity: True for serial and identity columns (filled from a per-table counter).
    """

    name: str
    type: str
    nullable: bool = True
    default: str | None = None
    identity: bool = False


@dataclass(slots=True)
class TableSchema:
    """Shape of one table.

    Attributes:
        name: Table name.
        schema: Postgres schema, ``public`` unless qualified.
        columns: Columns in declaration (attnum) order.
        primary_key: Names of the primary-key columns, possibly empty.
        published: Whether changes stream (``ALTER PUBLICATION supabase_realtime ADD TABLE``).
        replica_identity_full: Whether ``old_record`` carries every old column.
        rls_enabled: Whether row-level security is enabled (``ENABLE ROW LEVEL SECURITY``).
        policies: The table's ``CREATE POLICY`` policies.
    """

    name: str
    schema: str = "public"
    columns: list[Column] = field(default_factory=list)
    primary_key: tuple[str, ...] = ()
    published: bool = False
    replica_identity_full: bool = False
    rls_enabled: bool = False
    policies: list[Policy] = field(default_factory=list)

    def column(self, name: str) -> Column | None:
        """Return the column called ``name``, or ``None``."""
        for col in self.columns:
            if col.name == name:
                return col
        return None


@dataclass(slots=True)
class Schema:
    """All tables declared by a set of migrations, plus what was not understood."""

    tables: dict[str, TableSchema] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)


def load_schema(path: str | Path) -> Schema:
    """Read a migration file, or every ``*.sql`` file of a folder in name order.

    Args:
        path: A ``.sql`` file or a folder such as ``supabase/migrations``.

    Raises:
        SchemaError: The path is missing or a file has a syntax error.
    """
    root = Path(path)
    if root.is_dir():
        files = sorted(root.glob("*.sql"))
    elif root.is_file():
        files = [root]
    else:
        raise SchemaError(f"{root}: no such migration file or folder")
    schema = Schema()
    for file in files:
        _apply_sql(schema, file.read_text(encoding="utf-8"), str(file))
    return schema


def _apply_sql(schema: Schema, text: str, source: str) -> None:
    # sqlglot logs a warning when it falls back to a generic Command (ALTER PUBLICATION, ...);
    # we report what we do not understand ourselves, with file and line, so mute that logger.
    sqlglot_logger = logging.getLogger("sqlglot")
    previous = sqlglot_logger.level
    sqlglot_logger.setLevel(logging.ERROR)
    try:
        for statement_text, line in _split_statements(text):
            try:
                statements = sqlglot.parse(statement_text, read="postgres")
            except ParseError as exc:
                raise SchemaError(f"{source}:{line}: cannot parse SQL: {exc}") from None
            for statement in statements:
                if statement is not None:
                    _apply_statement(schema, statement, f"{source}:{line}")
    finally:
        sqlglot_logger.setLevel(previous)


def _split_statements(text: str) -> list[tuple[str, int]]:
    # Split on top-level semicolons with sqlglot's tokenizer so strings and comments are safe,
    # keeping the line each statement starts on for error messages.
    tokens = sqlglot.tokenize(text, read="postgres")
    out: list[tuple[str, int]] = []
    start_tok = 0
    for i, tok in enumerate(tokens):
        if tok.token_type == sqlglot.TokenType.SEMICOLON:
            if i > start_tok:
                first, last = tokens[start_tok], tokens[i - 1]
                out.append((text[first.start : last.end + 1], first.line))
            start_tok = i + 1
    if start_tok < len(tokens):
        first, last = tokens[start_tok], tokens[-1]
        out.append((text[first.start : last.end + 1], first.line))
    return out


def _apply_statement(schema: Schema, st: exp.Expr, where: str) -> None:
    if isinstance(st, exp.Create) and str(st.args.get("kind", "")).upper() == "TABLE":
        table = _create_table(st, where)
        schema.tables[table.name] = table
        return
    text = str(st.expression).strip() if isinstance(st, exp.Command) else ""
    if (
        isinstance(st, exp.Command)
        and str(st.this).upper() == "CREATE"
        and text.lower().startswith("policy")
    ):
        try:
            policy = parse_policy(text)
        except PolicyError as exc:
            raise SchemaError(f"{where}: {exc}") from None
        _table(schema, policy.table, where).policies.append(policy)
        return
    if isinstance(st, exp.Command) and str(st.this).upper() == "ALTER":
        words = str(st.expression).replace(",", " , ").split()
        lowered = [w.lower() for w in words]
        if lowered[:4] == ["publication", "supabase_realtime", "add", "table"]:
            for name in (w for w in words[4:] if w != ","):
                _table(schema, name.strip('"'), where).published = True
            return
        if lowered[:1] == ["table"] and lowered[-4:] == ["enable", "row", "level", "security"]:
            target = [w for w in words[1:-4] if w.lower() not in {"only", "if", "exists"}]
            if len(target) == 1:
                _table(schema, target[0].strip('"'), where).rls_enabled = True
                return
        if lowered[:1] == ["table"] and lowered[-3:] == ["replica", "identity", "full"]:
            target = [w for w in words[1:-3] if w.lower() not in {"only", "if", "exists"}]
            if len(target) == 1:
                _table(schema, target[0].strip('"'), where).replica_identity_full = True
                return
    schema.warnings.append(f"{where}: statement not supported, ignored: {st.sql()[:80]}")


def _table(schema: Schema, qualified: str, where: str) -> TableSchema:
    name = qualified.split(".")[-1]
    if name not in schema.tables:
        raise SchemaError(f"{where}: table {qualified!r} is not defined by an earlier CREATE TABLE")
    return schema.tables[name]


def _create_table(st: exp.Create, where: str) -> TableSchema:
    target = st.this
    table_exp = target.this if isinstance(target, exp.Schema) else target
    table = TableSchema(name=table_exp.name, schema=table_exp.db or "public")
    pk: list[str] = []
    for item in target.expressions if isinstance(target, exp.Schema) else []:
        if isinstance(item, exp.ColumnDef):
            col, is_pk = _column(item, where)
            table.columns.append(col)
            if is_pk:
                pk.append(col.name)
        elif isinstance(item, exp.PrimaryKey):
            pk.extend(e.name for e in item.expressions)
    known = {c.name for c in table.columns}
    for name in pk:
        if name not in known:
            raise SchemaError(
                f"{where}: primary key column {name!r} is not a column of {table.name}"
            )
    table.primary_key = tuple(pk)
    table.columns = [
        Column(c.name, c.type, False, c.default, c.identity) if c.name in pk else c
        for c in table.columns
    ]
    return table


def _column(cd: exp.ColumnDef, where: str) -> tuple[Column, bool]:
    kind = cd.args.get("kind")
    if not isinstance(kind, exp.DataType):
        raise SchemaError(f"{where}: column {cd.name!r} has no type")
    typname = _typname(kind, where, cd.name)
    nullable, default, is_pk = True, None, False
    identity = kind.this.name in {"SERIAL", "SMALLSERIAL", "BIGSERIAL"}
    for constraint in cd.constraints:
        ck = constraint.kind
        if isinstance(ck, exp.NotNullColumnConstraint):
            nullable = bool(ck.args.get("allow_null"))
        elif isinstance(ck, exp.PrimaryKeyColumnConstraint):
            is_pk = True
        elif isinstance(ck, exp.DefaultColumnConstraint):
            default = ck.this.sql("postgres")
        elif isinstance(ck, exp.GeneratedAsIdentityColumnConstraint):
            identity = True
    return Column(cd.name, typname, nullable, default, identity), is_pk


def _typname(kind: exp.DataType, where: str, column: str) -> str:
    if kind.this == exp.DataType.Type.ARRAY:
        inner = kind.expressions[0] if kind.expressions else None
        if not isinstance(inner, exp.DataType):
            raise SchemaError(f"{where}: column {column!r} has an array type without element type")
        return "_" + _typname(inner, where, column)
    name = kind.this.name
    if name not in _TYPNAMES:
        raise SchemaError(f"{where}: column {column!r} has unsupported type {kind.sql('postgres')}")
    return _TYPNAMES[name]


# ---------------------------------------------------------------- values


def coerce(column: Column, value: Any) -> Any:
    """Cast a JSON value to ``column``'s type and return it in JSON form, as Postgres would.

    Timestamps come back as ISO 8601 text with offset (``timestamptz``) the way Postgres renders
    them in JSON; numbers, booleans, text, json and arrays keep their JSON form.

    Raises:
        CastError: The value cannot be cast; the message names the type and value.
    """
    if value is None:
        return None
    t = column.type
    if t.startswith("_"):
        if isinstance(value, str) and value.startswith("{") and value.endswith("}"):
            value = [v.strip().strip('"') for v in value[1:-1].split(",") if v.strip()]
        if not isinstance(value, list):
            raise CastError(f'malformed array literal: "{value}"')
        element = Column(column.name, t[1:])
        return [coerce(element, v) for v in value]
    try:
        cast: Callable[[Any], Any] = _CASTS.get(t, _as_text)
        return cast(value)
    except (ValueError, TypeError, InvalidOperation, OverflowError):
        raise CastError(f'invalid input syntax for type {_PRETTY.get(t, t)}: "{value}"') from None


def _as_int(value: Any) -> int:
    if isinstance(value, bool):
        raise TypeError("bool is not an integer")
    if isinstance(value, float):
        if not value.is_integer():
            raise ValueError("not an integer")
        return int(value)
    return int(value)


def _as_float(value: Any) -> float:
    if isinstance(value, bool):
        raise TypeError("bool is not a number")
    return float(value)


def _as_numeric(value: Any) -> int | float:
    if isinstance(value, bool):
        raise TypeError("bool is not a number")
    number = Decimal(str(value))
    if not number.is_finite():
        raise ValueError("not finite")
    return int(number) if number == number.to_integral_value() else float(number)


def _as_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in {"t", "true", "y", "yes", "on", "1"}:
        return True
    if text in {"f", "false", "n", "no", "off", "0"}:
        return False
    raise ValueError(text)


def _as_text(value: Any) -> str:
    if isinstance(value, dict | list):
        raise TypeError("not text")
    return value if isinstance(value, str) else json.dumps(value)


def _as_uuid(value: Any) -> str:
    return str(uuid.UUID(str(value)))


def _as_timestamptz(value: Any) -> str:
    parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC).isoformat()


def _as_timestamp(value: Any) -> str:
    return (
        datetime.fromisoformat(str(value).replace("Z", "+00:00")).replace(tzinfo=None).isoformat()
    )


def _as_date(value: Any) -> str:
    return date.fromisoformat(str(value)[:10]).isoformat()


def _as_json(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value


_CASTS: dict[str, Callable[[Any], Any]] = {
    **dict.fromkeys(_INT_TYPES, _as_int),
    **dict.fromkeys(_FLOAT_TYPES, _as_float),
    **dict.fromkeys(_TEXT_TYPES, _as_text),
    "numeric": _as_numeric,
    "bool": _as_bool,
    "uuid": _as_uuid,
    "timestamptz": _as_timestamptz,
    "timestamp": _as_timestamp,
    "date": _as_date,
    "json": _as_json,
    "jsonb": _as_json,
}
_PRETTY: Mapping[str, str] = {
    "int2": "smallint",
    "int4": "integer",
    "int8": "bigint",
    "float4": "real",
    "float8": "double precision",
    "bool": "boolean",
    "timestamptz": "timestamp with time zone",
    "timestamp": "timestamp without time zone",
}


def comparable(column: Column, value: Any) -> Any:
    """Return a value of ``column`` in a form that orders the way Postgres orders it.

    Timestamps and dates compare as datetimes, numbers as numbers, everything else as stored.
    """
    if value is None:
        return None
    if column.type in {"timestamptz", "timestamp", "date"}:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    return value
