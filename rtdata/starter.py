"""The commented starter ``rtdata.toml`` that ``rtdata init`` writes (a pure function).

:func:`render_starter` turns a project's schema (:mod:`rtdata.introspect`) into the text of an
``rtdata.toml`` that pins what the zero-config dashboard would do (:mod:`rtdata.default_pages`):

- ``[dashboard]``, with ``wall_pages`` commented out;
- ``[[channels]]``: one ``postgres_changes`` binding per table with a primary key (the others
  are named in a comment), with ``updated_at`` as resync column where it is a timestamp, and
  commented-out presence and broadcast channels;
- ``[labels]`` for foreign keys to a table with a name-like column;
- ``[[pages]]``: the overview and one page per table with the same widgets as the zero-config
  dashboard, each after a comment saying what it shows. A status column whose statuses the
  schema does not list (it is not an enum) gets a commented-out lifecycle board with
  placeholder statuses, and every widget type the pages do not use gets a commented-out
  example at the end.

Every commented-out setting is valid as it stands: uncommenting all of them still gives a file
:func:`rtdata.config.parse_config` accepts. No ``tomllib`` writer exists and neither ``tomli_w``
nor ``tomlkit`` is a dependency, so the text is formatted here, through :func:`toml_value`
(which escapes strings as TOML basic strings) and :func:`toml_key`.
"""

from __future__ import annotations

import math
import re
import textwrap
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import MISSING, fields
from typing import Any, Final

from rtdata import default_pages
from rtdata.config import Binding
from rtdata.introspect import ProjectSchema, TableInfo, bindings_for
from rtdata.layout import BUILTIN_PAGES, Label, Page, Widget, WidgetType
from rtdata.views.widgets import breakdown, feed, lifecycle, queue, roster, series, tiles
from rtdata.views.widgets import map as map_widget

__all__ = ["PLACEHOLDER_STATUSES", "PRESENCE_CHANNEL", "render_starter", "toml_key", "toml_value"]

PLACEHOLDER_STATUSES: Final = ("new", "in_progress", "done")
"""Statuses of a commented-out lifecycle board whose real statuses the schema does not list."""

PRESENCE_CHANNEL: Final = "online"
"""Name of the commented-out presence channel that the roster example reads."""

_CHANNEL: Final = "rtdata-tables"
_IDENTIFIER: Final = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_BARE_KEY: Final = re.compile(r"^[A-Za-z0-9_-]+$")
_ESCAPES: Final = {'"': '\\"', "\\": "\\\\", "\b": "\\b", "\t": "\\t", "\n": "\\n"} | {
    "\f": "\\f",
    "\r": "\\r",
}
_NUMERIC_TYPES: Final = frozenset(
    {"smallint", "integer", "bigint", "real", "double precision", "numeric"}
)
_WIDTH: Final = 96
_PLACEHOLDER_TABLE: Final = "my_table"

_ABOUT: Final[Mapping[WidgetType, str]] = {
    WidgetType.TILES: (
        "Tiles: one number each, the rows of a table (a filter counts some of them, time_column"
        " with today the ones of the day) or the sum, avg, min or max of a column; warn and"
        " critical colour a tile."
    ),
    WidgetType.LIFECYCLE: (
        "Lifecycle board: items per status in lifecycle order and the open ones, oldest first."
        " Terminal statuses end an item; sla_s (seconds per status) flags items stuck too long."
    ),
    WidgetType.BREAKDOWN: (
        "Breakdown: one bar per value of the `by` column (a second column splits the bars);"
        " measure sum with column adds a column up."
    ),
    WidgetType.MAP: (
        "Map: one marker per row at its latitude and longitude, coloured by colour_column;"
        " hover is a template such as {name}."
    ),
    WidgetType.QUEUE: (
        "Live table: the newest rows, the ones just changed highlighted; columns picks and"
        " orders the columns, filter keeps some rows."
    ),
    WidgetType.FEED: (
        "Feed: one line per change of a table (or broadcast on a channel), written from a"
        " template of {column} fields."
    ),
    WidgetType.SERIES: (
        "Series: numeric columns over time, one line per entity_column value; bands mark each"
        " column's normal range."
    ),
    WidgetType.ROSTER: (
        f"Roster: who is online on a presence channel, counted by tracked fields (group_by);"
        f" it needs the {PRESENCE_CHANNEL!r} presence channel above uncommented."
    ),
}
_SHORT: Final[Mapping[WidgetType, str]] = {
    WidgetType.TILES: "Tiles: counts of this table's rows.",
    WidgetType.LIFECYCLE: "Lifecycle board: items per status.",
    WidgetType.BREAKDOWN: "Breakdown: rows per value.",
    WidgetType.MAP: "Map: the rows at their coordinates.",
    WidgetType.QUEUE: "Live table: the newest rows.",
    WidgetType.FEED: "Feed: one line per change.",
    WidgetType.SERIES: "Series: numeric columns over time.",
    WidgetType.ROSTER: "Roster: who is online.",
}


