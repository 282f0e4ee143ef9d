"""A database's catalog read into the server's :class:`~rtdata.server.schema.Schema` types.

:func:`read_catalog` (psycopg connection) and :func:`read_catalog_async` (async connection) run
the same few catalog queries and hand the rows to the pure :func:`build_catalog`. The result, a
:class:`Catalog`, holds

- ``schema``: the tables of the exposed schemas (``public`` by default) with their columns in
  attnum order, each column's type as Realtime reports it (``pg_type.typname``: ``int4``,
  ``timestamptz``, ``_text`` for ``text[]``, the enum's name), primary and foreign keys, whether
  each table is in the ``supabase_realtime`` publication and with which actions, replica
  identity FULL and RLS; and the enums (labels in sort order). Tables are keyed by name as the
  memory backend keys them; when two exposed schemas hold the same name the first schema listed
  wins and :attr:`Schema.warnings` says so. Policies are left empty: the database enforces them.
- ``relations``: the same tables by OID, which is how pgoutput names them.
- ``types``: every type by OID as :class:`~rtdata.server.postgres.values.TypeInfo` (domains
  resolved to their base type's rendering, arrays to their element's).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

import psycopg

from rtdata.server.postgres.values import JsonKind, TypeInfo
from rtdata.server.schema import ALL_ACTIONS, Column, ForeignKey, Schema, TableSchema

__all__ = [
    "PUBLICATION",
    "Catalog",
    "build_catalog",
    "read_catalog",
    "read_catalog_async",
]

PUBLICATION: Final = "supabase_realtime"
"""The publication whose tables stream, as on Supabase."""

_KINDS: Final[Mapping[str, JsonKind]] = {
    **dict.fromkeys(
        ("int2", "int4", "int8", "oid", "float4", "float8", "numeric"), JsonKind.NUMBER
    ),
    "bool": JsonKind.BOOL,
    "json": JsonKind.JSON,
    "jsonb": JsonKind.JSON,
    "date": JsonKind.DATE,
    "timestamp": JsonKind.TIMESTAMP,
    "timestamptz": JsonKind.TIMESTAMP,
}
"""``to_jsonb``'s categories by base type name; any other type renders as a string."""

_QUERIES: Final[Mapping[str, str]] = {
    "types": """
        select t.oid, t.typname, t.typtype, t.typbasetype, t.typelem, t.typdelim,
               t.typsubscript = 'pg_catalog.array_subscript_handler'::regproc
        from pg_catalog.pg_type t""",
    "tables": """
        select c.oid, n.nspname, c.relname, c.relreplident, c.relrowsecurity
        from pg_catalog.pg_class c join pg_catalog.pg_namespace n on n.oid = c.relnamespace
        where c.relkind in ('r', 'p') and n.nspname = any(%(schemas)s)
        order by array_position(%(schemas)s, n.nspname::text), c.oid""",
    "columns": """
        select a.attrelid, a.attnum, a.attname, a.atttypid, a.attnotnull,
               pg_catalog.pg_get_expr(d.adbin, d.adrelid), a.attidentity <> ''
        from pg_catalog.pg_attribute a
        join pg_catalog.pg_class c on c.oid = a.attrelid
        join pg_catalog.pg_namespace n on n.oid = c.relnamespace
        left join pg_catalog.pg_attrdef d on d.adrelid = a.attrelid and d.adnum = a.attnum
        where c.relkind in ('r', 'p') and n.nspname = any(%(schemas)s)
          and a.attnum > 0 and not a.attisdropped
        order by a.attrelid, a.attnum""",
    "constraints": """
        select k.conrelid, k.contype, k.conkey, k.confrelid, k.confkey
        from pg_catalog.pg_constraint k
        join pg_catalog.pg_class c on c.oid = k.conrelid
        join pg_catalog.pg_namespace n on n.oid = c.relnamespace
        where k.contype in ('p', 'f') and n.nspname = any(%(schemas)s)
        order by k.conrelid, k.oid""",
    "publication": """
        select p.pubinsert, p.pubupdate, p.pubdelete, array(
            select pt.relid from pg_catalog.pg_get_publication_tables(p.pubname::text) pt)
        from pg_catalog.pg_publication p where p.pubname = %(publication)s""",
    "enums": """
        select t.oid, t.typname, e.enumlabel
        from pg_catalog.pg_enum e join pg_catalog.pg_type t on t.oid = e.enumtypid
        order by t.oid, e.enumsortorder""",
}


@dataclass(slots=True)
class Catalog:
    """What the server needs to know about a database, read from its catalog.

    Attributes:
        schema: Tables of the exposed schemas and their enums, in the memory backend's types.
        relations: The same :class:`TableSchema` objects by table OID.
        types: Every type of the database by OID.
    """

    schema: Schema
    relations: dict[int, TableSchema] = field(default_factory=dict)
    types: dict[int, TypeInfo] = field(default_factory=dict)


def read_catalog(
    conn: psycopg.Connection[Any],
    schemas: Sequence[str] = ("public",),
    publication: str = PUBLICATION,
) -> Catalog:
    """Read the catalog of ``conn``'s database.

    Args:
        conn: Any connection that may read the catalog (the queries are read-only).
        schemas: The exposed schemas, in priority order.
        publication: The publication whose tables stream.
    """
    params = {"schemas": list(schemas), "publication": publication}
    with conn.cursor() as cur:
        rows = {name: cur.execute(query, params).fetchall() for name, query in _QUERIES.items()}
    return build_catalog(rows, schemas)


