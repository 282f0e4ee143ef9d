"""Realtime health: connection states, latency, throughput, probes, gaps, errors and alerts."""

from datetime import UTC, datetime

import streamlit as st

from rtdata import ui
from rtdata.events import EventKind
from rtdata.views import realtime_health

recorder = ui.page("Realtime health")


@ui.live()
def health_region() -> None:
    def compute() -> realtime_health.RealtimeHealthView:
        return realtime_health.realtime_health_view(
            recorder.status.state.value,
            recorder.transitions,
            recorder.gaps,
            recorder.metrics_snapshot(),
            recorder.metrics.series(),
            recorder.buffer.snapshot(kinds=[EventKind.ALERT]),
            datetime.now(UTC),
        )

    view = ui.cached_view("realtime_health", recorder, compute)
    kpis = list(view.kpis.display().items())
    per_row = 3  # six in a row cut text values such as "subscribed" at 1280 px
    for start in range(0, len(kpis), per_row):
        for column, (label, value) in zip(
            st.columns(per_row), kpis[start : start + per_row], strict=False
        ):
            column.metric(label, value)
    st.subheader("Connection state")
    ui.chart(view.timeline_figure)
    left, right = st.columns(2)
    with left:
        st.subheader("Latency")
        ui.chart(view.latency_figure)
        st.subheader("Probe round trip")
        ui.chart(view.probe_figure)
    with right:
        st.subheader("Throughput per table")
        ui.chart(view.throughput_figure)
        st.subheader("Alerts")
        st.dataframe(view.alerts, hide_index=True, width="stretch")
    left, right = st.columns(2)
    with left:
        st.subheader("Gaps")
        st.dataframe(view.gaps, hide_index=True, width="stretch")
    with right:
        st.subheader("Errors")
        st.dataframe(view.errors, hide_index=True, width="stretch")


health_region()
