"""The collector under a hostile server: malformed, truncated, oversized and out-of-order frames,
and changes whose record does not fit the table's columns.

A real local server (memory backend: every frame here but the valid changes is of the test's
making, so the database behind it does not matter) serves the collector as usual, and the test
queues its own frames on the collector's socket, in order with the server's. Each bad frame
must be counted under its own kind and logged once, without secrets; the collector stays
subscribed (or comes back by itself); the live table stays exactly what the valid changes made
it; and the valid changes on either side of a bad frame are both recorded.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import orjson
import pytest

from rtdata import Collector, ConnectionState, LocalServer
from rtdata.bench.chaos_world import subscriber_settings
from rtdata.events import Event, EventKind
from rtdata.recorder import ErrorKind
from rtdata.server.connections import Connection
from rtdata.tables import LiveTables
from tests.support import EMERGENCY_ROW, wait_until

TABLE = "emergency_requests"
SECRET = "hunter2-do-not-log"
JWT = "eyJhbGciOiJIUzI1NiJ9.eyJyb2xlIjoic2VydmljZV9yb2xlIn0.c2lnbmF0dXJlLW5vdC1sb2dnZWQ"

Frame = Callable[[str, list[int]], str | bytes]
"""A frame of the test's making, given the channel's topic and its binding ids."""


class Hostile:
    """A started local server, a collector following :data:`TABLE` on it, and the means to
    slip frames of our own into the collector's socket."""

    def __init__(self, server: LocalServer, collector: Collector) -> None:
        self.server = server
        self.collector = collector
        key = server.service_key
        self.headers = {"apikey": key, "Authorization": f"Bearer {key}"}
        self.columns: list[dict[str, str]] = []

    def insert(self, **fields: Any) -> dict[str, Any]:
        """Insert a valid row over REST and wait until the collector holds it."""
        response = httpx.post(
            f"{self.server.url}/rest/v1/{TABLE}",
            json={**EMERGENCY_ROW, **fields},
            headers={**self.headers, "Prefer": "return=representation"},
        )
        response.raise_for_status()
        row: dict[str, Any] = response.json()[0]
        return row

    def holds(self, *rows: dict[str, Any]) -> bool:
        mine = {str(r["id"]): r for r in self.collector.tables.rows(TABLE)}
        return all(mine.get(str(r["id"])) == r for r in rows)

    def push(self, *frames: Frame) -> None:
        """Queue ``frames`` on the collector's socket, behind the frames already queued, on the
        channel that binds :data:`TABLE`."""

        def queue() -> None:
            members = [m for m in self.server.hub.members() if m.bindings]
            assert len(members) == 1, "one collector channel binds the table"
            member = members[0]
            connection = member.session.transport
            assert isinstance(connection, Connection)
            ids = [b.id for b in member.bindings]
            for frame in frames:
                connection.push_raw(frame(member.topic, ids))

        self.server.call(queue)

    def learn_columns(self) -> None:
        """Take the table's ``columns`` from a change the server really sent."""
        for traced in self.collector.frames():
            if traced.direction == "in" and '"postgres_changes"' in traced.text:
                frame = orjson.loads(traced.text)
                if isinstance(frame.get("payload"), dict) and "data" in frame["payload"]:
                    self.columns = frame["payload"]["data"]["columns"]
                    return
        raise AssertionError("no change frame seen yet")

    def errors(self, kind: ErrorKind) -> int:
        return self.collector.metrics_snapshot().invalid_by_reason.get(kind.value, 0)

    def exact(self, extra: dict[str, dict[str, Any]] | None = None) -> bool:
        """The collector holds exactly the server's rows, plus ``extra`` (rows of frames of our
        making, by key)."""
        theirs = {str(r["id"]): r for r in self.server.rows(TABLE)}
        theirs.update(extra or {})
        mine = {str(r["id"]): r for r in self.collector.tables.rows(TABLE)}
        return mine == theirs

    def reconnected(self) -> bool:
        return ConnectionState.RECONNECTING in [t.target for t in self.collector.transitions]


@pytest.fixture(params=[False, True], ids=["official-decode", "fast-decode"])
def hostile(request: pytest.FixtureRequest) -> Iterator[Hostile]:
    with LocalServer(db="memory") as server:
        settings = subscriber_settings(server.url, server.service_key, {TABLE: ("id",)})
        connection = dataclasses.replace(settings.config.connection, fast_decode=request.param)
        config = dataclasses.replace(settings.config, connection=connection)
        collector = Collector(dataclasses.replace(settings, config=config)).start(wait=True)
        try:
            yield Hostile(server, collector)
        finally:
            collector.stop()