def render_starter(schema: ProjectSchema, *, source_note: str) -> str:
    """Return the text of a commented starter ``rtdata.toml`` for the project of ``schema``.

    The text parses with :func:`rtdata.config.parse_config`, binds every table that has a
    primary key and a name usable in the file, and names no column the schema lacks.

    Args:
        schema: The project's tables (from :func:`rtdata.introspect.fetch_schema` or
            :func:`rtdata.introspect.schema_from_migrations`).
        source_note: Where the schema came from (``"the project at https://..."``), written in
            the header comment; line breaks and other control characters become spaces.
    """
    bindings, skipped = _bindings(schema)
    tables = {b.table: b.primary_key for b in bindings}
    layout = default_pages.build(schema, tables, {})
    out: list[str] = [*_header(source_note), ""]
    out += [*_dashboard(layout.pages), ""]
    out += [*_channels(bindings, skipped), ""]
    out += [*_labels(layout.labels), ""]
    used: set[WidgetType] = set()
    for i, page in enumerate(layout.pages):  # the overview, then a page per binding, in order
        table = schema.tables.get(bindings[i - 1].table) if i else None
        out += [*_page(page, table, used), ""]
    out += _examples(schema, bindings, used)
    return "\n".join(out).rstrip("\n") + "\n"


# ---------------------------------------------------------------- TOML text


def toml_value(value: Any) -> str:
    """Return ``value`` as a TOML value: a basic string, boolean, integer, float, array or
    inline table (from a mapping), nested as deep as given.

    Raises:
        ValueError: ``value`` has no TOML form (``None``, a float that is not finite, a lone
            surrogate in a string, or an object of another type).
    """
    if isinstance(value, str):
        if any(0xD800 <= ord(c) <= 0xDFFF for c in value):
            raise ValueError(f"{value!r} holds a lone surrogate, which TOML cannot hold")
        return '"' + "".join(_ESCAPES.get(c) or _control(c) for c in value) + '"'
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"{value!r} is not a finite number")
        return repr(value)
    if isinstance(value, Mapping):
        items = ", ".join(f"{toml_key(str(k))} = {toml_value(v)}" for k, v in value.items())
        return f"{{ {items} }}" if items else "{}"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    raise ValueError(f"{type(value).__name__} {value!r} has no TOML form")


def toml_key(key: str) -> str:
    """Return ``key`` as a TOML key: bare when it is letters, digits, ``_`` and ``-``, else
    quoted."""
    return key if _BARE_KEY.match(key) else toml_value(key)


def _control(char: str) -> str:
    code = ord(char)
    return f"\\u{code:04x}" if code < 0x20 or code == 0x7F else char


def _comment(text: str, indent: str = "") -> list[str]:
    flat = "".join(" " if ord(c) < 0x20 or ord(c) == 0x7F else c for c in text)
    return textwrap.wrap(
        flat, _WIDTH, initial_indent=f"{indent}# ", subsequent_indent=f"{indent}# "
    )


def _rule(title: str) -> str:
    return f"# ---- {title} ".ljust(_WIDTH, "-")


def _commented(lines: Iterable[str]) -> list[str]:
    out = []
    for line in lines:
        body = line.lstrip(" ")
        out.append(f"{line[: len(line) - len(body)]}# {body}" if body else line)
    return out


# ---------------------------------------------------------------- sections


