"""Event rows: what the collector records for every change, message and status transition.

Pure functions turn a client payload into an :class:`Event`; the clock is a parameter.
Records are kept as compact JSON text so a million events fit in memory and export as-is.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from enum import StrEnum
from functools import lru_cache
from typing import Any, Final, NamedTuple

import orjson

__all__ = [
    "COLUMNS",
    "FIELD_PREFIX",
    "KINDS",
    "SOURCES",
    "Event",
    "EventError",
    "EventKind",
    "EventSource",
    "RecordMismatch",
    "check_record",
    "decode_record",
    "event_from_change",
    "event_from_row",
    "field_column",
    "parse_commit_timestamp_ns",
    "row_key",
]


class EventKind(StrEnum):
    """What an event records: the values of :attr:`Event.kind`.

    Members are ``str``, so they compare equal to their text in frames, Parquet files and
    buffer filters, and history written before this enum existed reads back unchanged.
    """

    POSTGRES_CHANGES = "postgres_changes"
    """A row change: live from Realtime, or read over REST (see :class:`EventSource`)."""
    BROADCAST = "broadcast"
    """A broadcast message; ``op`` is its event name."""
    PRESENCE = "presence"
    """A presence ``join``, ``leave`` or ``sync``."""
    STATUS = "status"
    """A collector lifecycle transition; ``op`` is the state entered."""
    ALERT = "alert"
    """An alert rule that became true; ``op`` is the rule's name."""


class EventSource(StrEnum):
    """How an event reached the collector: the values of :attr:`Event.source`."""

    REALTIME = "realtime"
    """Pushed over the Realtime socket."""
    SNAPSHOT = "snapshot"
    """Read over REST when a table was first loaded."""
    RESYNC = "resync"
    """Read over REST to cover a gap or a periodic re-check."""
    POLL = "poll"
    """Read over REST while the socket was down."""


KINDS: Final = tuple(EventKind)
"""Every :class:`EventKind`, in declaration order."""

SOURCES: Final = tuple(EventSource)
"""Every :class:`EventSource`, in declaration order."""

_POSTGRES_CHANGES: Final = EventKind.POSTGRES_CHANGES  # a global lookup on the hot path

COLUMNS: Final = (
    "received_at",
    "commit_ts",
    "latency_ms",
    "kind",
    "channel",
    "table",
    "op",
    "key",
    "record",
    "old_record",
    "source",
)
"""Column names of :meth:`rtdata.EventBuffer.snapshot`, in order."""

FIELD_PREFIX: Final = "record."
"""Prefix of the columns a snapshot adds for the record fields asked of it
(:func:`field_column`)."""


def decode_record(text: object) -> dict[str, Any]:
    """Decode an event's record (or old record) from its JSON text; anything but a JSON
    object (no text, text that is not JSON, another JSON value) gives an empty dict."""
    if not isinstance(text, str) or not text:
        return {}
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError:
        return {}
    return value if isinstance(value, dict) else {}


def field_column(field: str) -> str:
    """Return the snapshot column holding record field ``field``: its value in each event's
    decoded record (``None`` where the record is missing, not a JSON object, or lacks it)."""
    return FIELD_PREFIX + field


class EventError(ValueError):
    """A payload that cannot become an event; the text names what is missing or wrong."""


class RecordMismatch(EventError):
    """A change whose ``record`` or ``old_record`` does not fit the columns it lists: a column
    the table does not have, or a value whose JSON type the column's Postgres type cannot give.
    The text names the table, the column and the types, never the value."""