def frame_v1(topic: str, event: str, payload: Any, ref: Any = None) -> str:
    return orjson.dumps({"topic": topic, "event": event, "payload": payload, "ref": ref}).decode()


def change(
    op: str,
    record: Any = None,
    old_record: Any = None,
    *,
    commit: str = "2030-01-01T00:00:00.000Z",
    columns: Any = None,
    drop: tuple[str, ...] = (),
) -> Callable[[Hostile], Frame]:
    """A postgres_changes frame of :data:`TABLE` (its columns learnt from the server unless
    ``columns`` is given), without the data fields named in ``drop``."""

    def make(h: Hostile) -> Frame:
        data: dict[str, Any] = {
            "schema": "public",
            "table": TABLE,
            "commit_timestamp": commit,
            "type": op,
            "columns": h.columns if columns is None else columns,
            "errors": None,
        }
        if record is not None:
            data["record"] = record
        if old_record is not None:
            data["old_record"] = old_record
        for name in drop:
            data.pop(name, None)
        return lambda topic, ids: frame_v1(topic, "postgres_changes", {"ids": ids, "data": data})

    return make


def raw(text: str | bytes) -> Callable[[Hostile], Frame]:
    return lambda h: lambda topic, ids: text


def crafted(row_id: int, **fields: Any) -> dict[str, Any]:
    """A whole, well-typed row of :data:`TABLE` (as the server's records carry it)."""
    return {
        "id": row_id,
        **EMERGENCY_ROW,
        "priority": 3,
        "status": "pending",
        "created_at": "2030-01-01T00:00:00+00:00",
        "updated_at": "2030-01-01T00:00:00+00:00",
        **fields,
    }


def _between_two_valid_changes(h: Hostile, bad: Callable[[Hostile], Frame]) -> None:
    """Insert a valid row, slip ``bad`` in, insert another: both valid rows are recorded."""
    first = h.insert(patient_name="before")
    wait_until(lambda: h.holds(first), what="the change before the bad frame")
    h.learn_columns()
    h.push(bad(h))
    second = h.insert(patient_name="after")
    wait_until(lambda: h.holds(first, second), what="the change after the bad frame")


# ------------------------------------------------------------ malformed frames


MALFORMED = {
    "not_json": raw("{topic: realtime:x, event: postgres_changes, payload: <not json>"),
    "truncated": raw(
        '{"topic":"realtime:x","event":"postgres_changes","payload":{"ids":[1],"data":{"sch'
    ),
    "binary": raw(b"\x00\xffnot a frame\xfe"),
    "json_but_not_an_object": raw("[1, 2, 3]"),
    "wrong_types": lambda h: (
        lambda topic, ids: frame_v1(topic, "postgres_changes", {"ids": "1", "data": 42})
    ),
    "unknown_event": lambda h: lambda topic, ids: frame_v1(topic, "no_such_event", {"a": 1}),
    "record_a_list": change("INSERT", [1, 2, 3]),
    "record_a_string": change("INSERT", "a row"),
    "old_record_a_string": change("DELETE", None, "a row"),
    "columns_missing": change("INSERT", crafted(9100), drop=("columns",)),
    "type_unknown": change("TRUNCATE", crafted(9101)),
    "ids_not_numbers": lambda h: (
        lambda topic, ids: frame_v1(
            topic, "postgres_changes", {"ids": ["x"], "data": {"type": "INSERT"}}
        )
    ),
}


@pytest.mark.parametrize("name", list(MALFORMED))
def test_a_malformed_frame_between_two_valid_changes_is_counted_and_both_are_kept(
    hostile: Hostile, name: str
) -> None:
    _between_two_valid_changes(hostile, MALFORMED[name])
    wait_until(lambda: hostile.errors(ErrorKind.MALFORMED_FRAME) == 1, what="the frame counted")
    assert hostile.collector.status.errors_total == 1
    assert hostile.collector.state == ConnectionState.SUBSCRIBED
    assert not hostile.reconnected()
    assert hostile.exact()


# ------------------------------------------------------------ records that do not fit


