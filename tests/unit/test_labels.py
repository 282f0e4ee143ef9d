"""Id columns shown by their labels (rtdata.views.labels, pure): ids as numbers or text, tables
or columns missing, nulls, and no copy when nothing changes; ISO-8601 text columns as times."""

from __future__ import annotations

import math

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rtdata.layout import Label
from rtdata.views.labels import label_maps, labelled, parsed_times
from rtdata.views.widgets import feed
from tests.unit.widget_data import at, change, snapshot

LABELS = {
    "store_id": Label("store_id", "stores", "id", "name"),
    "owner": Label("owner", "people", "email", "full_name"),
}
STORES = pd.DataFrame({"id": [1, 2, 3], "name": ["North", "South", None]})
PEOPLE = pd.DataFrame({"email": ["a@x.io", None], "full_name": ["Ada", "Nobody"]})


def test_maps_key_each_id_as_text_and_skip_null_ids_and_labels() -> None:
    maps = label_maps(LABELS, {"stores": STORES, "people": PEOPLE})
    assert maps == {
        "store_id": {"1": "North", "2": "South"},  # store 3 has no name: no label
        "owner": {"a@x.io": "Ada"},  # a null key labels nothing
    }


def test_float_and_text_keys_give_the_same_map() -> None:
    # An int column with a gap arrives as floats: 1.0 is id 1, not "1.0".
    floats = pd.DataFrame({"id": [1.0, 2.0, math.nan], "name": ["North", "South", "Lost"]})
    texts = pd.DataFrame({"id": ["1", "2"], "name": ["North", "South"]})
    for rows in (floats, texts):
        maps = label_maps({"store_id": LABELS["store_id"]}, {"stores": rows})
        assert maps == {"store_id": {"1": "North", "2": "South"}}


def test_a_missing_table_or_column_gives_no_labels_for_that_column() -> None:
    assert label_maps(LABELS, {}) == {}
    assert label_maps(LABELS, {"stores": STORES}) == {"store_id": {"1": "North", "2": "South"}}
    no_label = STORES.drop(columns="name")
    no_key = STORES.drop(columns="id")
    assert label_maps(LABELS, {"stores": no_label, "people": PEOPLE.iloc[0:0]}) == {"owner": {}}
    assert label_maps(LABELS, {"stores": no_key}) == {}
    assert label_maps({}, {"stores": STORES}) == {}


def test_labelled_shows_labels_keeps_unknown_ids_as_text_and_nulls_as_null() -> None:
    frame = pd.DataFrame(
        {
            "id": [10, 11, 12, 13],
            "store_id": [1, 2.0, 9, None],  # a float id, an id without a label, a null
            "total": [5.0, 6.0, 7.0, 8.0],
        }
    )
    maps = label_maps(LABELS, {"stores": STORES})
    shown = labelled(frame, maps)
    assert shown["store_id"].tolist()[:3] == ["North", "South", "9"]
    assert pd.isna(shown["store_id"].iloc[3])
    assert shown["id"].tolist() == [10, 11, 12, 13]  # no labels: untouched
    assert shown["total"].tolist() == [5.0, 6.0, 7.0, 8.0]
    assert frame["store_id"].tolist()[:3] == [1.0, 2.0, 9.0]  # the input is not changed
    text_ids = pd.DataFrame({"store_id": ["1", "3"]})
    assert labelled(text_ids, maps)["store_id"].tolist() == ["North", "3"]


def test_labelled_does_not_copy_when_nothing_changes() -> None:
    frame = pd.DataFrame({"store_id": [1, 2]})
    assert labelled(frame, {}) is frame
    assert labelled(frame, {"other_id": {"1": "x"}}) is frame  # no such column
    assert labelled(frame, {"store_id": {}}) is frame  # a column without labels
    assert labelled(frame.iloc[0:0], {"store_id": {"1": "North"}}).empty
    changed = labelled(frame, {"store_id": {"1": "North"}})
    assert changed is not frame
    assert changed["store_id"].tolist() == ["North", "2"]


_IDS = st.one_of(
    st.integers(-(2**53), 2**53),
    st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=1, max_size=8),
)


@settings(max_examples=60, deadline=None)
@given(
    ids=st.lists(_IDS, min_size=1, max_size=6, unique_by=str),
    held_as_floats=st.booleans(),
    carried_as_floats=st.booleans(),
)
def test_a_feed_template_shows_the_label_label_maps_gives_each_id(
    ids: list[int | str], held_as_floats: bool, carried_as_floats: bool
) -> None:
    # The same id as the label table holds it and as a change's record carries it, either as
    # a float (an int column with a gap): the feed finds the label label_maps keyed.
    def floats(yes: bool) -> list[object]:
        return [float(i) if yes and isinstance(i, int) and abs(i) < 2**53 else i for i in ids]

    held = floats(held_as_floats)
    rows = pd.DataFrame({"id": pd.Series(held, dtype=object), "name": [f"n{i}" for i in ids]})
    maps = label_maps({"owner_id": Label("owner_id", "owners")}, {"owners": rows})
    carried = floats(carried_as_floats)
    events = snapshot(
        *(change(i, "things", "INSERT", {"id": i, "owner_id": v}) for i, v in enumerate(carried))
    )
    spec = feed.FeedSpec("{owner_id}|{owner_id:id}", table="things")
    view = feed.compute(spec, events, at(len(ids)), labels=maps)
    assert [item.text for item in view.items] == [f"n{i}|{i}" for i in reversed(ids)]


AT = "2024-05-01T12:00:00Z"


@pytest.mark.parametrize("dtype", [object, "str", "string", "category"])
def test_parsed_times_parses_text_columns_of_only_iso_times(dtype: str) -> None:
    frame = pd.DataFrame(
        {
            "at": pd.Series([AT, None, "2024-05-01 14:00:00+01:00"], dtype=dtype),
            "note": pd.Series([AT, "soon", AT], dtype=dtype),  # one value is no time
            "bad": pd.Series([AT, "2024-13-45T99:99", AT], dtype=dtype),  # looks like one
            "none": pd.Series([None, None, None], dtype=dtype),
        }
    )
    before = frame.copy()
    out = parsed_times(frame)
    assert out["at"].tolist()[::2] == [pd.Timestamp(AT), pd.Timestamp("2024-05-01T13:00Z")]
    assert out["at"].isna().tolist() == [False, True, False]
    for column in ("note", "bad", "none"):
        pd.testing.assert_series_equal(out[column], frame[column])
    pd.testing.assert_frame_equal(frame, before)  # the frame given is not changed


def test_parsed_times_leaves_other_columns_and_copies_only_on_a_change() -> None:
    frame = pd.DataFrame(
        {
            "n": [1, 2],
            "mixed": [AT, 5],  # objects, not all text
            "listed": [[AT], AT],
            "at": pd.to_datetime([AT, AT], utc=True),  # already times
        }
    )
    assert parsed_times(frame) is frame
    assert parsed_times(pd.DataFrame()).empty
