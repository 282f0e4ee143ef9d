"""A sans-I/O decoder of the pgoutput logical replication protocol, version 1.

Bytes in, typed messages out: :func:`decode` turns one message (one ``data`` value of
``pg_logical_slot_peek_binary_changes(..., 'proto_version', '1', ...)``) into a
:class:`Begin`, :class:`Commit`, :class:`Origin`, :class:`Relation`, :class:`Type`,
:class:`Insert`, :class:`Update`, :class:`Delete`, :class:`Truncate` or :class:`Message`. It imports
no socket, database driver or clock. The layout is Postgres's "Logical Replication Message
Formats" (protocol-logicalrep-message-formats): big-endian integers, NUL-terminated strings,
times in microseconds since 2000-01-01 UTC, which :func:`decode` turns into nanoseconds since the
Unix epoch. Bytes that do not follow the format raise :class:`DecodeError`, never another
exception.
"""

from __future__ import annotations

import enum
import struct
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

__all__ = [
    "Begin",
    "Commit",
    "DecodeError",
    "Delete",
    "Insert",
    "Kind",
    "Message",
    "Origin",
    "PgOutputMessage",
    "Relation",
    "RelationColumn",
    "Truncate",
    "Type",
    "Update",
    "Value",
    "decode",
    "pg_time_to_unix_ns",
]

POSTGRES_EPOCH_UNIX_US: Final = 946_684_800_000_000
"""2000-01-01T00:00:00Z, Postgres's time origin, in microseconds since the Unix epoch."""


class DecodeError(ValueError):
    """Bytes that are not a pgoutput version 1 message; the text names the problem and where."""


class Kind(enum.Enum):
    """How one column of a tuple is sent (the byte before its data)."""

    NULL = b"n"
    UNCHANGED_TOAST = b"u"  # a TOASTed value the change did not touch: its data is not sent
    TEXT = b"t"
    BINARY = b"b"


@dataclass(frozen=True, slots=True)
class Value:
    """One column of a tuple.

    Attributes:
        kind: Null, unchanged TOAST, text or binary.
        data: The value's bytes in its type's text (or binary) format; empty unless ``kind`` is
            text or binary.
    """

    kind: Kind
    data: bytes = b""


@dataclass(frozen=True, slots=True)
class RelationColumn:
    """A column of a :class:`Relation`.

    Attributes:
        name: Column name.
        type_oid: OID of the column's type.
        type_modifier: ``atttypmod`` (-1 when none).
        key: Whether the column is part of the replica identity key.
    """

    name: str
    type_oid: int
    type_modifier: int
    key: bool


@dataclass(frozen=True, slots=True)
class Begin:
    """Start of a transaction.

    Attributes:
        final_lsn: LSN of the transaction's commit record.
        commit_ns: Commit time, nanoseconds since the Unix epoch.
        xid: Transaction id.
    """

    final_lsn: int
    commit_ns: int
    xid: int


@dataclass(frozen=True, slots=True)
class Commit:
    """End of a transaction.

    Attributes:
        flags: Unused flags (0).
        commit_lsn: LSN of the commit record.
        end_lsn: LSN just past the commit record: where a consumer that has everything up to
            this transaction may advance its slot to.
        commit_ns: Commit time, nanoseconds since the Unix epoch.
    """

    flags: int
    commit_lsn: int
    end_lsn: int
    commit_ns: int


@dataclass(frozen=True, slots=True)
class Origin:
    """The replication origin a transaction came from.

    Attributes:
        commit_lsn: LSN of the commit on the origin server.
        name: Origin name.
    """

    commit_lsn: int
    name: str


@dataclass(frozen=True, slots=True)
class Relation:
    """The shape of a table, sent before the first change of it in a session (and again after
    its shape changed).

    Attributes:
        relation_id: The table's OID.
        namespace: Schema name (empty for ``pg_catalog``).
        name: Table name.
        replica_identity: ``relreplident``: ``d`` default, ``n`` nothing, ``f`` full, ``i`` index.
        columns: Columns in attnum order (dropped and generated columns are not sent).
    """

    relation_id: int
    namespace: str
    name: str
    replica_identity: str
    columns: tuple[RelationColumn, ...]


@dataclass(frozen=True, slots=True)
class Type:
    """A non-built-in type a following :class:`Relation` uses.

    Attributes:
        type_oid: The type's OID.
        namespace: Schema name (empty for ``pg_catalog``).
        name: Type name.
    """

    type_oid: int
    namespace: str
    name: str


@dataclass(frozen=True, slots=True)
class Insert:
    """A row inserted.

    Attributes:
        relation_id: The table's OID.
        new: The new row, one :class:`Value` per column of the relation.
    """

    relation_id: int
    new: tuple[Value, ...]


