"""Health: patient vitals against their normal bands; hospital resources and waiting lists."""

from datetime import UTC, datetime
from functools import partial

import pandas as pd
import streamlit as st

from rtdata import ui
from rtdata.views import health, resources

recorder = ui.page("Health")
ranges = recorder.settings.config.dashboard.vital_ranges
st.caption(
    "Readings from the live vital_signs table. Shaded: normal band ([dashboard] vital_ranges); "
    "red: out of range."
)


def _vitals() -> pd.DataFrame:
    return ui.cached_view(
        "health:vitals", recorder, lambda: health.vitals_frame(recorder.table("vital_signs"))
    )


patients = health.patient_ids(_vitals())
left, middle, right = st.columns([2, 2, 1.5])  # room for the toggle label at 1280 px
patient = left.selectbox("Patient", patients, index=0 if patients else None)
vital = middle.selectbox("Vital", health.VITALS)
only_patient = right.toggle("Alerts for this patient only")


@ui.live()
def vitals_region() -> None:
    view = ui.cached_view(
        f"health:{patient}:{vital}:{only_patient}",
        recorder,
        lambda: health.health_view(_vitals(), patient, vital, ranges, only_patient=only_patient),
    )
    cols = st.columns(2)
    cols[0].metric("Patient readings", view.readings)
    cols[1].metric("Patient abnormal values", view.abnormal_readings)
    ui.chart(view.patient_figure)
    ui.chart(view.cohort_figure)
    st.subheader("Abnormal readings, newest first")
    st.dataframe(
        view.alerts,
        hide_index=True,
        width="stretch",
        column_config={
            "recorded_at": st.column_config.DatetimeColumn("recorded", format="HH:mm:ss")
        },
    )


def _operations() -> tuple[resources.ResourcesView, resources.WaitlistView]:
    hospitals = recorder.table("hospitals")
    return (
        resources.resources_view(recorder.table("hospital_resources"), hospitals),
        resources.waitlist_view(recorder.table("waitlist_entries"), hospitals, datetime.now(UTC)),
    )


def _kpis(kpis: dict[str, str]) -> None:
    for column, (label, value) in zip(st.columns(len(kpis)), kpis.items(), strict=True):
        column.metric(label, value)


@ui.live()
def operations_region() -> None:
    stock, waitlist = ui.cached_view("health:operations", recorder, _operations)
    st.subheader("Resources")
    st.caption(
        "Live hospital_resources. Red rows: bed or ICU occupancy at or above "
        f"{resources.NEAR_CAPACITY_PCT:.0f} %."
    )
    _kpis(stock.kpis)
    used = partial(
        st.column_config.ProgressColumn, min_value=0, max_value=100, format="%.0f %%", width="small"
    )
    free = partial(st.column_config.TextColumn, width="small", help="available / total")
    st.dataframe(
        resources.highlight_near_capacity(stock.table),
        hide_index=True,
        width="stretch",
        column_order=[
            "hospital",
            "beds_free",
            "bed_occupancy_pct",
            "icu_beds_free",
            "icu_occupancy_pct",
            "ambulances_free",
            "near_capacity",
            "updated_at",
        ],
        column_config={
            "beds_free": free("beds free"),
            "bed_occupancy_pct": used("beds used"),
            "icu_beds_free": free("ICU free"),
            "icu_occupancy_pct": used("ICU used"),
            "ambulances_free": free("amb. free"),
            "near_capacity": st.column_config.CheckboxColumn("near capacity", width="small"),
            "updated_at": st.column_config.DatetimeColumn(
                "updated", format="HH:mm:ss", width="small"
            ),
        },
    )
    st.subheader("Waiting list")
    st.caption("Live waitlist_entries with status waiting. Urgent: priority 1.")
    _kpis(waitlist.kpis)
    minutes = st.column_config.NumberColumn("oldest (min)", format="%.1f")
    left, right = st.columns(2)
    for column, table in ((left, waitlist.by_hospital), (right, waitlist.by_specialty)):
        column.dataframe(
            table, hide_index=True, width="stretch", column_config={"oldest_wait_min": minutes}
        )


vitals_region()
operations_region()
