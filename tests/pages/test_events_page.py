"""Events explorer: its pure views, then AppTest of the page."""

from __future__ import annotations

import io
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pandas as pd
import pyarrow.parquet as pq
import pytest
from streamlit.testing.v1 import AppTest

from rtdata import EventBuffer, Settings, ui
from rtdata.events import COLUMNS, Event
from rtdata.recorder import Recorder
from rtdata.views import events as ev

ROOT = Path(__file__).resolve().parents[2]
EVENTS_PAGE = str(ROOT / "pages" / "events.py")
T0_NS = 1_767_225_600 * 1_000_000_000  # 2026-01-01T00:00:00Z
T0 = datetime(2026, 1, 1, tzinfo=UTC)


def _s(seconds: float) -> int:
    return T0_NS + int(seconds * 1e9)


def change(
    at_s: float,
    table: str,
    op: str,
    row: dict[str, Any] | None,
    old: dict[str, Any] | None = None,
    source: str = "realtime",
) -> Event:
    keyed = row or old or {}
    return Event(
        _s(at_s),
        _s(at_s) - 3_000_000,
        "postgres_changes",
        "tables",
        table,
        op,
        str(keyed.get("id")),
        None if row is None else orjson.dumps(row).decode(),
        None if old is None else orjson.dumps(old).decode(),
        source,
    )


def meta(user: str, role: str, hospital_id: int, ref: str) -> dict[str, Any]:
    return {"user": user, "role": role, "hospital_id": hospital_id, "presence_ref": ref}


def pres(
    at_s: float, op: str, key: str, metas: list[dict[str, Any]] | None, base_ns: int = T0_NS
) -> Event:
    record = None if metas is None else orjson.dumps(metas).decode()
    received = base_ns + int(at_s * 1e9)
    return Event(received, None, "presence", "lobby", None, op, key, record, None)


def frame(events: list[Event]) -> pd.DataFrame:
    buffer = EventBuffer()
    buffer.extend(events)
    return buffer.snapshot()


SAMPLE = [
    change(1, "emergency_requests", "INSERT", {"id": 1, "status": "pending", "note": "Chest PAIN"}),
    change(2, "emergency_requests", "UPDATE", {"id": 1, "status": "accepted"}, {"id": 1}),
    change(3, "vital_signs", "INSERT", {"id": 7, "heart_rate": 90}),
    change(4, "vital_signs", "DELETE", None, {"id": 7, "heart_rate": 90}),
    change(5, "profiles", "SNAPSHOT", {"id": "u1", "role": "nurse"}, source="snapshot"),
    Event(_s(6), None, "broadcast", "ops", None, "alert", None, '{"msg": "a.b*c"}', None),
    pres(7, "join", "alice", [meta("alice", "nurse", 2, "r1")]),
]


# ---------------------------------------------------------------- events view


def test_filters_by_table_op_kind_and_time() -> None:
    events = frame(SAMPLE)
    assert len(ev.filter_events(events)) == len(SAMPLE)
    assert len(ev.filter_events(events, tables=[], ops=[], kinds=[])) == len(SAMPLE)
    vitals = ev.filter_events(events, tables=["vital_signs"])
    assert list(vitals["op"]) == ["INSERT", "DELETE"]
    both = ev.filter_events(events, tables=["vital_signs", "emergency_requests"], ops=["INSERT"])
    assert list(both["key"]) == ["1", "7"]
    assert list(ev.filter_events(events, kinds=["broadcast", "presence"])["op"]) == [
        "alert",
        "join",
    ]
    window = ev.filter_events(
        events, since=T0 + timedelta(seconds=3), until=T0 + timedelta(seconds=5)
    )
    assert list(window["op"]) == ["INSERT", "DELETE", "SNAPSHOT"]
    assert ev.filter_events(events, tables=["nope"]).empty


def test_text_search_is_case_insensitive_literal_over_key_and_records() -> None:
    events = frame(SAMPLE)
    assert list(ev.filter_events(events, text="chest pain")["op"]) == ["INSERT"]
    # old_record only: the DELETE has no record, its heart rate is in old_record.
    assert list(ev.filter_events(events, text="HEART_RATE")["op"]) == ["INSERT", "DELETE"]
    assert list(ev.filter_events(events, text="u1")["op"]) == ["SNAPSHOT"]  # the key
    assert list(ev.filter_events(events, text="a.b*c")["op"]) == ["alert"]  # not a regex
    assert ev.filter_events(events, text="a.b.c").empty
    assert list(ev.filter_events(events, text="ALICE", kinds=["presence"])["key"]) == ["alice"]


