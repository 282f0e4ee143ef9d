"""The dashboard's pages: ``[[pages]]`` of generic widgets and ``[labels]`` in ``rtdata.toml``.

A page is a name (its URL path), a title, an icon and an ordered list of widgets. Each widget
has a ``type`` (:class:`WidgetType`) and the fields of that widget's spec in
:mod:`rtdata.views.widgets`, by table, column and channel names only::

    [labels.site_id]             # any widget grouping or listing site_id shows sites.name
    table = "sites"
    label_column = "name"        # key_column = "id" by default; or: site_id = "sites.name"

    [[pages]]
    name = "orders"              # URL path; the first page is also the one at /
    title = "Orders"
    icon = ":material/receipt:"  # a Material Symbol (Streamlit ships the font)

      [[pages.widgets]]
      type = "tiles"
      events_per_min = true      # one more tile: realtime events in the last minute
        [[pages.widgets.tiles]]
        label = "Open orders"
        table = "orders"
        filter = "status=in.(new,packed)"

      [[pages.widgets]]
      type = "lifecycle"
      title = "Orders by status"
      table = "orders"
      status_column = "status"
      statuses = ["new", "packed", "shipped", "delivered"]
      terminal = ["delivered"]

Parsing (:func:`parse_pages`, called by :func:`rtdata.config.parse_config`) checks every field
through the spec's own checks and reports each problem as ``<key path>: <problem>``, down to a
table of an array (a map's ``layers``: ``pages[0].widgets[1].layers[2].lat_column``). Names are
checked against what the collector follows twice (:mod:`rtdata.references`): tables and
channels at load time, when the config names its channels, and columns once the project's
columns are known. Without ``[[pages]]`` the dashboard builds its pages from the project itself
(:mod:`rtdata.default_pages`).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import MISSING, dataclass, fields
from enum import StrEnum
from functools import cache
from typing import TYPE_CHECKING, Any, Final, Literal, TypeAlias

from rtdata._messages import show as _show
from rtdata.access import parse_page_roles

if TYPE_CHECKING:  # the widget modules load pandas and plotly: only when pages are parsed
    from rtdata.views.widgets import breakdown, feed, lifecycle, queue, roster, series, tiles
    from rtdata.views.widgets import map as map_widget

__all__ = [
    "BUILTIN_PAGES",
    "Label",
    "Page",
    "Widget",
    "WidgetSpec",
    "WidgetType",
    "parse_labels",
    "parse_pages",
    "spec_types",
]


class WidgetType(StrEnum):
    """The generic widgets a page can hold (the ``type`` of a ``[[pages.widgets]]``)."""

    TILES = "tiles"
    LIFECYCLE = "lifecycle"
    QUEUE = "queue"
    BREAKDOWN = "breakdown"
    FEED = "feed"
    SERIES = "series"
    MAP = "map"
    ROSTER = "roster"


WidgetSpec: TypeAlias = (
    "tuple[tiles.TileSpec, ...]"
    "| lifecycle.LifecycleSpec | queue.QueueSpec | breakdown.BreakdownSpec | feed.FeedSpec"
    "| series.SeriesSpec | map_widget.MapSpec | roster.RosterSpec"
)
"""A widget's spec; a tiles widget holds one :class:`~rtdata.views.widgets.tiles.TileSpec`
per tile."""


@cache
def spec_types() -> Mapping[WidgetType, type[Any]]:
    """Return the spec class of each widget type (imported on first use: they load pandas)."""
    from rtdata.views.widgets import breakdown, feed, lifecycle, queue, roster, series, tiles
    from rtdata.views.widgets import map as map_widget

    return {
        WidgetType.TILES: tiles.TileSpec,
        WidgetType.LIFECYCLE: lifecycle.LifecycleSpec,
        WidgetType.QUEUE: queue.QueueSpec,
        WidgetType.BREAKDOWN: breakdown.BreakdownSpec,
        WidgetType.FEED: feed.FeedSpec,
        WidgetType.SERIES: series.SeriesSpec,
        WidgetType.MAP: map_widget.MapSpec,
        WidgetType.ROSTER: roster.RosterSpec,
    }


@cache
def _nested_types() -> Mapping[WidgetType, Mapping[str, type[Any]]]:
    """Return, per widget type, its spec fields that take an array of tables, and the class
    each table of the array describes (a map's ``layers`` of
    :class:`~rtdata.views.widgets.map.MapLayer`)."""
    from rtdata.views.widgets import map as map_widget

    return {WidgetType.MAP: {"layers": map_widget.MapLayer}}


# Spec fields the file does not set: [labels] fills them.
_FROM_LABELS: Final[Mapping[WidgetType, frozenset[str]]] = {
    WidgetType.BREAKDOWN: frozenset({"labels"}),
    WidgetType.ROSTER: frozenset(
        {"label_field", "label_table", "label_key_column", "label_column"}
    ),
}
_COMMON_KEYS: Final = ("type", "title", "caption", "width")
_EXTRA_KEYS: Final[Mapping[WidgetType, tuple[str, ...]]] = {
    WidgetType.TILES: ("tiles", "events_per_min"),
    WidgetType.LIFECYCLE: ("toast_template",),
}

BUILTIN_PAGES: Final[Mapping[str, tuple[str, str]]] = {
    "realtime": ("Realtime health", ":material/sensors:"),
    "events": ("Events", ":material/receipt_long:"),
}
"""Pages every dashboard has, after the configured ones: name -> (title, icon)."""

_PAGE_NAME: Final = re.compile(r"^[a-z0-9][a-z0-9_-]*$")
_PAGE_KEYS: Final = ("name", "title", "icon", "widgets", "roles")
_LABEL_KEYS: Final = ("table", "key_column", "label_column")
_IDENTIFIER: Final = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")

Report = Callable[[str, str], None]
CheckKeys = Callable[[Mapping[str, Any], str, tuple[str, ...], Report], None]


@dataclass(frozen=True, slots=True)
class Label:
    """How the values of an id column are shown: by a column of the table they refer to.

    Attributes:
        column: The id column, in any followed table (``site_id``).
        table: The table the ids refer to; it must be followed, its rows give the labels.
        key_column: The column of ``table`` holding the ids.
        label_column: The column of ``table`` shown instead of the id.
    """

    column: str
    table: str
    key_column: str = "id"
    label_column: str = "name"


@dataclass(frozen=True, slots=True)
class Widget:
    """One widget of a page.

    Attributes:
        type: Which widget.
        spec: What it shows (see :data:`WidgetSpec`).
        path: Its key path in the config (``pages[1].widgets[0]``): messages name it, and the
            view cache keys the widget's computations by it.
        title: Heading drawn above the widget, or ``None``.
        caption: Small text under the heading, or ``None``.
        width: ``full`` takes the page's width; consecutive ``half`` widgets share a row.
        events_per_min: Tiles only: add a tile with the realtime events of the last minute.
        toast_template: Lifecycle only: text of the toast of a new item that matches the
            board's ``toast_filter``, as a feed template over the inserted row
            (``"New {kind} #{id}"``); ``None`` names the table and key.
    """

    type: WidgetType
    spec: WidgetSpec
    path: str
    title: str | None = None
    caption: str | None = None
    width: Literal["full", "half"] = "full"
    events_per_min: bool = False
    toast_template: str | None = None


@dataclass(frozen=True, slots=True)
class Page:
    """One configured page.

    Attributes:
        name: URL path of the page; the first page is the default one, at ``/``.
        title: Title in the navigation and on the page.
        icon: Navigation icon: a Material Symbol such as ``:material/dashboard:``.
        widgets: The widgets, top to bottom.
        path: Key path of the page in the config (``pages[0]``).
        roles: Dashboard roles that may open the page when ``[access]`` requires sign-in
            (:mod:`rtdata.access`); empty: every signed-in user.
    """

    name: str
    title: str
    icon: str = ":material/dashboard:"
    widgets: tuple[Widget, ...] = ()
    path: str = ""
    roles: tuple[str, ...] = ()


def parse_labels(value: Any, report: Report, check_keys: CheckKeys) -> dict[str, Label]:
    """Read ``[labels]``: id column -> ``"table.label_column"`` or a table of
    ``table``, ``key_column`` (default ``id``) and ``label_column`` (default ``name``).

    Args:
        value: The ``labels`` value of the document.
        report: Called with (key path, problem) for each problem.
        check_keys: Reports unknown keys of a table, with a did-you-mean hint.

    Returns:
        The valid labels by id column.
    """
    if not isinstance(value, dict):
        report("labels", f"must be a table ([labels]), got {_show(value)}")
        return {}
    labels: dict[str, Label] = {}
    for column, raw in value.items():
        path = f"labels.{column}"
        if not _IDENTIFIER.match(column):
            report(path, "the key must be a column name (letters, digits, _)")
            continue
        if isinstance(raw, str):
            table, dot, label_column = raw.partition(".")
            raw = {"table": table, "label_column": label_column} if dot else {"table": raw}
        if not isinstance(raw, dict):
            report(path, f'must be "table.column" or a table, got {_show(raw)}')
            continue
        check_keys(raw, path, _LABEL_KEYS, report)
        names = {k: raw.get(k, d) for k, d in (("key_column", "id"), ("label_column", "name"))}
        names["table"] = raw.get("table")
        bad = [k for k, v in names.items() if not (isinstance(v, str) and _IDENTIFIER.match(v))]
        for key in bad:
            report(f"{path}.{key}", f"must be a table or column name, got {_show(names[key])}")
        if not bad:
            labels[column] = Label(column, **names)
    return labels


def parse_pages(
    value: Any, labels: Mapping[str, Label], report: Report, check_keys: CheckKeys
) -> tuple[Page, ...]:
    """Read ``[[pages]]`` into pages of checked widgets.

    Args:
        value: The ``pages`` value of the document.
        labels: The ``[labels]``, which fill the widgets' label fields.
        report: Called with (key path, problem) for each problem.
        check_keys: Reports unknown keys of a table, with a did-you-mean hint.

    Returns:
        The pages whose every widget is valid (the others are reported).
    """
    if not isinstance(value, list) or not all(isinstance(p, dict) for p in value):
        report("pages", f"must be an array of tables ([[pages]]), got {_show(value)}")
        return ()
    pages: list[Page] = []
    seen: dict[str, str] = {}
    for i, raw in enumerate(value):
        path = f"pages[{i}]"
        check_keys(raw, path, _PAGE_KEYS, report)
        name = raw.get("name")
        if not isinstance(name, str) or not _PAGE_NAME.match(name):
            report(
                f"{path}.name",
                f"must be a URL path (lower-case letters, digits, _ and -), got {_show(name)}",
            )
            continue
        if name in BUILTIN_PAGES:
            report(f"{path}.name", f"{name!r} is a built-in page; choose another name")
            continue
        if name in seen:
            report(f"{path}.name", f"{name!r} is already the name of {seen[name]}")
            continue
        seen[name] = path
        title = raw.get("title", name.replace("_", " ").capitalize())
        icon = raw.get("icon", ":material/dashboard:")
        for key, text in (("title", title), ("icon", icon)):
            if not isinstance(text, str) or not text.strip():
                report(f"{path}.{key}", f"must be text, got {_show(text)}")
        widgets_raw = raw.get("widgets", [])
        if not isinstance(widgets_raw, list) or not all(isinstance(w, dict) for w in widgets_raw):
            report(f"{path}.widgets", f"must be an array of tables, got {_show(widgets_raw)}")
            continue
        widgets = [
            _widget(w, f"{path}.widgets[{j}]", labels, report, check_keys)
            for j, w in enumerate(widgets_raw)
        ]
        roles = parse_page_roles(raw.get("roles", []), f"{path}.roles", report)
        if all(w is not None for w in widgets) and isinstance(title, str):
            valid = tuple(w for w in widgets if w is not None)
            pages.append(Page(name, title, str(icon), valid, path, roles))
    return tuple(pages)


def _widget(
    raw: Mapping[str, Any],
    path: str,
    labels: Mapping[str, Label],
    report: Report,
    check_keys: CheckKeys,
) -> Widget | None:
    kind = raw.get("type")
    try:
        wtype = WidgetType(str(kind))
    except ValueError:
        known = ", ".join(t.value for t in WidgetType)
        report(f"{path}.type", f"{_show(kind)} is not a widget type; one of {known}")
        return None
    spec_fields = [f.name for f in fields(spec_types()[wtype]) if not f.name.startswith("_")]
    from_labels = _FROM_LABELS.get(wtype, frozenset())
    settable = tuple(f for f in spec_fields if f not in from_labels)
    extra = _EXTRA_KEYS.get(wtype, ())
    keys = _COMMON_KEYS + extra + (() if wtype is WidgetType.TILES else settable)
    check_keys(raw, path, keys, report)
    ok = True
    for key in ("title", "caption"):
        if key in raw and not isinstance(raw[key], str):
            report(f"{path}.{key}", f"must be text, got {_show(raw[key])}")
            ok = False
    width = raw.get("width", "full")
    if width not in ("full", "half"):
        report(f"{path}.width", f"must be 'full' or 'half', got {_show(width)}")
        ok = False
    events_per_min = raw.get("events_per_min", False)
    if not isinstance(events_per_min, bool):
        report(f"{path}.events_per_min", f"must be true or false, got {_show(events_per_min)}")
        ok = False
    toast_template = raw.get("toast_template")
    if toast_template is not None:
        from rtdata.views.widgets._spec import compile_template

        try:
            compile_template("toast_template", toast_template)
        except ValueError as exc:
            report(f"{path}.toast_template", str(exc))
            ok = False
    spec: WidgetSpec | None
    if wtype is WidgetType.TILES:
        spec = _tiles(raw.get("tiles"), f"{path}.tiles", report, check_keys)
    else:
        given: dict[str, Any] = {}
        for key in (k for k in settable if k in raw):
            try:
                given[key] = _value(key, raw[key])
            except ValueError as exc:
                report(f"{path}.{key}", str(exc))
                ok = False
        # A misspelt key was reported with a did-you-mean; "missing" would say it twice.
        misspelt = any(k not in keys for k in raw)
        for key, cls in _nested_types().get(wtype, {}).items():
            if key in given:
                tables, all_known = _nested(given[key], f"{path}.{key}", cls, report, check_keys)
                given[key] = tables
                misspelt = misspelt or not all_known
        spec = _spec(wtype, given, labels, path, report, report_missing=not misspelt and ok)
    if spec is None or not ok:
        return None
    return Widget(
        wtype,
        spec,
        path,
        raw.get("title"),
        raw.get("caption"),
        width,
        events_per_min,
        toast_template,
    )


def _tiles(
    value: Any, path: str, report: Report, check_keys: CheckKeys
) -> tuple[tiles.TileSpec, ...] | None:
    if not isinstance(value, list) or not value or not all(isinstance(t, dict) for t in value):
        report(path, f"must be a non-empty array of tables ([[...tiles]]), got {_show(value)}")
        return None
    keys = tuple(f.name for f in fields(spec_types()[WidgetType.TILES]))
    specs: list[tiles.TileSpec] = []
    for i, raw in enumerate(value):
        check_keys(raw, f"{path}[{i}]", keys, report)
        spec = _spec(WidgetType.TILES, dict(raw), {}, f"{path}[{i}]", report)
        if spec is not None:
            specs.append(spec)
    return tuple(specs) if len(specs) == len(value) else None


def _nested(
    value: Any, path: str, cls: type[Any], report: Report, check_keys: CheckKeys
) -> tuple[Any, bool]:
    """Check the keys of each table of an array of tables (``layers``), reporting unknown ones
    with a did-you-mean, and return the array without them, and whether every key was known.
    A value that is not such an array is returned as is, for the spec to refuse."""
    if not isinstance(value, tuple) or not all(isinstance(t, dict) for t in value):
        return value, True
    keys = tuple(f.name for f in fields(cls) if f.init and not f.name.startswith("_"))
    for i, table in enumerate(value):
        check_keys(table, f"{path}[{i}]", keys, report)
    known = all(k in keys for table in value for k in table)
    return tuple({k: v for k, v in table.items() if k in keys} for table in value), known


def _value(key: str, value: Any) -> Any:
    """Turn a TOML value into what the spec field takes: arrays become tuples (nested ones
    too), ``bands`` a tuple of :class:`~rtdata.views.widgets.series.Band`, ``colours`` pairs;
    other tables stay mappings, nested ones too (``sla_s``, and ``sla_s_by``'s tables of
    seconds per status keyed by value); the fields of a table in an array (a map's ``layers``)
    are turned by these same rules."""
    if key == "bands" and isinstance(value, dict):
        return tuple(_band(column, bound) for column, bound in value.items())
    if key == "colours" and isinstance(value, dict):
        return tuple(value.items())
    if isinstance(value, list):
        return tuple(
            {k: _value(k, v) for k, v in item.items()}
            if isinstance(item, dict)
            else _value("", item)
            for item in value
        )
    return value


def _band(column: str, bound: Any) -> series.Band:
    from rtdata.views.widgets import series

    if isinstance(bound, list) and len(bound) == 2:
        return series.Band(column, bound[0], bound[1])
    if isinstance(bound, dict) and set(bound) <= {"lower", "upper"}:
        return series.Band(column, bound.get("lower"), bound.get("upper"))
    raise ValueError(
        f"band {column!r} must be [lower, upper] or {{ lower = ..., upper = ... }}, "
        f"got {_show(bound)}"
    )


def _spec(
    wtype: WidgetType,
    given: dict[str, Any],
    labels: Mapping[str, Label],
    path: str,
    report: Report,
    *,
    report_missing: bool = True,
) -> Any:
    if wtype is WidgetType.BREAKDOWN and isinstance(given.get("by"), tuple):
        given["labels"] = {
            c: (labels[c].table, labels[c].key_column, labels[c].label_column)
            for c in given["by"]
            if c in labels
        }
    if wtype is WidgetType.ROSTER and isinstance(given.get("group_by"), tuple):
        labelled = [f for f in given["group_by"] if f in labels]
        if labelled:
            label = labels[labelled[0]]
            given |= {
                "label_field": label.column,
                "label_table": label.table,
                "label_key_column": label.key_column,
                "label_column": label.label_column,
            }
    required = [
        f.name
        for f in fields(spec_types()[wtype])
        if f.init and f.default is MISSING and f.default_factory is MISSING and f.name not in given
    ]
    if required:
        if report_missing:
            report(path, f"missing {', '.join(required)} (required by a {wtype.value} widget)")
        return None
    from rtdata.views.widgets._spec import SpecError, SpecMissing

    try:
        return spec_types()[wtype](**given)
    except SpecMissing as exc:  # a misspelt key was reported already: not "missing" as well
        if report_missing:
            report(_field_path(path, exc.field, given), str(exc))
        return None
    except SpecError as exc:  # names the field at fault
        report(_field_path(path, exc.field, given), str(exc))
        return None
    except Exception as exc:  # any other value a spec cannot take: a config problem, no crash
        report(path, str(exc))
        return None


def _field_path(path: str, field: str, given: Mapping[str, Any]) -> str:
    """The key path of spec field ``field`` (``layers[2].lat_column`` within a map's
    ``layers``) of the widget at ``path``; the widget's own path when the file did not set it."""
    head = re.split(r"[.\[]", field, maxsplit=1)[0]
    return f"{path}.{field}" if head in given else path