@dataclass(frozen=True, slots=True)
class Update:
    """A row updated.

    Attributes:
        relation_id: The table's OID.
        old: The old row: the key columns (non-key ones null) when ``old_is_key``, every column
            under ``REPLICA IDENTITY FULL``, or ``None`` when the key did not change and the
            identity is the default one.
        old_is_key: Whether ``old`` holds only the key (``K``) rather than the full row (``O``).
        new: The new row.
    """

    relation_id: int
    old: tuple[Value, ...] | None
    old_is_key: bool
    new: tuple[Value, ...]


@dataclass(frozen=True, slots=True)
class Delete:
    """A row deleted.

    Attributes:
        relation_id: The table's OID.
        old: The old row's key (non-key columns null), or every column under
            ``REPLICA IDENTITY FULL``.
        old_is_key: Whether ``old`` holds only the key (``K``) rather than the full row (``O``).
    """

    relation_id: int
    old: tuple[Value, ...]
    old_is_key: bool


@dataclass(frozen=True, slots=True)
class Truncate:
    """Tables truncated.

    Attributes:
        cascade: ``TRUNCATE ... CASCADE``.
        restart_identity: ``TRUNCATE ... RESTART IDENTITY``.
        relation_ids: The truncated tables' OIDs.
    """

    cascade: bool
    restart_identity: bool
    relation_ids: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class Message:
    """A message written by ``pg_logical_emit_message`` (sent only with ``messages 'true'``).

    Attributes:
        transactional: Whether it belongs to a transaction.
        lsn: LSN of the message.
        prefix: The prefix given to ``pg_logical_emit_message``.
        content: The content.
    """

    transactional: bool
    lsn: int
    prefix: str
    content: bytes


PgOutputMessage = (
    Begin | Commit | Origin | Relation | Type | Insert | Update | Delete | Truncate | Message
)
"""Any decoded message."""

_U8: Final = struct.Struct(">B")
_I16: Final = struct.Struct(">h")
_I32: Final = struct.Struct(">i")
_U32: Final = struct.Struct(">I")
_U64: Final = struct.Struct(">Q")
_I64: Final = struct.Struct(">q")


def pg_time_to_unix_ns(pg_time_us: int) -> int:
    """Convert a Postgres timestamp (microseconds since 2000-01-01 UTC) to Unix nanoseconds."""
    return (pg_time_us + POSTGRES_EPOCH_UNIX_US) * 1000


class _Reader:
    """A cursor over one message's bytes; every read checks that the bytes are there."""

    def __init__(self, data: bytes, what: str) -> None:
        self.data = data
        self.pos = 0
        self.what = what

    def _take(self, n: int, field: str) -> bytes:
        end = self.pos + n
        if end > len(self.data):
            raise DecodeError(
                f"{self.what} message truncated: {field} needs {n} bytes at offset {self.pos},"
                f" {len(self.data) - self.pos} left"
            )
        chunk = self.data[self.pos : end]
        self.pos = end
        return chunk

    def u8(self, field: str) -> int:
        return int(_U8.unpack(self._take(1, field))[0])

    def i16(self, field: str) -> int:
        return int(_I16.unpack(self._take(2, field))[0])

    def i32(self, field: str) -> int:
        return int(_I32.unpack(self._take(4, field))[0])

    def u32(self, field: str) -> int:
        return int(_U32.unpack(self._take(4, field))[0])

    def u64(self, field: str) -> int:
        return int(_U64.unpack(self._take(8, field))[0])

    def i64(self, field: str) -> int:
        return int(_I64.unpack(self._take(8, field))[0])

    def byte(self, field: str) -> bytes:
        return self._take(1, field)

    def string(self, field: str) -> str:
        end = self.data.find(b"\0", self.pos)
        if end < 0:
            raise DecodeError(f"{self.what} message: {field} at offset {self.pos} has no NUL end")
        raw = self.data[self.pos : end]
        self.pos = end + 1
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            raise DecodeError(f"{self.what} message: {field} is not UTF-8") from None

    def count(self, n: int, field: str) -> int:
        if n < 0:
            raise DecodeError(f"{self.what} message: negative {field} {n}")
        return n

    def tuple_data(self) -> tuple[Value, ...]:
        ncols = self.count(self.i16("column count"), "column count")
        values: list[Value] = []
        for i in range(ncols):
            tag = self.byte(f"kind of column {i}")
            try:
                kind = Kind(tag)
            except ValueError:
                raise DecodeError(
                    f"{self.what} message: column {i} has unknown kind {tag!r}"
                ) from None
            if kind is Kind.TEXT or kind is Kind.BINARY:
                length = self.count(self.i32(f"length of column {i}"), f"length of column {i}")
                values.append(Value(kind, self._take(length, f"data of column {i}")))
            else:
                values.append(Value(kind))
        return tuple(values)

    def end(self) -> None:
        if self.pos != len(self.data):
            raise DecodeError(
                f"{self.what} message has {len(self.data) - self.pos} unexpected trailing bytes"
            )


