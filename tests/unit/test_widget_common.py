"""The widgets' shared pieces against plain references: status entries, with and without the
record fields a snapshot decodes once."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import orjson
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rtdata.buffer import EventBuffer
from rtdata.events import Event
from rtdata.views.widgets._common import (
    CHANGE_OPS,
    ENTRY_COLUMNS,
    status_entries,
    table_changes,
    value_text,
    value_texts,
)
from tests.unit.widget_data import ns


def reference_entries(events: pd.DataFrame, table: str, status: str, group: str | None) -> Any:
    """Status entries as their docstring states them, row by row."""
    changes = table_changes(events, table, CHANGE_OPS)
    rows = []
    for position, row in enumerate(changes.itertuples(index=False)):
        record = orjson.loads(row.record) if isinstance(row.record, str) else None
        record = record if isinstance(record, dict) else {}
        time = row.commit_ts if pd.notna(row.commit_ts) else row.received_at
        if row.key is None or record.get(status) is None:
            continue
        rows.append((time, position, row.key, record[status], record.get(group) if group else None))
    rows.sort(key=lambda r: (r[0], r[1]))
    before: dict[str, Any] = {}
    latest = {key: value for _, _, key, _, value in rows}
    out = []
    for time, _, key, value, _ in rows:
        if key not in before or before[key] != value:
            out.append((key, value, time, latest[key]))
        before[key] = value
    return out


statuses = st.sampled_from(["new", "open", "done", None, 3, [1], {"a": 1}])


@settings(max_examples=150, deadline=None)
@given(
    steps=st.lists(
        st.tuples(
            st.sampled_from(["1", "2", "3", None]),
            statuses,
            st.sampled_from(["INSERT", "UPDATE", "SNAPSHOT", "DELETE"]),
            st.integers(0, 20),  # commit second: times collide and go back
            st.booleans(),  # has a commit time
            st.sampled_from(["t", "other"]),
            st.sampled_from(["g1", "g2", None]),
        ),
        max_size=40,
    ),
    chunk_rows=st.integers(1, 8),
    group=st.sampled_from(["grp", None]),
    decoded=st.booleans(),
)
def test_status_entries_match_the_reference(
    steps: list[tuple[Any, ...]], chunk_rows: int, group: str | None, decoded: bool
) -> None:
    buffer = EventBuffer(chunk_rows=chunk_rows)
    for i, (key, value, op, second, committed, table, grp) in enumerate(steps):
        record = None if op == "DELETE" else {"id": key, "state": value, "grp": grp}
        buffer.append(
            Event(
                ns(100 + i),
                ns(second) if committed else None,
                "postgres_changes",
                "c",
                table,
                op,
                key,
                None if record is None else orjson.dumps(record).decode(),
                None,
            )
        )
    fields = ["state", "grp"] if decoded else []
    events = buffer.snapshot(fields=fields)
    got = status_entries(events, "t", "state", group)
    assert list(got.columns) == list(ENTRY_COLUMNS)
    assert str(got["entered_at"].dtype) == "datetime64[ns, UTC]"
    expected = reference_entries(events, "t", "state", group)
    assert list(got.itertuples(index=False, name=None)) == expected


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (1, "1"),
        (1.0, "1"),
        (1.5, "1.5"),
        (np.int64(7), "7"),
        (True, "true"),
        (np.False_, "false"),
        ("gold", "gold"),
        (None, None),
        (math.nan, None),
        (pd.NA, None),
    ],
)
def test_a_value_reads_as_the_text_a_config_names_it_by(value: object, text: str | None) -> None:
    assert value_text(value) == text


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.one_of(
            st.sampled_from([True, False, None, math.nan, "1", "true", "", [1], {"a": 1}]),
            st.integers(-3, 3),
            st.floats(-3, 3).map(lambda f: round(f, 1)),
        ),
        max_size=12,
    )
)
def test_value_texts_convert_each_cell_as_value_text_does(cells: list[Any]) -> None:
    column = pd.Series(cells, dtype=object)
    assert list(value_texts(column)) == [value_text(v) for v in cells]
    if cells and all(isinstance(v, bool) for v in cells):  # a typed column: the same texts
        assert list(value_texts(pd.Series(cells))) == [value_text(v) for v in cells]
