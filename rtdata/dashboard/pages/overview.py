"""Overview: KPI tiles (from live table state, configured in rtdata.toml), events per minute and
the latest vitals."""

from datetime import UTC, datetime

import streamlit as st

from rtdata import ui, views
from rtdata.events import EventKind

recorder = ui.page("Overview")
tiles = recorder.settings.config.dashboard.tiles


@ui.live()
def live_counts() -> None:
    def compute() -> tuple[list[views.TileValue], views.OverviewCounts]:
        now = datetime.now(UTC)
        tables = {name: recorder.table(name) for name in recorder.tables.names}
        events = recorder.buffer.snapshot(
            since=now - views.EVENTS_WINDOW, kinds=[EventKind.POSTGRES_CHANGES]
        )
        values = views.tile_values(tiles, tables, now, ui.tile_history())
        return values, views.overview_counts(tables, events, now)

    values, counts = ui.cached_view("overview", recorder, compute)
    per_row = 4
    cells = [*values, views.TileValue("Events per minute", counts.events_per_minute, None, [])]
    for start in range(0, len(cells), per_row):
        for column, tile in zip(st.columns(per_row), cells[start : start + per_row], strict=False):
            column.metric(
                tile.label,
                tile.value,
                tile.delta,
                chart_data=tile.sparkline if len(tile.sparkline) > 1 else None,
                border=True,
            )
    st.subheader("Latest vitals")
    st.dataframe(
        counts.latest_vitals,
        hide_index=True,
        width="stretch",
        column_config={
            "recorded_at": st.column_config.DatetimeColumn("recorded", format="HH:mm:ss")
        },
    )


live_counts()
