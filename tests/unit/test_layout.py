"""[[pages]] and [labels] in rtdata.toml: every widget type parses into its spec, and every
mistake is one message naming the file, the key path and the problem."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from rtdata.config import ConfigError, parse_config
from rtdata.layout import BUILTIN_PAGES, Label, WidgetType
from rtdata.references import references
from rtdata.views.widgets import breakdown, feed, lifecycle, queue, roster, series, tiles
from rtdata.views.widgets import map as map_widget

SOURCE = "shop/rtdata.toml"

CHANNELS = """
[[channels]]
name = "tables"
  [[channels.postgres_changes]]
  table = "orders"
  [[channels.postgres_changes]]
  table = "stores"
  [[channels.postgres_changes]]
  table = "readings"

[[channels]]
name = "floor"
presence = true

[[channels]]
name = "ops"
broadcast = "*"
"""

EVERY_WIDGET = """
[labels]
store_id = "stores.name"

[[pages]]
name = "orders"
title = "Orders"
icon = ":material/receipt:"

  [[pages.widgets]]
  type = "tiles"
  events_per_min = true
    [[pages.widgets.tiles]]
    label = "Open orders"
    table = "orders"
    filter = "status=in.(new,packed)"
    warn = 10
    critical = 20
    [[pages.widgets.tiles]]
    label = "Revenue today"
    table = "orders"
    aggregate = "sum"
    column = "total"
    time_column = "created_at"
    today = true

  [[pages.widgets]]
  type = "lifecycle"
  title = "Orders by status"
  table = "orders"
  status_column = "status"
  statuses = ["new", "packed", "shipped", "delivered"]
  terminal = ["delivered"]
  priority_column = "priority"
  created_column = "created_at"
  sla_s = { new = 300 }
  spans = [["new", "packed"]]
  group_column = "store_id"
  toast_filter = "priority=eq.1"
  toast_template = "Rush order #{id}"

  [[pages.widgets]]
  type = "queue"
  table = "orders"
  columns = ["id", "status", "store_id"]
  labels = { store_id = "store" }
  order = "created_at.desc"
  limit = 20
  width = "half"

  [[pages.widgets]]
  type = "breakdown"
  table = "orders"
  by = ["store_id", "status"]
  width = "half"

  [[pages.widgets]]
  type = "feed"
  table = "orders"
  template = "{id} is now {status} (was {old.status})"
  changed = ["status"]

  [[pages.widgets]]
  type = "feed"
  channel = "ops"
  template = "{message}"

  [[pages.widgets]]
  type = "series"
  table = "readings"
  time_column = "at"
  columns = ["level"]
  entity_column = "sensor"
  bands = { level = [0, 80] }

  [[pages.widgets]]
  type = "map"
  table = "stores"
  lat_column = "lat"
  lon_column = "lon"
  colours = { open = "#2ca02c" }
  colour_column = "state"

  [[pages.widgets]]
  type = "roster"
  channels = ["floor"]
  group_by = ["role", "store_id"]
