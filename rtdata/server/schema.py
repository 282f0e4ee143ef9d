"""Table schemas read from SQL migrations.

Migrations are parsed with sqlglot (Postgres dialect). ``CREATE TABLE`` gives columns, types,
``PRIMARY KEY``, ``NOT NULL``, ``DEFAULT`` and foreign keys (``REFERENCES`` on a column, or a
table-level ``FOREIGN KEY``); ``ALTER TABLE ... ADD [CONSTRAINT ...] PRIMARY KEY | FOREIGN KEY``
adds keys later; ``CREATE TYPE ... AS ENUM`` and ``ALTER TYPE ... ADD VALUE`` declare enum types
that columns may use; ``ALTER PUBLICATION supabase_realtime ADD TABLE`` marks the tables that
stream; ``ALTER TABLE ... REPLICA IDENTITY FULL`` widens ``old_record``; ``GRANT`` and ``REVOKE`` on
tables change the tables' privileges (see :mod:`rtdata.server.grants`). Foreign keys are kept
as facts about the schema (the REST schema shows them); the store does not enforce them.
Any statement not understood is reported once with its file and line in
:attr:`Schema.warnings`, never dropped silently.
"""

from __future__ import annotations

import dataclasses
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError

from rtdata.server.grants import (
    Grant,
    GrantError,
    Privilege,
    UnsupportedGrantError,
    default_privileges,
    has_privilege,
    is_grant,
    parse_grant,
)
from rtdata.server.policies import Policy, PolicyError, RestrictivePolicyError, parse_policy