_NONE: Final = type(None)
_INTEGER: Final = (int, _NONE)
_NUMBER: Final = (int, float, str, _NONE)  # a float or numeric may be "NaN" or "Infinity"
_STRING: Final = (str, _NONE)
_JSON_TYPES: Final[Mapping[str, tuple[type, ...]]] = {
    **dict.fromkeys(("int2", "int4", "int8", "oid"), _INTEGER),
    **dict.fromkeys(("float4", "float8", "numeric"), _NUMBER),
    "bool": (bool, _NONE),
    **dict.fromkeys(
        (
            "text",
            "varchar",
            "bpchar",
            "char",
            "name",
            "citext",
            "uuid",
            "date",
            "time",
            "timetz",
            "timestamp",
            "timestamptz",
            "interval",
            "bytea",
            "inet",
            "cidr",
            "macaddr",
        ),
        _STRING,
    ),
}
"""The Python types of the JSON values Postgres's ``to_jsonb`` can give for a column type
(Supabase builds a change's record with it), by type name; JSON, enums, domains and types not
listed may hold any value, an array (``_int4``) a list."""
_ARRAY: Final = (list, _NONE)


def check_record(table: str, record: Mapping[str, Any], columns: Any) -> None:
    """Check that every field of ``record`` is one of ``columns`` (the change's
    ``[{"name", "type"}, ...]``) and that its value's JSON type fits the column's type (see
    :data:`_JSON_TYPES`). A record may lack columns (an unchanged TOASTed value, the old
    record's identity columns only).

    Raises:
        RecordMismatch: ``columns`` is not a list of ``{name, type}``, or a field is not among
            them, or its value does not fit its type.
    """
    try:
        types = {column["name"]: column["type"] for column in columns}
    except (TypeError, KeyError):
        types = None
    if type(columns) is not list or types is None:
        raise RecordMismatch(f"change of {table} lists no columns with a name and type")
    for name, value in record.items():
        pg_type = types.get(name)
        if type(pg_type) is not str:
            if name not in types:
                raise RecordMismatch(f"{table} has no column {name!r}")
            raise RecordMismatch(f"change of {table} lists no columns with a name and type")
        allowed = _JSON_TYPES.get(pg_type)
        if allowed is None:
            if pg_type[0] != "_":
                continue
            allowed = _ARRAY
        if type(value) not in allowed:
            raise RecordMismatch(
                f"{table}.{name} is {pg_type} but the change gives a {type(value).__name__}"
            )


class Event(NamedTuple):
    """One recorded event (an immutable named tuple: cheap to build on the hot path).

    Attributes:
        received_at_ns: When the collector received it, nanoseconds since the epoch (UTC).
        commit_ns: Commit time reported by the server in nanoseconds, or ``None``.
        kind: An :class:`EventKind` (a ``str``).
        channel: Channel name without the ``realtime:`` prefix.
        table: Table name, or ``None`` when not a table change.
        op: ``INSERT``, ``UPDATE``, ``DELETE``, ``SNAPSHOT``, a broadcast event name,
            ``join``/``leave``/``sync`` for presence, a state name for ``status`` events, or
            a rule name for ``alert`` events.
        key: Primary-key value as text (composite keys joined with ``|``), or ``None``.
        record: New row as JSON text, or ``None``.
        old_record: Old row (as the server sent it) as JSON text, or ``None``.
        source: An :class:`EventSource` (a ``str``).
    """

    received_at_ns: int
    commit_ns: int | None
    kind: str
    channel: str
    table: str | None
    op: str
    key: str | None
    record: str | None
    old_record: str | None
    source: str = EventSource.REALTIME

    @property
    def latency_ms(self) -> float | None:
        """Commit → receive latency in milliseconds, or ``None`` without a commit time."""
        if self.commit_ns is None:
            return None
        return (self.received_at_ns - self.commit_ns) / 1e6


@lru_cache(maxsize=4096)  # every row of one transaction carries the same commit time
def parse_commit_timestamp_ns(text: str) -> int:
    """Parse a ``commit_timestamp`` such as ``2024-05-01T10:00:00.123Z`` to epoch nanoseconds.

    Raises:
        EventError: The text is not an ISO 8601 timestamp.
    """
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except (ValueError, AttributeError):
        raise EventError(f"commit_timestamp {text!r} is not an ISO 8601 timestamp") from None
    whole = int(parsed.timestamp())
    return whole * 1_000_000_000 + parsed.microsecond * 1_000