"""


def _config(text: str, channels: str = CHANNELS):  # type: ignore[no-untyped-def]
    return parse_config(textwrap.dedent(channels + text), SOURCE)


def _problems(text: str, channels: str = CHANNELS) -> tuple[str, ...]:
    with pytest.raises(ConfigError) as caught:
        _config(text, channels)
    assert all(line.startswith(f"{SOURCE}: ") for line in caught.value.problems)
    return caught.value.problems


def test_every_widget_type_parses_into_its_spec() -> None:
    config = _config(EVERY_WIDGET)
    (page,) = config.pages
    assert (page.name, page.title, page.icon, page.path) == (
        "orders",
        "Orders",
        ":material/receipt:",
        "pages[0]",
    )
    kinds = [w.type for w in page.widgets]
    assert set(kinds) == set(WidgetType)
    specs = {w.type: w.spec for w in page.widgets}
    first_tile, revenue = specs[WidgetType.TILES]  # type: ignore[misc]
    assert isinstance(first_tile, tiles.TileSpec)
    assert first_tile.warn == 10
    assert revenue == tiles.TileSpec(
        "Revenue today", "orders", "sum", "total", time_column="created_at", today=True
    )
    board = specs[WidgetType.LIFECYCLE]
    assert isinstance(board, lifecycle.LifecycleSpec)
    assert board.spans == (("new", "packed"),)
    assert dict(board.sla_s) == {"new": 300}
    assert isinstance(specs[WidgetType.QUEUE], queue.QueueSpec)
    groups = specs[WidgetType.BREAKDOWN]
    assert isinstance(groups, breakdown.BreakdownSpec)
    assert dict(groups.labels) == {"store_id": ("stores", "id", "name")}  # from [labels]
    feeds = [w.spec for w in page.widgets if w.type is WidgetType.FEED]
    assert all(isinstance(f, feed.FeedSpec) for f in feeds)
    drawn = specs[WidgetType.SERIES]
    assert isinstance(drawn, series.SeriesSpec)
    assert drawn.bands == (series.Band("level", 0, 80),)
    where = specs[WidgetType.MAP]
    assert isinstance(where, map_widget.MapSpec)
    assert where.colours == (("open", "#2ca02c"),)
    who = specs[WidgetType.ROSTER]
    assert isinstance(who, roster.RosterSpec)
    assert (who.label_field, who.label_table, who.label_column) == ("store_id", "stores", "name")
    widths = [w.width for w in page.widgets]
    assert widths[2:4] == ["half", "half"]
    assert page.widgets[0].events_per_min
    assert page.widgets[1].toast_template == "Rush order #{id}"
    assert [w.path for w in page.widgets][:2] == ["pages[0].widgets[0]", "pages[0].widgets[1]"]
    assert config.labels == {"store_id": Label("store_id", "stores", "id", "name")}


def test_references_name_every_column_with_its_key_path() -> None:
    page = _config(EVERY_WIDGET).pages[0]
    board = next(w for w in page.widgets if w.type is WidgetType.LIFECYCLE)
    found = {(r.path.rsplit(".", 1)[-1], r.name) for r in references(board)}
    assert {("status_column", "status"), ("group_column", "store_id")} <= found
    assert ("toast_filter", "priority") in found
    assert ("toast_template", "id") in found
    queue_widget = next(w for w in page.widgets if w.type is WidgetType.QUEUE)
    assert ("order", "created_at") in {
        (r.path.rsplit(".", 1)[-1], r.name) for r in references(queue_widget)
    }


def test_a_widget_on_a_table_that_is_not_followed_is_one_clear_error() -> None:
    text = EVERY_WIDGET.replace(
        'type = "breakdown"\n  table = "orders"', 'type = "breakdown"\n  table = "order"'
    )
    (problem,) = _problems(text)
    assert problem == (
        f"{SOURCE}: pages[0].widgets[3].table: table 'order' is not followed "
        "(did you mean 'orders'?); add it to [[channels]] or RTDATA_TABLES"
    )


def test_an_unknown_column_is_one_clear_error_once_the_columns_are_known() -> None:
    config = _config(EVERY_WIDGET.replace('status_column = "status"', 'status_column = "stauts"'))
    columns = {
        "orders": ("id", "status", "priority", "created_at", "store_id", "total"),
        "stores": ("id", "name", "lat", "lon", "state"),
        "readings": ("id", "at", "level", "sensor"),
    }
    assert config.column_problems(columns) == [
        f"{SOURCE}: pages[0].widgets[1].status_column: table 'orders' has no column 'stauts' "
        "(did you mean 'status'?)"
    ]
    assert _config(EVERY_WIDGET).column_problems(columns) == []


def test_a_bad_filter_is_one_clear_error() -> None:
    (problem,) = _problems(EVERY_WIDGET.replace("status=in.(new,packed)", "status=isnt.new"))
    assert problem.startswith(f"{SOURCE}: pages[0].widgets[0].tiles[0].filter: ")
    assert "isnt" in problem


@pytest.mark.parametrize(
    ("filter_text", "bad_part"),
    [
        ("created_at=gte.now()-15x", "bad duration '-15x' in 'now()-15x'"),
        ("created_at=gte.now(15m)", "now() takes no argument"),
        ("created_at=like.now()", "not 'like'"),
        ("total=gt.col()", "'col()' is not a column reference"),
    ],
)
def test_a_bad_now_or_col_value_is_one_clear_error(filter_text: str, bad_part: str) -> None:
    (problem,) = _problems(EVERY_WIDGET.replace("status=in.(new,packed)", filter_text))
    assert problem.startswith(f"{SOURCE}: pages[0].widgets[0].tiles[0].filter: ")
    assert bad_part in problem
    assert filter_text in problem


def test_columns_a_filter_compares_with_are_checked_like_its_own() -> None:
    text = EVERY_WIDGET.replace(
        "status=in.(new,packed)", "status=eq.new,created_at=lt.now()-1h,total=gt.col(totl)"
    )
    page = _config(text).pages[0]
    found = {(r.path.rsplit(".", 1)[-1], r.name) for r in references(page.widgets[0])}
    assert {("filter", "status"), ("filter", "created_at"), ("filter", "total")} <= found
    assert ("filter", "totl") in found
    columns = {
        "orders": ("id", "status", "priority", "created_at", "store_id", "total"),
        "stores": ("id", "name", "lat", "lon", "state"),
        "readings": ("id", "at", "level", "sensor"),
    }
    assert _config(text).column_problems(columns) == [
        f"{SOURCE}: pages[0].widgets[0].tiles[0].filter: table 'orders' has no column 'totl' "
        "(did you mean 'total'?)"
    ]


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (
            ('statuses = ["new"', 'statusses = ["new"'),
            "pages[0].widgets[1].statusses: unknown key; did you mean 'statuses'?",
        ),
        (
            ('type = "roster"', 'type = "rooster"'),
            "pages[0].widgets[8].type: 'rooster' is not a widget type; one of tiles, "
            "lifecycle, queue, breakdown, feed, series, map, roster",
        ),
        (
            ('channels = ["floor"]', 'channels = ["flor"]'),
            "pages[0].widgets[8].channels: channel 'flor' is not a [[channels]] entry with "
            "presence = true (did you mean 'floor'?)",
        ),
        (
            ('channel = "ops"', 'channel = "floor"'),
            "pages[0].widgets[5].channel: channel 'floor' is not a [[channels]] entry with "
            "broadcast",
        ),
        (
            ('name = "orders"', 'name = "events"'),
            "pages[0].name: 'events' is a built-in page; choose another name",
        ),
        (
            (
                'width = "half"\n\n  [[pages.widgets]]\n  type = "breakdown"',
                'width = "third"\n\n  [[pages.widgets]]\n  type = "breakdown"',
            ),
            "pages[0].widgets[2].width: must be 'full' or 'half', got 'third'",
        ),
        (
            ('toast_template = "Rush order #{id}"', 'toast_template = "Rush {id!r}"'),
            "pages[0].widgets[1].toast_template: toast_template 'Rush {id!r}': field {id} "
            "must not use !r",
        ),
        (
            ('terminal = ["delivered"]', 'terminal = ["gone"]'),
            "pages[0].widgets[1].terminal: terminal=['gone']: not in statuses "
            "('new', 'packed', 'shipped', 'delivered')",
        ),
        (
            ('store_id = "stores.name"', 'store_id = "shops.name"'),
            "labels.store_id.table: table 'shops' is not followed; "
            "add it to [[channels]] or RTDATA_TABLES",
        ),
    ],
)
def test_each_mistake_is_one_message_naming_the_key(change: tuple[str, str], expected: str) -> None:
    old, new = change
    assert old in EVERY_WIDGET
    problems = _problems(EVERY_WIDGET.replace(old, new, 1))
    assert f"{SOURCE}: {expected}" in problems
    assert len(problems) == 1, problems


def test_a_missing_required_field_names_it() -> None:
    text = """
    [[pages]]
    name = "p"
      [[pages.widgets]]
      type = "lifecycle"
      table = "orders"
    """
    (problem,) = _problems(text)
    assert problem == (
        f"{SOURCE}: pages[0].widgets[0]: missing status_column, statuses "
        "(required by a lifecycle widget)"
    )


def test_pages_must_have_distinct_url_paths() -> None:
    text = '[[pages]]\nname = "a"\n[[pages]]\nname = "a"\n[[pages]]\nname = "Not A Path"\n'
    problems = _problems(text)
    assert f"{SOURCE}: pages[1].name: 'a' is already the name of pages[0]" in problems
    assert any(p.startswith(f"{SOURCE}: pages[2].name: must be a URL path") for p in problems)


def test_wall_pages_must_name_pages() -> None:
    text = '[dashboard]\nwall_pages = ["orders", "realtime", "ordres"]\n' + EVERY_WIDGET
    (problem,) = _problems(text)
    assert (
        problem
        == f"{SOURCE}: dashboard.wall_pages[2]: 'ordres' is not a page; did you mean 'orders'?"
    )


def test_without_channels_tables_are_checked_once_discovered() -> None:
    config = _config(EVERY_WIDGET.replace('channels = ["floor"]', 'channels = ["floor"]'), "")
    assert config.discovers
    assert len(config.pages) == 1


def test_labels_take_a_short_or_a_full_form() -> None:
    text = """
    [labels]
    a_id = "as.title"
    b_id = { table = "bs", key_column = "code", label_column = "label" }
    c_id = "cs"
    """
    config = _config(text, "")
    assert config.labels == {
        "a_id": Label("a_id", "as", "id", "title"),
        "b_id": Label("b_id", "bs", "code", "label"),
        "c_id": Label("c_id", "cs", "id", "name"),
    }
    problems = _problems('[labels]\nx = { table = "t", key = "id" }\n', "")
    assert any("labels.x.key" in p for p in problems)


def test_builtin_pages_are_realtime_and_events() -> None:
    assert set(BUILTIN_PAGES) == {"realtime", "events"}


def test_a_config_names_its_folder_for_relative_paths(tmp_path: Path) -> None:
    assert _config(EVERY_WIDGET).base_dir == Path("shop").resolve()


@pytest.mark.parametrize(
    ("change", "key"),
    [
        (
            ('filter = "status=in.(new,packed)"', "filter = 5"),
            "pages[0].widgets[0].tiles[0].filter",
        ),
        (
            ('toast_filter = "priority=eq.1"', "toast_filter = 5"),
            "pages[0].widgets[1].toast_filter",
        ),
        (('order = "created_at.desc"', "order = 5"), "pages[0].widgets[2].order"),
        (("bands = { level = [0, 80] }", "bands = { level = [1] }"), "pages[0].widgets[6].bands"),
        (("bands = { level = [0, 80] }", 'bands = "low"'), "pages[0].widgets[6].bands"),
        (("sla_s = { new = 300 }", 'sla_s = "fast"'), "pages[0].widgets[1]"),
    ],
)
def test_values_of_the_wrong_kind_are_messages_not_crashes(
    change: tuple[str, str], key: str
) -> None:
    old, new = change
    assert old in EVERY_WIDGET
    problems = _problems(EVERY_WIDGET.replace(old, new, 1))
    assert any(p.startswith(f"{SOURCE}: {key}") for p in problems), problems


def test_a_label_column_the_table_lacks_is_one_message_naming_the_subkey() -> None:
    config = _config(EVERY_WIDGET.replace('store_id = "stores.name"', 'store_id = "stores.title"'))
    columns = {
        "orders": ("id", "status", "priority", "created_at", "store_id", "total"),
        "stores": ("id", "name", "lat", "lon", "state"),
        "readings": ("id", "at", "level", "sensor"),
    }
    assert config.column_problems(columns) == [
        f"{SOURCE}: labels.store_id.label_column: table 'stores' has no column 'title' "
        "(did you mean 'state'?)"
    ]


def test_a_spec_names_the_field_at_fault_by_type_not_by_text() -> None:
    from rtdata.views.widgets._spec import SpecError

    with pytest.raises(SpecError) as caught:
        lifecycle.LifecycleSpec("t", "status", ("a", "b"), terminal=("c",))
    assert caught.value.field == "terminal"
    with pytest.raises(SpecError) as caught:
        series.Band("level", 5, 1)
    assert caught.value.field == "bands"
    with pytest.raises(SpecError) as caught:
        tiles.TileSpec("x", "t", warn=10, critical=5)
    assert caught.value.field == "critical"


# ---------------------------------------------------------------- feeds over several channels

ALERTS_CHANNEL = '\n[[channels]]\nname = "alerts"\nbroadcast = ["raised"]\n'
MERGED = 'channel = "ops"\n  template = "{message}"'


def test_a_feed_over_several_channels_parses_and_names_each_channel() -> None:
    text = EVERY_WIDGET.replace(
        MERGED, 'channels = ["ops", "alerts"]\n  template = "{event.channel}: {message}"'
    )
    config = _config(text, CHANNELS + ALERTS_CHANNEL)
    merged = config.pages[0].widgets[5]
    assert isinstance(merged.spec, feed.FeedSpec)
    assert merged.spec.channels == ("ops", "alerts")
    assert merged.spec.broadcast_channels == ("ops", "alerts")
    assert [(r.path, r.table, r.name) for r in references(merged)] == [
        ("pages[0].widgets[5].channels", None, "ops"),
        ("pages[0].widgets[5].channels", None, "alerts"),
    ]


def test_a_table_feed_template_reads_the_event_channel_without_naming_a_column() -> None:
    text = EVERY_WIDGET.replace(
        'template = "{id} is now {status} (was {old.status})"',
        'template = "{id} ({store_id:id}) is now {status} on {event.channel}"',
    )
    config = _config(text)
    table_feed = config.pages[0].widgets[4]
    names = {r.name for r in references(table_feed) if r.path.endswith(".template")}
    assert names == {"id", "store_id", "status"}
    columns = {
        "orders": ("id", "status", "priority", "created_at", "store_id", "total"),
        "stores": ("id", "name", "lat", "lon", "state"),
        "readings": ("id", "at", "level", "sensor"),
    }
    assert config.column_problems(columns) == []


@pytest.mark.parametrize(
    ("new", "expected"),
    [
        (
            'channels = ["ops", "alerst"]\n  template = "{message}"',
            "pages[0].widgets[5].channels: channel 'alerst' is not a [[channels]] entry with "
            "broadcast (did you mean 'alerts'?)",
        ),
        (
            'channels = ["ops", "floor"]\n  template = "{message}"',
            "pages[0].widgets[5].channels: channel 'floor' is not a [[channels]] entry with "
            "broadcast",
        ),
        (
            'channel = "ops"\n  channels = ["alerts"]\n  template = "{message}"',
            "pages[0].widgets[5].channels: exactly one of table, channel and channels "
            "(a non-empty list) must be set, not channel and channels",
        ),
        (
            'channels = []\n  template = "{message}"',
            "pages[0].widgets[5]: exactly one of table, channel and channels "
            "(a non-empty list) must be set, not none",
        ),
        (
            'channels = "ops"\n  template = "{message}"',
            "pages[0].widgets[5].channels: channels must be a list of names, not 'ops'",
        ),
        (
            'channels = ["ops", "ops"]\n  template = "{message}"',
            "pages[0].widgets[5].channels: channels must not repeat a name: ('ops', 'ops')",
        ),
        (
            'channels = ["ops"]\n  template = "{event.op}"',
            "pages[0].widgets[5].template: template '{event.op}': field {event.op} must be "
            "a plain name or old.name, or event.channel",
        ),
    ],
)
def test_each_mistake_of_a_feed_over_channels_is_one_message(new: str, expected: str) -> None:
    problems = _problems(EVERY_WIDGET.replace(MERGED, new), CHANNELS + ALERTS_CHANNEL)
    assert f"{SOURCE}: {expected}" in problems
    assert len(problems) == 1, problems


def test_only_a_feed_template_reads_the_event() -> None:
    (problem,) = _problems(
        EVERY_WIDGET.replace('"Rush order #{id}"', '"Rush order #{id} on {event.channel}"')
    )
    assert problem == (
        f"{SOURCE}: pages[0].widgets[1].toast_template: toast_template "
        "'Rush order #{id} on {event.channel}': field {event.channel} must be a plain name "
        "or old.name"
    )


BOARD_OPTIONS = """
  columns = ["id", "store_id", "status"]
  sla_column = "tier"
  sla_s_by = { gold = { new = 60, packed = 120 }, 1 = { new = 30 } }
  priority_order = ["rush", "normal"]
