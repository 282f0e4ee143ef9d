"""The connection indicator: what the state looks like, and whether the data is stale."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Final

from rtdata.lifecycle import ConnectionState
from rtdata.recorder import CollectorStatus

__all__ = ["COLOURS", "Indicator", "connection_indicator"]


@dataclass(frozen=True, slots=True)
class Indicator:
    """How the connection indicator looks.

    Attributes:
        label: Short state text, for example ``connected``.
        colour: CSS colour name or hex.
        detail: Why the collector is in this state.
        last_event_age_s: Seconds since the newest change, or ``None`` if none arrived.
    """

    label: str
    colour: str
    detail: str
    last_event_age_s: float | None


COLOURS: Final[dict[ConnectionState, tuple[str, str]]] = {
    # label, colour: connected green, connecting orange, reconnecting amber, disconnected grey,
    # error red, polling blue (shown distinctly), stale amber
    ConnectionState.SUBSCRIBED: ("connected", "#1a9e3f"),
    ConnectionState.CONNECTING: ("connecting", "#f28c28"),
    ConnectionState.RECONNECTING: ("reconnecting", "#ffbf00"),
    ConnectionState.STALE: ("stale", "#ffbf00"),
    ConnectionState.POLLING: ("polling", "#1f77b4"),
    ConnectionState.IDLE: ("disconnected", "#8a8a8a"),
    ConnectionState.STOPPED: ("disconnected", "#8a8a8a"),
    ConnectionState.FAILED: ("error", "#d62728"),
}


def connection_indicator(status: CollectorStatus, now: datetime) -> Indicator:
    """Map a collector status to the indicator's label, colour and event age."""
    label, colour = COLOURS[status.state]
    age = None if status.last_event_at is None else (now - status.last_event_at).total_seconds()
    return Indicator(label, colour, status.reason, age)