MISMATCHED = {
    "unknown_column": (change("INSERT", crafted(9200, no_such_column=1)), ErrorKind.RECORD_MISMATCH),
    "int_given_text": (change("INSERT", crafted(9201, priority="high")), ErrorKind.RECORD_MISMATCH),
    "key_given_object": (change("INSERT", crafted(9202) | {"id": {"x": 1}}), ErrorKind.RECORD_MISMATCH),
    "float_given_bool": (change("INSERT", crafted(9203, lat=True)), ErrorKind.RECORD_MISMATCH),
    "text_given_list": (change("INSERT", crafted(9204, status=["a"])), ErrorKind.RECORD_MISMATCH),
    "timestamp_given_number": (change("INSERT", crafted(9205, created_at=1)), ErrorKind.RECORD_MISMATCH),
    "old_record_mismatched": (change("DELETE", None, {"id": "1"}), ErrorKind.RECORD_MISMATCH),
    "columns_not_named": (change("INSERT", crafted(9206), columns=[{"x": 1}]), ErrorKind.MALFORMED_FRAME),
    "primary_key_missing": (change("INSERT", {"patient_name": "x"}), ErrorKind.INVALID_CHANGE),
    "primary_key_null": (change("INSERT", crafted(9207) | {"id": None}), ErrorKind.INVALID_CHANGE),
    "record_empty": (change("INSERT", {}), ErrorKind.INVALID_CHANGE),
}  # fmt: skip


@pytest.mark.parametrize("name", list(MISMATCHED))
def test_a_record_that_does_not_fit_the_columns_is_counted_and_changes_nothing(
    hostile: Hostile, name: str
) -> None:
    bad, kind = MISMATCHED[name]
    _between_two_valid_changes(hostile, bad)
    wait_until(lambda: hostile.errors(kind) == 1, what=f"the change counted as {kind}")
    assert hostile.collector.status.errors_total == 1
    assert hostile.collector.state == ConnectionState.SUBSCRIBED
    assert hostile.exact()  # no crafted row, and the server's rows as the server has them


def test_an_update_that_does_not_fit_leaves_the_row_as_it_was(hostile: Hostile) -> None:
    first = hostile.insert()
    wait_until(lambda: hostile.holds(first), what="the row")
    hostile.learn_columns()
    hostile.push(change("UPDATE", {**first, "priority": "urgent"}, {"id": first["id"]})(hostile))
    hostile.push(change("UPDATE", {**first, "ghost": 1}, {"id": first["id"]})(hostile))
    wait_until(lambda: hostile.errors(ErrorKind.RECORD_MISMATCH) == 2, what="both counted")
    second = hostile.insert()
    wait_until(lambda: hostile.holds(first, second), what="the next change")
    assert hostile.exact()


# ------------------------------------------------------------ out of order


def _t(second: int) -> str:
    return f"2030-01-01T00:00:{second:02d}.000Z"


def test_out_of_order_changes_leave_each_row_as_its_newest_change_made_it(
    hostile: Hostile,
) -> None:
    first = hostile.insert(patient_name="before")
    wait_until(lambda: hostile.holds(first), what="the first row")
    hostile.learn_columns()
    frames = [
        # An UPDATE before its INSERT: the row is the update's; the late INSERT is stale.
        change("UPDATE", crafted(9001, status="accepted"), {"id": 9001}, commit=_t(2)),
        change("INSERT", crafted(9001), commit=_t(1)),
        # A DELETE of a key never seen, then its INSERT, committed before the DELETE.
        change("DELETE", None, {"id": 9002}, commit=_t(5)),
        change("INSERT", crafted(9002), commit=_t(4)),
        # Commit timestamps going backwards on one row.
        change("INSERT", crafted(9003, status="newest"), commit=_t(10)),
        change("UPDATE", crafted(9003, status="older"), {"id": 9003}, commit=_t(9)),
        # The same change twice, and two changes of one transaction (same commit time).
        change("INSERT", crafted(9004), commit=_t(1)),
        change("INSERT", crafted(9004), commit=_t(1)),
        change("UPDATE", crafted(9004, status="accepted"), {"id": 9004}, commit=_t(1)),
        # A key change, then a late change of the old key.
        change("INSERT", crafted(9005), commit=_t(1)),
        change("UPDATE", crafted(9006), {"id": 9005}, commit=_t(3)),
        change("UPDATE", crafted(9005, status="late"), {"id": 9005}, commit=_t(2)),
    ]
    hostile.push(*(f(hostile) for f in frames))
    second = hostile.insert(patient_name="after")
    wait_until(lambda: hostile.holds(first, second), what="the change after them")
    expected = {
        "9001": crafted(9001, status="accepted"),
        "9003": crafted(9003, status="newest"),
        "9004": crafted(9004, status="accepted"),
        "9006": crafted(9006),
    }
    assert hostile.exact(expected)
    assert hostile.errors(ErrorKind.OUT_OF_ORDER) == 4
    assert hostile.collector.status.errors_total == 4
    assert hostile.collector.state == ConnectionState.SUBSCRIBED
    # The buffer holds only what was applied: replaying it gives the live table again.
    replayed = LiveTables({TABLE: ("id",)})
    events = hostile.collector.buffer.snapshot(tables=[TABLE])
    for op, key, record, old_record in zip(
        events["op"], events["key"], events["record"], events["old_record"], strict=True
    ):
        replayed.apply(
            Event(0, None, EventKind.POSTGRES_CHANGES, "", TABLE, op, key, record, old_record)
        )
    assert replayed.rows(TABLE) == hostile.collector.tables.rows(TABLE)


