"""One render function per widget type, and :func:`page` that draws a configured page.

Each widget's computation is a pure view of :mod:`rtdata.views.widgets`, run through
:func:`rtdata.ui.cached_view` under the widget's key path, so N viewers cost about one
computation per widget per refresh. What differs per viewer (a chosen entity, which toasts
a session has seen) stays in the session. Nothing here knows a scenario: everything comes from
the :class:`rtdata.layout.Widget`.
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any, Final

import pandas as pd
import streamlit as st

from rtdata import ui
from rtdata.events import EventKind
from rtdata.layout import Page, Widget, WidgetType
from rtdata.scope import RowScope
from rtdata.scoped import Reader, ScopedReader
from rtdata.views.labels import label_maps, labelled, parsed_times
from rtdata.views.widgets import breakdown, feed, lifecycle, queue, roster, series, tiles
from rtdata.views.widgets import map as map_widget
from rtdata.views.widgets._spec import compile_template
from rtdata.views.widgets._spec import render as render_template

__all__ = ["EVENTS_PER_WIDGET", "TOAST_WINDOW", "page", "show", "widget"]

TOAST_WINDOW: Final = timedelta(minutes=1)
"""How far back a feed looks for toasts: a session that refreshes within it misses none."""

EVENTS_PER_WIDGET: Final = 50_000
"""Newest buffered events of its table (or channels) a widget reads: status times, spans,
highlights and feeds come from these, so a full buffer costs no more than this."""

_FEED_FIRST_READ: Final = 25  # a broadcast feed first reads this many times its limit
_METRICS_PER_ROW: Final = 4
_LEVEL_COLOURS: Final = {"warn": "orange", "critical": "red"}
_TIME: Final = st.column_config.DatetimeColumn(format="HH:mm:ss")
_SECONDS: Final = st.column_config.NumberColumn(format="%.0f s")
_PERCENT: Final = st.column_config.NumberColumn(format="%.1f %%")


def show(name: str, recorder: Reader) -> None:
    """Draw the dashboard page called ``name`` with its chrome (:func:`rtdata.ui.page`).

    Raises:
        KeyError: No page has that name.
    """
    found = {p.name: p for p in ui.pages(recorder)}
    spec = found[name]
    ui.page(spec.title)
    page(spec, recorder)


def page(spec: Page, recorder: Reader) -> None:
    """Draw a configured page below its title: its widgets top to bottom, consecutive
    ``half`` widgets two to a row."""
    widgets = list(spec.widgets)
    i = 0
    while i < len(widgets):
        if widgets[i].width == "half" and i + 1 < len(widgets) and widgets[i + 1].width == "half":
            left, right = st.columns(2)
            with left:
                widget(widgets[i], recorder)
            with right:
                widget(widgets[i + 1], recorder)
            i += 2
        else:
            widget(widgets[i], recorder)
            i += 1


def widget(spec: Widget, recorder: Reader) -> None:
    """Draw one widget (heading, caption, then its live region)."""
    # Views and session state are keyed by the widget's path and what it is: a default page's
    # widget at one path can change (a status column gets its first rows), and must then never
    # be handed the cached view of the widget that was there before.
    if isinstance(recorder, ScopedReader) and _out_of_scope(spec, recorder.scope):
        return
    digest = zlib.crc32(repr((spec.type, spec.spec, spec.toast_template)).encode())
    spec = replace(spec, path=f"{spec.path}#{spec.type.value}:{digest:08x}")
    if spec.title:
        st.subheader(spec.title)
    if spec.caption:
        st.caption(spec.caption)
    _RENDERERS[spec.type](spec, recorder)


def _out_of_scope(spec: Widget, scope: RowScope) -> bool:
    """Whether a widget reads only channels the user's scope refuses by name (another
    tenant's): it would show them nothing, under a heading that may name that tenant."""
    if isinstance(spec.spec, feed.FeedSpec):
        channels = [*spec.spec.channels, *([spec.spec.channel] if spec.spec.channel else [])]
    elif isinstance(spec.spec, roster.RosterSpec):
        channels = list(spec.spec.channels)
    else:
        return False
    return bool(channels) and all(scope.allows_channel(c) is False for c in channels)


# ---------------------------------------------------------------- data


def _now() -> datetime:
    return datetime.now(UTC)


