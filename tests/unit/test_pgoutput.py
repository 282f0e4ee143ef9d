"""The pgoutput decoder, from bytes: messages built by a small encoder that follows Postgres's
"Logical Replication Message Formats", round-tripped, plus malformed input."""

from __future__ import annotations

import contextlib
import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rtdata.server.postgres import pgoutput
from rtdata.server.postgres.pgoutput import Kind, Value

# ---------------------------------------------------------------- an encoder (tests only)


def _s(text: str) -> bytes:
    return text.encode() + b"\0"


def _tuple(values: tuple[Value, ...]) -> bytes:
    out = struct.pack(">h", len(values))
    for v in values:
        out += v.kind.value
        if v.kind in (Kind.TEXT, Kind.BINARY):
            out += struct.pack(">i", len(v.data)) + v.data
    return out


def _us(ns: int) -> int:
    return ns // 1000 - pgoutput.POSTGRES_EPOCH_UNIX_US


def encode(m: pgoutput.PgOutputMessage) -> bytes:
    if isinstance(m, pgoutput.Begin):
        return b"B" + struct.pack(">QqI", m.final_lsn, _us(m.commit_ns), m.xid)
    if isinstance(m, pgoutput.Commit):
        return b"C" + struct.pack(">BQQq", m.flags, m.commit_lsn, m.end_lsn, _us(m.commit_ns))
    if isinstance(m, pgoutput.Origin):
        return b"O" + struct.pack(">Q", m.commit_lsn) + _s(m.name)
    if isinstance(m, pgoutput.Relation):
        out = b"R" + struct.pack(">I", m.relation_id) + _s(m.namespace) + _s(m.name)
        out += m.replica_identity.encode() + struct.pack(">h", len(m.columns))
        for c in m.columns:
            out += struct.pack(">B", int(c.key)) + _s(c.name)
            out += struct.pack(">Ii", c.type_oid, c.type_modifier)
        return out
    if isinstance(m, pgoutput.Type):
        return b"Y" + struct.pack(">I", m.type_oid) + _s(m.namespace) + _s(m.name)
    if isinstance(m, pgoutput.Insert):
        return b"I" + struct.pack(">I", m.relation_id) + b"N" + _tuple(m.new)
    if isinstance(m, pgoutput.Update):
        out = b"U" + struct.pack(">I", m.relation_id)
        if m.old is not None:
            out += (b"K" if m.old_is_key else b"O") + _tuple(m.old)
        return out + b"N" + _tuple(m.new)
    if isinstance(m, pgoutput.Delete):
        return (
            b"D"
            + struct.pack(">I", m.relation_id)
            + (b"K" if m.old_is_key else b"O")
            + (_tuple(m.old))
        )
    if isinstance(m, pgoutput.Truncate):
        options = int(m.cascade) | 2 * int(m.restart_identity)
        out = b"T" + struct.pack(">iB", len(m.relation_ids), options)
        return out + b"".join(struct.pack(">I", r) for r in m.relation_ids)
    assert isinstance(m, pgoutput.Message)
    return (
        b"M"
        + struct.pack(">BQ", int(m.transactional), m.lsn)
        + _s(m.prefix)
        + struct.pack(">i", len(m.content))
        + m.content
    )


# ---------------------------------------------------------------- strategies

u32 = st.integers(0, 2**32 - 1)
u64 = st.integers(0, 2**64 - 1)
names = st.text(st.characters(blacklist_characters="\0", blacklist_categories=("Cs",)), max_size=20)
# Commit times on whole microseconds, within what an int64 of microseconds can hold.
commit_ns = st.integers(-(2**62), 2**62).map(
    lambda us: (us + pgoutput.POSTGRES_EPOCH_UNIX_US) * 1000
)
values = st.one_of(
    st.just(Value(Kind.NULL)),
    st.just(Value(Kind.UNCHANGED_TOAST)),
    st.binary(max_size=50).map(lambda b: Value(Kind.TEXT, b)),
    st.binary(max_size=50).map(lambda b: Value(Kind.BINARY, b)),
)
tuples = st.lists(values, max_size=8).map(tuple)
columns = st.builds(
    pgoutput.RelationColumn, names, u32, st.integers(-(2**31), 2**31 - 1), st.booleans()
)
messages = st.one_of(
    st.builds(pgoutput.Begin, u64, commit_ns, u32),
    st.builds(pgoutput.Commit, st.just(0), u64, u64, commit_ns),
    st.builds(pgoutput.Origin, u64, names),
    st.builds(
        pgoutput.Relation,
        u32,
        names,
        names,
        st.sampled_from("dnfi"),
        st.lists(columns, max_size=6).map(tuple),
    ),
    st.builds(pgoutput.Type, u32, names, names),
    st.builds(pgoutput.Insert, u32, tuples),
    st.builds(pgoutput.Update, u32, st.none(), st.just(False), tuples),
    st.builds(pgoutput.Update, u32, tuples, st.booleans(), tuples),
    st.builds(pgoutput.Delete, u32, tuples, st.booleans()),
    st.builds(
        pgoutput.Truncate, st.booleans(), st.booleans(), st.lists(u32, max_size=5).map(tuple)
    ),
    st.builds(pgoutput.Message, st.booleans(), u64, names, st.binary(max_size=40)),
)


@given(messages)
def test_every_message_round_trips(message: pgoutput.PgOutputMessage) -> None:
    assert pgoutput.decode(encode(message)) == message


@given(messages, st.data())
def test_a_truncated_message_is_a_decode_error(
    message: pgoutput.PgOutputMessage, data: st.DataObject
) -> None:
    raw = encode(message)
    cut = data.draw(st.integers(1, len(raw) - 1)) if len(raw) > 1 else 0
    with pytest.raises(pgoutput.DecodeError):
        pgoutput.decode(raw[:cut])


@given(st.binary(max_size=64))
def test_any_bytes_decode_or_raise_decode_error(raw: bytes) -> None:
    with contextlib.suppress(pgoutput.DecodeError):
        pgoutput.decode(raw)


def test_a_begin_from_known_bytes() -> None:
    # Commit time 0 is 2000-01-01T00:00:00Z.
    raw = b"B" + bytes.fromhex("0000000001234568") + bytes(8) + bytes.fromhex("000002f1")
    assert pgoutput.decode(raw) == pgoutput.Begin(0x1234568, 946_684_800 * 10**9, 753)


def test_an_insert_from_known_bytes() -> None:
    raw = b"I\x00\x00\x40\x00N\x00\x03t\x00\x00\x00\x0242nu"
    assert pgoutput.decode(raw) == pgoutput.Insert(
        0x4000, (Value(Kind.TEXT, b"42"), Value(Kind.NULL), Value(Kind.UNCHANGED_TOAST))
    )


@pytest.mark.parametrize(
    ("raw", "problem"),
    [
        (b"", "empty"),
        (b"Z\x00", "unknown pgoutput message tag"),
        (b"I\x00\x00\x40\x00X\x00\x00", "new tuple marker"),
        (b"I\x00\x00\x40\x00N\x00\x01x", "unknown kind"),
        (b"I\x00\x00\x40\x00N\x00\x00junk", "trailing bytes"),
        (b"I\x00\x00\x40\x00N\xff\xff", "negative column count"),
        (b"Y\x00\x00\x00\x01public", "no NUL end"),
        (b"R\x00\x00\x00\x01s\x00t\x00z\x00\x00", "replica identity"),
    ],
)
def test_malformed_messages_are_named(raw: bytes, problem: str) -> None:
    with pytest.raises(pgoutput.DecodeError, match=problem):
        pgoutput.decode(raw)
