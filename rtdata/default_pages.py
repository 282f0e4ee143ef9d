"""The dashboard a project gets with no ``[[pages]]``: built from its tables (a pure function).

:func:`build` looks at each followed table's columns (from the REST schema, see
:mod:`rtdata.introspect`) and its current rows, and returns:

- an **Overview** with a tile per table (its rows, and the rows created today where a
  created-at column exists) and the realtime events of the last minute;
- a **page per table** with the same tiles, a lifecycle board where a status-like column
  exists (its statuses from the column's enum, else from the rows), a breakdown by that
  column, a map where latitude and longitude columns exist, and the newest rows with the
  ones that just changed highlighted;
- labels for foreign keys to a followed table that has a name-like column.

Only column names and types decide; nothing here knows a scenario.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any, Final

import pandas as pd

from rtdata.introspect import ProjectSchema, TableInfo
from rtdata.layout import BUILTIN_PAGES, Label, Page, Widget, WidgetType
from rtdata.views.widgets import breakdown, lifecycle, queue, tiles
from rtdata.views.widgets import map as map_widget

__all__ = [
    "CREATED_COLUMNS",
    "LABEL_COLUMNS",
    "LAT_COLUMNS",
    "LON_COLUMNS",
    "STATUS_COLUMNS",
    "TERMINAL_WORDS",
    "DefaultLayout",
    "build",
    "created_column",
    "first_column",
]

STATUS_COLUMNS: Final = ("status", "state", "stage", "phase", "lifecycle_status")
"""Column names taken as an item's status, first match wins."""

CREATED_COLUMNS: Final = ("created_at", "inserted_at", "created", "created_on", "createdAt")
"""Column names taken as a row's creation time, first match wins."""

TERMINAL_WORDS: Final = frozenset(
    {"closed", "resolved", "solved", "completed", "complete", "done", "cancelled", "canceled"}
    | {"rejected", "approved", "archived", "delivered", "failed", "finished", "expired"}
    | {"declined", "refunded", "paid", "inactive", "deleted"}
)
"""Status values taken as the end of a lifecycle."""

LABEL_COLUMNS: Final = ("name", "title", "label", "full_name", "display_name", "email")
"""Columns of a referenced table that label its rows, first match wins."""

LAT_COLUMNS: Final = ("lat", "latitude")
"""Column names taken as a row's latitude, first match wins."""

LON_COLUMNS: Final = ("lon", "lng", "long", "longitude")
"""Column names taken as a row's longitude, first match wins."""

_MAX_STATUSES: Final = 12  # more distinct values than this is not a lifecycle
_TIME_TYPES: Final = ("timestamp", "date")


@dataclass(frozen=True, slots=True)
class DefaultLayout:
    """What :func:`build` returns.

    Attributes:
        pages: Overview first, then one page per table.
        labels: Labels of foreign-key columns, by column.
    """

    pages: tuple[Page, ...]
    labels: Mapping[str, Label]


def build(
    schema: ProjectSchema | None,
    tables: Mapping[str, tuple[str, ...]],
    rows: Mapping[str, pd.DataFrame],
) -> DefaultLayout:
    """Build the default pages of the followed ``tables``.

    Args:
        schema: The project's tables and columns, or ``None`` when unknown (then the columns
            of the current rows are all there is).
        tables: The followed tables and their primary keys, in order.
        rows: Current rows per table (a table missing here has none yet).
    """
    infos = {name: _info(name, pk, schema, rows.get(name)) for name, pk in tables.items()}
    labels = _labels(infos)
    overview: list[tiles.TileSpec] = []
    pages: list[Page] = []
    used = {"overview", *BUILTIN_PAGES}
    for i, (name, info) in enumerate(infos.items()):
        table_tiles = _tiles(name, info)
        overview.extend(table_tiles)
        page_name = _page_name(name, used)
        used.add(page_name)
        path = f"pages[{i + 1}]"
        widgets = [Widget(WidgetType.TILES, tuple(table_tiles), f"{path}.widgets[0]")]
        widgets.extend(_table_widgets(name, info, rows.get(name), path, len(widgets)))
        title = name.replace("_", " ").capitalize()
        pages.append(Page(page_name, title, ":material/table_rows:", tuple(widgets), path))
    head = Widget(WidgetType.TILES, tuple(overview), "pages[0].widgets[0]", events_per_min=True)
    first = Page(
        "overview", "Overview", ":material/dashboard:", (head,) if overview else (), "pages[0]"
    )
    return DefaultLayout((first, *pages), labels)


@dataclass(frozen=True, slots=True)
class _Table:
    columns: Mapping[str, str]  # name -> Postgres type ("" when only seen in rows)
    enums: Mapping[str, tuple[str, ...]]
    foreign_keys: Mapping[str, tuple[str, str]]
    key: str  # the primary key's column; "" for a composite key
    first_key: str  # its first column (events key a composite key by all of them)