"""
ORDERS = {
    "orders": ("id", "status", "priority", "created_at", "store_id", "total", "tier"),
    "stores": ("id", "name", "lat", "lon", "state"),
    "readings": ("id", "at", "level", "sensor"),
}


def _board_with(options: str) -> str:
    anchor = 'toast_template = "Rush order #{id}"\n'
    assert anchor in EVERY_WIDGET
    return EVERY_WIDGET.replace(anchor, anchor + textwrap.dedent(options).replace("\n", "\n  "))


def test_a_board_takes_columns_an_sla_per_value_and_a_priority_order() -> None:
    config = _config(_board_with(BOARD_OPTIONS))
    board = config.pages[0].widgets[1].spec
    assert isinstance(board, lifecycle.LifecycleSpec)
    assert board.columns == ("id", "store_id", "status")
    assert board.sla_column == "tier"
    assert {k: dict(v) for k, v in board.sla_s_by.items()} == {
        "gold": {"new": 60, "packed": 120},
        "1": {"new": 30},
    }
    assert board.priority_order == ("rush", "normal")
    assert config.column_problems(ORDERS) == []
    found = {(r.path.rsplit(".", 1)[-1], r.name) for r in references(config.pages[0].widgets[1])}
    assert {("columns", "store_id"), ("sla_column", "tier")} <= found


def test_sla_s_by_also_reads_as_sub_tables() -> None:
    text = _board_with(
        """
        sla_column = "tier"
        [pages.widgets.sla_s_by.gold]
        new = 60
        [pages.widgets.sla_s_by.silver]
        new = 90
        """
    )
    board = _config(text).pages[0].widgets[1].spec
    assert isinstance(board, lifecycle.LifecycleSpec)
    assert {k: dict(v) for k, v in board.sla_s_by.items()} == {
        "gold": {"new": 60},
        "silver": {"new": 90},
    }


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        (
            '"status"]\n  sla_column',
            '"stauts"]\n  sla_column',
            "columns: table 'orders' has no column 'stauts' (did you mean 'status'?)",
        ),
        (
            'sla_column = "tier"',
            'sla_column = "teir"',
            "sla_column: table 'orders' has no column 'teir' (did you mean 'tier'?)",
        ),
    ],
)
def test_a_misspelt_column_of_the_new_fields_is_one_clear_error(
    old: str, new: str, expected: str
) -> None:
    text = _board_with(BOARD_OPTIONS.replace(old, new))
    assert _config(text).column_problems(ORDERS) == [f"{SOURCE}: pages[0].widgets[1].{expected}"]


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        (
            'sla_column = "tier"\nsla_s_by = { gold = { delivred = 60 } }',
            "sla_s_by: sla_s_by['gold']=['delivred']: not in statuses "
            "('new', 'packed', 'shipped', 'delivered')",
        ),
        (
            'sla_column = "tier"\nsla_s_by = { gold = { new = 0 } }',
            "sla_s_by: sla_s_by['gold']['new']=0 must be positive seconds",
        ),
        (
            'sla_column = "tier"\nsla_s_by = { gold = 60 }',
            "sla_s_by: sla_s_by['gold']=60 must be a table of seconds per status",
        ),
        (
            "sla_s_by = { gold = { new = 60 } }",
            "sla_s_by: sla_s_by needs sla_column: the column its values are of",
        ),
        (
            'sla_column = "tier"',
            "sla_column: sla_column='tier' needs sla_s_by: the limits per value of it",
        ),
        (
            'priority_order = ["rush", "normal"]\npriority_ascending = true',
            "priority_ascending: priority_ascending=True cannot be used with priority_order",
        ),
        (
            'priority_order = "rush"',
            "priority_order: priority_order='rush' must be a list of values",
        ),
        (
            'columns = "id"',
            "columns: columns must be a list of names, not 'id'",
        ),
    ],
)
def test_each_mistake_in_the_new_board_fields_names_its_key(options: str, expected: str) -> None:
    (problem,) = _problems(_board_with(options))
    assert problem.startswith(f"{SOURCE}: pages[0].widgets[1].{expected}"), problem


LAYERED_MAP = """
[[pages]]
name = "floor"
  [[pages.widgets]]
  type = "map"
  geojson = "assets/area.geojson"
  layers = [
    { table = "stores", lat_column = "lat", lon_column = "lon", title = "Stores" },
    { table = "orders", lat_column = "lat", lon_column = "lon", colour_column = "status", colours = { new = "#d62728" }, hover = "#{id}", filter = "status=eq.new" },
  ]

  [[pages.widgets]]
  type = "map"
    [[pages.widgets.layers]]
    table = "readings"
    lat_column = "y"
    lon_column = "x"
    size_column = "level"