def _header(source_note: str) -> list[str]:
    return [
        *_comment(
            f"rtdata.toml: what the rtdata dashboard follows and shows. Written by `rtdata init`"
            f" from {source_note}: the channels, labels and pages the dashboard builds by"
            " itself when there is no rtdata.toml, here to be edited."
        ),
        "#",
        *_comment(
            "Edit freely: widgets name only tables, columns and channels. Commented-out"
            " settings are examples; uncomment one to use it. The dashboard checks this file"
            " when it starts and names the key of each mistake. Every section and widget field"
            " is described in the docstrings of rtdata.config and rtdata.layout (python -m"
            " pydoc rtdata.config); sections left out, such as [connection], [alerts] and"
            " [history], keep their defaults."
        ),
        "#",
        *_comment(
            "Credentials never belong here: set SUPABASE_URL and SUPABASE_KEY in the"
            " environment or in .streamlit/secrets.toml."
        ),
    ]


def _dashboard(pages: tuple[Page, ...]) -> list[str]:
    wall = [p.name for p in pages[:4]] + [n for n in BUILTIN_PAGES if n == "realtime"]
    return [
        "[dashboard]",
        *_comment(
            "A wall display (?wall=1 in the URL) shows each page in turn, all of them when"
            " wall_pages is left out; refresh_s and wall_rotate_s set the pace."
        ),
        f"# wall_pages = {toml_value(wall)}",
    ]


def _bindings(schema: ProjectSchema) -> tuple[list[Binding], list[str]]:
    """Return the bindings the file can hold, and a note per table left out."""
    keyed = {b.table: b for b in bindings_for(schema)}
    bindings: list[Binding] = []
    skipped: list[str] = []
    for name in schema.tables:
        binding = keyed.get(name)
        if binding is None:
            skipped.append(f"{name} (no primary key: rtdata keeps rows by key)")
        elif not all(_IDENTIFIER.match(n) for n in (name, *binding.primary_key)):
            skipped.append(f"{name} (a table or key name rtdata.toml cannot hold)")
        else:
            bindings.append(binding)
    return bindings, skipped


def _channels(bindings: list[Binding], skipped: list[str]) -> list[str]:
    out = [
        _rule("Channels"),
        *_comment(
            "What the collector subscribes to: every table with a primary key, all events."
            " Without [[channels]] it follows every table the project exposes; here the set is"
            " pinned. resync_column, a timestamp set on every change, lets rtdata fetch the"
            " changes it missed while disconnected; events and filter narrow a binding."
        ),
    ]
    if skipped:
        out += _comment("Not followed: " + ", ".join(skipped) + ".")
    lines = ["[[channels]]", f"name = {toml_value(_CHANNEL)}"]
    for binding in bindings or [Binding(_PLACEHOLDER_TABLE)]:
        lines += ["  [[channels.postgres_changes]]", f"  table = {toml_value(binding.table)}"]
        if binding.primary_key != ("id",):
            lines.append(f"  primary_key = {toml_value(binding.primary_key)}")
        if binding.resync_column is not None:
            lines.append(f"  resync_column = {toml_value(binding.resync_column)}")
    if not bindings:
        out += _comment("No table with a primary key was found; a binding looks like this:")
    out += lines if bindings else _commented(lines)
    out += [
        "",
        *_comment(
            "Presence (who is online) and broadcast messages are recorded on channels of their"
            " own, by name:"
        ),
        *_commented(["[[channels]]", f"name = {toml_value(PRESENCE_CHANNEL)}", "presence = true"]),
        *_commented(["[[channels]]", 'name = "ops"', 'broadcast = ["*"]']),
    ]
    return out


def _labels(labels: Mapping[str, Label]) -> list[str]:
    out = [
        _rule("Labels"),
        *_comment(
            "An id column is shown by a column of the table it refers to, in every widget:"
            ' column, then "table.label_column". They come from the foreign keys.'
        ),
    ]
    if not labels:
        out += _comment(
            "None found: no foreign key refers to a followed table with a name-like column"
            " (" + ", ".join(default_pages.LABEL_COLUMNS) + ")."
        )
    out.append("[labels]")
    for column, label in labels.items():
        if not _IDENTIFIER.match(column):
            continue
        value: Any = f"{label.table}.{label.label_column}"
        if label.key_column != "id":
            value = {
                "table": label.table,
                "key_column": label.key_column,
                "label_column": label.label_column,
            }
        out.append(f"{column} = {toml_value(value)}")
    return out


