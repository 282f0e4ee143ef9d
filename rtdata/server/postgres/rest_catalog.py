"""The REST path's view of the database's tables: a :class:`~rtdata.server.schema.Schema` read
from the Postgres catalog, as PostgREST's schema cache holds it.

This is the REST path's own minimal catalog reader (tables and views of one schema, their
columns, types, defaults, enum labels, primary and foreign keys). It is deliberately small and
private to the REST path so that it can be replaced by the server's general catalog module
when that lands; both produce the same :class:`~rtdata.server.schema.Schema`.
"""

from __future__ import annotations

from typing import Any, Final

import psycopg

from rtdata.server.schema import Column, ForeignKey, Schema, TableSchema

__all__ = ["read_schema"]

# Tables, views, materialized views, foreign and partitioned tables, as PostgREST exposes them.
_COLUMNS: Final = """
select c.relname, a.attname, t.typname, not a.attnotnull,
       pg_get_expr(d.adbin, d.adrelid),
       a.attidentity <> '' or coalesce(pg_get_expr(d.adbin, d.adrelid) like 'nextval(%%', false),
       coalesce(array(select e.enumlabel::text from pg_enum e
                      where e.enumtypid = case when t.typelem <> 0 then t.typelem else t.oid end
                      order by e.enumsortorder), '{}'),
       c.relrowsecurity
from pg_class c
join pg_namespace n on n.oid = c.relnamespace
join pg_attribute a on a.attrelid = c.oid and a.attnum > 0 and not a.attisdropped
join pg_type t on t.oid = a.atttypid
left join pg_attrdef d on d.adrelid = c.oid and d.adnum = a.attnum
where n.nspname = %s and c.relkind in ('r', 'p', 'v', 'm', 'f')
order by c.relname, a.attnum
"""

_KEYS: Final = """
select c.relname, k.contype::text, k.conname,
       array(select a.attname::text from unnest(k.conkey) with ordinality as u(num, pos)
             join pg_attribute a on a.attrelid = k.conrelid and a.attnum = u.num order by u.pos),
       coalesce(r.relname::text, ''),
       array(select a.attname::text from unnest(k.confkey) with ordinality as u(num, pos)
             join pg_attribute a on a.attrelid = k.confrelid and a.attnum = u.num order by u.pos)
from pg_constraint k
join pg_class c on c.oid = k.conrelid
join pg_namespace n on n.oid = c.relnamespace
left join pg_class r on r.oid = k.confrelid
where n.nspname = %s and k.contype in ('p', 'f')
order by c.relname, k.conname
"""


async def read_schema(conn: psycopg.AsyncConnection[Any], db_schema: str = "public") -> Schema:
    """Read the tables and views of ``db_schema`` from the catalog.

    Column types are Postgres typnames (``int8``, ``_text`` for a text array, an enum's own
    name); ``identity`` is true for identity columns and ``nextval`` defaults (serial).
    """
    schema = Schema()
    async with conn.cursor() as cur:
        await cur.execute(_COLUMNS, (db_schema,))
        for table, name, typname, nullable, default, identity, labels, rls in await cur.fetchall():
            entry = schema.tables.setdefault(table, TableSchema(table, schema=db_schema))
            entry.rls_enabled = bool(rls)
            entry.columns.append(
                Column(name, typname, bool(nullable), default, bool(identity), tuple(labels))
            )
            if labels:
                schema.enums[typname.removeprefix("_")] = tuple(labels)
        await cur.execute(_KEYS, (db_schema,))
        for table, kind, _name, columns, referenced_table, referenced in await cur.fetchall():
            owner = schema.tables.get(table)
            if owner is None:
                continue
            if kind == "p":
                owner.primary_key = tuple(columns)
                owner.columns = [
                    Column(c.name, c.type, False, c.default, c.identity, c.enum_values)
                    if c.name in columns
                    else c
                    for c in owner.columns
                ]
            else:
                owner.foreign_keys.append(
                    ForeignKey(tuple(columns), referenced_table, tuple(referenced))
                )
    return schema