def _changes(
    recorder: Reader,
    table: str,
    fields: Sequence[str] = (),
    columns: Sequence[str] | None = None,
) -> pd.DataFrame:
    return _newest(
        recorder,
        tables=[table],
        kinds=[EventKind.POSTGRES_CHANGES],
        fields=fields,
        columns=columns,
    )


def _newest(
    recorder: Reader,
    *,
    tables: list[str] | None = None,
    kinds: list[str] | None = None,
    channels: Sequence[str] | None = None,
    fields: Sequence[str] = (),
    columns: Sequence[str] | None = None,
    newest: int | None = None,
) -> pd.DataFrame:
    """The ``newest`` (:data:`EVENTS_PER_WIDGET` by default) events with these filters (and
    of ``channels``, if given), in buffer order, of ``columns`` (``None``: all), with the
    record ``fields`` a view reads decoded (each sealed chunk of the buffer decodes a record
    once for every later snapshot and viewer)."""
    return recorder.buffer.snapshot(
        tables=tables,
        kinds=kinds,
        channels=None if channels is None else list(channels),
        newest=EVENTS_PER_WIDGET if newest is None else newest,
        fields=fields,
        columns=columns,
    )


def _labels(recorder: Reader) -> dict[str, dict[str, str]]:
    labels = ui.labels(recorder)
    if not labels:
        return {}
    tables = {label.table for label in labels.values()}
    return ui.cached_view(
        "labels",
        recorder,
        lambda: label_maps(labels, {t: recorder.table(t) for t in tables}),
    )


def _lookups(recorder: Reader, tables: Mapping[str, Any]) -> dict[str, pd.DataFrame]:
    return {table: recorder.table(table) for table in tables}


def _table(frame: pd.DataFrame, highlighted: Sequence[bool] = (), **options: Any) -> None:
    """Draw ``frame``; rows whose flag in ``highlighted`` is true get a pale yellow background."""
    frame = parsed_times(frame)
    config: dict[str, Any] = {}
    for column in frame.columns:
        if pd.api.types.is_datetime64_any_dtype(frame[column]):
            config[column] = _TIME
        elif str(column).endswith("_s") and pd.api.types.is_numeric_dtype(frame[column]):
            config[column] = _SECONDS
        elif str(column).endswith("_pct") and pd.api.types.is_numeric_dtype(frame[column]):
            config[column] = _PERCENT
    if not any(highlighted):
        st.dataframe(frame, hide_index=True, width="stretch", column_config=config, **options)
        return
    flags = list(highlighted)

    def highlight(row: pd.Series[Any]) -> list[str]:
        fresh = flags[row.name] if isinstance(row.name, int) and row.name < len(flags) else False
        return ["background-color: #fff3c4" if fresh else ""] * len(row)

    # Styled after the column types are read: a Styler has no frame[column].
    styled = frame.reset_index(drop=True).style.apply(highlight, axis=1)
    st.dataframe(styled, hide_index=True, width="stretch", column_config=config, **options)


# What turns text into a link, an image, an autolink, code or LaTeX in Streamlit's Markdown
# (emphasis is harmless, and escaping it would show backslashes in names like en_route).
_MARKDOWN: Final = re.compile(r"([\\`\[\]<>$])")


def _plain(text: str) -> str:
    """Escape the Markdown in text that comes from rows that could fetch or run anything (a
    value never becomes an image, a Markdown link, code or LaTeX), on one line."""
    return _MARKDOWN.sub(r"\\\1", " ".join(text.split()))


# ---------------------------------------------------------------- widgets


def _tiles(spec: Widget, recorder: Reader) -> None:
    specs: tuple[tiles.TileSpec, ...] = spec.spec  # type: ignore[assignment]
    history = ui.tile_history(recorder.uid)

    def compute() -> tuple[list[tiles.TileView], int | None]:
        now = _now()
        rows = {t.table: recorder.table(t.table) for t in specs}
        views = []
        for tile in specs:
            view = tiles.compute(tile, rows[tile.table], now, history.points(tile, now))
            history.record(tile, now, view.value)
            views.append(view)
        rate = None
        if spec.events_per_min:
            since = now - timedelta(minutes=1)
            rate = int(
                (
                    recorder.buffer.snapshot(since=since, kinds=[EventKind.POSTGRES_CHANGES])[
                        "source"
                    ]
                    == "realtime"
                ).sum()
            )
        return views, rate

    @ui.live()
    def region() -> None:
        views, rate = ui.cached_view(spec.path, recorder, compute)
        cells: list[tuple[str, str, float | None, list[float], str | None]] = [
            (
                v.label,
                _number(v.value),
                v.delta,
                [p[1] for p in v.sparkline],
                _LEVEL_COLOURS.get(v.level),
            )
            for v in views
        ]
        if rate is not None:
            cells.append(("Events per minute", f"{rate:,}", None, [], None))
        for start in range(0, len(cells), _METRICS_PER_ROW):
            row = cells[start : start + _METRICS_PER_ROW]
            for column, (label, value, delta, spark, colour) in zip(
                st.columns(_METRICS_PER_ROW), row, strict=False
            ):
                shown = f":{colour}[{label}]" if colour else label
                column.metric(
                    shown,
                    value,
                    None if delta is None else _number(delta),
                    chart_data=spark if len(spark) > 1 else None,
                    border=True,
                )

    region()


