"""Roster widget: who is online on chosen presence channels, grouped, with joins and leaves."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from rtdata.presence import LivePresence
from rtdata.views.widgets.roster import (
    ACTIVITY_COLUMNS,
    UNKNOWN,
    RosterSpec,
    compute,
    figure,
    window_start,
)
from tests.unit.widget_data import at, large_events, presence, snapshot

SPEC = RosterSpec(
    channels=("floor",),
    group_by=("role", "site_id"),
    label_field="site_id",
    label_table="sites",
)
SITES = pd.DataFrame.from_records([{"id": 1, "name": "North"}, {"id": 2, "name": "South"}])


def meta(ref: str, role: str | None, site_id: int | None = 1) -> dict[str, object]:
    fields: dict[str, object] = {"presence_ref": ref, "user": ref}
    if role is not None:
        fields["role"] = role
    if site_id is not None:
        fields["site_id"] = site_id
    return fields


FLOOR = (
    presence(0, "floor", "sync", None, []),
    presence(10, "floor", "join", "ana", [meta("a1", "tech")]),
    presence(20, "floor", "join", "rui", [meta("r1", "lead", 2)]),
    presence(30, "floor", "join", "eva", [meta("e1", None, None)]),
    presence(40, "floor", "join", "ana", [meta("a2", "tech")]),  # a second tab
    presence(50, "floor", "leave", "ana", [meta("a1", "tech")]),
    presence(60, "lobby", "join", "zed", [meta("z1", "tech")]),  # another channel
    presence(70, "floor", "join", "ivo", [meta("i1", "tech")]),
    presence(80, "floor", "leave", "ivo", []),  # a leave naming no meta: the whole key
)


def floor() -> pd.DataFrame:
    return snapshot(*FLOOR)


def test_online_replays_joins_and_leaves() -> None:
    view = compute(SPEC, floor(), at(100), labels=SITES)
    online = view.online
    assert online[["key", "role", "site_id"]].to_dict("records") == [
        {"key": "ana", "role": "tech", "site_id": "North"},
        {"key": "eva", "role": UNKNOWN, "site_id": UNKNOWN},
        {"key": "rui", "role": "lead", "site_id": "South"},
    ]
    assert online["joined_at"].tolist() == [pd.Timestamp(at(s)) for s in (40, 30, 20)]
    assert online["online_s"].tolist() == [60.0, 70.0, 80.0]
    assert (view.online_total, view.keys_online) == (3, 3)


def test_groups_most_first() -> None:
    view = compute(SPEC, floor(), at(100), labels=SITES)
    assert view.groups.to_dict("records") == [
        {"role": "lead", "site_id": "South", "online": 1},
        {"role": "tech", "site_id": "North", "online": 1},
        {"role": UNKNOWN, "site_id": UNKNOWN, "online": 1},
    ]
    unlabelled = compute(SPEC, floor(), at(100))  # no label rows: the ids themselves
    assert set(unlabelled.online["site_id"]) == {"1", "2", UNKNOWN}
    everyone = compute(RosterSpec(channels=("floor", "lobby")), floor(), at(100))
    assert everyone.groups.to_dict("records") == [{"group": "everyone", "online": 4}]


def test_sync_starts_fresh_but_keeps_join_times_of_restated_metas() -> None:
    events = snapshot(
        presence(10, "floor", "join", "ana", [meta("a1", "tech")]),
        presence(20, "floor", "join", "rui", [meta("r1", "lead")]),
        presence(30, "floor", "sync", None, []),  # the link came back
        presence(31, "floor", "join", "ana", [meta("a1", "tech")]),  # rui left meanwhile
    )
    view = compute(SPEC, events, at(40))
    assert view.online["key"].tolist() == ["ana"]
    assert view.online["joined_at"].tolist() == [pd.Timestamp(at(10))]
    before = compute(SPEC, events, at(25))  # events after now are not replayed
    assert sorted(before.online["key"]) == ["ana", "rui"]


def test_activity_counts_joins_and_leaves_per_bucket_over_the_window() -> None:
    spec = RosterSpec(channels=("floor",), window_s=120, bucket_s=60)
    view = compute(spec, floor(), at(100))
    activity = view.activity
    assert tuple(activity.columns) == ACTIVITY_COLUMNS
    assert activity["bucket_start"].tolist() == [pd.Timestamp(at(s)) for s in (-60, 0, 60)]
    assert activity["joins"].tolist() == [0, 4, 1]
    assert activity["leaves"].tolist() == [0, 1, 1]


def test_the_live_presence_and_the_window_show_what_a_replay_of_every_event_shows() -> None:
    live = LivePresence()
    for event in FLOOR:
        live.apply(event)
    spec = replace(SPEC, window_s=30, bucket_s=20)  # from 60 s
    now = at(100)
    replayed = compute(spec, floor(), now, labels=SITES)
    window = floor()[floor()["received_at"] >= window_start(spec, now)]
    assert len(window) < len(FLOOR)
    shown = compute(spec, window, now, labels=SITES, online=live.members())  # lobby too
    pd.testing.assert_frame_equal(shown.online, replayed.online)
    pd.testing.assert_frame_equal(shown.groups, replayed.groups)
    pd.testing.assert_frame_equal(shown.activity, replayed.activity)
    assert (shown.online_total, shown.keys_online) == (3, 3)


def test_the_window_starts_at_the_bucket_holding_its_first_instant() -> None:
    spec = RosterSpec(channels=("floor",), window_s=90, bucket_s=60)
    assert window_start(spec, at(100)) == at(0)  # 10 s is in the bucket from 0 s
    assert window_start(spec, at(150)) == at(60)
    assert compute(spec, floor(), at(100)).activity["bucket_start"].iloc[0] == at(0)


def test_figure_has_group_bars_and_activity() -> None:
    fig = figure(compute(SPEC, floor(), at(100), labels=SITES))
    bars, joins, leaves = fig.data
    assert list(bars.x) == ["lead · South", "tech · North", f"{UNKNOWN} · {UNKNOWN}"]
    assert joins.name == "joins"
    assert min(leaves.y) == -1


def test_figure_titles_each_plot_above_it_and_keeps_the_bars_on_their_plot() -> None:
    fig = figure(compute(SPEC, floor(), at(100), labels=SITES))
    bars, joins, leaves = fig.data
    assert (bars.xaxis, bars.yaxis) == ("x", "y")
    assert (joins.xaxis, joins.yaxis) == (leaves.xaxis, leaves.yaxis) == ("x2", "y2")
    layout = fig.layout
    assert (layout.xaxis.anchor, layout.xaxis2.anchor) == ("y", "y2")
    assert (layout.xaxis.type, layout.xaxis.tickangle) == ("category", -35)
    assert layout.xaxis2.type is None  # bucket times, not categories
    top, bottom = layout.yaxis.domain, layout.yaxis2.domain
    assert bottom[0] == 0.0 < bottom[1] < top[0] < top[1] == 1.0  # groups above activity
    titles = {a.text: (a.y, a.yref, a.yanchor) for a in layout.annotations}
    assert titles == {
        "online": (top[1], "paper", "bottom"),
        "joins and leaves": (bottom[1], "paper", "bottom"),
    }
    assert layout.barmode == "relative"


@pytest.mark.parametrize(
    "events",
    [pd.DataFrame(), snapshot(), snapshot(presence(1, "lobby", "join", "x", [meta("x", "t")]))],
)
def test_empty_inputs(events: pd.DataFrame) -> None:
    view = compute(SPEC, events, at(600), labels=pd.DataFrame())
    assert view.online.empty
    assert list(view.online.columns) == [
        "channel",
        "key",
        "role",
        "site_id",
        "joined_at",
        "online_s",
    ]
    assert (view.online_total, view.keys_online) == (0, 0)
    assert view.groups.empty
    assert list(view.groups.columns) == ["role", "site_id", "online"]
    assert len(view.activity) == 61  # the whole window, as zeros
    assert view.activity["joins"].sum() == 0
    figure(view)


def test_a_million_presence_events() -> None:
    n = 1_000_000
    i = np.arange(n)
    users = pd.Series(i % 20_000).astype(str)
    ops = np.where(i < n - 20_000, np.where(i % 2 == 0, "join", "leave"), "join").astype(object)
    records = '[{"presence_ref":"p' + users + '","role":"r' + pd.Series(i % 3).astype(str) + '"}]'
    events = large_events(
        i / 1000,
        kind="presence",
        channel="floor",
        table=None,
        op=ops,
        key="u" + users,
        record=records,
    )
    spec = RosterSpec(channels=("floor",), group_by=("role",), window_s=3600, max_rows=100)
    view = compute(spec, events, at(n / 1000))  # events span 1000 s
    assert view.online_total == 20_000  # the last 20 000 events join every user
    assert len(view.online) == 100
    assert view.groups["online"].sum() == 20_000
    assert view.activity["joins"].sum() + view.activity["leaves"].sum() == n
    assert len(view.activity) <= 61


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"channels": ()}, "channels"),
        ({"channels": "floor"}, "channels"),
        ({"group_by": ("presence_ref",)}, "group_by"),
        ({"group_by": ("role", "role")}, "group_by"),
        ({"label_field": "site_id"}, "label_field"),
        ({"group_by": ("site_id",), "label_field": "site_id"}, "label_table"),
        ({"label_table": "sites"}, "label_table"),
        ({"label_key_column": ""}, "label_key_column"),
        ({"window_s": 0}, "window_s"),
        ({"bucket_s": 0}, "bucket_s"),
        ({"window_s": 86_400, "bucket_s": 1}, "window_s"),
        ({"max_rows": 0}, "max_rows"),
    ],
)
def test_spec_errors_name_the_field(kwargs: dict[str, object], field: str) -> None:
    fields: dict[str, object] = {"channels": ("floor",)}
    with pytest.raises(ValueError, match=field):
        RosterSpec(**{**fields, **kwargs})  # type: ignore[arg-type]