def _info(
    table_name: str, pk: tuple[str, ...], schema: ProjectSchema | None, rows: pd.DataFrame | None
) -> _Table:
    columns: dict[str, str] = {}
    enums: dict[str, tuple[str, ...]] = {}
    fks: dict[str, tuple[str, str]] = {}
    table: TableInfo | None = None if schema is None else schema.tables.get(table_name)
    if table is not None:
        for column in table.columns.values():
            columns[column.name] = column.pg_type
            if column.enum_values:
                enums[column.name] = tuple(column.enum_values)
            if column.foreign_key is not None:
                fks[column.name] = column.foreign_key
    if rows is not None:
        for seen in rows.columns:
            columns.setdefault(str(seen), "")
    return _Table(columns, enums, fks, pk[0] if len(pk) == 1 else "", pk[0] if pk else "id")


def first_column(columns: Collection[str], names: tuple[str, ...]) -> str | None:
    """Return the first of ``names`` that ``columns`` has, ignoring case, as ``columns`` spells
    it; ``None`` when it has none of them."""
    lowered = {c.lower(): c for c in columns}
    return next((lowered[n.lower()] for n in names if n.lower() in lowered), None)


def created_column(columns: Mapping[str, str]) -> str | None:
    """Return the column taken as a row's creation time, or ``None``.

    Args:
        columns: Column name -> Postgres type (``""`` when unknown, as for a column only seen
            in rows). The first of :data:`CREATED_COLUMNS` counts when its type is unknown or a
            timestamp or date.
    """
    column = first_column(columns, CREATED_COLUMNS)
    if column is None:
        return None
    kind = columns[column]
    return column if not kind or kind.startswith(_TIME_TYPES) else None


def _created(info: _Table) -> str | None:
    return created_column(info.columns)


def _tiles(name: str, info: _Table) -> list[tiles.TileSpec]:
    title = name.replace("_", " ")
    out = [tiles.TileSpec(f"{title}: rows", name)]
    created = _created(info)
    if created is not None:
        out.append(tiles.TileSpec(f"{title}: new today", name, time_column=created, today=True))
    return out


def _statuses(info: _Table, column: str, rows: pd.DataFrame | None) -> tuple[str, ...]:
    if column in info.enums:
        return info.enums[column]
    if rows is None or column not in rows.columns:
        return ()
    values = rows[column].dropna()
    if values.empty or not all(isinstance(v, str) for v in values.head(1000)):
        return ()
    distinct = tuple(sorted(s for s in {str(v) for v in values} if s.strip()))  # blank: none
    return distinct if len(distinct) <= _MAX_STATUSES else ()


def _table_widgets(
    name: str, info: _Table, rows: pd.DataFrame | None, path: str, start: int
) -> list[Widget]:
    widgets: list[Widget] = []

    def add(kind: WidgetType, spec: Any, title: str, width: str = "full") -> None:
        at = f"{path}.widgets[{start + len(widgets)}]"
        widgets.append(Widget(kind, spec, at, title, width=width))  # type: ignore[arg-type]

    status = first_column(info.columns, STATUS_COLUMNS)
    statuses = _statuses(info, status, rows) if status is not None else ()
    created = _created(info)
    if status is not None and statuses and info.key:
        terminal = tuple(s for s in statuses if s.lower() in TERMINAL_WORDS)
        board = lifecycle.LifecycleSpec(
            name, status, statuses, terminal, key_column=info.key, created_column=created
        )
        add(WidgetType.LIFECYCLE, board, f"{name} by {status}")
    if status is not None:
        add(WidgetType.BREAKDOWN, breakdown.BreakdownSpec(name, (status,)), f"Rows by {status}")
    lat, lon = first_column(info.columns, LAT_COLUMNS), first_column(info.columns, LON_COLUMNS)
    if lat is not None and lon is not None:
        drawn = map_widget.MapSpec(name, lat, lon, colour_column=status, label_property=None)
        add(WidgetType.MAP, drawn, "Map")
    order = f"{created}.desc" if created is not None else (f"{info.key}.desc" if info.key else None)
    # A composite key's events never match one column: list the rows, flag none.
    newest = queue.QueueSpec(
        name,
        order=order,
        limit=50,
        key_column=info.key or info.first_key,
        highlight_s=10.0 if info.key else 0.0,
    )
    add(WidgetType.QUEUE, newest, "Newest rows")
    return widgets


def _labels(infos: Mapping[str, _Table]) -> dict[str, Label]:
    # Labels apply to a column name in every table, so a column whose foreign keys point at
    # different tables gets none, and neither does a column that is some table's key.
    found: dict[str, set[tuple[str, str]]] = {}
    for info in infos.values():
        for column, (table, key) in info.foreign_keys.items():
            found.setdefault(column, set()).add((table, key))
    keys = {info.key for info in infos.values()}
    labels: dict[str, Label] = {}
    for column, targets in found.items():
        if len(targets) != 1 or column in keys:
            continue
        ((table, key),) = targets
        target = infos.get(table)
        shown = None if target is None else first_column(target.columns, LABEL_COLUMNS)
        if shown is not None:
            labels[column] = Label(column, table, key, shown)
    return labels


def _page_name(table: str, used: set[str]) -> str:
    base = re.sub(r"[^a-z0-9_-]+", "-", table.lower()).strip("-_") or "table"
    name = base if base not in used else f"table-{base}"
    suffix = 2
    while name in used:
        name = f"{base}-{suffix}"
        suffix += 1
    return name