def test_filter_options_list_the_values_present() -> None:
    options = ev.filter_options(frame(SAMPLE))
    assert options["table"] == ["emergency_requests", "profiles", "vital_signs"]
    assert options["kind"] == ["broadcast", "postgres_changes", "presence"]
    assert "join" in options["op"]
    assert ev.filter_options(frame([])) == {"table": [], "op": [], "kind": []}


def test_tail_is_newest_first_limited_with_display_columns() -> None:
    events = frame([change(i, "t", "INSERT", {"id": i}) for i in range(20)])
    shown = ev.tail(events, limit=5)
    assert list(shown.columns) == list(ev.TAIL_COLUMNS)
    assert list(shown["key"]) == ["19", "18", "17", "16", "15"]
    assert len(ev.tail(events)) == 20
    assert ev.tail(frame([])).empty


def test_tail_orders_out_of_order_arrivals_by_receive_time() -> None:
    times = [3, 1, 2, 5, 4, 5]
    events = frame([change(t, "t", "INSERT", {"id": i}) for i, t in enumerate(times)])
    # Both rows received at 5 s: the one appended later comes first.
    assert list(ev.tail(events, limit=4)["key"]) == ["5", "3", "4", "0"]


def test_row_details_parse_records_and_are_json_ready() -> None:
    events = frame(SAMPLE)
    update = ev.row_details(events, 1)
    assert update["record"] == {"id": 1, "status": "accepted"}
    assert update["old_record"] == {"id": 1}
    assert update["received_at"] == "2026-01-01T00:00:02+00:00"
    assert update["latency_ms"] == pytest.approx(3.0)
    delete = ev.row_details(events, 3)
    assert delete["record"] is None
    assert delete["old_record"] == {"id": 7, "heart_rate": 90}
    alert = ev.row_details(events, 5)
    assert alert["table"] is None
    assert alert["latency_ms"] is None
    assert alert["commit_ts"] is None
    orjson.dumps(alert)  # nothing numpy or pandas left in it
    with pytest.raises(IndexError):
        ev.row_details(events, len(SAMPLE))


def test_csv_round_trip_keeps_rows_and_json_text() -> None:
    events = frame(SAMPLE)
    back = pd.read_csv(io.BytesIO(ev.to_csv_bytes(events)))
    assert list(back.columns) == list(COLUMNS)
    assert len(back) == len(SAMPLE)
    assert orjson.loads(back["record"][0]) == {"id": 1, "status": "pending", "note": "Chest PAIN"}
    received = pd.to_datetime(back["received_at"], utc=True, format="ISO8601")
    assert list(received) == list(events["received_at"])
    assert back["commit_ts"].isna().tolist() == events["commit_ts"].isna().tolist()


def test_csv_keeps_nanoseconds_and_writes_missing_times_empty() -> None:
    exact = change(1, "t", "INSERT", {"id": 1})._replace(received_at_ns=_s(1) + 123)
    text = ev.to_csv_bytes(frame([exact, SAMPLE[5]])).decode()
    lines = text.splitlines()
    assert lines[1].startswith("2026-01-01T00:00:01.000000123Z,2026-01-01T00:00:00.997000000Z,")
    assert lines[2].startswith("2026-01-01T00:00:06.000000000Z,,,broadcast,")


def test_parquet_round_trip_with_pyarrow_and_pandas() -> None:
    events = frame(SAMPLE)
    data = ev.to_parquet_bytes(events)
    table = pq.read_table(io.BytesIO(data))
    assert table.column_names == list(COLUMNS)
    assert table.num_rows == len(SAMPLE)
    back = pd.read_parquet(io.BytesIO(data))
    assert list(back["received_at"]) == list(events["received_at"])
    assert list(back["op"].astype(str)) == list(events["op"].astype(str))
    assert isinstance(back["record"][2], str)  # records stay JSON text
    assert orjson.loads(back["old_record"][3]) == {"id": 7, "heart_rate": 90}


def test_exports_keep_only_the_newest_rows_beyond_the_cap() -> None:
    events = frame([change(i, "t", "INSERT", {"id": i}) for i in range(10)])
    assert ev.EXPORT_MAX_ROWS == 1_000_000
    back = pd.read_csv(io.BytesIO(ev.to_csv_bytes(events, limit=3)))
    assert list(back["key"]) == [7, 8, 9]
    assert pd.read_parquet(io.BytesIO(ev.to_parquet_bytes(events, limit=3)))["key"].tolist() == [
        "7",
        "8",
        "9",
    ]
    assert len(pd.read_csv(io.BytesIO(ev.to_csv_bytes(frame([]))))) == 0


