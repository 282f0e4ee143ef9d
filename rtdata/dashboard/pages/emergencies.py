"""Emergencies: live map, open list and response times, with a toast for new critical calls."""

from datetime import UTC, datetime

import streamlit as st

from rtdata import ui
from rtdata.events import EventKind
from rtdata.views import emergencies as em

recorder = ui.page("Emergencies")
TOASTED_UNTIL = "emergencies_toasted_until"  # receive time of the newest alert this user saw
WALL = ui.is_wall()  # nobody filters a wall: the map and the list share the screen instead
WALL_MAP_HEIGHT_PX = 700
LIST_COLUMNS = [c for c in em.OPEN_COLUMNS if c not in ("age_s", "lat", "lon")]

chosen_hospitals: list[str] = []
chosen_statuses: list[str] = []
if not WALL:
    hospital_names = sorted(str(name) for name in recorder.table("hospitals").get("name", []))
    left, right = st.columns(2)
    chosen_hospitals = left.multiselect("Hospitals", hospital_names, placeholder="All hospitals")
    chosen_statuses = right.multiselect(
        "Statuses", em.OPEN_STATUSES, placeholder="All open statuses"
    )
st.session_state.setdefault(TOASTED_UNTIL, datetime.now(UTC))  # no alerts for the backlog


def toast_new_critical() -> None:
    since = st.session_state[TOASTED_UNTIL]
    events = recorder.buffer.snapshot(since=since, tables=["emergency_requests"])
    fresh = em.new_critical(events, since)
    for row in fresh.tail(3).itertuples():
        st.toast(
            f"Critical {row.emergency_type} #{row.id}: {row.pickup_address}",
            icon=":material/e911_emergency:",
        )
    if len(fresh):
        st.session_state[TOASTED_UNTIL] = fresh["received_at"].iloc[-1]  # keeps the ns


@ui.live()
def board() -> None:
    toast_new_critical()
    hospitals = recorder.table("hospitals")
    rows = ui.cached_view(
        "emergencies.open",
        recorder,
        lambda: em.open_emergencies(
            recorder.table("emergency_requests"), hospitals, datetime.now(UTC)
        ),
    )
    shown = em.filter_open(rows, chosen_hospitals, chosen_statuses)
    st.caption(f"{len(shown)} of {len(rows)} open emergencies")
    if WALL:
        left, right = st.columns(2)  # the map is as wide as it is tall: the list gets the rest
        with left:
            ui.chart(em.emergency_map(shown, em.load_districts(), hospitals, WALL_MAP_HEIGHT_PX))
        with right:
            columns = ["priority", "status", "hospital", "emergency_type", "age"]
            st.dataframe(shown, hide_index=True, height=WALL_MAP_HEIGHT_PX, column_order=columns)
    else:
        ui.chart(em.emergency_map(shown, em.load_districts(), hospitals))
        st.dataframe(shown, hide_index=True, width="stretch", column_order=LIST_COLUMNS)
    st.subheader("Response times by hospital (minutes)")
    st.caption(f"Over the newest {em.RESPONSE_WINDOW_EVENTS:,} emergency changes in the buffer.")
    times = ui.cached_view(
        "emergencies.response_times",
        recorder,
        lambda: em.response_times(
            recorder.buffer.snapshot(
                tables=["emergency_requests"], kinds=[EventKind.POSTGRES_CHANGES]
            ).tail(em.RESPONSE_WINDOW_EVENTS),
            hospitals,
        ),
    )
    minutes = st.column_config.NumberColumn(format="%.1f")
    st.dataframe(
        times,
        hide_index=True,
        width="stretch",
        column_config={c: minutes for c in em.RESPONSE_COLUMNS if c.endswith("_min")},
    )


board()