"""
LAYER_COLUMNS = {
    "orders": ("id", "status", "lat", "lon"),
    "stores": ("id", "name", "lat", "lon"),
    "readings": ("id", "x", "y", "level"),
}


def test_a_map_of_layers_parses_from_an_array_of_tables_in_either_form() -> None:
    inline, array = (w.spec for w in _config(LAYERED_MAP).pages[0].widgets)
    assert isinstance(inline, map_widget.MapSpec)
    assert inline.layers == (
        map_widget.MapLayer("stores", "lat", "lon", title="Stores"),
        map_widget.MapLayer(
            "orders",
            "lat",
            "lon",
            colour_column="status",
            colours=(("new", "#d62728"),),  # a TOML table becomes pairs, as at the top
            hover="#{id}",
            filter="status=eq.new",
        ),
    )
    assert (inline.table, inline.geojson) == (None, "assets/area.geojson")
    assert isinstance(array, map_widget.MapSpec)
    assert array.layers == (map_widget.MapLayer("readings", "y", "x", size_column="level"),)


def test_every_layer_s_table_and_columns_are_referenced_under_its_index() -> None:
    config = _config(LAYERED_MAP)
    found = {(r.path, r.table, r.name) for r in references(config.pages[0].widgets[0])}
    path = "pages[0].widgets[0].layers"
    assert {
        (f"{path}[0].table", "stores", ""),
        (f"{path}[1].table", "orders", ""),
        (f"{path}[1].lat_column", "orders", "lat"),
        (f"{path}[1].colour_column", "orders", "status"),
        (f"{path}[1].hover", "orders", "id"),
        (f"{path}[1].filter", "orders", "status"),
    } <= found
    assert config.column_problems(LAYER_COLUMNS) == []
    wrong = LAYER_COLUMNS | {"orders": ("id", "status", "lats", "lon")}
    assert config.column_problems(wrong) == [
        f"{SOURCE}: {path}[1].lat_column: table 'orders' has no column 'lat' (did you mean 'lats'?)"
    ]


def test_a_layer_on_a_table_that_is_not_followed_is_one_clear_error() -> None:
    (problem,) = _problems(LAYERED_MAP.replace('table = "orders"', 'table = "order"'))
    assert problem == (
        f"{SOURCE}: pages[0].widgets[0].layers[1].table: table 'order' is not followed "
        "(did you mean 'orders'?); add it to [[channels]] or RTDATA_TABLES"
    )


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (
            ('lon_column = "lon", colour', 'lon_column = "", colour'),
            "pages[0].widgets[0].layers[1].lon_column: layers[1]: lon_column must be a "
            "non-empty name, not ''",
        ),
        (
            ('lat_column = "y"', 'lat_colum = "y"'),
            "pages[0].widgets[1].layers[0].lat_colum: unknown key; did you mean 'lat_column'?",
        ),
        (
            ('    lat_column = "y"\n', ""),
            "pages[0].widgets[1].layers[0]: layers[0]: missing lat_column (required by a layer)",
        ),
        (
            ('filter = "status=eq.new"', 'filter = "status=new"'),
            "pages[0].widgets[0].layers[1].filter: layers[1]: filter 'status=new': ",
        ),
        (
            ('title = "Stores"', 'title = "orders"'),
            "pages[0].widgets[0].layers[1].title: layers[1]: layers[0] is named 'orders' too; "
            "give one of them a title",
        ),
        (
            ('type = "map"\n  geojson', 'type = "map"\n  table = "stores"\n  geojson'),
            "pages[0].widgets[0].table: table belongs in each of layers: a map with layers "
            "has no table",
        ),
        (
            (
                '    [[pages.widgets.layers]]\n    table = "readings"\n    lat_column = "y"\n'
                '    lon_column = "x"\n    size_column = "level"\n',
                "  layers = 3\n",
            ),
            "pages[0].widgets[1].layers: layers must be an array of layer tables, not 3",
        ),
        (
            (
                '  type = "map"\n    [[pages.widgets.layers]]',
                '  type = "map"\n  lat_column = "y"\n    [[pages.widgets.layers]]',
            ),
            "pages[0].widgets[1].lat_column: lat_column belongs in each of layers: a map with "
            "layers has no lat_column",
        ),
    ],
)
def test_each_layer_mistake_is_one_message_naming_the_layer_s_key(
    change: tuple[str, str], expected: str
) -> None:
    old, new = change
    assert old in LAYERED_MAP
    problems = _problems(LAYERED_MAP.replace(old, new, 1))
    assert len(problems) == 1, problems
    assert problems[0].startswith(f"{SOURCE}: {expected}"), problems


def test_a_map_without_a_table_or_layers_names_what_it_needs() -> None:
    (problem,) = _problems('[[pages]]\nname = "p"\n  [[pages.widgets]]\n  type = "map"\n')
    assert problem == (
        f"{SOURCE}: pages[0].widgets[0]: a map needs table, lat_column and lon_column, or "
        "layers: missing table, lat_column, lon_column"
    )
    misspelt = '[[pages]]\nname = "p"\n  [[pages.widgets]]\n  type = "map"\n  tabel = "stores"\n'
    (problem,) = _problems(misspelt)  # the misspelling, not "missing" as well
    assert problem == f"{SOURCE}: pages[0].widgets[0].tabel: unknown key; did you mean 'table'?"


SHARE = """
[[pages]]
name = "desk"
  [[pages.widgets]]
  type = "breakdown"
  table = "orders"
  by = ["store_id"]
  measure = "share"
  share_filter = "status=eq.delivered"
  filter = "status=in.(delivered,cancelled)"