def decode(data: bytes) -> PgOutputMessage:
    """Decode one pgoutput (protocol version 1) message.

    Args:
        data: The message's bytes, starting with its one-byte tag.

    Raises:
        DecodeError: Empty input, an unknown tag, a truncated message, trailing bytes, or a
            field that is out of range.
    """
    if not data:
        raise DecodeError("empty pgoutput message")
    tag = data[:1]
    decoder = _DECODERS.get(tag)
    if decoder is None:
        raise DecodeError(f"unknown pgoutput message tag {tag!r}")
    reader = _Reader(bytes(data), decoder[0])
    reader.pos = 1
    message = decoder[1](reader)
    reader.end()
    return message


def _begin(r: _Reader) -> Begin:
    final_lsn = r.u64("final LSN")
    return Begin(final_lsn, pg_time_to_unix_ns(r.i64("commit time")), r.u32("xid"))


def _commit(r: _Reader) -> Commit:
    flags = r.u8("flags")
    commit_lsn, end_lsn = r.u64("commit LSN"), r.u64("end LSN")
    return Commit(flags, commit_lsn, end_lsn, pg_time_to_unix_ns(r.i64("commit time")))


def _origin(r: _Reader) -> Origin:
    return Origin(r.u64("commit LSN"), r.string("origin name"))


def _relation(r: _Reader) -> Relation:
    relation_id = r.u32("relation id")
    namespace, name = r.string("namespace"), r.string("relation name")
    identity = r.byte("replica identity").decode("latin-1")
    if identity not in "dnfi":
        raise DecodeError(f"Relation message: unknown replica identity {identity!r}")
    columns: list[RelationColumn] = []
    for i in range(r.count(r.i16("column count"), "column count")):
        flags = r.u8(f"flags of column {i}")
        column_name = r.string(f"name of column {i}")
        type_oid = r.u32(f"type of column {i}")
        columns.append(
            RelationColumn(column_name, type_oid, r.i32(f"typmod of column {i}"), bool(flags & 1))
        )
    return Relation(relation_id, namespace, name, identity, tuple(columns))


def _type(r: _Reader) -> Type:
    return Type(r.u32("type id"), r.string("namespace"), r.string("type name"))


def _expect(r: _Reader, allowed: bytes, field: str) -> bytes:
    tag = r.byte(field)
    if tag not in allowed:
        raise DecodeError(f"{r.what} message: {field} is {tag!r}, expected one of {allowed!r}")
    return tag


def _insert(r: _Reader) -> Insert:
    relation_id = r.u32("relation id")
    _expect(r, b"N", "new tuple marker")
    return Insert(relation_id, r.tuple_data())


def _update(r: _Reader) -> Update:
    relation_id = r.u32("relation id")
    tag = _expect(r, b"KON", "tuple marker")
    old: tuple[Value, ...] | None = None
    if tag in b"KO":
        old = r.tuple_data()
        _expect(r, b"N", "new tuple marker")
    return Update(relation_id, old, tag == b"K", r.tuple_data())


def _delete(r: _Reader) -> Delete:
    relation_id = r.u32("relation id")
    tag = _expect(r, b"KO", "old tuple marker")
    return Delete(relation_id, r.tuple_data(), tag == b"K")


def _truncate(r: _Reader) -> Truncate:
    count = r.count(r.i32("relation count"), "relation count")
    options = r.u8("options")
    ids = tuple(r.u32(f"relation id {i}") for i in range(count))
    return Truncate(bool(options & 1), bool(options & 2), ids)


def _message(r: _Reader) -> Message:
    flags = r.u8("flags")
    lsn = r.u64("LSN")
    prefix = r.string("prefix")
    length = r.count(r.i32("content length"), "content length")
    return Message(bool(flags & 1), lsn, prefix, r._take(length, "content"))


_DECODERS: Final[dict[bytes, tuple[str, Callable[[_Reader], PgOutputMessage]]]] = {
    b"B": ("Begin", _begin),
    b"C": ("Commit", _commit),
    b"O": ("Origin", _origin),
    b"R": ("Relation", _relation),
    b"Y": ("Type", _type),
    b"I": ("Insert", _insert),
    b"U": ("Update", _update),
    b"D": ("Delete", _delete),
    b"T": ("Truncate", _truncate),
    b"M": ("Message", _message),
}
