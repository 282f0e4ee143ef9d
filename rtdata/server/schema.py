"""Table schemas read from SQL migrations.

Migrations are parsed with sqlglot (Postgres dialect). ``CREATE TABLE`` gives columns, types,
``PRIMARY KEY``, ``NOT NULL`` and ``DEFAULT``; ``ALTER PUBLICATION supabase_realtime ADD TABLE``
marks the tables that stream; ``ALTER TABLE ... REPLICA IDENTITY FULL`` widens ``old_record``.
Any statement not understood is reported once with its file and line in
:attr:`Schema.warnings`, never dropped silently.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError

from rtdata.server.policies import Policy, PolicyError, parse_policy

__all__ = ["Column", "Schema", "SchemaError", "TableSchema", "load_schema"]

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


class SchemaError(ValueError):
    """A migration that cannot be used; the text names the file, line and problem."""


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