def _number(value: float | None) -> str:
    if value is None:
        return "–"
    if float(value).is_integer():
        return f"{int(value):,}"
    return f"{value:,.1f}"


def _lifecycle(spec: Widget, recorder: Reader) -> None:
    board: lifecycle.LifecycleSpec = spec.spec  # type: ignore[assignment]
    seen = f"{spec.path}:toasted_until"
    st.session_state.setdefault(seen, _now())  # no toasts for the backlog

    def compute() -> lifecycle.LifecycleView:
        fields, columns = lifecycle.event_fields(board), lifecycle.EVENT_COLUMNS
        events = _changes(recorder, board.table, fields, columns)
        now = _now()
        view = lifecycle.compute(board, recorder.table(board.table), events, now)
        if board.toast_filter is None:
            return view
        # Toasts of the last minute, shared; each session shows the ones it missed. From their
        # own short snapshot: the board's is read without records, which it does not need.
        since = now - TOAST_WINDOW
        recent = recorder.buffer.snapshot(
            since,
            tables=[board.table],
            kinds=[EventKind.POSTGRES_CHANGES],
            newest=EVENTS_PER_WIDGET,
        )
        return replace(view, toasts=lifecycle.toasts(board, recent, since, now))

    @ui.live()
    def region() -> None:
        view = ui.cached_view(spec.path, recorder, compute)
        if board.toast_filter is not None:
            _toast_new(spec, view.toasts, seen)
        names = _labels(recorder)
        counts = [(str(r["status"]), int(r["count"])) for r in view.counts.to_dict("records")]
        counts.append(("SLA breaches", view.breaches))
        # Four to a row: a status name is never broken inside a word, even in a half column.
        for start in range(0, len(counts), _METRICS_PER_ROW):
            row = counts[start : start + _METRICS_PER_ROW]
            for column, (label, count) in zip(st.columns(_METRICS_PER_ROW), row, strict=False):
                column.metric(_plain(label), f"{count:,}")
        _table(labelled(view.open, names), height=320)
        if not view.spans.empty:
            st.caption("Time between statuses (median and 90th percentile)")
            _table(labelled(view.spans, names))

    region()


def _toast_new(spec: Widget, toasts: pd.DataFrame, seen: str) -> None:
    """Toast the last three of ``toasts`` this session has not seen yet."""
    board: lifecycle.LifecycleSpec = spec.spec  # type: ignore[assignment]
    pieces = compile_template("toast_template", spec.toast_template or "")
    since = pd.Timestamp(st.session_state[seen])
    fresh = toasts[(toasts["received_at"] > since).to_numpy(dtype=bool)]
    for record in fresh.tail(3).to_dict("records"):
        row = {str(k): v for k, v in record.items()}
        text = (
            render_template(pieces, row, {}, "?")
            if spec.toast_template
            else f"New in {board.table}: {row.get('key')}"
        )
        st.toast(_plain(text), icon=":material/notifications:")
    if len(fresh):
        st.session_state[seen] = fresh["received_at"].iloc[-1]


