"""In-memory tables with primary keys, defaults and commit timestamps; every write emits changes.

The store is the local server's database. It is owned by the server's event loop thread and is
not thread-safe: REST handlers and the fault-injection API call it from that loop only.
Errors are :class:`StoreError` carrying PostgREST's error fields, so the REST layer only renders.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from rtdata.filters import Condition, FilterError, matches
from rtdata.server.schema import CastError, Schema, TableSchema, coerce, comparable

__all__ = ["Change", "StoreError", "TableStore"]

Row = dict[str, Any]


class StoreError(Exception):
    """A write or read the database refuses, with PostgREST's error shape.

    Attributes:
        status: HTTP status PostgREST answers with.
        code: Postgres SQLSTATE or PostgREST ``PGRST...`` code.
        message: One-line description.
        details: Extra detail, or ``None``.
        hint: A hint, or ``None``.
    """

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        details: str | None = None,
        hint: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.details, self.hint = (
            status,
            code,
            message,
            details,
            hint,
        )

    def body(self) -> dict[str, str | None]:
        """Return the JSON body PostgREST sends for this error."""
        return {
            "code": self.code,
            "message": self.message,
            "details": self.details,
            "hint": self.hint,
        }


@dataclass(frozen=True, slots=True)
class Change:
    """One committed row change.

    Attributes:
        table: The table's schema.
        type: ``"INSERT"``, ``"UPDATE"`` or ``"DELETE"``.
        commit_ns: Commit time in nanoseconds since the epoch; strictly increasing per store.
        record: The new row (INSERT and UPDATE), else ``None``.
        old_record: The full old row (UPDATE and DELETE), else ``None``. The realtime layer
            trims it to the primary key unless the table is REPLICA IDENTITY FULL.
    """

    table: TableSchema
    type: str
    commit_ns: int
    record: Row | None
    old_record: Row | None


class TableStore:
    """Rows of every table in a :class:`Schema`, keyed by primary key.

    Args:
        schema: The tables to hold.
        clock_ns: Wall clock in nanoseconds since the epoch (a parameter for tests).
    """

    def __init__(self, schema: Schema, clock_ns: Callable[[], int] = time.time_ns) -> None:
        self.schema = schema
        self._clock_ns = clock_ns
        self._rows: dict[str, dict[tuple[Any, ...], Row]] = {name: {} for name in schema.tables}
        self._identity: dict[str, int] = dict.fromkeys(schema.tables, 0)
        self._last_commit_ns = 0
        self._listeners: list[Callable[[list[Change]], None]] = []

    # ------------------------------------------------------------ plumbing

    def subscribe(self, listener: Callable[[list[Change]], None]) -> None:
        """Call ``listener`` with the changes of every committed write, in commit order."""
        self._listeners.append(listener)

    def table(self, name: str) -> TableSchema:
        """Return the schema of table ``name``.

        Raises:
            StoreError: 404 ``PGRST205`` when the table does not exist.
        """
        table = self.schema.tables.get(name)
        if table is None:
            raise StoreError(
                404,
                "PGRST205",
                f"Could not find the table 'public.{name}' in the schema cache",
            )
        return table

    def rows(self, name: str) -> list[Row]:
        """Return copies of every row of table ``name`` in primary-key insertion order."""
        return [dict(row) for row in self._rows[self.table(name).name].values()]

    def _commit(self, changes: list[Change]) -> None:
        if changes:
            for listener in self._listeners:
                listener(changes)

    def _next_commit_ns(self) -> int:
        # Strictly increasing, so (table, key, commit time) identifies a change.
        self._last_commit_ns = max(self._clock_ns(), self._last_commit_ns + 1_000)
        return self._last_commit_ns

    # ------------------------------------------------------------ reads

    def select(self, name: str, conditions: Iterable[Condition] = ()) -> list[Row]:
        """Return copies of the rows of ``name`` matching every condition.

        Raises:
            StoreError: Unknown table or column (400 ``42703``), or an uncastable value (``22P02``).
        """
        table = self.table(name)
        conds = tuple(conditions)
        self._check_columns(table, (c.column for c in conds))
        cast, order = self._casters(table)
        try:
            return [dict(r) for r in self._rows[name].values() if matches(conds, r, cast, order)]
        except CastError as exc:
            raise StoreError(400, "22P02", str(exc)) from None

    # ------------------------------------------------------------ writes

    def insert(self, name: str, rows: Iterable[Mapping[str, Any]]) -> list[Row]:
        """Insert rows (all or none), applying defaults and casts; return the stored rows.

        Raises:
            StoreError: Unknown column (``PGRST204``), bad value (``22P02``), NULL in a NOT NULL
                column (``23502``) or duplicate primary key (``23505``).
        """
        table = self.table(name)
        stored = self._rows[name]
        prepared: list[tuple[tuple[Any, ...], Row]] = []
        seen: set[tuple[Any, ...]] = set()
        # now() is the transaction's start time in Postgres: one value for every default.
        now_iso = datetime.fromtimestamp(self._clock_ns() / 1e9, UTC).isoformat()
        for given in rows:
            row = self._complete(table, given, now_iso)
            key = self._key(table, row)
            if key in stored or key in seen:
                raise StoreError(
                    409,
                    "23505",
                    f'duplicate key value violates unique constraint "{name}_pkey"',
                    f"Key ({', '.join(table.primary_key)})=({', '.join(map(str, key))})"
                    " already exists.",
                )
            seen.add(key)
            prepared.append((key, row))
        commit_ns = self._next_commit_ns()
        changes = []
        for key, row in prepared:
            stored[key] = row
            changes.append(Change(table, "INSERT", commit_ns, dict(row), None))
        self._commit(changes)
        return [dict(row) for _, row in prepared]

    def update(
        self, name: str, conditions: Iterable[Condition], patch: Mapping[str, Any]
    ) -> list[Row]:
        """Apply ``patch`` to every row matching ``conditions``; return the new rows.

        Raises:
            StoreError: As :meth:`insert`, plus a filter that cannot be evaluated.
        """
        table = self.table(name)
        values = self._cast_values(table, patch)
        targets = self._matching(table, conditions)
        commit_ns = self._next_commit_ns()
        changes, out = [], []
        stored = self._rows[name]
        for key, old in targets:
            new = {**old, **values}
            self._check_not_null(table, new)
            new_key = self._key(table, new)
            if new_key != key and new_key in stored:
                raise StoreError(
                    409, "23505", f'duplicate key value violates unique constraint "{name}_pkey"'
                )
            del stored[key]
            stored[new_key] = new
            changes.append(Change(table, "UPDATE", commit_ns, dict(new), dict(old)))
            out.append(dict(new))
        self._commit(changes)
        return out

    def delete(self, name: str, conditions: Iterable[Condition]) -> list[Row]:
        """Delete every row matching ``conditions``; return the deleted rows."""
        table = self.table(name)
        targets = self._matching(table, conditions)
        commit_ns = self._next_commit_ns()
        stored = self._rows[name]
        changes = []
        for key, old in targets:
            del stored[key]
            changes.append(Change(table, "DELETE", commit_ns, None, dict(old)))
        self._commit(changes)
        return [dict(old) for _, old in targets]

    # ------------------------------------------------------------ helpers

    def _matching(
        self, table: TableSchema, conditions: Iterable[Condition]
    ) -> list[tuple[tuple[Any, ...], Row]]:
        conds = tuple(conditions)
        self._check_columns(table, (c.column for c in conds))
        cast, order = self._casters(table)
        try:
            return [
                (k, r) for k, r in self._rows[table.name].items() if matches(conds, r, cast, order)
            ]
        except (CastError, FilterError) as exc:
            raise StoreError(400, "22P02", str(exc)) from None

    def _casters(
        self, table: TableSchema
    ) -> tuple[Callable[[str, str], Any], Callable[[str, Any], Any]]:
        columns = {c.name: c for c in table.columns}

        def cast(column: str, text: str) -> Any:
            return coerce(columns[column], None if text == "null" else text)

        def order(column: str, value: Any) -> Any:
            return comparable(columns[column], value)

        return cast, order

    def _check_columns(self, table: TableSchema, names: Iterable[str]) -> None:
        for name in names:
            if table.column(name) is None:
                raise StoreError(400, "42703", f"column {table.name}.{name} does not exist")

    def _cast_values(self, table: TableSchema, given: Mapping[str, Any]) -> Row:
        out: Row = {}
        for name, value in given.items():
            column = table.column(name)
            if column is None:
                raise StoreError(
                    400,
                    "PGRST204",
                    f"Could not find the '{name}' column of '{table.name}' in the schema cache",
                )
            try:
                out[name] = coerce(column, value)
            except CastError as exc:
                raise StoreError(400, "22P02", str(exc)) from None
        return out

    def _complete(self, table: TableSchema, given: Mapping[str, Any], now_iso: str) -> Row:
        values = self._cast_values(table, given)
        row: Row = {}
        for column in table.columns:
            if column.name in values:
                row[column.name] = values[column.name]
                if column.identity and isinstance(values[column.name], int):
                    self._identity[table.name] = max(
                        self._identity[table.name], values[column.name]
                    )
            elif column.identity:
                self._identity[table.name] += 1
                row[column.name] = self._identity[table.name]
            else:
                row[column.name] = self._default(column.default, column.name, table, now_iso)
        self._check_not_null(table, row)
        return row

    def _default(self, sql: str | None, column: str, table: TableSchema, now_iso: str) -> Any:
        if sql is None:
            return None
        text = sql.strip()
        lowered = text.lower()
        if lowered in {"current_timestamp", "now()"} or "current_timestamp" in lowered:
            return now_iso
        if lowered in {"gen_random_uuid()", "uuid_generate_v4()"}:
            return str(uuid.uuid4())
        if lowered in {"true", "false"}:
            return lowered == "true"
        if lowered == "null":
            return None
        literal = text.split("::")[0]
        if literal.upper().startswith("CAST(") and " AS " in literal.upper():
            literal = literal[5 : literal.upper().rindex(" AS ")]
        if literal.startswith("'") and literal.endswith("'"):
            literal = literal[1:-1].replace("''", "'")
        col = table.column(column)
        assert col is not None
        try:
            return coerce(col, literal)
        except CastError as exc:
            raise StoreError(400, "22P02", f"default of {table.name}.{column}: {exc}") from None

    @staticmethod
    def _check_not_null(table: TableSchema, row: Row) -> None:
        for column in table.columns:
            if not column.nullable and row.get(column.name) is None:
                raise StoreError(
                    400,
                    "23502",
                    f'null value in column "{column.name}" of relation "{table.name}"'
                    " violates not-null constraint",
                )

    @staticmethod
    def _key(table: TableSchema, row: Row) -> tuple[Any, ...]:
        if table.primary_key:
            return tuple(row[c] for c in table.primary_key)
        return (id(row),)