def _page(page: Page, table: TableInfo | None, used: set[WidgetType]) -> list[str]:
    out = [
        _rule(f"Page: {page.title}"),
        "[[pages]]",
        f"name = {toml_value(page.name)}",
        f"title = {toml_value(page.title)}",
        f"icon = {toml_value(page.icon)}",
    ]
    for i, widget in enumerate(page.widgets):
        about = _SHORT[widget.type] if widget.type in used else _ABOUT[widget.type]
        used.add(widget.type)
        out += ["", *_comment(about, "  "), *_widget(widget)]
        if i == 0 and table is not None:
            placeholder = _placeholder(table, page)
            if placeholder is not None:
                used.add(WidgetType.LIFECYCLE)
                out += ["", *placeholder]
    return out


def _placeholder(table: TableInfo, page: Page) -> list[str] | None:
    """A commented-out lifecycle board for a status column whose statuses are unknown."""
    status = default_pages.first_column(table.columns, default_pages.STATUS_COLUMNS)
    if status is None or len(table.primary_key) != 1:
        return None
    if any(w.type is WidgetType.LIFECYCLE for w in page.widgets):
        return None
    types = {c.name: c.pg_type for c in table.columns.values()}
    board = lifecycle.LifecycleSpec(
        table.name,
        status,
        PLACEHOLDER_STATUSES,
        tuple(s for s in PLACEHOLDER_STATUSES if s in default_pages.TERMINAL_WORDS),
        key_column=table.primary_key[0],
        created_column=default_pages.created_column(types),
    )
    widget = Widget(WidgetType.LIFECYCLE, board, "", f"{table.name} by {status}")
    hint = (
        f"The statuses of {table.name}.{status} are not in the schema (it is not an enum), so"
        " this board is commented out; the dashboard without rtdata.toml reads them from the"
        " rows. List them in lifecycle order, the terminal ones too, then uncomment it."
    )
    return [*_comment(hint, "  "), *_commented(_widget(widget))]


def _widget(widget: Widget) -> list[str]:
    out = ["  [[pages.widgets]]", f"  type = {toml_value(widget.type.value)}"]
    for key in ("title", "caption", "toast_template"):
        text = getattr(widget, key)
        if text:
            out.append(f"  {key} = {toml_value(text)}")
    if widget.width != "full":
        out.append(f"  width = {toml_value(widget.width)}")
    if widget.events_per_min:
        out.append("  events_per_min = true")
    if isinstance(widget.spec, tuple):
        for tile in widget.spec:
            out.append("    [[pages.widgets.tiles]]")
            out += [f"    {k} = {toml_value(v)}" for k, v in _fields(tile)]
    else:
        out += [f"  {k} = {toml_value(v)}" for k, v in _fields(widget.spec)]
    return out


def _fields(spec: Any) -> Iterator[tuple[str, Any]]:
    """The fields of a widget spec that differ from their defaults, as TOML-ready values.

    ``None`` has no TOML form and is left out: it only differs from a default for a map's
    ``label_property``, which matters only with ``geojson``, which the starter never sets.
    """
    for f in fields(spec):
        if not f.init or f.name.startswith("_"):
            continue
        value = getattr(spec, f.name)
        if f.default is not MISSING:
            default = f.default
        elif f.default_factory is not MISSING:
            default = f.default_factory()
        else:
            default = MISSING
        if value is None or value == default:
            continue
        if f.name == "colours":
            yield f.name, dict(value)
        elif f.name == "bands":
            bounds = (("lower", "lower"), ("upper", "upper"))
            yield (
                f.name,
                {
                    b.column: {k: getattr(b, a) for k, a in bounds if getattr(b, a) is not None}
                    for b in value
                },
            )
        else:
            yield f.name, value


# ---------------------------------------------------------------- examples