def _queue(spec: Widget, recorder: Reader) -> None:
    table: queue.QueueSpec = spec.spec  # type: ignore[assignment]

    def compute() -> queue.QueueView:
        # Only changes of the last highlight_s flag a row: read just those (the same rows of
        # the newest EVENTS_PER_WIDGET that the flags come from).
        now = _now()
        events = (
            recorder.buffer.snapshot(
                now - timedelta(seconds=table.highlight_s),
                tables=[table.table],
                kinds=[EventKind.POSTGRES_CHANGES],
                newest=EVENTS_PER_WIDGET,
            )
            if table.highlight_s
            else pd.DataFrame()
        )
        return queue.compute(table, recorder.table(table.table), events, now)

    @ui.live()
    def region() -> None:
        view = ui.cached_view(spec.path, recorder, compute)
        # The view's columns already carry their display names: label them by source column.
        names = _labels(recorder)
        by_shown = {
            shown: names[source]
            for source, shown in zip(view.columns, view.rows.columns, strict=True)
            if source in names
        }
        rows = labelled(view.rows, by_shown)
        shown = f"{len(rows)} of {view.matched}" if view.matched > len(rows) else f"{len(rows)}"
        st.caption(f"{shown} rows")
        _table(rows, highlighted=view.changed)

    region()


def _breakdown(spec: Widget, recorder: Reader) -> None:
    groups: breakdown.BreakdownSpec = spec.spec  # type: ignore[assignment]

    def compute() -> breakdown.BreakdownView:
        lookups = _lookups(recorder, {t: None for t, _, _ in groups.labels.values()})
        return breakdown.compute(groups, recorder.table(groups.table), _now(), lookups)

    @ui.live()
    def region() -> None:
        view = ui.cached_view(spec.path, recorder, compute)
        if spec.width == "half":  # side by side in half a page, the table lost its last column
            ui.chart(breakdown.figure(view), key=f"{spec.path}:chart")
            _table(view.table, height=240)
            return
        left, right = st.columns([3, 2])
        with left:
            ui.chart(breakdown.figure(view), key=f"{spec.path}:chart")
        with right:
            _table(view.table)

    region()


def _feed(spec: Widget, recorder: Reader) -> None:
    stream: feed.FeedSpec = spec.spec  # type: ignore[assignment]
    seen = f"{spec.path}:toasted_until"
    st.session_state.setdefault(seen, _now())

    def compute(names: Mapping[str, Mapping[str, str]]) -> feed.FeedView:
        now = _now()  # toasts of the last minute, shared; each session shows the ones it missed
        since = now - TOAST_WINDOW
        if stream.table is not None:  # old values come from a key's earlier events: read all
            events = _changes(recorder, stream.table)
            return feed.compute(stream, events, now, toast_since=since, labels=names)
        # A broadcast feed shows its newest matching broadcasts: read a few times its limit,
        # and more only when those held too few matches.
        channels = stream.broadcast_channels
        for newest in (min(_FEED_FIRST_READ * stream.limit, EVENTS_PER_WIDGET), EVENTS_PER_WIDGET):
            events = _newest(
                recorder, kinds=[EventKind.BROADCAST], channels=channels, newest=newest
            )
            view = feed.compute(stream, events, now, toast_since=since, labels=names)
            if len(view.items) >= stream.limit or len(events) < newest:
                break
        return view

    @ui.live()
    def region() -> None:
        # Template fields of id columns show their [labels] (a cached view of their tables).
        names = _labels(recorder)
        view = ui.cached_view(spec.path, recorder, lambda: compute(names))
        if stream.toast_filter is not None:
            since = st.session_state[seen]
            fresh = [item for item in view.toasts if item.received_at > since]
            for item in fresh[-3:]:
                st.toast(_plain(item.text), icon=":material/notifications:")
            if fresh:
                st.session_state[seen] = max(item.received_at for item in fresh)
        if not view.items:
            st.caption("Nothing yet.")
            return
        # A table, not Markdown: a row's text stays text (no link, not even a bare URL).
        items = pd.DataFrame(
            {
                "received": [item.received_at for item in view.items],
                "change": [item.text for item in view.items],
            }
        )
        _table(items)

    region()