"""


def test_a_share_breakdown_parses_and_its_share_filter_s_column_is_checked() -> None:
    config = _config(SHARE)
    (widget,) = config.pages[0].widgets
    assert widget.spec == breakdown.BreakdownSpec(
        "orders",
        ("store_id",),
        "share",
        filter="status=in.(delivered,cancelled)",
        share_filter="status=eq.delivered",
    )
    assert ("pages[0].widgets[0].share_filter", "orders", "status") in {
        (r.path, r.table, r.name) for r in references(widget)
    }
    assert config.column_problems({"orders": ("id", "store_id", "statuses")}) == [
        f"{SOURCE}: pages[0].widgets[0].filter: table 'orders' has no column 'status' "
        "(did you mean 'statuses'?)",
        f"{SOURCE}: pages[0].widgets[0].share_filter: table 'orders' has no column 'status' "
        "(did you mean 'statuses'?)",
    ]


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (
            ('  share_filter = "status=eq.delivered"\n', ""),
            "pages[0].widgets[0]: measure='share' needs share_filter, the filter a row must "
            "match to count",
        ),
        (
            ("share_filter =", "share_fliter ="),
            "pages[0].widgets[0].share_fliter: unknown key; did you mean 'share_filter'?",
        ),
        (
            ('measure = "share"', 'measure = "count"'),
            "pages[0].widgets[0].share_filter: share_filter='status=eq.delivered' needs "
            "measure='share', not 'count'",
        ),
        (
            ('status=eq.delivered"', 'status=delivered"'),
            "pages[0].widgets[0].share_filter: share_filter='status=delivered' is not a valid "
            "filter",
        ),
    ],
)
def test_each_share_mistake_is_one_message_naming_the_key(
    change: tuple[str, str], expected: str
) -> None:
    old, new = change
    assert old in SHARE
    problems = _problems(SHARE.replace(old, new, 1))
    assert len(problems) == 1, problems
    assert problems[0].startswith(f"{SOURCE}: {expected}"), problems
