"""Presence: who is online now, by role and hospital, and joins and leaves over time."""

from datetime import UTC, datetime

import streamlit as st

from rtdata import ui
from rtdata.events import EventKind
from rtdata.views import charts, presence

recorder = ui.page("Presence")
channels = [c.name for c in recorder.settings.config.channels if c.presence]

ENABLE = """No presence events yet. {where}

To record presence, add a channel with presence to `rtdata.toml`:

```toml
[[channels]]
name = "lobby"
presence = true
```
"""


def compute() -> presence.PresenceBoard:
    """Replay the buffered presence events up to now; hospitals by name."""
    events = recorder.buffer.snapshot(kinds=[EventKind.PRESENCE])
    hospitals = recorder.table("hospitals")
    return presence.presence_board(events, datetime.now(UTC), hospitals=hospitals)


@ui.live()
def board() -> None:
    """Draw the KPIs, the breakdowns, the joins/leaves chart and who is online."""
    shown = ui.cached_view("presence", recorder, compute)
    if shown.events == 0:
        where = (
            f"Presence is recorded on {', '.join(channels)}, but nobody has joined yet."
            if channels
            else "No channel records presence."
        )
        st.info(ENABLE.format(where=where))
        return
    kpis = st.columns(3)
    kpis[0].metric("Online now", len(shown.online))
    kpis[1].metric("Presence keys", shown.keys_online)
    kpis[2].metric("Presence events buffered", shown.events)
    left, right = st.columns(2)
    with left:
        st.subheader("By role")
        ui.chart(charts.bar_figure(shown.by_role, "role", "online"))
    with right:
        st.subheader("By hospital")
        ui.chart(charts.bar_figure(shown.by_hospital, "hospital", "online", horizontal=True))
    st.subheader("Joins and leaves per minute")
    ui.chart(presence.joins_leaves_figure(shown.counts))
    st.subheader("Online now")
    st.dataframe(
        shown.online,
        hide_index=True,
        width="stretch",
        column_config={
            "joined_at": st.column_config.DatetimeColumn("joined", format="HH:mm:ss"),
            "online_s": st.column_config.NumberColumn("online s", format="%.0f"),
        },
    )


board()
