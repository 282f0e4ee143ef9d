"""The pages a project gets without ``[[pages]]``: built from its tables' columns and rows alone
(rtdata.default_pages.build, pure)."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping

import pandas as pd
import pytest

from rtdata.default_pages import DefaultLayout, build
from rtdata.introspect import ColumnInfo, ProjectSchema, TableInfo, bindings_for
from rtdata.layout import BUILTIN_PAGES, Label, Page, Widget, WidgetType
from rtdata.references import check_columns
from rtdata.views.widgets import breakdown, lifecycle, queue, tiles
from rtdata.views.widgets import map as map_widget
from tests.unit.test_widget_generic import SCENARIO_WORDS

URL_PATH = re.compile(r"^[a-z0-9][a-z0-9_-]*$")  # what [[pages]] accepts as a name
TIMESTAMP = "timestamp with time zone"
TICKET_STATUSES = ("new", "open", "waiting", "resolved", "closed")


def _column(name: str, pg_type: str = "text", **info: object) -> ColumnInfo:
    return ColumnInfo(name, pg_type, **info)  # type: ignore[arg-type]


def _table(name: str, *columns: ColumnInfo, key: tuple[str, ...] = ("id",)) -> TableInfo:
    return TableInfo(name, {c.name: c for c in columns}, key)


SCHEMA = ProjectSchema(
    {
        "customers": _table(
            "customers",
            _column("id", "bigint"),
            _column("name"),
            _column("created_at", TIMESTAMP),
        ),
        "tickets": _table(
            "tickets",
            _column("id", "bigint"),
            _column("title"),
            _column("status", "ticket_status", enum_values=TICKET_STATUSES),
            _column("priority", "integer"),
            _column("customer_id", "bigint", foreign_key=("customers", "id")),
            _column("audit_id", "bigint", foreign_key=("audits", "id")),
            _column("created_at", TIMESTAMP),
        ),
        "audits": _table("audits", _column("id", "bigint"), _column("checksum")),
        "sites": _table(
            "sites",
            _column("id", "bigint"),
            _column("name"),
            _column("lat", "double precision"),
            _column("lon", "double precision"),
        ),
        "events": _table(  # a project's own table called like a built-in page
            "events", _column("id", "bigint"), _column("kind"), _column("created_at", TIMESTAMP)
        ),
        "order_lines": _table(  # a composite key
            "order_lines",
            _column("order_id", "bigint"),
            _column("line", "integer"),
            _column("qty", "integer"),
            key=("order_id", "line"),
        ),
        "ticket_counts": _table(  # a view: no key, not followed
            "ticket_counts", _column("status", "ticket_status"), _column("n", "bigint"), key=()
        ),
    }
)
FOLLOWED = {b.table: b.primary_key for b in bindings_for(SCHEMA)}
ROWS = {
    "customers": pd.DataFrame(
        {"id": [1, 2], "name": ["Ada", "Grace"], "created_at": ["2024-05-01T10:00:00Z"] * 2}
    ),
    "tickets": pd.DataFrame(
        {
            "id": [10, 11],
            "title": ["Cannot log in", "Refund"],
            "status": ["open", "closed"],
            "priority": [1, 3],
            "customer_id": [1, 2],
            "audit_id": [None, None],
            "created_at": ["2024-05-01T11:00:00Z", "2024-05-01T11:30:00Z"],
        }
    ),
    "sites": pd.DataFrame({"id": [1], "name": ["North"], "lat": [38.7], "lon": [-9.1]}),
}


def _widgets(page: Page, kind: WidgetType) -> list[Widget]:
    return [w for w in page.widgets if w.type is kind]


def _pages(layout: DefaultLayout) -> dict[str, Page]:
    """The per-table pages, by the table their tiles count."""
    by_table: dict[str, Page] = {}
    for page in layout.pages[1:]:
        (first,) = page.widgets[0].spec[:1]  # type: ignore[index]
        assert isinstance(first, tiles.TileSpec)
        by_table[first.table] = page
    return by_table


def _columns(schema: ProjectSchema) -> dict[str, tuple[str, ...]]:
    return {name: tuple(table.columns) for name, table in schema.tables.items()}


def _strings(value: object) -> Iterator[str]:
    """Every text inside a layout: names, titles, labels, columns, filters."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, Mapping):
        for key, item in value.items():
            yield from _strings(key)
            yield from _strings(item)
    elif isinstance(value, tuple | list):
        for item in value:
            yield from _strings(item)
    elif hasattr(value, "__dataclass_fields__"):
        for name in value.__dataclass_fields__:
            if not name.startswith("_"):
                yield from _strings(getattr(value, name))


@pytest.fixture(scope="module")
def layout() -> DefaultLayout:
    return build(SCHEMA, FOLLOWED, ROWS)


# ---------------------------------------------------------------- from a schema and rows