# ---------------------------------------------------------------- pages


def _collector(events: list[Event]) -> Recorder:
    collector = Recorder(Settings())
    for event in events:
        collector.record(event)
    return collector


@pytest.fixture
def use() -> Iterator[Any]:
    def install(events: list[Event]) -> Recorder:
        collector = _collector(events)
        ui.use_recorder(collector)
        return collector

    yield install
    ui.use_recorder(None)


def _recent(events: list[Event], shift_ns: int) -> list[Event]:
    """The same events, moved so they were received in the last few minutes."""
    return [
        e._replace(
            received_at_ns=e.received_at_ns + shift_ns,
            commit_ns=None if e.commit_ns is None else e.commit_ns + shift_ns,
        )
        for e in events
    ]


SHIFT_NS = time.time_ns() - _s(60)  # SAMPLE ends 60 s ago


def test_events_page_shows_the_tail_and_details_of_a_selected_row(use: Any) -> None:
    use(_recent(SAMPLE, SHIFT_NS))
    at = AppTest.from_file(EVENTS_PAGE, default_timeout=30).run()
    assert not at.exception
    assert at.title[0].value == "Events"
    shown = at.dataframe[0].value
    assert len(shown) == len(SAMPLE)
    assert shown["op"].iloc[0] == "join"  # newest first
    assert len(at.get("download_button")) == 2
    assert "1,000,000 rows" in " ".join(c.value for c in at.caption)
    at.session_state["events_table"] = {"selection": {"rows": [1], "columns": []}}
    at.run()
    assert not at.exception
    assert at.subheader[0].value == "broadcast · alert · ops"
    assert at.json[0].value == '{"msg": "a.b*c"}'


def test_events_page_filters_and_pauses(use: Any) -> None:
    collector = use(_recent(SAMPLE, SHIFT_NS))
    at = AppTest.from_file(EVENTS_PAGE, default_timeout=30).run()
    at.multiselect[0].set_value(["vital_signs"]).run()
    assert not at.exception
    assert at.dataframe[0].value["op"].tolist() == ["DELETE", "INSERT"]
    at.text_input[0].set_value("no such text").run()
    assert at.dataframe[0].value.empty
    at.text_input[0].set_value("HEART").run()
    assert at.dataframe[0].value["op"].tolist() == ["DELETE", "INSERT"]
    at.toggle[0].set_value(True).run()
    assert not at.exception
    collector.record(
        change(0, "vital_signs", "INSERT", {"id": 9, "heart_rate": 1})._replace(
            received_at_ns=time.time_ns() + 10**9
        )
    )
    at.run()
    assert at.dataframe[0].value["op"].tolist() == ["DELETE", "INSERT"]  # frozen
    assert "1 new events since" in " ".join(c.value for c in at.caption)
    at.toggle[0].set_value(False).run()
    assert at.dataframe[0].value["op"].tolist() == ["INSERT", "DELETE", "INSERT"]


def test_events_page_renders_on_an_empty_collector(use: Any) -> None:
    use([])
    at = AppTest.from_file(EVENTS_PAGE, default_timeout=30).run()
    assert not at.exception
    assert at.dataframe[0].value.empty
    assert "0 events match" in " ".join(c.value for c in at.caption)


def _large(n: int) -> list[Event]:
    now = time.time_ns()
    out = []
    for i in range(n):
        at_ns = now - (n - i) * 1_000_000  # one per millisecond, ending now
        if i % 10 == 0:
            # Rounds over 300 keys, joining in even rounds and leaving in odd ones; the last
            # round (66, a join) is cut short after 200 keys.
            j = i // 10
            key = f"user{j % 300}"
            op = "join" if (j // 300) % 2 == 0 else "leave"
            out.append(pres(0, op, key, [meta(key, "nurse", j % 7, key)], base_ns=at_ns))
        else:
            out.append(change(0, "vital_signs", "INSERT", {"id": i})._replace(received_at_ns=at_ns))
    return out


LARGE = 200_000


@pytest.fixture(scope="module")
def large() -> Recorder:
    return _collector(_large(LARGE))


def test_events_page_ships_at_most_500_rows_of_a_large_buffer(large: Recorder) -> None:
    ui.use_recorder(large)
    try:
        at = AppTest.from_file(EVENTS_PAGE, default_timeout=60).run()
    finally:
        ui.use_recorder(None)
    assert not at.exception
    shown = at.dataframe[0].value
    assert len(shown) == ev.TAIL_ROWS == 500
    assert f"{LARGE:,} events match" in " ".join(c.value for c in at.caption)
