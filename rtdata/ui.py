"""Streamlit glue shared by every page: the one shared collector and the connection indicator.

This is the only module of ``rtdata`` that imports Streamlit. The collector is created once per
server process with ``st.cache_resource`` and shared by every session; pages read snapshots from
it and never talk to a service themselves.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import streamlit as st

from rtdata.collector import Collector
from rtdata.embedded import EmbeddedStack
from rtdata.settings import Settings
from rtdata.views import connection_indicator

__all__ = ["collector", "connection_badge", "refresh_interval_s", "sidebar", "use_collector"]

_override: Collector | None = None


@dataclass(frozen=True)
class _Shared:
    collector: Collector
    stack: EmbeddedStack | None  # the embedded default, kept alive as long as the collector


@st.cache_resource(show_spinner="Connecting to the realtime feed…")
def _shared() -> _Shared:
    settings = Settings.from_env()
    if not settings.embedded:
        return _Shared(Collector(settings).start(), None)
    stack = EmbeddedStack().start()
    shared = Collector(stack.settings(settings)).start(wait=True)
    stack.start_simulator()
    return _Shared(shared, stack)


def use_collector(shared: Collector | None) -> None:
    """Make every page read ``shared`` instead of the configured collector (``None`` resets).

    For tests and notebooks that fill a collector themselves.
    """
    global _override
    _override = shared


def collector() -> Collector:
    """Return the collector every session shares, starting it on first use."""
    return _override if _override is not None else _shared().collector


def refresh_interval_s() -> float:
    """Seconds between refreshes of live regions."""
    return collector().settings.refresh_s


def connection_badge(shared: Collector) -> None:
    """Draw the connection state dot, its label and the age of the newest event."""
    indicator = connection_indicator(shared.status, datetime.now(UTC))
    age = (
        "no events yet"
        if indicator.last_event_age_s is None
        else f"last event {indicator.last_event_age_s:.0f} s ago"
    )
    st.markdown(
        f'<span style="color:{indicator.colour};font-size:1.2em">●</span> '
        f"**{indicator.label}** · {age}",
        unsafe_allow_html=True,
        help=indicator.detail,
    )


def sidebar(shared: Collector) -> None:
    """Draw the sidebar every page shares: the live connection indicator."""
    with st.sidebar:

        @st.fragment(run_every=shared.settings.refresh_s)
        def live_badge() -> None:
            connection_badge(shared)

        live_badge()