def test_the_overview_has_a_rows_tile_per_table_new_today_where_created_and_events_per_min(
    layout: DefaultLayout,
) -> None:
    overview = layout.pages[0]
    assert (overview.name, overview.title, overview.path) == ("overview", "Overview", "pages[0]")
    (head,) = overview.widgets
    assert head.type is WidgetType.TILES
    assert head.events_per_min
    labels = [t.label for t in head.spec]  # type: ignore[union-attr]
    assert labels == [
        "customers: rows",
        "customers: new today",
        "tickets: rows",
        "tickets: new today",
        "audits: rows",
        "sites: rows",
        "events: rows",
        "events: new today",
        "order lines: rows",
    ]
    new_today = head.spec[1]  # type: ignore[index]
    assert new_today == tiles.TileSpec(
        "customers: new today", "customers", time_column="created_at", today=True
    )


def test_one_page_per_followed_table_with_unique_url_paths_never_a_builtin_one(
    layout: DefaultLayout,
) -> None:
    pages = _pages(layout)
    assert list(pages) == list(FOLLOWED)  # the view is not followed: no page
    assert "ticket_counts" not in FOLLOWED
    names = [p.name for p in layout.pages]
    assert len(set(names)) == len(names)
    assert all(URL_PATH.match(name) for name in names)
    assert not set(names[1:]) & {"overview", *BUILTIN_PAGES}
    assert pages["events"].name != "events"
    assert pages["events"].title == "Events"
    assert pages["order_lines"].title == "Order lines"
    paths = [w.path for p in layout.pages for w in p.widgets]
    assert len(set(paths)) == len(paths)  # the view cache keys widgets by path
    assert [p.path for p in layout.pages] == [f"pages[{i}]" for i in range(len(layout.pages))]


def test_a_status_enum_gives_a_lifecycle_in_enum_order_with_terminal_statuses_guessed(
    layout: DefaultLayout,
) -> None:
    page = _pages(layout)["tickets"]
    (board,) = _widgets(page, WidgetType.LIFECYCLE)
    assert board.spec == lifecycle.LifecycleSpec(
        "tickets",
        "status",
        TICKET_STATUSES,
        ("resolved", "closed"),
        key_column="id",
        created_column="created_at",
    )
    (groups,) = _widgets(page, WidgetType.BREAKDOWN)
    assert groups.spec == breakdown.BreakdownSpec("tickets", ("status",))
    assert [len(_widgets(p, WidgetType.LIFECYCLE)) for p in _pages(layout).values()] == [
        0,
        1,
        0,
        0,
        0,
        0,
    ]


def test_a_map_only_where_latitude_and_longitude_exist(layout: DefaultLayout) -> None:
    maps = {t: _widgets(p, WidgetType.MAP) for t, p in _pages(layout).items()}
    assert {t for t, found in maps.items() if found} == {"sites"}
    (drawn,) = maps["sites"]
    assert drawn.spec == map_widget.MapSpec("sites", "lat", "lon", label_property=None)


def test_every_table_lists_its_newest_rows_first(layout: DefaultLayout) -> None:
    orders = {}
    for table, page in _pages(layout).items():
        (newest,) = _widgets(page, WidgetType.QUEUE)
        assert isinstance(newest.spec, queue.QueueSpec)
        assert newest.spec.limit == 50
        orders[table] = (newest.spec.order, newest.spec.key_column, newest.spec.highlight_s)
    assert orders == {
        "customers": ("created_at.desc", "id", 10.0),
        "tickets": ("created_at.desc", "id", 10.0),
        "audits": ("id.desc", "id", 10.0),
        "sites": ("id.desc", "id", 10.0),
        "events": ("created_at.desc", "id", 10.0),
        # Events key a composite key by all its columns: nothing to flag, nothing misnamed.
        "order_lines": (None, "order_id", 0.0),
    }
    (newest,) = _widgets(_pages(layout)["tickets"], WidgetType.QUEUE)
    assert isinstance(newest.spec, queue.QueueSpec)
    view = queue.compute(
        newest.spec, ROWS["tickets"], pd.DataFrame(), pd.Timestamp("2024-05-02", tz="UTC")
    )
    assert view.keys == ("11", "10")


def test_foreign_keys_to_a_table_with_a_name_like_column_are_labelled(
    layout: DefaultLayout,
) -> None:
    # audit_id points at a table without a name-like column: it stays an id.
    assert layout.labels == {"customer_id": Label("customer_id", "customers", "id", "name")}


def test_every_column_a_widget_names_exists(layout: DefaultLayout) -> None:
    assert check_columns(layout.pages, _columns(SCHEMA)) == []


def test_nothing_in_the_layout_names_a_scenario(layout: DefaultLayout) -> None:
    text = "\n".join(_strings([layout.pages, layout.labels])).lower()
    assert "tickets" in text  # the walk does read the specs
    assert not [word for word in SCENARIO_WORDS if word in text]


# ---------------------------------------------------------------- rows only


