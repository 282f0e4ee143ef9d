"""PostgREST requests as parameterised SQL: a parsed request in, one statement out.

Every statement is built from sqlglot expressions: identifiers are quoted by sqlglot and every
value a client sent (filter values, bodies) is a ``$n`` parameter, so no client text ever
becomes SQL text. Filter values go as untyped text, the way PostgREST sends them, so Postgres
casts each to its column's type (``22P02`` for a value that does not fit); an ``in`` list is
one array literal (``"{...}"``) compared with ``= ANY($n)``. Rows to write go as one JSON
parameter expanded by ``json_populate_recordset(NULL::<table>, $n)``, PostgREST's way, so
Postgres checks every type, range, NUL byte and enum label.

Every statement returns exactly one row of three columns, the shape PostgREST's own queries
have:

- ``total``: the count of every matching row (reads) or of written rows, when
  ``Prefer: count=exact`` asked for it; else NULL;
- ``page_rows``: how many rows the page (or the write) holds;
- ``body``: the JSON text Postgres itself rendered (``json_agg`` of the selected columns, so
  Postgres's types format the values), or NULL when no body is wanted.

Writes are data-modifying CTEs; without a body they return ``RETURNING 1``, so that a caller who
may insert but not read (an INSERT policy without a SELECT one) can still write, as on Supabase.

``or``/``and`` trees, embedding and the ``fts`` operators are not in the parsed language
(:mod:`rtdata.filters`), so not here either.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

import orjson
from sqlglot import exp

from rtdata.filters import Condition
from rtdata.server.postgrest import RestQuery
from rtdata.server.store import Row

__all__ = [
    "Output",
    "Resolution",
    "Statement",
    "Target",
    "array_literal",
    "delete",
    "insert",
    "select",
    "update",
]

_DIALECT: Final = "postgres"
_PAGE: Final = "pgrst_page"
_SOURCE: Final = "pgrst_source"
_BODY: Final = "pgrst_body"
_COMPARE: Final[dict[str, type[exp.Binary]]] = {
    "eq": exp.EQ,
    "neq": exp.NEQ,
    "lt": exp.LT,
    "lte": exp.LTE,
    "gt": exp.GT,
    "gte": exp.GTE,
    "like": exp.Like,
    "ilike": exp.ILike,
    "match": exp.RegexpLike,
    "imatch": exp.RegexpILike,
    "isdistinct": exp.NullSafeNEQ,
}
_IS: Final[dict[str, exp.Expr]] = {
    "null": exp.Null(),
    "unknown": exp.Null(),  # sqlglot writes IS UNKNOWN as IS NULL; the same for booleans
    "true": exp.true(),
    "false": exp.false(),
}


class Resolution(enum.Enum):
    """What an upsert does with a row whose key exists (``Prefer: resolution=...``)."""

    MERGE = "merge-duplicates"
    """Update the existing row with the sent columns (``ON CONFLICT ... DO UPDATE``)."""
    IGNORE = "ignore-duplicates"
    """Keep the existing row (``ON CONFLICT ... DO NOTHING``)."""


@dataclass(frozen=True, slots=True)
class Target:
    """The table a request acts on.

    Attributes:
        name: Table name.
        schema: Its Postgres schema.
        primary_key: Its primary-key columns: an upsert's conflict target unless
            ``on_conflict=`` names one.
    """

    name: str
    schema: str = "public"
    primary_key: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Output:
    """What the statement's result row carries.

    Attributes:
        body: Whether to render the rows (``return=representation``, or any read).
        count: Whether to count every matching row (``Prefer: count=exact``).
        singular: Whether the body is one object, not an array
            (``Accept: application/vnd.pgrst.object+json``); the caller checks ``page_rows``.
        stripped: Whether null-valued keys are left out (``nulls=stripped``).
    """

    body: bool = True
    count: bool = False
    singular: bool = False
    stripped: bool = False


@dataclass(frozen=True, slots=True)
class Statement:
    """One SQL statement and its parameters.

    Attributes:
        sql: The statement, with ``$1``, ``$2``, ... placeholders (psycopg's raw cursor style).
        params: The parameter values, in placeholder order; each is text Postgres casts.
    """

    sql: str
    params: tuple[str, ...]


class _Params:
    """Parameter values collected while building, each one a ``$n`` placeholder."""

    def __init__(self) -> None:
        self.values: list[str] = []

    def add(self, value: str) -> exp.Parameter:
        self.values.append(value)
        return exp.Parameter(this=exp.Literal.number(len(self.values)))


def array_literal(values: Sequence[str | None]) -> str:
    """Return a Postgres array literal of ``values``: each element double-quoted with
    backslash escapes, ``None`` as an unquoted NULL."""
    items = (
        "NULL" if v is None else '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
        for v in values
    )
    return "{" + ",".join(items) + "}"


def _ident(name: str) -> exp.Identifier:
    return exp.to_identifier(name, quoted=True)


def _table(target: Target) -> exp.Table:
    return exp.Table(this=_ident(target.name), db=_ident(target.schema))


def _column(name: str, relation: str) -> exp.Column:
    return exp.Column(this=_ident(name), table=_ident(relation))


def _condition(cond: Condition, relation: str, params: _Params) -> exp.Expr:
    column = _column(cond.column, relation)
    test: exp.Expr
    if cond.op == "in":
        values = cond.value if isinstance(cond.value, tuple) else (cond.value,)
        test = exp.EQ(
            this=column, expression=exp.Any(this=exp.Paren(this=params.add(array_literal(values))))
        )
    elif cond.op == "is":
        test = exp.Is(this=column, expression=_IS[str(cond.value)].copy())
    else:
        assert isinstance(cond.value, str)
        test = _COMPARE[cond.op](this=column, expression=params.add(cond.value))
    return exp.Not(this=exp.Paren(this=test)) if cond.negate else test


def _where(conditions: Sequence[Condition], relation: str, params: _Params) -> exp.Expr | None:
    if not conditions:
        return None
    return exp.and_(*(_condition(c, relation, params) for c in conditions))


def _select_list(query: RestQuery, relation: str) -> list[exp.Expr]:
    items: list[exp.Expr] = []
    for alias, column in query.select:
        if column == "*":
            items.append(exp.Column(this=exp.Star(), table=_ident(relation)))
        else:
            items.append(exp.alias_(_column(column, relation), _ident(alias)))
    return items


def _body(output: Output) -> exp.Expr:
    if not output.body:
        return exp.cast(exp.Null(), "text")
    rows: exp.Expr = exp.func("json_agg", exp.column(_PAGE, quoted=True))
    if output.stripped:
        rows = exp.func("json_strip_nulls", rows)
    return exp.cast(exp.func("coalesce", rows, exp.Literal.string("[]")), "text")


def _count_all() -> exp.Expr:
    return exp.Count(this=exp.Star())


def _result(page: exp.Select, total: exp.Expr, output: Output) -> exp.Select:
    return exp.select(
        exp.alias_(total, "total"),
        exp.alias_(_count_all(), "page_rows"),
        exp.alias_(_body(output), "body"),
    ).from_(exp.Subquery(this=page, alias=exp.TableAlias(this=_ident(_PAGE))))


def select(
    target: Target, query: RestQuery, first: int, last: int | None, output: Output
) -> Statement:
    """Return the statement of a read: rows ``first..last`` (``None``: to the end) of the
    matching rows in ``query``'s order, with the selected columns.

    Args:
        target: The table.
        query: The parsed query string (select, filters, order).
        first: Offset of the first row of the page.
        last: Offset of the last row, or ``None``.
        output: What the result row carries.
    """
    params = _Params()
    condition = _where(query.conditions, target.name, params)
    page = exp.select(*_select_list(query, target.name)).from_(_table(target))
    if condition is not None:
        page = page.where(condition)
    for column, descending, nulls_first in query.order:
        ordered = exp.Ordered(
            this=_column(column, target.name), desc=descending, nulls_first=nulls_first
        )
        page = page.order_by(ordered)
    if last is not None:
        page = page.limit(exp.Literal.number(max(0, last - first + 1)))
    if first:
        page = page.offset(exp.Literal.number(first))
    total: exp.Expr = exp.Null()
    if output.count:
        counted = exp.select(_count_all()).from_(_table(target))
        if condition is not None:
            counted = counted.where(condition.copy())  # the same $n placeholders
        total = exp.Subquery(this=counted)
    return _statement(_result(page, total, output), params)


def _written(
    dml: Sequence[exp.Expr], query: RestQuery, output: Output, params: _Params
) -> Statement:
    """Wrap data-modifying statements in CTEs and render what they returned."""
    parts = [f"{_SOURCE}_{i}" for i in range(len(dml))]
    result_source: exp.Expr = exp.select(exp.Star()).from_(exp.Table(this=_ident(parts[0])))
    for name in parts[1:]:
        more = exp.select(exp.Star()).from_(exp.Table(this=_ident(name)))
        result_source = exp.union(result_source, more, distinct=False)
    page = exp.select(*(_select_list(query, _SOURCE) if output.body else [exp.Star()]))
    page = page.from_(exp.Subquery(this=result_source, alias=exp.TableAlias(this=_ident(_SOURCE))))
    total: exp.Expr = _count_all() if output.count else exp.Null()
    result = _result(page, total, output)
    for name, statement in zip(parts, dml, strict=True):
        result = result.with_(_ident(name), as_=statement)
    return _statement(result, params)


def _returning(target: Target, output: Output) -> exp.Returning:
    value: exp.Expr = (
        exp.Column(this=exp.Star(), table=_ident(target.name))
        if output.body
        else exp.Literal.number(1)  # no SELECT right needed on the written rows
    )
    return exp.Returning(expressions=[value])


def _populate(target: Target, rows: Sequence[Row], params: _Params) -> exp.Table:
    """``json_populate_recordset(NULL::<table>, $n) AS pgrst_body`` over ``rows`` as JSON."""
    row_type = exp.DataType(
        this=exp.DataType.Type.USERDEFINED,
        kind=exp.Dot(this=_ident(target.schema), expression=_ident(target.name)),
    )
    function = exp.Anonymous(
        this="json_populate_recordset",
        expressions=[
            exp.Cast(this=exp.Null(), to=row_type),
            params.add(orjson.dumps(list(rows)).decode()),
        ],
    )
    return exp.Table(this=function, alias=exp.TableAlias(this=_ident(_BODY)))


def insert(
    target: Target,
    query: RestQuery,
    rows: Sequence[Row],
    output: Output,
    resolution: Resolution | None = None,
) -> Statement:
    """Return the statement of a POST: insert ``rows`` (objects of column values), or upsert
    them with ``resolution``.

    Rows are grouped by their key set (rows may differ only under ``Prefer: missing=default``,
    where a left-out column takes its default), one ``INSERT ... SELECT`` per group, each group
    one JSON parameter. A key missing from a row of its group is NULL, as in PostgREST. The
    conflict target of an upsert is ``on_conflict=`` or else the primary key; a merge sets every
    sent column from ``EXCLUDED``.
    """
    params = _Params()
    groups: dict[tuple[str, ...], list[Row]] = {}
    for row in rows:
        groups.setdefault(tuple(row), []).append(row)
    if not groups:
        groups[()] = []
    statements: list[exp.Expr] = []
    for columns, members in groups.items():
        source = exp.select(*(_column(c, _BODY) for c in columns)).from_(
            _populate(target, members, params)
        )
        statement = exp.Insert(
            this=exp.Schema(this=_table(target), expressions=[_ident(c) for c in columns]),
            expression=source,
            returning=_returning(target, output),
        )
        if resolution is not None:
            statement.set("conflict", _on_conflict(target, query, columns, resolution))
        statements.append(statement)
    return _written(statements, query, output, params)


def _on_conflict(
    target: Target, query: RestQuery, columns: Sequence[str], resolution: Resolution
) -> exp.OnConflict:
    keys = query.on_conflict if query.on_conflict is not None else target.primary_key
    conflict = exp.OnConflict(
        conflict_keys=[_ident(k) for k in keys] or None,
        action=exp.var("DO NOTHING"),
    )
    if resolution is Resolution.MERGE and columns:
        conflict.set("action", exp.var("DO UPDATE"))
        conflict.set(
            "expressions",
            [
                exp.EQ(this=exp.column(_ident(c)), expression=_column(c, "excluded"))
                for c in columns
            ],
        )
    return conflict


def update(target: Target, query: RestQuery, patch: Row, output: Output) -> Statement:
    """Return the statement of a PATCH: set ``patch``'s columns on the rows that match the
    filters; the values go as one JSON parameter, typed by ``json_populate_recordset``."""
    params = _Params()
    statement = exp.Update(
        this=_table(target),
        expressions=[
            exp.EQ(this=exp.column(_ident(c)), expression=_column(c, _BODY)) for c in patch
        ],
        from_=exp.From(this=_populate(target, [patch], params)),
        returning=_returning(target, output),
    )
    condition = _where(query.conditions, target.name, params)
    if condition is not None:
        statement.set("where", exp.Where(this=condition))
    return _written([statement], query, output, params)


def delete(target: Target, query: RestQuery, output: Output) -> Statement:
    """Return the statement of a DELETE of the rows that match the filters."""
    params = _Params()
    statement = exp.Delete(this=_table(target), returning=_returning(target, output))
    condition = _where(query.conditions, target.name, params)
    if condition is not None:
        statement.set("where", exp.Where(this=condition))
    return _written([statement], query, output, params)


def _statement(expression: exp.Expr, params: _Params) -> Statement:
    return Statement(expression.sql(dialect=_DIALECT), tuple(params.values))