def test_duplicate_and_unknown_reply_refs_are_counted_and_leave_the_subscription_alone(
    hostile: Hostile,
) -> None:
    joins = [
        orjson.loads(f.text)
        for f in hostile.collector.frames()
        if f.direction == "out" and '"phx_join"' in f.text
    ]
    join = next(j for j in joins if "postgres_changes" in orjson.dumps(j["payload"]).decode())
    ok = {"status": "ok", "response": {"postgres_changes": []}}
    hostile.push(
        lambda topic, ids: frame_v1(topic, "phx_reply", ok, join["ref"]),  # the join's, again
        lambda topic, ids: frame_v1(topic, "phx_reply", ok, "999999"),  # a ref never sent
        lambda topic, ids: frame_v1(topic, "phx_reply", {"status": "ok"}, join["ref"]),
    )
    _between_two_valid_changes(hostile, raw("{not json"))
    wait_until(
        lambda: hostile.errors(ErrorKind.UNEXPECTED_REPLY) == 2, what="the two replies counted"
    )
    # The reply without a response is one realtime-py cannot read: counted once, as malformed.
    # The collector's own requests (joins, heartbeats) were answered as expected: not counted.
    assert hostile.errors(ErrorKind.MALFORMED_FRAME) == 2
    assert hostile.collector.status.errors_total == 4
    assert hostile.collector.state == ConnectionState.SUBSCRIBED
    assert not hostile.reconnected()
    assert hostile.exact()


# ------------------------------------------------------------ oversized


def test_an_oversized_frame_is_counted_and_the_collector_resubscribes_and_resyncs(
    hostile: Hostile,
) -> None:
    first = hostile.insert(patient_name="before")
    wait_until(lambda: hostile.holds(first), what="the first row")
    # Over realtime-py's 1 MiB: websockets closes the socket with 1009 (message too big).
    huge = "x" * (2**20 + 1)
    hostile.push(lambda topic, ids: frame_v1(topic, "broadcast", {"event": "e", "payload": huge}))
    second = hostile.insert(patient_name="after")
    wait_until(lambda: hostile.errors(ErrorKind.OVERSIZED_FRAME) == 1, what="the frame counted")
    wait_until(
        lambda: hostile.reconnected() and hostile.collector.state == ConnectionState.SUBSCRIBED,
        what="back, subscribed",
    )
    wait_until(lambda: hostile.holds(first, second), what="both rows, the second by resync")
    assert hostile.exact()
    assert hostile.collector.gaps, "the gap is recorded"


# ------------------------------------------------------------ logs


def test_each_kind_is_logged_once_and_no_log_line_carries_a_secret(
    hostile: Hostile, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    secret_text = f'{{"access_token": "{JWT}", "password": "{SECRET}"'
    first = hostile.insert()
    wait_until(lambda: hostile.holds(first), what="the row")
    hostile.learn_columns()
    bad = [
        raw(secret_text),
        raw(secret_text),
        change("INSERT", crafted(9300, password=SECRET)),
        change("INSERT", crafted(9301, patient_name={"password": SECRET})),
    ]
    hostile.push(*(f(hostile) for f in bad))
    second = hostile.insert()
    wait_until(lambda: hostile.holds(first, second), what="the change after them")
    wait_until(lambda: hostile.collector.status.errors_total == 4, what="all four counted")
    warnings = [r.getMessage() for r in caplog.records if r.name == "rtdata.collector"]
    for kind in (ErrorKind.MALFORMED_FRAME, ErrorKind.RECORD_MISMATCH):
        assert sum(kind.value in w for w in warnings) == 1, warnings
    # Every record, realtime-py's DEBUG ones with each frame included, is free of the token
    # and the password.
    everything = "\n".join(r.getMessage() for r in caplog.records)
    assert SECRET not in everything
    assert JWT not in everything