def _series(spec: Widget, recorder: Reader) -> None:
    drawn: series.SeriesSpec = spec.spec  # type: ignore[assignment]

    def compute(entity: str | None) -> series.SeriesView:
        events = (
            _changes(recorder, drawn.table, series.event_fields(drawn), series.EVENT_COLUMNS)
            if drawn.from_events
            else pd.DataFrame()
        )
        return series.compute(drawn, recorder.table(drawn.table), events, _now(), entity=entity)

    def labels() -> dict[str, Mapping[str, str]]:
        # Entities and cohorts are ids of their columns: the picker, the legends and the alert
        # list show them by their [labels]; the picker still selects by id.
        names = _labels(recorder)
        return {
            shown: names.get(column, {}) if column is not None else {}
            for shown, column in (("entity", drawn.entity_column), ("cohort", drawn.cohort_column))
        }

    entity: str | None = None
    if drawn.entity_column is not None and not ui.is_wall():
        overview = ui.cached_view(spec.path, recorder, lambda: compute(None))
        choices = ["(newest)", *overview.available]
        entity_names = labels()["entity"]
        picked = st.selectbox(
            drawn.entity_column,
            choices,
            key=f"{spec.path}:entity",
            format_func=lambda id_: entity_names.get(id_, id_),
        )
        entity = None if picked in (None, "(newest)") else str(picked)

    @ui.live()
    def region() -> None:
        # The newest entities are the overview itself: one computation, not two.
        key = spec.path if entity is None else f"{spec.path}:{entity}"
        view = ui.cached_view(key, recorder, lambda: compute(entity))
        left, right = st.columns(2)
        left.metric("Readings", f"{view.readings:,}")
        right.metric("Out of range", f"{view.alerts_total:,}")
        maps = labels()
        ui.chart(series.figure(view, names=maps["entity"]), key=f"{spec.path}:entities")
        if drawn.cohort_column is not None and not view.cohorts.empty:
            st.caption(f"Median by {drawn.cohort_column} per {drawn.bucket_s} s")
            cohorts = series.figure(view, by="cohort", names=maps["cohort"])
            ui.chart(cohorts, key=f"{spec.path}:cohorts")
        if not view.alerts.empty:
            sources = {"entity": drawn.entity_column, "cohort": drawn.cohort_column}
            st.caption("Out-of-range readings, newest first")
            alerts = labelled(view.alerts, maps)
            _table(alerts.rename(columns={k: v for k, v in sources.items() if v is not None}))

    region()


def _map(spec: Widget, recorder: Reader) -> None:
    drawn: map_widget.MapSpec = spec.spec  # type: ignore[assignment]
    base = recorder.settings.config.base_dir

    def compute() -> map_widget.MapView:
        tables = {layer.table: recorder.table(layer.table) for layer in drawn.drawn_layers}
        return map_widget.compute(drawn, tables, _now(), base_dir=base)

    @ui.live()
    def region() -> None:
        view = ui.cached_view(spec.path, recorder, compute)
        counts = [(v.layer.name, len(v.points), v.rows) for v in view.layers]
        if len(counts) == 1:
            st.caption(f"{counts[0][1]:,} of {counts[0][2]:,} rows drawn")
        else:
            st.caption(" · ".join(f"{name}: {n:,} of {rows:,} drawn" for name, n, rows in counts))
        ui.chart(map_widget.figure(view), key=f"{spec.path}:chart")

    region()


def _roster(spec: Widget, recorder: Reader) -> None:
    who: roster.RosterSpec = spec.spec  # type: ignore[assignment]

    def compute() -> roster.RosterView:
        # Who is online comes from the live presence; the buffer only feeds the joins and
        # leaves of the window. `now` is taken after both reads, so none is newer than it.
        labels = recorder.table(who.label_table) if who.label_table else None
        since = roster.window_start(who, _now())
        events = recorder.buffer.snapshot(since=since, kinds=[EventKind.PRESENCE])
        online = recorder.presence.members(who.channels)
        return roster.compute(who, events, _now(), labels=labels, online=online)

    @ui.live()
    def region() -> None:
        view = ui.cached_view(spec.path, recorder, compute)
        cells = st.columns(2)
        cells[0].metric("Online now", f"{view.online_total:,}")
        cells[1].metric("Presence keys", f"{view.keys_online:,}")
        if view.online_total == 0:
            st.caption(f"Nobody is online on {', '.join(who.channels)}.")
        ui.chart(roster.figure(view), key=f"{spec.path}:chart")
        _table(view.online)

    region()


_RENDERERS: Final[Mapping[WidgetType, Callable[[Widget, Reader], None]]] = {
    WidgetType.TILES: _tiles,
    WidgetType.LIFECYCLE: _lifecycle,
    WidgetType.QUEUE: _queue,
    WidgetType.BREAKDOWN: _breakdown,
    WidgetType.FEED: _feed,
    WidgetType.SERIES: _series,
    WidgetType.MAP: _map,
    WidgetType.ROSTER: _roster,
}
