"""Audit log: sign-ins, refusals, kiosk use and exports, newest first (``[access]``)."""

from datetime import UTC, datetime, timedelta

import streamlit as st

from rtdata import audit, ui
from rtdata.views.audit import audit_table

ui.page("Audit log")
# The router shows this page only with sign-in, to audit_roles; checked here too, so that no
# other way of running the script shows the log.
access = ui.access()
decision = ui.page_decision(access.audit_roles)
if not access.require_sign_in or not decision.allowed:
    ui.refusal(decision, "audit")
    st.stop()

WINDOWS = {"Last hour": 1, "Last 24 hours": 24, "Last 7 days": 24 * 7, "Everything": None}

columns = st.columns([3, 1])
actions = columns[0].multiselect(
    "Actions", [a.value for a in audit.AuditAction], placeholder="Every action"
)
window = columns[1].selectbox("Since", list(WINDOWS), index=1)
hours = WINDOWS[window]
read = audit.read_entries()
table = audit_table(
    read.entries,
    actions=[audit.AuditAction(a) for a in actions],
    since=None if hours is None else datetime.now(UTC) - timedelta(hours=hours),
)
st.caption(f"{len(table):,} entries (newest first, at most 1,000) from {audit.audit_path()}")
st.dataframe(table, hide_index=True, width="stretch")
if read.unreadable:
    st.warning(f"{read.unreadable} lines of the log could not be read (a write cut short).")
