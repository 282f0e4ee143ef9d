"""Realtime health: connection states, latency, throughput, probes, gaps, errors and alerts."""

from datetime import UTC, datetime

import streamlit as st

from rtdata import ui
from rtdata.views import realtime_health

collector = ui.page("Realtime health")


@ui.live()
def health_region() -> None:
    def compute() -> realtime_health.RealtimeHealthView:
        return realtime_health.realtime_health_view(
            collector.status.state.value,
            collector.transitions,
            collector.gaps,
            collector.metrics_snapshot(),
            collector.metrics.series(),
            collector.buffer.snapshot(kinds=["alert"]),
            datetime.now(UTC),
        )

    view = ui.cached_view("realtime_health", collector, compute)
    kpis = view.kpis.display()
    for column, (label, value) in zip(st.columns(len(kpis)), kpis.items(), strict=True):
        column.metric(label, value)
    st.subheader("Connection state")
    st.plotly_chart(view.timeline_figure, width="stretch")
    left, right = st.columns(2)
    with left:
        st.subheader("Latency")
        st.plotly_chart(view.latency_figure, width="stretch")
        st.subheader("Probe round trip")
        st.plotly_chart(view.probe_figure, width="stretch")
    with right:
        st.subheader("Throughput per table")
        st.plotly_chart(view.throughput_figure, width="stretch")
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
