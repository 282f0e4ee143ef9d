"""What a page names, checked against what is there: the tables, columns and channels each
widget of ``[[pages]]`` uses, and the problems when the collector does not follow them or the
project lacks them (pure functions over :mod:`rtdata.layout`'s models)."""

from __future__ import annotations

import difflib
from collections.abc import Collection, Iterator, Mapping
from dataclasses import dataclass, fields
from typing import Any, Final

from rtdata.layout import Label, Page, Widget

__all__ = ["Reference", "check_columns", "check_references", "references"]


@dataclass(frozen=True, slots=True)
class Reference:
    """A name a widget uses: a column of a table, or a channel.

    Attributes:
        path: Key path of the field in the config (``pages[0].widgets[1].status_column``).
        table: The table, or ``None`` for a channel.
        name: The column, or the channel.
        presence: For a channel: it must record presence (else broadcast).
    """

    path: str
    table: str | None
    name: str
    presence: bool = False


def references(widget: Widget) -> Iterator[Reference]:
    """Yield every table column and channel ``widget`` names, with the key path of each (a
    map layer's under ``layers[i]``)."""
    from rtdata.views.widgets import breakdown, feed, roster
    from rtdata.views.widgets import map as map_widget

    spec = widget.spec
    if isinstance(spec, tuple):
        for i, tile in enumerate(spec):
            yield from _columns(f"{widget.path}.tiles[{i}]", tile.table, tile)
        return
    if isinstance(spec, map_widget.MapSpec) and spec.layers:
        for i, layer in enumerate(spec.layers):
            yield from _columns(f"{widget.path}.layers[{i}]", layer.table, layer)
        return
    if isinstance(spec, roster.RosterSpec):
        for channel in spec.channels:
            yield Reference(f"{widget.path}.channels", None, channel, presence=True)
        if spec.label_table is not None:
            for column in (spec.label_key_column, spec.label_column):
                yield Reference(f"labels.{spec.label_field}", spec.label_table, column)
        return
    if isinstance(spec, feed.FeedSpec) and spec.table is None:
        field = "channel" if spec.channel is not None else "channels"
        for channel in spec.broadcast_channels:
            yield Reference(f"{widget.path}.{field}", None, channel)
        return
    table = getattr(spec, "table", None)
    assert isinstance(table, str)
    yield from _columns(widget.path, table, spec)
    if widget.toast_template:
        for name in _template("toast_template", widget.toast_template):
            yield Reference(f"{widget.path}.toast_template", table, name)
    if isinstance(spec, breakdown.BreakdownSpec):
        for column, (other, key, label) in spec.labels.items():
            yield Reference(f"labels.{column}", other, key)
            yield Reference(f"labels.{column}", other, label)


_COLUMN_FIELDS: Final = frozenset(
    {"column", "columns", "by", "changed", "time_column", "status_column", "key_column"}
    | {"priority_column", "created_column", "group_column", "entity_column", "cohort_column"}
    | {"sla_column"}
    | {"lat_column", "lon_column", "colour_column", "size_column"}
)
_FILTER_FIELDS: Final = frozenset({"filter", "toast_filter", "share_filter"})


def _columns(path: str, table: str, spec: Any) -> Iterator[Reference]:
    from rtdata.views.widgets import queue
    from rtdata.views.widgets._filter import filter_columns, parse_widget_filter

    yield Reference(f"{path}.table", table, "")
    for f in fields(spec):
        value = getattr(spec, f.name)
        where = f"{path}.{f.name}"
        if f.name in _COLUMN_FIELDS and value:
            for name in (value,) if isinstance(value, str) else value:
                yield Reference(where, table, name)
        elif f.name in _FILTER_FIELDS and value:
            for name in filter_columns(parse_widget_filter(value)):  # col() references too
                yield Reference(where, table, name)
        elif f.name == "order" and value:
            for term in queue.parse_order(value):
                yield Reference(where, table, term.column)
        elif f.name == "bands":
            for band in value:
                yield Reference(where, table, band.column)
        elif f.name == "labels" and isinstance(spec, queue.QueueSpec):
            for name in value:
                yield Reference(where, table, name)
        elif f.name in ("template", "hover") and value:
            for piece in _template(f.name, value):
                yield Reference(where, table, piece)


def _template(name: str, text: str) -> list[str]:
    """The record columns a template reads (not what it reads of the event itself)."""
    from rtdata.views.widgets._spec import compile_template
    from rtdata.views.widgets.feed import EVENT_FIELDS

    pieces = compile_template(name, text, event_fields=EVENT_FIELDS)  # checked by its spec
    return [p.field for p in pieces if p.field is not None and not p.event]


def check_references(
    pages: Collection[Page],
    labels: Mapping[str, Label],
    tables: Collection[str],
    presence_channels: Collection[str],
    broadcast_channels: Collection[str],
) -> list[tuple[str, str]]:
    """Return (key path, problem) for every table or channel a page or label names that the
    collector does not follow."""
    problems: list[tuple[str, str]] = []
    for label in labels.values():
        if label.table not in tables:
            problems.append((f"labels.{label.column}.table", _not_followed(label.table, tables)))
    for page in pages:
        for widget in page.widgets:
            for ref in references(widget):
                if ref.table is not None:
                    if not ref.name and ref.table not in tables:
                        problems.append((ref.path, _not_followed(ref.table, tables)))
                elif ref.presence and ref.name not in presence_channels:
                    problems.append(
                        (ref.path, _not_channel(ref.name, "presence = true", presence_channels))
                    )
                elif not ref.presence and ref.name not in broadcast_channels:
                    problems.append(
                        (ref.path, _not_channel(ref.name, "broadcast", broadcast_channels))
                    )
    return problems


def check_columns(
    pages: Collection[Page],
    columns: Mapping[str, Collection[str]],
    labels: Mapping[str, Label] | None = None,
) -> list[tuple[str, str]]:
    """Return (key path, problem) for every column a page or a label names that its table
    lacks.

    Args:
        pages: The configured pages.
        columns: The columns of each table the project exposes; tables not in it are skipped
            (:func:`check_references` reports tables that are not followed).
        labels: The ``[labels]``: each one's key and label columns are checked too.
    """
    problems: list[tuple[str, str]] = []
    seen: set[tuple[str, str]] = set()
    for label in (labels or {}).values():
        known = columns.get(label.table)
        for key in ("key_column", "label_column"):
            name = getattr(label, key)
            if known is not None and name not in known:
                path = f"labels.{label.column}.{key}"
                seen.add((f"labels.{label.column}", name))
                problems.append((path, _unknown_column(name, label.table, known)))
    for page in pages:
        for widget in page.widgets:
            for ref in references(widget):
                if ref.table is None or not ref.name or ref.table not in columns:
                    continue
                known = columns[ref.table]
                if ref.name not in known and (ref.path, ref.name) not in seen:
                    seen.add((ref.path, ref.name))
                    problems.append((ref.path, _unknown_column(ref.name, ref.table, known)))
    return problems


def _not_followed(table: str, tables: Collection[str]) -> str:
    hint = _close(table, tables)
    return f"table {table!r} is not followed{hint}; add it to [[channels]] or RTDATA_TABLES"


def _not_channel(name: str, what: str, channels: Collection[str]) -> str:
    hint = _close(name, channels)
    return f"channel {name!r} is not a [[channels]] entry with {what}{hint}"


def _unknown_column(name: str, table: str, known: Collection[str]) -> str:
    return f"table {table!r} has no column {name!r}{_close(name, known)}"


def _close(name: str, known: Collection[str]) -> str:
    close = difflib.get_close_matches(name, list(known), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""