def _examples(schema: ProjectSchema, bindings: list[Binding], used: set[WidgetType]) -> list[str]:
    missing = [t for t in WidgetType if t not in used]
    if not missing:
        return []
    tables = [schema.tables[b.table] for b in bindings]
    out = [
        _rule("More widget types"),
        *_comment(
            "Not on the pages above. Uncomment one here to add it to the last page, or move it"
            " under any page; check the names it guesses."
        ),
    ]
    for wtype in missing:
        example = _example(wtype, tables)
        out += ["", *_comment(_ABOUT[wtype], "  "), *_commented(_widget(example))]
    return out


def _example(wtype: WidgetType, tables: list[TableInfo]) -> Widget:
    """An example widget of ``wtype`` over the first table (placeholder names without one)."""
    if wtype is WidgetType.SERIES:
        return _series(tables)
    if wtype is WidgetType.ROSTER:
        online = roster.RosterSpec((PRESENCE_CHANNEL,), group_by=("role",))
        return Widget(wtype, online, "", "Who is online")
    first = tables[0] if tables else None
    name = first.name if first is not None else _PLACEHOLDER_TABLE
    columns = dict(first.columns) if first is not None else {}
    key = first.primary_key[0] if first is not None and len(first.primary_key) == 1 else "id"
    status = default_pages.first_column(columns, default_pages.STATUS_COLUMNS)
    title = name.replace("_", " ").capitalize()
    spec: Any
    if wtype is WidgetType.TILES:
        spec = (tiles.TileSpec(f"{name}: rows", name),)
    elif wtype is WidgetType.QUEUE:
        spec, title = queue.QueueSpec(name, key_column=key), "Newest rows"
    elif wtype is WidgetType.LIFECYCLE:
        column = status or "status"
        done = tuple(s for s in PLACEHOLDER_STATUSES if s in default_pages.TERMINAL_WORDS)
        spec = lifecycle.LifecycleSpec(name, column, PLACEHOLDER_STATUSES, done, key_column=key)
        title = f"{name} by {column}"
    elif wtype is WidgetType.BREAKDOWN:
        by = status or next((c for c, i in columns.items() if i.pg_type == "text"), "category")
        spec, title = breakdown.BreakdownSpec(name, (by,)), f"Rows by {by}"
    elif wtype is WidgetType.MAP:
        lat, lon = default_pages.LAT_COLUMNS[0], default_pages.LON_COLUMNS[0]
        spec, title = map_widget.MapSpec(name, lat, lon), "Map"
    else:
        shown = f" {{{status}}}" if status is not None else ""
        spec, title = feed.FeedSpec(f"#{{{key}}}{shown}", table=name), f"Changes of {name}"
    return Widget(wtype, spec, "", title)


def _series(tables: list[TableInfo]) -> Widget:
    """A series of the table with the most numeric readings and a time column."""
    best: tuple[int, series.SeriesSpec] | None = None
    for table in tables:
        types = {c.name: c.pg_type for c in table.columns.values()}
        time = default_pages.created_column(types) or next(
            (c.name for c in table.columns.values() if c.is_timestamp), None
        )
        numbers = tuple(c for c in types if _is_reading(table, c))
        if time is not None and numbers and (best is None or len(numbers) > best[0]):
            entity = next((c for c in types if c.endswith("_id")), None)
            best = (len(numbers), series.SeriesSpec(table.name, time, numbers[:3], entity))
    if best is None:
        name = tables[0].name if tables else _PLACEHOLDER_TABLE
        spec = series.SeriesSpec(name, "created_at", ("value",))
    else:
        spec = best[1]
    return Widget(
        WidgetType.SERIES, spec, "", f"{spec.table.replace('_', ' ').capitalize()} over time"
    )


def _is_reading(table: TableInfo, column: str) -> bool:
    """Whether ``column`` holds numbers worth plotting: not a key, id or coordinate."""
    kind = table.columns[column].pg_type
    numeric = kind in _NUMERIC_TYPES or kind.startswith("numeric")
    coordinate = column.lower() in default_pages.LAT_COLUMNS + default_pages.LON_COLUMNS
    is_id = column in table.primary_key or column == "id" or column.endswith("_id")
    return numeric and not coordinate and not is_id and table.columns[column].foreign_key is None
