"""Health: patient vitals against their normal bands, per patient and per hospital."""

import pandas as pd
import streamlit as st

from rtdata import ui
from rtdata.views import health

collector = ui.page("Health")
st.caption(
    "Readings from the live vital_signs table. Shaded: normal band; red: out of range. "
    "Resources and waiting lists are not part of the hospital scenario, so they are not shown."
)


def _vitals() -> pd.DataFrame:
    return ui.cached_view(
        "health:vitals", collector, lambda: health.vitals_frame(collector.table("vital_signs"))
    )


patients = health.patient_ids(_vitals())
left, middle, right = st.columns([2, 2, 1])
patient = left.selectbox("Patient", patients, index=0 if patients else None)
vital = middle.selectbox("Vital", health.VITALS)
only_patient = right.toggle("Alerts for this patient only")


@ui.live()
def vitals_region() -> None:
    view = ui.cached_view(
        f"health:{patient}:{vital}:{only_patient}",
        collector,
        lambda: health.health_view(_vitals(), patient, vital, only_patient=only_patient),
    )
    cols = st.columns(2)
    cols[0].metric("Patient readings", view.readings)
    cols[1].metric("Patient abnormal values", view.abnormal_readings)
    st.plotly_chart(view.patient_figure, width="stretch")
    st.plotly_chart(view.cohort_figure, width="stretch")
    st.subheader("Abnormal readings, newest first")
    st.dataframe(
        view.alerts,
        hide_index=True,
        width="stretch",
        column_config={
            "recorded_at": st.column_config.DatetimeColumn("recorded", format="HH:mm:ss")
        },
    )


vitals_region()