async def read_catalog_async(
    conn: psycopg.AsyncConnection[Any],
    schemas: Sequence[str] = ("public",),
    publication: str = PUBLICATION,
) -> Catalog:
    """Read the catalog of ``conn``'s database; :func:`read_catalog` for an async connection."""
    params = {"schemas": list(schemas), "publication": publication}
    rows: dict[str, list[tuple[Any, ...]]] = {}
    async with conn.cursor() as cur:
        for name, query in _QUERIES.items():
            await cur.execute(query, params)
            rows[name] = await cur.fetchall()
    return build_catalog(rows, schemas)


def build_catalog(rows: Mapping[str, Sequence[Sequence[Any]]], schemas: Sequence[str]) -> Catalog:
    """Assemble a :class:`Catalog` from the rows of the catalog queries (pure).

    Args:
        rows: Rows by query name: ``types``, ``tables``, ``columns``, ``constraints``,
            ``publication``, ``enums``, as :func:`read_catalog` fetches them.
        schemas: The exposed schemas, for the name-clash warning.
    """
    types = _types(rows["types"])
    enum_labels: dict[int, list[str]] = {}
    enum_names: dict[int, str] = {}
    for oid, name, label in rows["enums"]:
        enum_labels.setdefault(oid, []).append(label)
        enum_names[oid] = name
    elements = {oid: elem for oid, _, _, _, elem, _, is_array in rows["types"] if is_array}
    published, actions = _publication(rows["publication"])
    schema = Schema()
    catalog = Catalog(schema, types=types)
    tables: dict[int, TableSchema] = {}
    for oid, namespace, name, replident, rls in rows["tables"]:
        table = TableSchema(
            name=name,
            schema=namespace,
            published=oid in published,
            replica_identity_full=replident == "f",
            rls_enabled=bool(rls),
            published_actions=actions if oid in published else ALL_ACTIONS,
        )
        tables[oid] = table
        catalog.relations[oid] = table
        if name in schema.tables:
            kept = schema.tables[name]
            schema.warnings.append(
                f"table {namespace}.{name} is hidden by {kept.schema}.{name}"
                f" (exposed schemas in order: {', '.join(schemas)})"
            )
        else:
            schema.tables[name] = table
    attnames: dict[tuple[int, int], str] = {}
    for relid, attnum, attname, typid, notnull, default, identity in rows["columns"]:
        owner = tables.get(relid)
        if owner is None:
            continue
        attnames[relid, attnum] = attname
        enum_oid = typid if typid in enum_labels else elements.get(typid, 0)
        labels = tuple(enum_labels.get(enum_oid, ()))
        if labels:
            schema.enums[enum_names[enum_oid]] = labels
        info = types.get(typid)
        serial = isinstance(default, str) and default.startswith("nextval(")
        owner.columns.append(
            Column(
                name=attname,
                type=info.name if info else str(typid),
                nullable=not notnull,
                default=default,
                identity=bool(identity) or serial,
                enum_values=labels,
            )
        )
    for relid, contype, conkey, confrelid, confkey in rows["constraints"]:
        constrained = tables.get(relid)
        if constrained is None:
            continue
        columns = tuple(attnames.get((relid, n), "?") for n in conkey)
        if contype == "p":
            constrained.primary_key = columns
            continue
        target = tables.get(confrelid)
        if target is None:  # a table outside the exposed schemas (auth.users, ...)
            continue
        referenced = tuple(attnames.get((confrelid, n), "?") for n in confkey)
        constrained.foreign_keys.append(ForeignKey(columns, target.name, referenced))
    return catalog


def _publication(rows: Sequence[Sequence[Any]]) -> tuple[frozenset[int], frozenset[str]]:
    if not rows:
        return frozenset(), ALL_ACTIONS
    insert, update, delete, relids = rows[0]
    flags = (("INSERT", insert), ("UPDATE", update), ("DELETE", delete))
    return frozenset(relids or ()), frozenset(a for a, on in flags if on)


def _types(rows: Sequence[Sequence[Any]]) -> dict[int, TypeInfo]:
    by_oid = {row[0]: row for row in rows}
    infos: dict[int, TypeInfo] = {}

    def info(oid: int, depth: int = 0) -> TypeInfo:
        known = infos.get(oid)
        if known is not None:
            return known
        name = by_oid[oid][1]
        base = oid
        while by_oid[base][2] == "d" and by_oid[base][3] in by_oid:  # a domain: its base type
            base = by_oid[base][3]
        _, _, _, _, base_elem, base_delim, base_is_array = by_oid[base]
        if base_is_array and base_elem in by_oid and depth < 8:
            result = TypeInfo(name, JsonKind.ARRAY, info(base_elem, depth + 1), base_delim)
        else:
            result = TypeInfo(name, _KINDS.get(by_oid[base][1], JsonKind.STRING))
        infos[oid] = result
        return result

    for oid in by_oid:
        info(oid)
    return infos
