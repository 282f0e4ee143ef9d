"""Overview: live counts from table state and the event buffer."""

from datetime import UTC, datetime

import streamlit as st

from rtdata import ui, views

collector = ui.page("Overview")


@ui.live()
def live_counts() -> None:
    def compute() -> views.OverviewCounts:
        now = datetime.now(UTC)
        tables = {name: collector.table(name) for name in collector.tables.names}
        events = collector.buffer.snapshot(
            since=now - views.EVENTS_WINDOW, kinds=["postgres_changes"]
        )
        return views.overview_counts(tables, events, now)

    counts = ui.cached_view("overview", collector, compute)
    cols = st.columns(4)
    cols[0].metric("Active emergencies", counts.active_emergencies)
    cols[1].metric("Pending verifications", counts.pending_verifications)
    cols[2].metric("Users", counts.total_users)
    cols[3].metric("Events per minute", counts.events_per_minute)
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
