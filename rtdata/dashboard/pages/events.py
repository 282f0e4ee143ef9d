"""Events explorer: filter the buffered events, watch the newest, inspect one, export."""

from collections.abc import Callable
from datetime import UTC, datetime

import pandas as pd
import streamlit as st

from rtdata import audit, ui
from rtdata.views import events as ev

TABLE = "events_table"  # session_state keys of this page
PAUSED = "events_paused"
PAUSED_AT = "events_paused_at"
PAUSED_VERSION = "events_paused_version"
SHOWN = "events_shown"  # the tail the user last saw, which a selection points into
PICKED = "events_picked"  # the selection already turned into DETAIL
DETAIL = "events_detail"

recorder = ui.page("Events")


def freeze() -> None:
    """Remember when the user paused: the view keeps showing events received up to then."""
    if st.session_state[PAUSED]:
        st.session_state[PAUSED_AT] = datetime.now(UTC)
        st.session_state[PAUSED_VERSION] = recorder.buffer.version


options = ui.cached_view(
    "events:options",
    recorder,
    lambda: ev.filter_options(recorder.buffer.snapshot(columns=["kind", "table", "op"])),
)
cols = st.columns([2, 2, 2, 3])
pickers: dict[str, list[str]] = {}
for col, name, label in zip(
    cols, ("table", "op", "kind"), ("Tables", "Ops", "Kinds"), strict=False
):
    chosen = st.session_state.get(f"events_pick_{name}", [])
    choices = sorted({*options[name], *chosen})  # a chosen value may have left the buffer
    pickers[name] = col.multiselect(label, choices, key=f"events_pick_{name}", placeholder="all")
text = cols[3].text_input("Search key and records", placeholder="literal text, any case")
paused = st.toggle("Pause", key=PAUSED, on_change=freeze, help="Freeze the view to inspect rows")
until: datetime | None = st.session_state.get(PAUSED_AT) if paused else None
if until is not None:
    new = recorder.buffer.version - st.session_state.get(PAUSED_VERSION, 0)
    st.caption(f"Paused at {until:%H:%M:%S} UTC · {new:,} new events since · resume to update")


def matching() -> pd.DataFrame:
    """Events of the current filter (and freeze point), from a fresh snapshot."""
    tables, kinds = pickers["table"] or None, pickers["kind"] or None
    events = recorder.buffer.snapshot(tables=tables, kinds=kinds)
    return ev.filter_events(
        events, tables=tables, ops=pickers["op"], kinds=kinds, text=text, until=until
    )


def export(write: Callable[[pd.DataFrame], bytes], file_format: str) -> Callable[[], bytes]:
    """Build the file only when the button is clicked (Streamlit runs it off the script), and
    record the export (who, format, rows; never a row) in the audit log."""
    actor = ui.who()  # read here: the session is not at hand where the file is built

    def build() -> bytes:
        rows = matching()
        data = write(rows)
        audit.record(
            audit.AuditAction.EXPORT,
            actor,
            audit.export_what("events", file_format, min(len(rows), ev.EXPORT_MAX_ROWS)),
        )
        return data

    return build


downloads = st.columns([1, 1, 4])
downloads[0].download_button(
    "CSV",
    export(ev.to_csv_bytes, "csv"),
    "events.csv",
    "text/csv",
    on_click="ignore",
    icon=":material/download:",
)
downloads[1].download_button(
    "Parquet",
    export(ev.to_parquet_bytes, "parquet"),
    "events.parquet",
    "application/vnd.apache.parquet",
    on_click="ignore",
    icon=":material/download:",
)
downloads[2].caption(
    f"Downloads hold the current filter, at most {ev.EXPORT_MAX_ROWS:,} rows (the newest)."
)


def explorer() -> None:
    """Draw the newest matching events and the details of the selected one."""

    def compute() -> tuple[pd.DataFrame, int]:
        if text or until is not None:  # the records, or the receive times, of every match
            found = matching()
            return ev.tail(found), len(found)
        # Otherwise the buffer filters alone: count the matches on their codes, and read the
        # whole rows of the newest only.
        tables, kinds, ops = (
            pickers["table"] or None,
            pickers["kind"] or None,
            pickers["op"] or None,
        )
        buffer = recorder.buffer
        total = len(buffer.snapshot(tables=tables, kinds=kinds, ops=ops, columns=["op"]))
        newest = buffer.snapshot(tables=tables, kinds=kinds, ops=ops, newest=ev.TAIL_ROWS)
        return ev.tail(newest), total

    key = f"events:{sorted(pickers.items())}:{text}:{until}"
    shown, total = ui.cached_view(key, recorder, compute)
    state = st.session_state.get(TABLE)
    rows = list(state["selection"]["rows"]) if state else []
    if rows != st.session_state.get(PICKED):
        # A click points into the table as the user saw it, not into the one drawn now.
        st.session_state[PICKED] = rows
        seen = st.session_state.get(SHOWN)
        if rows and seen is not None and rows[0] < len(seen):
            st.session_state[DETAIL] = ev.row_details(seen, rows[0])
        else:
            st.session_state[DETAIL] = None
    st.caption(f"{total:,} events match · newest {len(shown):,} shown, newest first")
    st.dataframe(
        shown,
        key=TABLE,
        on_select="rerun",
        selection_mode="single-row",
        hide_index=True,
        width="stretch",
        height=420,
        column_config={
            "received_at": st.column_config.DatetimeColumn("received", format="HH:mm:ss.SSS"),
            "latency_ms": st.column_config.NumberColumn("latency ms", format="%.1f"),
        },
    )
    st.session_state[SHOWN] = shown
    detail = st.session_state.get(DETAIL)
    if detail is None:
        st.caption("Select a row to see its record; pause first to keep rows in place.")
        return
    st.subheader(f"{detail['kind']} · {detail['op']} · {detail['table'] or detail['channel']}")
    st.caption(f"key {detail['key']} · received {detail['received_at']} · {detail['source']}")
    left, right = st.columns(2)
    for column, name in ((left, "record"), (right, "old_record")):
        column.markdown(f"**{name}**")
        if detail[name] is None:
            column.caption("none")
        else:
            column.json(detail[name])


if paused:
    st.fragment(explorer)()  # a click reruns only the table; nothing refreshes it
else:
    ui.live()(explorer)()
