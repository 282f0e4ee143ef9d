"""In-memory tables with primary keys, defaults and commit timestamps; every write emits changes.

The store is the local server's database. It is owned by the server's event loop thread and is
not thread-safe: REST handlers and the fault-injection API call it from that loop only.
Errors are :class:`StoreError` carrying PostgREST's error fields, so the REST layer only renders.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from rtdata.filters import Condition, FilterError, check_conditions, predicate
from rtdata.server.grants import Privilege
from rtdata.server.policies import BYPASS_ROLE, visible
from rtdata.server.schema import Schema, TableSchema
from rtdata.server.values import CastError, coerce, coerce_literal, comparable

__all__ = ["Change", "Claims", "Row", "StoreError", "TableStore", "filter_error"]

Row = dict[str, Any]
Claims = Mapping[str, Any]
"""A caller's verified JWT claims; ``role`` names the Postgres role the write runs as."""

log = logging.getLogger(__name__)


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


# PostgREST answers Postgres errors with 400, except these (its ResultError.pgErrorStatus).
_SQLSTATE_STATUS = {"42883": 404, "21000": 500, "23505": 409, "23503": 409}


def filter_error(exc: FilterError) -> StoreError:
    """Return the PostgREST error for a filter that does not parse or does not fit its column.

    A syntax error is ``PGRST100``; otherwise the Postgres SQLSTATE the filter would raise.
    """
    if exc.sqlstate is None:
        value = exc.segment.partition("=")[2] if exc.segment else ""
        return StoreError(400, "PGRST100", f'"failed to parse filter ({value})"', exc.reason)
    return StoreError(_SQLSTATE_STATUS.get(exc.sqlstate, 400), exc.sqlstate, exc.reason)


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


def _insufficient_privilege(claims: Claims, message: str) -> StoreError:
    # PostgREST answers 42501 with 401 for the anonymous role, 403 for any other.
    status = 401 if claims.get("role", "anon") == "anon" else 403
    return StoreError(status, "42501", message)


def _check_privileges(table: TableSchema, claims: Claims | None, *privileges: Privilege) -> None:
    """Refuse a statement whose caller's role lacks one of ``privileges`` on ``table``, as
    Postgres does before any row-level security: ``42501 permission denied for table``.
    ``None`` claims are the server's own statements, which run as the table owner."""
    if claims is None:
        return
    role = str(claims.get("role", "anon"))
    if not all(table.allows(role, p) for p in privileges):
        raise _insufficient_privilege(claims, f"permission denied for table {table.name}")