def test_without_a_schema_statuses_columns_and_keys_are_learnt_from_the_rows() -> None:
    rows = {
        "jobs": pd.DataFrame(
            {
                "id": [1, 2, 3, 4],
                "state": ["queued", "running", "done", "queued"],
                "created_at": ["2024-05-01T10:00:00Z"] * 4,
                "latitude": [1.0, 2.0, 3.0, 4.0],
                "lng": [5.0, 6.0, 7.0, 8.0],
            }
        ),
        "devices": pd.DataFrame(
            {"id": range(13), "status": [f"mode-{i:02d}" for i in range(13)]}  # 13 values
        ),
        "scores": pd.DataFrame({"id": [1, 2], "status": [1, 2]}),  # numbers: no statuses
        "notes": pd.DataFrame({"id": [1, 2, 3], "status": ["open", "", " "]}),  # blanks: none
    }
    tables = {name: ("id",) for name in rows}
    layout = build(None, tables, rows)
    pages = _pages(layout)
    (board,) = _widgets(pages["jobs"], WidgetType.LIFECYCLE)
    assert board.spec == lifecycle.LifecycleSpec(
        "jobs", "state", ("done", "queued", "running"), ("done",), created_column="created_at"
    )
    (drawn,) = _widgets(pages["jobs"], WidgetType.MAP)
    assert isinstance(drawn.spec, map_widget.MapSpec)
    assert (drawn.spec.lat_column, drawn.spec.lon_column) == ("latitude", "lng")
    assert not _widgets(pages["devices"], WidgetType.LIFECYCLE)  # more than 12 distinct values
    assert _widgets(pages["devices"], WidgetType.BREAKDOWN)  # still broken down
    assert not _widgets(pages["scores"], WidgetType.LIFECYCLE)
    (notes,) = _widgets(pages["notes"], WidgetType.LIFECYCLE)
    assert notes.spec.statuses == ("open",)  # type: ignore[union-attr]
    assert layout.labels == {}  # no foreign keys are known
    columns = {name: tuple(frame.columns) for name, frame in rows.items()}
    assert check_columns(layout.pages, columns) == []


def test_a_twelve_value_status_is_still_a_lifecycle() -> None:
    rows = {"steps": pd.DataFrame({"id": range(12), "stage": [f"s{i:02d}" for i in range(12)]})}
    (board,) = _widgets(
        _pages(build(None, {"steps": ("id",)}, rows))["steps"], WidgetType.LIFECYCLE
    )
    assert len(board.spec.statuses) == 12  # type: ignore[union-attr]


# ---------------------------------------------------------------- empty tables


def test_empty_tables_with_a_schema_keep_their_enum_lifecycle() -> None:
    layout = build(SCHEMA, FOLLOWED, {})
    pages = _pages(layout)
    (board,) = _widgets(pages["tickets"], WidgetType.LIFECYCLE)
    assert board.spec.statuses == TICKET_STATUSES  # type: ignore[union-attr]
    assert _widgets(pages["sites"], WidgetType.MAP)
    assert check_columns(layout.pages, _columns(SCHEMA)) == []
    empty = {name: pd.DataFrame() for name in FOLLOWED}
    assert build(SCHEMA, FOLLOWED, empty) == layout


def test_empty_tables_without_a_schema_name_only_their_keys() -> None:
    tables = {"jobs": ("id",), "lines": ("order_id", "line")}
    layout = build(None, tables, {"jobs": pd.DataFrame()})
    assert [p.name for p in layout.pages] == ["overview", "jobs", "lines"]
    for page in layout.pages[1:]:
        assert [w.type for w in page.widgets] == [WidgetType.TILES, WidgetType.QUEUE]
    assert check_columns(layout.pages, tables) == []  # only the primary keys are known
    assert layout.labels == {}


def test_no_table_gives_an_empty_overview_only() -> None:
    layout = build(None, {}, {})
    assert [(p.name, p.widgets) for p in layout.pages] == [("overview", ())]


def test_a_column_whose_foreign_keys_disagree_gets_no_label() -> None:
    from rtdata.default_pages import build
    from rtdata.introspect import ColumnInfo, ProjectSchema, TableInfo

    def named(table: str) -> TableInfo:
        columns = {"id": ColumnInfo("id", "bigint"), "name": ColumnInfo("name", "text")}
        return TableInfo(table, columns, ("id",))

    def owning(table: str, target: str) -> TableInfo:
        assignee = ColumnInfo("assignee_id", "bigint", foreign_key=(target, "id"))
        return TableInfo(
            table, {"id": ColumnInfo("id", "bigint"), "assignee_id": assignee}, ("id",)
        )

    schema = ProjectSchema(
        {
            "agents": named("agents"),
            "contractors": named("contractors"),
            "tickets": owning("tickets", "agents"),
            "jobs": owning("jobs", "contractors"),
        }
    )
    tables = {name: ("id",) for name in schema.tables}
    assert "assignee_id" not in build(schema, tables, {}).labels
    agreeing = ProjectSchema({**schema.tables, "jobs": owning("jobs", "agents")})
    assert build(agreeing, tables, {}).labels["assignee_id"].table == "agents"
