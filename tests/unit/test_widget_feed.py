"""Feed widget: newest changes or broadcasts through a safe text template."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from rtdata.views.widgets._spec import SpecError
from rtdata.views.widgets.feed import FeedSpec, compute
from tests.unit.widget_data import at, broadcast, change, large_events, snapshot

ROLE = "{name} is now {role} (was {old.role})"


def crew() -> pd.DataFrame:
    """Technicians: a snapshot, then live changes; old_record carries only the key."""
    return snapshot(
        change(
            0,
            "technicians",
            "SNAPSHOT",
            {"id": 1, "name": "Ana", "role": "junior"},
            source="snapshot",
        ),
        change(
            0,
            "technicians",
            "SNAPSHOT",
            {"id": 2, "name": "Rui", "role": "lead"},
            source="snapshot",
        ),
        change(10, "technicians", "UPDATE", {"id": 1, "name": "Ana", "role": "senior"}, {"id": 1}),
        change(
            20,
            "technicians",
            "UPDATE",
            {"id": 2, "name": "Rui", "role": "lead", "shift": 2},
            {"id": 2},
        ),
        change(30, "technicians", "INSERT", {"id": 3, "name": "Eva", "role": "junior"}),
        change(40, "technicians", "DELETE", None, {"id": 2}),
        change(50, "bookings", "INSERT", {"id": 9, "name": "other table"}),
    )


def texts(view: object) -> list[str]:
    return [item.text for item in view.items]  # type: ignore[attr-defined]


def test_table_feed_is_newest_first_with_old_values_from_the_previous_record() -> None:
    view = compute(FeedSpec(ROLE, table="technicians"), crew(), at(60))
    assert texts(view) == [
        "Rui is now lead (was lead)",  # the delete: its row is the last record seen
        "Eva is now junior (was ?)",  # an insert has no old values
        "Rui is now lead (was lead)",
        "Ana is now senior (was junior)",
    ]
    assert [item.op for item in view.items] == ["DELETE", "INSERT", "UPDATE", "UPDATE"]
    assert [item.key for item in view.items] == ["2", "3", "2", "1"]
    assert view.items[0].received_at == at(40)
    assert view.latest_at == at(40)


def test_changed_keeps_updates_whose_columns_changed_using_the_previous_record() -> None:
    view = compute(FeedSpec(ROLE, table="technicians", changed=("role",)), crew(), at(60))
    assert texts(view) == ["Ana is now senior (was junior)"]


def test_changed_uses_old_record_when_the_table_sends_full_old_rows() -> None:
    events = snapshot(
        change(1, "agents", "UPDATE", {"id": 1, "name": "a", "role": "x"}, {"id": 1, "role": "y"}),
        change(2, "agents", "UPDATE", {"id": 1, "name": "a", "role": "x"}, {"id": 1, "role": "x"}),
    )
    view = compute(FeedSpec(ROLE, table="agents", changed=("role",)), events, at(5))
    assert texts(view) == ["a is now x (was y)"]


def test_changed_without_any_old_value_counts_as_unchanged() -> None:
    events = snapshot(change(1, "agents", "UPDATE", {"id": 1, "name": "a", "role": "x"}, {"id": 1}))
    assert compute(FeedSpec(ROLE, table="agents", changed=("role",)), events, at(5)).items == ()


def test_filter_ops_limit_and_now() -> None:
    events = crew()
    spec = FeedSpec("{name}", table="technicians", ops=("UPDATE", "INSERT"), filter="role=neq.lead")
    assert texts(compute(spec, events, at(60))) == ["Eva", "Ana"]
    assert texts(compute(spec, events, at(15))) == ["Ana"]  # later events are not yet known
    limited = FeedSpec("{name}", table="technicians", limit=2)
    assert len(compute(limited, events, at(60)).items) == 2
    snapshots = FeedSpec("{name}", table="technicians", ops=("SNAPSHOT",))
    assert texts(compute(snapshots, events, at(60))) == ["Rui", "Ana"]


def test_filter_values_are_cast_by_the_column_type() -> None:
    events = snapshot(
        *(change(i, "bookings", "INSERT", {"id": i, "seats": i}) for i in range(1, 6))
    )
    view = compute(FeedSpec("#{id}", table="bookings", filter="seats=gte.4"), events, at(10))
    assert texts(view) == ["#5", "#4"]


def test_broadcast_feed_by_event_name() -> None:
    events = snapshot(
        broadcast(1, "ops", "shift", {"who": "ana", "desk": 3}),
        broadcast(2, "ops", "note", {"who": "rui"}),
        broadcast(3, "other", "shift", {"who": "eva"}),
        broadcast(4, "ops", "shift", ["not", "an", "object"]),
    )
    view = compute(FeedSpec("{who} at desk {desk}", channel="ops", ops=("shift",)), events, at(9))
    assert texts(view) == ["? at desk ?", "ana at desk 3"]
    assert view.items[1].key is None
    assert view.items[1].op == "shift"
    assert len(compute(FeedSpec("{who}", channel="ops"), events, at(9)).items) == 3


def test_toasts_mark_new_live_items_matching_the_toast_filter() -> None:
    events = crew()
    spec = FeedSpec("{name}", table="technicians", toast_filter="role=eq.junior")
    view = compute(spec, events, at(60), toast_since=at(5))
    assert [(i.text, i.toast) for i in view.items] == [
        ("Rui", False),
        ("Eva", True),
        ("Rui", False),
        ("Ana", False),
    ]
    assert [i.text for i in view.toasts] == ["Eva"]
    assert compute(spec, events, at(60), toast_since=at(30)).toasts == ()  # strictly after
    assert compute(spec, events, at(60)).toasts == ()
    every = FeedSpec("{name}", table="technicians", ops=("SNAPSHOT", "INSERT"), toast_filter="")
    toasted = compute(every, events, at(60), toast_since=at(-1)).toasts
    assert [i.text for i in toasted] == ["Eva"]  # snapshot rows are not news


def test_templates_render_missing_values_and_format_specs() -> None:
    events = snapshot(
        change(1, "sensors", "INSERT", {"id": 1, "level": 2.345, "tags": ["a"], "note": None})
    )
    view = compute(
        FeedSpec("{level:.1f}|{tags}|{note}|{absent}|{old.level}", table="sensors", missing="-"),
        events,
        at(2),
    )
    assert texts(view) == ['2.3|["a"]|-|-|-']
    text_spec = FeedSpec("{id:.1f}", table="sensors")  # a number's spec on text: the text
    assert texts(
        compute(text_spec, snapshot(change(1, "sensors", "INSERT", {"id": "x"})), at(2))
    ) == ["x"]


@pytest.mark.parametrize(
    "template",
    [
        "{name.__class__}",
        "{old.name.__globals__}",
        "{name[0]}",
        "{0}",
        "{}",
        "{name!r}",
        "{name:{width}}",
        "{name:>999999999}",
        "{name",
        "name}",
        "{old}x{old.}",
    ],
)
def test_unsafe_or_broken_templates_are_refused(template: str) -> None:
    with pytest.raises(ValueError, match="template"):
        FeedSpec(template, table="sensors")


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({}, "table"),
        ({"table": "a", "channel": "b"}, "table"),
        ({"table": ""}, "table"),
        ({"table": "a", "ops": ("UPSERT",)}, "ops"),
        ({"table": "a", "ops": "INSERT"}, "ops"),
        ({"table": "a", "changed": ("role",), "ops": ("INSERT",)}, "changed"),
        ({"channel": "c", "changed": ("role",)}, "changed"),
        ({"table": "a", "limit": 0}, "limit"),
        ({"table": "a", "limit": 10_000}, "limit"),
        ({"table": "a", "filter": "status"}, "filter"),
        ({"table": "a", "toast_filter": "x=zz.1"}, "toast_filter"),
    ],
)
def test_spec_errors_name_the_field(kwargs: dict[str, object], field: str) -> None:
    with pytest.raises(ValueError, match=field):
        FeedSpec("{name}", **kwargs)  # type: ignore[arg-type]


def test_empty_inputs() -> None:
    spec = FeedSpec(ROLE, table="technicians", changed=("role",))
    for events in (pd.DataFrame(), snapshot(), snapshot(broadcast(1, "ops", "x", {}))):
        view = compute(spec, events, at(60))
        assert (view.items, view.toasts, view.latest_at) == ((), (), None)


def test_a_million_events() -> None:
    n = 1_000_000
    ids = pd.Series(np.arange(n) % 5000).astype(str)
    levels = pd.Series(np.arange(n) % 7).astype(str)
    records = '{"id":' + ids + ',"level":' + levels + ',"name":"s' + ids + '"}'
    ops = np.where(np.arange(n) < 5000, "SNAPSHOT", "UPDATE").astype(object)
    events = large_events(
        np.arange(n) / 1000,
        kind="postgres_changes",
        channel="changes",
        table="sensors",
        op=ops,
        key=ids,
        record=records,
        old_record='{"id":' + ids + "}",
    )
    spec = FeedSpec(
        "{name}: {old.level} -> {level}", table="sensors", changed=("level",), filter="level=eq.6"
    )
    view = compute(spec, events, at(n), toast_since=at(0))
    assert len(view.items) == 20
    newest = n - 1 - (n - 1 - 6) % 7  # the newest event with level 6
    assert view.items[0].received_at == events["received_at"].iloc[newest]
    # the previous event of a key is 5000 events earlier, whose level is 5000 % 7 = 2 less
    assert view.items[0].text == f"s{newest % 5000}: 4 -> 6"
    assert all(item.text.endswith("4 -> 6") for item in view.items)
    nothing = FeedSpec("{name}", table="sensors", filter="level=eq.99")
    assert compute(nothing, events, at(n)).items == ()


# ---------------------------------------------------------------- labels

LABELS = {"crew_id": {"1": "Ana", "2": "Rui"}, "desk": {"3": "Front desk"}}


def jobs() -> pd.DataFrame:
    """A job handed from crew 1 to crew 2 (float id: an int column with a gap), then to a crew
    without a label, then to nobody; old_record carries only the key."""
    return snapshot(
        change(1, "jobs", "INSERT", {"id": 7, "crew_id": 1, "desk": 3}),
        change(2, "jobs", "UPDATE", {"id": 7, "crew_id": 2.0, "desk": 3}, {"id": 7}),
        change(3, "jobs", "UPDATE", {"id": 7, "crew_id": 9, "desk": 3}, {"id": 7}),
        change(4, "jobs", "UPDATE", {"id": 7, "crew_id": None, "desk": 3}, {"id": 7}),
    )


def test_template_fields_of_labelled_columns_show_labels_and_old_values_too() -> None:
    spec = FeedSpec("#{id} {crew_id} (was {old.crew_id}) at {desk}", table="jobs")
    assert texts(compute(spec, jobs(), at(5), labels=LABELS)) == [
        "#7 ? (was 9) at Front desk",  # a null id is missing, not a label
        "#7 9 (was Rui) at Front desk",  # an id without a label shows the id
        "#7 Rui (was Ana) at Front desk",  # 2.0 is id 2
        "#7 Ana (was ?) at Front desk",
    ]
    assert texts(compute(spec, jobs(), at(5))) == [  # no labels: the ids
        "#7 ? (was 9) at 3",
        "#7 9 (was 2) at 3",
        "#7 2 (was 1) at 3",
        "#7 1 (was ?) at 3",
    ]


def test_the_id_spec_shows_the_raw_id_and_other_specs_format_the_label() -> None:
    spec = FeedSpec("{crew_id:id}={crew_id:>5}|{old.crew_id:id}|{id:id}", table="jobs")
    assert texts(compute(spec, jobs(), at(2.5), labels=LABELS)) == [
        "2=  Rui|1|7",  # 2.0 shown as the id it is
        "1=  Ana|?|7",
    ]
    number = FeedSpec("{crew_id:.1f}", table="jobs")  # a number's spec on a label: the label
    assert texts(compute(number, jobs(), at(1.5), labels=LABELS)) == ["Ana"]


def test_filters_and_toasts_compare_ids_not_labels() -> None:
    spec = FeedSpec("{crew_id}", table="jobs", filter="crew_id=eq.2", toast_filter="crew_id=eq.2")
    view = compute(spec, jobs(), at(5), labels=LABELS, toast_since=at(0))
    assert [(i.text, i.toast) for i in view.items] == [("Rui", True)]
    named = FeedSpec("{crew_id}", table="jobs", filter="crew_id=eq.Rui")
    assert compute(named, jobs(), at(5), labels=LABELS).items == ()


def test_broadcast_payload_fields_show_labels() -> None:
    events = snapshot(broadcast(1, "ops", "handover", {"crew_id": 2, "note": {"crew_id": 1}}))
    spec = FeedSpec("{crew_id}: {note}", channel="ops")
    assert texts(compute(spec, events, at(2), labels=LABELS)) == ['Rui: {"crew_id":1}']


# ---------------------------------------------------------------- several channels


def desks() -> pd.DataFrame:
    return snapshot(
        broadcast(1, "north", "note", {"text": "n1", "channel": "sms"}),
        broadcast(2, "south", "note", {"text": "s1"}),
        broadcast(3, "west", "note", {"text": "w1"}),
        broadcast(4, "north", "alarm", {"text": "n2"}),
        broadcast(4, "south", "note", {"text": "s2"}),  # same time: buffer order
        broadcast(6, "south", "note", {"text": "s3"}),
    )


def test_a_feed_over_several_channels_merges_them_newest_first() -> None:
    spec = FeedSpec("{event.channel}: {text}", channels=("north", "south"))
    view = compute(spec, desks(), at(5))
    assert texts(view) == ["south: s2", "north: n2", "south: s1", "north: n1"]
    assert [item.channel for item in view.items] == ["south", "north", "south", "north"]
    assert view.latest_at == at(4)
    assert texts(compute(spec, desks(), at(9))) == ["south: s3", *texts(view)]
    limited = FeedSpec("{text}", channels=("north", "south"), limit=2, ops=("note",))
    assert texts(compute(limited, desks(), at(9))) == ["s3", "s2"]
    one = FeedSpec("{text}", channels=("west",))
    assert texts(compute(one, desks(), at(9))) == texts(
        compute(FeedSpec("{text}", channel="west"), desks(), at(9))
    )


def test_the_event_channel_never_collides_with_a_payload_field() -> None:
    spec = FeedSpec("{channel} via {event.channel}", channels=("north", "south"))
    assert texts(compute(spec, desks(), at(2))) == ["? via south", "sms via north"]


def test_toasts_over_several_channels() -> None:
    spec = FeedSpec("{text}", channels=("north", "south"), toast_filter="")
    view = compute(spec, desks(), at(9), toast_since=at(3))
    assert [i.text for i in view.toasts] == ["n2", "s2", "s3"]  # oldest first


def test_a_table_feed_reads_the_channel_of_each_change() -> None:
    spec = FeedSpec("{name} on {event.channel}", table="technicians", ops=("SNAPSHOT", "UPDATE"))
    view = compute(spec, crew(), at(15))
    assert texts(view) == ["Ana on changes", "Rui on ?", "Ana on ?"]  # snapshot rows: REST
    assert [item.channel for item in view.items] == ["changes", None, None]


@pytest.mark.parametrize(
    ("kwargs", "field", "text"),
    [
        ({}, "table", "exactly one of table, channel and channels"),
        ({"channels": ()}, "table", "a non-empty list"),
        ({"table": "a", "channels": ("b",)}, "channels", "not table and channels"),
        ({"channel": "a", "channels": ("b",)}, "channels", "not channel and channels"),
        ({"table": "a", "channel": "b"}, "channel", "not table and channel"),
        ({"channels": "b"}, "channels", "list of names"),
        ({"channels": ("b", "b")}, "channels", "repeat"),
        ({"channels": ("b", "")}, "channels", "non-empty name"),
        ({"channels": ("b",), "changed": ("x",)}, "changed", "table feeds only"),
    ],
)
def test_channel_errors_name_the_field(kwargs: dict[str, object], field: str, text: str) -> None:
    with pytest.raises(SpecError, match=text) as raised:
        FeedSpec("{name}", **kwargs)  # type: ignore[arg-type]
    assert raised.value.field == field


@pytest.mark.parametrize(
    "template", ["{event.key}", "{event}x{event.}", "{old.event.channel}", "{name:ids}"]
)
def test_only_the_known_event_fields_and_the_id_spec_are_taken(template: str) -> None:
    with pytest.raises(SpecError, match="template") as raised:
        FeedSpec(template, channels=("a",))
    assert raised.value.field == "template"
    assert "event.channel" in str(raised.value) or "format spec" in str(raised.value)