def row_key(row: Mapping[str, Any], primary_key: Sequence[str]) -> str:
    """Return the primary key of ``row`` as text; composite keys are joined with ``|``.

    Raises:
        EventError: A primary-key column is missing or null.
    """
    if len(primary_key) == 1:  # the common case, on the hot path
        value = row.get(primary_key[0])
        if value is None:
            raise EventError(f"row has no value for primary key column {primary_key[0]!r}")
        return value if type(value) is str else str(value)
    parts = []
    for column in primary_key:
        value = row.get(column)
        if value is None:
            raise EventError(f"row has no value for primary key column {column!r}")
        parts.append(str(value))
    return "|".join(parts)


_OPS: Final[Mapping[str, str]] = {
    spelled: op
    for op in ("INSERT", "UPDATE", "DELETE")
    for spelled in (op, op.lower(), op.capitalize())
}


def _json(value: Any) -> str | None:
    return None if value is None else orjson.dumps(value).decode()


def event_from_change(
    payload: Mapping[str, Any], channel: str, received_at_ns: int, primary_key: Sequence[str]
) -> Event:
    """Turn a postgres_changes callback payload into an event.

    Args:
        payload: What realtime-py passes to the callback: ``{"data": {...}, "ids": [...]}``.
        channel: Channel name without prefix.
        received_at_ns: Receive time in epoch nanoseconds.
        primary_key: Primary-key columns of the table.

    Raises:
        RecordMismatch: ``record`` or ``old_record`` does not fit the change's ``columns``
            (see :func:`check_record`).
        EventError: The payload lacks its data, type, table or primary key, or its record or
            old record is not an object.
    """
    data = payload.get("data")
    if type(data) is not dict and not isinstance(data, Mapping):  # exact type first: cheaper
        raise EventError("postgres_changes payload has no 'data' object")
    raw_type = data.get("type")
    # realtime-py gives a (str, Enum) member; it hashes and compares as its value.
    op = _OPS.get(raw_type) if isinstance(raw_type, str) else None
    if op is None:
        raise EventError(f"postgres_changes type {raw_type!r} is not INSERT/UPDATE/DELETE")
    table = data.get("table")
    if not isinstance(table, str) or not table:
        raise EventError("postgres_changes data has no table")
    record = data.get("record") if op != "DELETE" else None
    old_record = data.get("old_record") if op != "INSERT" else None
    keyed = record if record else old_record
    if type(keyed) is not dict and not isinstance(keyed, Mapping):
        raise EventError(f"{op} on {table} carries no record to take the primary key from")
    columns = data.get("columns")
    for part in (record, old_record):
        if part is not None:
            if not isinstance(part, Mapping):
                raise EventError(f"{op} on {table} carries a record that is not an object")
            check_record(table, part, columns)
    commit = data.get("commit_timestamp")
    # Positional: this runs once per change on the collector's hot path.
    return Event(
        received_at_ns,
        parse_commit_timestamp_ns(commit) if isinstance(commit, str) else None,
        _POSTGRES_CHANGES,
        channel,
        table,
        op,
        row_key(keyed, primary_key),
        None if record is None else orjson.dumps(record).decode(),
        None if old_record is None else orjson.dumps(old_record).decode(),
    )


def event_from_row(
    row: Mapping[str, Any],
    table: str,
    received_at_ns: int,
    primary_key: Sequence[str],
    *,
    source: str = EventSource.SNAPSHOT,
) -> Event:
    """Turn a row read over REST (snapshot, resync or poll) into an ``op="SNAPSHOT"`` event.

    Raises:
        EventError: The row lacks its primary key.
    """
    return Event(
        received_at_ns=received_at_ns,
        commit_ns=None,
        kind=EventKind.POSTGRES_CHANGES,
        channel="",
        table=table,
        op="SNAPSHOT",
        key=row_key(row, primary_key),
        record=_json(row),
        old_record=None,
        source=source,
    )