__all__ = [
    "ALL_ACTIONS",
    "Column",
    "ForeignKey",
    "Schema",
    "SchemaError",
    "TableSchema",
    "load_schema",
    "split_statements",
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


ALL_ACTIONS: frozenset[str] = frozenset({"INSERT", "UPDATE", "DELETE"})
"""Every change type a publication can stream to Realtime."""


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
        enum_values: The labels of the column's enum type, in declaration order; empty for a
            column that is not of an enum type (nor an array of one).
        modifiers: The type's modifiers as declared: ``(precision, scale)`` or
            ``(precision,)`` of a ``numeric``, ``(length,)`` of a ``varchar``/``char``; empty
            when none were given.
        generated_always: True for ``GENERATED ALWAYS AS IDENTITY``: a write may not set it.
    """

    name: str
    type: str
    nullable: bool = True
    default: str | None = None
    identity: bool = False
    enum_values: tuple[str, ...] = ()
    modifiers: tuple[int, ...] = ()
    generated_always: bool = False


@dataclass(frozen=True, slots=True)
class ForeignKey:
    """A ``FOREIGN KEY`` constraint: columns of one table that reference another's.

    Attributes:
        columns: The referencing columns, in constraint order.
        table: The referenced table.
        referenced: The referenced columns, pairwise with ``columns``.
    """

    columns: tuple[str, ...]
    table: str
    referenced: tuple[str, ...]


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
        foreign_keys: The table's foreign keys, in declaration order.
        published_actions: The change types the publication streams for the table
            (``pubinsert``/``pubupdate``/``pubdelete`` of ``supabase_realtime``); every type
            unless the publication was made with ``publish = '...'``.
        privileges: The table's privileges by grantee (a role, or ``public`` for every role):
            Supabase's defaults (see :func:`rtdata.server.grants.default_privileges`) changed
            by the migrations' ``GRANT`` and ``REVOKE`` statements, in order.
    """

    name: str
    schema: str = "public"
    columns: list[Column] = field(default_factory=list)
    primary_key: tuple[str, ...] = ()
    published: bool = False
    replica_identity_full: bool = False
    rls_enabled: bool = False
    policies: list[Policy] = field(default_factory=list)
    foreign_keys: list[ForeignKey] = field(default_factory=list)
    published_actions: frozenset[str] = ALL_ACTIONS
    privileges: dict[str, frozenset[Privilege]] = field(
        default_factory=lambda: default_privileges("public")
    )

    def allows(self, role: str, privilege: Privilege) -> bool:
        """Tell whether ``role`` holds ``privilege`` on the table (itself or through
        ``PUBLIC``), as Postgres checks it before any row-level security."""
        return has_privilege(self.privileges, role, privilege)

    def column(self, name: str) -> Column | None:
        """Return the column called ``name``, or ``None``."""
        for col in self.columns:
            if col.name == name:
                return col
        return None


@dataclass(slots=True)
class Schema:
    """All tables and enum types declared by a set of migrations, plus what was not understood.

    Attributes:
        tables: Tables by name, in declaration order.
        enums: Enum types by name: their labels in order.
        warnings: One line (file, line, statement) per statement that was ignored.
    """

    tables: dict[str, TableSchema] = field(default_factory=dict)
    enums: dict[str, tuple[str, ...]] = field(default_factory=dict)
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
        for statement_text, line in split_statements(text):
            if is_grant(statement_text):
                _apply_grant(schema, statement_text, f"{source}:{line}")
                continue
            try:
                statements = sqlglot.parse(statement_text, read="postgres")
            except ParseError as exc:
                raise SchemaError(f"{source}:{line}: cannot parse SQL: {exc}") from None
            for statement in statements:
                if statement is not None:
                    _apply_statement(schema, statement, f"{source}:{line}")
    finally:
        sqlglot_logger.setLevel(previous)


def split_statements(text: str) -> list[tuple[str, int]]:
    """Split SQL text on top-level semicolons (sqlglot's tokenizer keeps strings, dollar
    quotes and comments whole), with the line each statement starts on."""
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
        table = _create_table(schema, st, where)
        schema.tables[table.name] = table
        return
    if isinstance(st, exp.Create) and str(st.args.get("kind", "")).upper() == "TYPE":
        body = st.expression
        if isinstance(body, exp.DataType) and body.this == exp.DataType.Type.ENUM:
            _create_enum(schema, st.this.name, tuple(e.name for e in body.expressions), where)
            return
    if isinstance(st, exp.Alter) and _alter_table(schema, st, where):
        return
    text = str(st.expression).strip() if isinstance(st, exp.Command) else ""
    if (
        isinstance(st, exp.Command)
        and str(st.this).upper() == "CREATE"
        and text.lower().startswith("policy")
    ):
        try:
            policy = parse_policy(text)
        except RestrictivePolicyError as exc:
            raise SchemaError(f"{where}: {exc}") from None
        except PolicyError as exc:
            # Permissive policies only ever allow rows: without this one, fewer rows are
            # readable here than on Postgres, never more.
            schema.warnings.append(
                f"{where}: {exc}; policy left out, so rows only it allows stay hidden"
            )
            return
        _table(schema, policy.table, where).policies.append(policy)
        return
    if isinstance(st, exp.Command) and str(st.this).upper() == "ALTER":
        added = _ADD_ENUM_VALUE.match(text)
        if added:
            _add_enum_value(schema, added, where)
            return
        words = text.replace(",", " , ").split()
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


def _apply_grant(schema: Schema, text: str, where: str) -> None:
    """Apply one ``GRANT``/``REVOKE`` to the tables it names; warn about the forms not
    modelled (they are ignored, as other unsupported statements are)."""
    try:
        grant = parse_grant(text)
    except UnsupportedGrantError as exc:
        # Ignoring these never widens access: column-level and other objects' privileges do
        # not reach a table-level check, and a role membership grant gives no table privilege.
        schema.warnings.append(f"{where}: statement not supported, ignored ({exc}): {text[:80]}")
        return
    except GrantError as exc:
        raise SchemaError(f"{where}: cannot parse {text.split()[0].upper()}: {exc}") from None
    for table in _granted_tables(schema, grant, where):
        for grantee in grant.grantees:
            held = table.privileges.get(grantee, frozenset())
            table.privileges[grantee] = (
                held - grant.privileges if grant.revoke else held | grant.privileges
            )


def _granted_tables(schema: Schema, grant: Grant, where: str) -> list[TableSchema]:
    if grant.schemas:
        return [t for t in schema.tables.values() if t.schema in grant.schemas]
    return [_table(schema, name, where) for name in grant.tables]


def _table(schema: Schema, qualified: str, where: str) -> TableSchema:
    name = qualified.split(".")[-1]
    if name not in schema.tables:
        raise SchemaError(f"{where}: table {qualified!r} is not defined by an earlier CREATE TABLE")
    return schema.tables[name]


def _create_table(schema: Schema, st: exp.Create, where: str) -> TableSchema:
    target = st.this
    table_exp = target.this if isinstance(target, exp.Schema) else target
    table_schema = table_exp.db or "public"
    table = TableSchema(
        name=table_exp.name,
        schema=table_schema,
        privileges=default_privileges(table_schema),
    )
    pk: list[str] = []
    references: list[tuple[tuple[str, ...], exp.Reference]] = []
    for item in target.expressions if isinstance(target, exp.Schema) else []:
        # CONSTRAINT name PRIMARY KEY (...) / FOREIGN KEY (...) wraps the same nodes.
        for member in item.expressions if isinstance(item, exp.Constraint) else [item]:
            if isinstance(member, exp.ColumnDef):
                col, is_pk, reference = _column(schema, member, where)
                table.columns.append(col)
                if is_pk:
                    pk.append(col.name)
                if reference is not None:
                    references.append(((col.name,), reference))
            elif isinstance(member, exp.PrimaryKey):
                pk.extend(e.name for e in member.expressions)
            elif isinstance(member, exp.ForeignKey):
                references.append((_names(member), member.args["reference"]))
    _set_primary_key(table, tuple(pk), where)
    for columns, reference in references:  # after the key: a table may reference itself
        foreign_key = _foreign_key(schema, table, columns, reference, where)
        if foreign_key is not None:
            table.foreign_keys.append(foreign_key)
    return table


def _alter_table(schema: Schema, st: exp.Alter, where: str) -> bool:
    """Apply ``ALTER TABLE ... ADD [CONSTRAINT name] PRIMARY KEY | FOREIGN KEY``; return
    False (nothing applied) for any other alteration."""
    actions = st.args.get("actions") or []
    if str(st.args.get("kind", "")).upper() != "TABLE" or not all(
        isinstance(a, exp.AddConstraint) for a in actions
    ):
        return False
    members = [
        member
        for action in actions
        for item in action.expressions
        for member in (item.expressions if isinstance(item, exp.Constraint) else [item])
    ]
    if not members or not all(isinstance(m, exp.PrimaryKey | exp.ForeignKey) for m in members):
        return False
    table = _table(schema, st.this.name, where)
    for member in members:
        if isinstance(member, exp.PrimaryKey):
            if table.primary_key:
                raise SchemaError(f"{where}: multiple primary keys for table {table.name!r}")
            _set_primary_key(table, _names(member), where)
        else:
            reference = member.args["reference"]
            foreign_key = _foreign_key(schema, table, _names(member), reference, where)
            if foreign_key is not None:
                table.foreign_keys.append(foreign_key)
    return True


def _names(node: exp.Expr) -> tuple[str, ...]:
    return tuple(e.name for e in node.expressions)


def _set_primary_key(table: TableSchema, pk: tuple[str, ...], where: str) -> None:
    known = {c.name for c in table.columns}
    for name in pk:
        if name not in known:
            raise SchemaError(
                f"{where}: primary key column {name!r} is not a column of {table.name}"
            )
    table.primary_key = pk
    table.columns = [
        dataclasses.replace(c, nullable=False) if c.name in pk else c for c in table.columns
    ]


def _foreign_key(
    schema: Schema,
    table: TableSchema,
    columns: tuple[str, ...],
    reference: exp.Reference,
    where: str,
) -> ForeignKey | None:
    """The foreign key, or ``None`` (with a warning) when it references a table of another
    schema that no migration defines, such as Supabase's ``auth.users``."""
    target = reference.this
    target_exp = target.this if isinstance(target, exp.Schema) else target
    name = target_exp.name
    if target_exp.db not in ("", "public") and name not in schema.tables:
        schema.warnings.append(
            f"{where}: foreign key ({', '.join(columns)}) of {table.name} references "
            f"{target_exp.db}.{name}, which no migration defines; not kept"
        )
        return None
    referenced = table if name == table.name else _table(schema, name, where)
    # REFERENCES t without columns means t's primary key, as in Postgres.
    ref_columns = _names(target) if isinstance(target, exp.Schema) else referenced.primary_key
    what = f"foreign key ({', '.join(columns)}) of {table.name}"
    if not ref_columns:
        raise SchemaError(f"{where}: {what} references {name}, which has no primary key")
    if len(ref_columns) != len(columns):
        raise SchemaError(
            f"{where}: {what} names {len(columns)} columns but references {len(ref_columns)}"
        )
    for owner, names in ((table, columns), (referenced, ref_columns)):
        for column in names:
            if owner.column(column) is None:
                raise SchemaError(f"{where}: {what}: {column!r} is not a column of {owner.name}")
    return ForeignKey(columns, name, ref_columns)


def _column(
    schema: Schema, cd: exp.ColumnDef, where: str
) -> tuple[Column, bool, exp.Reference | None]:
    kind = cd.args.get("kind")
    if not isinstance(kind, exp.DataType):
        raise SchemaError(f"{where}: column {cd.name!r} has no type")
    typname, labels = _typname(kind, where, cd.name, schema.enums)
    nullable, default, is_pk, reference = True, None, False, None
    identity = kind.this.name in {"SERIAL", "SMALLSERIAL", "BIGSERIAL"}
    always = False
    modifiers = tuple(
        int(p.this.this)
        for p in kind.expressions
        if isinstance(p, exp.DataTypeParam) and isinstance(p.this, exp.Literal) and p.this.is_int
    )
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
            always = ck.this is True
        elif isinstance(ck, exp.Reference):
            reference = ck
    column = Column(cd.name, typname, nullable, default, identity, labels, modifiers, always)
    return column, is_pk, reference


def _typname(
    kind: exp.DataType, where: str, column: str, enums: Mapping[str, tuple[str, ...]]
) -> tuple[str, tuple[str, ...]]:
    """Return the Postgres typname of ``kind`` and, for an enum type, its labels."""
    if kind.this == exp.DataType.Type.ARRAY:
        inner = kind.expressions[0] if kind.expressions else None
        if not isinstance(inner, exp.DataType):
            raise SchemaError(f"{where}: column {column!r} has an array type without element type")
        element, labels = _typname(inner, where, column, enums)
        return "_" + element, labels
    if kind.this == exp.DataType.Type.USERDEFINED:
        udt = kind.args.get("kind")
        name = udt.name if isinstance(udt, exp.Expr) else ""
        if name in enums:
            return name, enums[name]
        raise SchemaError(
            f"{where}: column {column!r} has unsupported type {kind.sql('postgres')}"
            " (neither built in nor an enum declared by an earlier CREATE TYPE)"
        )
    name = kind.this.name
    if name not in _TYPNAMES:
        raise SchemaError(f"{where}: column {column!r} has unsupported type {kind.sql('postgres')}")
    return _TYPNAMES[name], ()


# ---------------------------------------------------------------- enum types

_LABEL = r"'((?:[^']|'')*)'"
_ADD_ENUM_VALUE = re.compile(
    r"^type\s+(?:\"?\w+\"?\.)?\"?(\w+)\"?\s+add\s+value\s+(?:if\s+not\s+exists\s+)?"
    rf"{_LABEL}(?:\s+(before|after)\s+{_LABEL})?$",
    re.IGNORECASE,
)


def _create_enum(schema: Schema, name: str, labels: tuple[str, ...], where: str) -> None:
    if name in schema.enums:
        raise SchemaError(f"{where}: type {name!r} already exists")
    if len(set(labels)) != len(labels):
        raise SchemaError(f"{where}: enum {name!r} repeats a label")
    schema.enums[name] = labels


def _add_enum_value(schema: Schema, added: re.Match[str], where: str) -> None:
    """``ALTER TYPE name ADD VALUE [IF NOT EXISTS] 'label' [BEFORE | AFTER 'other']``."""
    name, label, position, other = added.groups()
    label = label.replace("''", "'")
    if name not in schema.enums:
        raise SchemaError(f"{where}: type {name!r} is not an enum declared by CREATE TYPE")
    labels = list(schema.enums[name])
    if label in labels:
        return  # Postgres fails without IF NOT EXISTS; either way the labels stay as they are
    index = len(labels)
    if position is not None:
        other = other.replace("''", "'")
        if other not in labels:
            raise SchemaError(f"{where}: {other!r} is not a label of enum {name!r}")
        index = labels.index(other) + (position.lower() == "after")
    labels.insert(index, label)
    schema.enums[name] = tuple(labels)
    for table in schema.tables.values():  # columns keep their own copy of the labels
        table.columns = [
            dataclasses.replace(c, enum_values=schema.enums[name])
            if c.type in (name, "_" + name)
            else c
            for c in table.columns
        ]