class _RowSecurity:
    """Row-level security of one write by one caller, as Postgres applies it.

    ``passes`` evaluates a command's ``USING`` (or, ``checking``, its ``WITH CHECK``) for a
    row; with no policy for the command and role it is false (default deny).
    """

    def __init__(self, table: TableSchema, claims: Claims, cast: Callable[[str, Any], Any]):
        self.table, self.claims, self.cast = table, claims, cast

    def passes(self, command: str, row: Row, *, checking: bool = False) -> bool:
        return visible(
            self.table.policies, True, command, self.claims, row, self.cast, checking=checking
        )

    def refusal(self, *, using: bool = False) -> StoreError:
        kind = "(USING expression) " if using else ""
        return _insufficient_privilege(
            self.claims,
            f'new row violates row-level security policy {kind}for table "{self.table.name}"',
        )


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
        # The rows are stored: a failing listener must not turn the committed write into an
        # error (the client would retry a write that happened), nor starve the other listeners.
        if changes:
            for listener in self._listeners:
                try:
                    listener(changes)
                except Exception:
                    log.exception("store: a change listener failed; the write stands")

    def _next_commit_ns(self) -> int:
        # Strictly increasing, so (table, key, commit time) identifies a change.
        self._last_commit_ns = max(self._clock_ns(), self._last_commit_ns + 1_000)
        return self._last_commit_ns

    # ------------------------------------------------------------ reads

    def select(
        self, name: str, conditions: Iterable[Condition] = (), *, claims: Claims | None = None
    ) -> list[Row]:
        """Return copies of the rows of ``name`` matching every condition.

        Args:
            name: Table name.
            conditions: Filters, all of which a row must pass.
            claims: The caller's JWT claims: their role must hold ``SELECT`` on the table.
                Row-level read policies are applied by the caller (the REST layer's
                ``row_filter``). ``None`` reads as the table owner.

        Raises:
            StoreError: Unknown table (404 ``PGRST205``), unknown column (400 ``42703``), a
                value that does not cast (400 with its SQLSTATE: ``22P02``, ``22003``,
                ``22007``, ...) or an operator that does not fit the column (see
                :meth:`check_conditions`), no ``SELECT`` privilege (``42501``).
        """
        table = self.table(name)
        matching = self._matching(table, conditions, claims=claims, privileges=(Privilege.SELECT,))
        return [dict(row) for _key, row in matching]

    def check_conditions(self, name: str, conditions: Iterable[Condition]) -> None:
        """Validate conditions against table ``name`` as Postgres would before running them.

        Raises:
            StoreError: ``42703`` unknown column, an uncastable value (its SQLSTATE), ``42804``
                ``is.true`` on a non-boolean column, 404 ``42883`` an operator the column's
                type lacks (``like`` on a number).
        """
        table = self.table(name)
        conds = tuple(conditions)
        self._check_columns(table, (c.column for c in conds))
        cast, _ = self._casters(table)
        try:
            check_conditions(conds, {c.name: c.type for c in table.columns}, cast)
        except FilterError as exc:
            raise filter_error(exc) from None

    # ------------------------------------------------------------ writes

    def insert(
        self,
        name: str,
        rows: Iterable[Mapping[str, Any]],
        *,
        before_commit: Callable[[list[Row]], None] | None = None,
        claims: Claims | None = None,
        returning: bool = False,
    ) -> list[Row]:
        """Insert rows (all or none), applying defaults and casts; return the stored rows.

        A key missing from a row takes the column default; a key present with ``None`` is NULL.

        Args:
            name: Table name.
            rows: Row objects.
            before_commit: Called with the rows about to be returned, before anything changes;
                raising there aborts the write (the REST layer's singular-object check).
            claims: The caller's JWT claims: the write obeys the table's row-level security
                for their role, as ``INSERT`` does on Postgres (``service_role`` bypasses it).
                ``None`` writes as the table owner (no RLS), for the server's own writes.
            returning: The caller reads the written rows back (``RETURNING``): with RLS they
                must also pass the table's SELECT policies.

        Raises:
            StoreError: Unknown column (``PGRST204``), a value its column's type refuses (its
                SQLSTATE, see :func:`rtdata.server.values.coerce`), NULL in a NOT NULL
                column (``23502``), duplicate primary key (``23505``), a caller's role
                without the ``INSERT`` privilege (or ``SELECT`` when ``returning``) or a row
                its policies refuse (``42501``).
        """
        return self.upsert(
            name,
            rows,
            resolution=None,
            before_commit=before_commit,
            claims=claims,
            returning=returning,
        )

    def upsert(
        self,
        name: str,
        rows: Iterable[Mapping[str, Any]],
        *,
        on_conflict: Sequence[str] | None = None,
        resolution: Literal["merge", "ignore"] | None = "merge",
        before_commit: Callable[[list[Row]], None] | None = None,
        claims: Claims | None = None,
        returning: bool = False,
    ) -> list[Row]:
        """Insert rows, resolving primary-key conflicts like ``INSERT ... ON CONFLICT``.

        ``merge`` is ``DO UPDATE SET`` every column given in any row (PostgREST's
        ``resolution=merge-duplicates``): the existing row is updated and an UPDATE change with
        the old row is emitted. ``ignore`` is ``DO NOTHING`` (``ignore-duplicates``): the row
        is skipped. ``None`` is a plain insert. All rows or none are written.

        Args:
            name: Table name.
            rows: Row objects.
            on_conflict: The conflict target; the primary key when omitted. Only the primary
                key is a unique constraint here.
            resolution: ``"merge"``, ``"ignore"`` or ``None``.
            before_commit: As in :meth:`insert`.
            claims: As in :meth:`insert`. Under RLS every proposed row must pass INSERT's
                ``WITH CHECK``; a merged row's existing version must pass UPDATE's (and
                SELECT's) ``USING`` and its new version UPDATE's ``WITH CHECK``, else the
                whole write fails with ``42501``, as ``ON CONFLICT DO UPDATE`` does.
            returning: As in :meth:`insert`.

        Returns:
            The inserted and updated rows (not the ignored ones), in payload order.

        Raises:
            StoreError: As :meth:`insert`; ``42703`` for an unknown ``on_conflict`` column,
                ``42P10`` when it is not the primary key, 500 ``21000`` when one payload
                updates the same row twice; ``42501`` also for a role without ``SELECT``
                (any ``resolution``) or, for a ``merge``, without ``UPDATE``.
        """
        table = self.table(name)
        rls = self._row_security(table, claims)
        given = [dict(row) for row in rows]
        if resolution is not None:
            self._check_conflict_target(table, on_conflict)
        for row in given:
            self._check_writable(table, row)
        # As Postgres: ON CONFLICT reads the conflict target (SELECT), DO UPDATE also needs
        # UPDATE, and RETURNING the written rows needs SELECT.
        needed = [Privilege.INSERT]
        if resolution == "merge":
            needed.append(Privilege.UPDATE)
        if returning or resolution is not None:
            needed.append(Privilege.SELECT)
        _check_privileges(table, claims, *needed)
        update_columns = {key for row in given for key in row}
        stored = self._rows[name]
        identity = self._identity[name]
        # now() is the transaction's start time in Postgres: one value for every default.
        now_iso = datetime.fromtimestamp(self._clock_ns() / 1e9, UTC).isoformat()
        plan: dict[tuple[Any, ...], tuple[Row | None, Row]] = {}  # key -> (old, new)
        touched: set[tuple[Any, ...]] = set()
        out: list[Row] = []
        try:
            for row_given in given:
                row = self._complete(table, row_given, now_iso, claims)
                if rls is not None and not rls.passes("insert", row, checking=True):
                    raise rls.refusal()
                key = self._key(table, row)
                existing = plan[key][1] if key in plan else stored.get(key)
                if existing is None:
                    plan[key] = (None, row)
                elif resolution == "ignore":
                    continue
                elif resolution == "merge":
                    if key in touched:
                        raise StoreError(
                            500,
                            "21000",
                            "ON CONFLICT DO UPDATE command cannot affect row a second time",
                            None,
                            "Ensure that no rows proposed for insertion within the same command"
                            " have duplicate constrained values.",
                        )
                    if rls is not None and not (
                        rls.passes("update", existing) and rls.passes("select", existing)
                    ):
                        raise rls.refusal(using=True)
                    row = {**existing, **{c: row[c] for c in update_columns}}
                    self._check_not_null(table, row)
                    if rls is not None and not rls.passes("update", row, checking=True):
                        raise rls.refusal()
                    plan[key] = (plan[key][0] if key in plan else existing, row)
                else:
                    raise self._duplicate(table, key)
                if (
                    rls is not None
                    and (returning or resolution == "merge")
                    and not rls.passes("select", row)
                ):
                    raise rls.refusal()
                touched.add(key)
                out.append(row)
            if before_commit is not None:
                before_commit([dict(r) for r in out])
        except Exception:
            self._identity[name] = identity  # nothing was written; reuse the numbers
            raise
        commit_ns = self._next_commit_ns()
        changes = []
        for key, (old, new) in plan.items():
            stored[key] = new
            if old is None:
                changes.append(Change(table, "INSERT", commit_ns, dict(new), None))
            else:
                changes.append(Change(table, "UPDATE", commit_ns, dict(new), dict(old)))
        self._commit(changes)
        return [dict(r) for r in out]

    def update(
        self,
        name: str,
        conditions: Iterable[Condition],
        patch: Mapping[str, Any],
        *,
        before_commit: Callable[[list[Row]], None] | None = None,
        claims: Claims | None = None,
    ) -> list[Row]:
        """Apply ``patch`` to every row matching ``conditions`` (all or none); return new rows.

        With ``claims`` (see :meth:`insert`) and row-level security, only rows that pass the
        caller's SELECT and UPDATE ``USING`` are touched (the others are silently left, as on
        Postgres), and every new row must pass UPDATE's ``WITH CHECK`` and SELECT's ``USING``.
        Before any policy, the caller's role must hold ``UPDATE`` and ``SELECT`` (the filter
        reads the table) on it.

        Raises:
            StoreError: As :meth:`insert`, plus a filter that cannot be evaluated.
        """
        table = self.table(name)
        rls = self._row_security(table, claims)
        self._check_writable(table, patch, updating=True)
        # The WHERE clause reads the table: UPDATE with a filter also needs SELECT.
        targets = self._matching(
            table,
            conditions,
            rls,
            "update",
            claims=claims,
            privileges=(Privilege.UPDATE, Privilege.SELECT),
        )
        values = self._cast_values(table, patch, updating=True)
        stored = self._rows[name]
        updated = [(key, old, {**old, **values}) for key, old in targets]
        remaining = set(stored) - {key for key, _ in targets}
        for _key, _old, new in updated:
            self._check_not_null(table, new)
            if rls is not None and not (
                rls.passes("update", new, checking=True) and rls.passes("select", new)
            ):
                raise rls.refusal()
            new_key = self._key(table, new)
            if new_key in remaining:
                raise self._duplicate(table, new_key)
            remaining.add(new_key)
        if before_commit is not None:
            before_commit([dict(new) for _, _, new in updated])
        if not updated:
            return []
        commit_ns = self._next_commit_ns()
        moved = [(key, new) for key, _old, new in updated if self._key(table, new) != key]
        for key, _old, new in updated:
            if self._key(table, new) == key:
                stored[key] = new  # in place, keeping the table's order
        for key, _new in moved:
            del stored[key]
        for _key, new in moved:
            stored[self._key(table, new)] = new
        self._commit([Change(table, "UPDATE", commit_ns, dict(n), dict(o)) for _, o, n in updated])
        return [dict(new) for _, _, new in updated]

    def delete(
        self,
        name: str,
        conditions: Iterable[Condition],
        *,
        before_commit: Callable[[list[Row]], None] | None = None,
        claims: Claims | None = None,
    ) -> list[Row]:
        """Delete every row matching ``conditions``; return the deleted rows.

        With ``claims`` (see :meth:`insert`) and row-level security, only rows that pass the
        caller's SELECT and DELETE ``USING`` are deleted; the others are silently left.
        Before any policy, the caller's role must hold ``DELETE`` and ``SELECT`` (the filter
        reads the table) on it.

        Raises:
            StoreError: A filter that cannot be evaluated (see :meth:`check_conditions`), or
                ``42501`` for a role without those privileges.
        """
        table = self.table(name)
        # The WHERE clause reads the table: DELETE with a filter also needs SELECT.
        targets = self._matching(
            table,
            conditions,
            self._row_security(table, claims),
            "delete",
            claims=claims,
            privileges=(Privilege.DELETE, Privilege.SELECT),
        )
        if before_commit is not None:
            before_commit([dict(old) for _, old in targets])
        if not targets:
            return []
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
        self,
        table: TableSchema,
        conditions: Iterable[Condition],
        rls: _RowSecurity | None = None,
        command: str = "select",
        *,
        claims: Claims | None = None,
        privileges: Sequence[Privilege] = (),
    ) -> list[tuple[tuple[Any, ...], Row]]:
        # As in Postgres: the filters are checked when the statement is planned, the
        # privileges when it starts, the rows' policies as it runs.
        conds = tuple(conditions)
        self.check_conditions(table.name, conds)
        _check_privileges(table, claims, *privileges)
        cast, order = self._casters(table)
        test = predicate(conds, cast, order)
        return [
            (k, r)
            for k, r in self._rows[table.name].items()
            if test(r) and (rls is None or (rls.passes("select", r) and rls.passes(command, r)))
        ]

    def _row_security(self, table: TableSchema, claims: Claims | None) -> _RowSecurity | None:
        """The RLS a write by ``claims`` obeys, or ``None`` when none applies."""
        if claims is None or not table.rls_enabled or claims.get("role") == BYPASS_ROLE:
            return None
        return _RowSecurity(table, claims, self._casters(table)[0])

    def _check_conflict_target(self, table: TableSchema, on_conflict: Sequence[str] | None) -> None:
        if on_conflict is None:
            return
        for name in on_conflict:
            if table.column(name) is None:
                raise StoreError(400, "42703", f'column "{name}" does not exist')
        if not table.primary_key or set(on_conflict) != set(table.primary_key):
            raise StoreError(
                400,
                "42P10",
                "there is no unique or exclusion constraint matching the ON CONFLICT specification",
            )

    @staticmethod
    def _duplicate(table: TableSchema, key: tuple[Any, ...]) -> StoreError:
        return StoreError(
            409,
            "23505",
            f'duplicate key value violates unique constraint "{table.name}_pkey"',
            f"Key ({', '.join(table.primary_key)})=({', '.join(map(str, key))}) already exists.",
        )

    def _casters(
        self, table: TableSchema
    ) -> tuple[Callable[[str, str], Any], Callable[[str, Any], Any]]:
        columns = {c.name: c for c in table.columns}

        def cast(column: str, text: str) -> Any:
            # Like Postgres, "null" is only text here: eq.null on a number is 22P02.
            try:
                return coerce_literal(columns[column], text)
            except CastError as exc:  # out of range is 22003, a bad date 22007, ...
                raise FilterError(exc.message, None, exc.sqlstate.value) from None

        def order(column: str, value: Any) -> Any:
            return comparable(columns[column], value)

        return cast, order

    def _check_columns(self, table: TableSchema, names: Iterable[str]) -> None:
        for name in names:
            if table.column(name) is None:
                raise StoreError(400, "42703", f"column {table.name}.{name} does not exist")

    def _check_writable(
        self, table: TableSchema, given: Mapping[str, Any], *, updating: bool = False
    ) -> None:
        """Refuse a key that is not a column (``PGRST204``) or is an identity column
        ``GENERATED ALWAYS`` (``428C9``), before any value is cast."""
        for name in given:
            column = table.column(name)
            if column is None:
                raise StoreError(
                    400,
                    "PGRST204",
                    f"Could not find the '{name}' column of '{table.name}' in the schema cache",
                )
            if column.generated_always:
                raise StoreError(
                    400,
                    "428C9",
                    f'column "{name}" can only be updated to DEFAULT'
                    if updating
                    else f'cannot insert a non-DEFAULT value into column "{name}"',
                    f'Column "{name}" is an identity column defined as GENERATED ALWAYS.',
                    None if updating else "Use OVERRIDING SYSTEM VALUE to override.",
                )

    def _cast_values(
        self, table: TableSchema, given: Mapping[str, Any], *, updating: bool = False
    ) -> Row:
        self._check_writable(table, given, updating=updating)
        out: Row = {}
        for name, value in given.items():
            column = table.column(name)
            assert column is not None  # checked above
            try:
                out[name] = coerce(column, value)
            except CastError as exc:
                raise StoreError(400, exc.sqlstate.value, exc.message, exc.detail) from None
        return out

    def _complete(
        self,
        table: TableSchema,
        given: Mapping[str, Any],
        now_iso: str,
        claims: Claims | None = None,
    ) -> Row:
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
                row[column.name] = self._default(
                    column.default, column.name, table, now_iso, claims or {}
                )
        self._check_not_null(table, row)
        return row

    def _default(
        self, sql: str | None, column: str, table: TableSchema, now_iso: str, claims: Claims
    ) -> Any:
        if sql is None:
            return None
        text = sql.strip()
        lowered = text.lower()
        claim = {"auth.uid()": "sub", "auth.role()": "role"}.get(lowered.strip("()") + "()")
        if claim is not None:  # the caller's claim, as Supabase's auth.uid() reads it
            col = table.column(column)
            assert col is not None
            try:
                return coerce(col, claims.get(claim))
            except CastError:
                return None  # auth.uid() is NULL for a sub that is not a uuid
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
            raise StoreError(
                400, exc.sqlstate.value, f"default of {table.name}.{column}: {exc}"
            ) from None

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
