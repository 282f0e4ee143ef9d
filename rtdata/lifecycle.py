"""The collector's connection lifecycle: states, the transitions allowed between them, and the
record of every transition. Pure: no I/O, no clock reads.

::

    IDLE ──start──▶ CONNECTING ──subscribed──▶ SUBSCRIBED ◀──────────────┐
                        │                        │   │                    │
                        │ failure          lost  │   │ no traffic for     │ resubscribed
                        ▼                        ▼   ▼ 2 probe intervals  │
                    RECONNECTING ◀────────────── STALE                    │
                        │  ▲ │                                            │
           disconnected │  │ └────────────────────────────────────────────┤
           too long     ▼  │ still failing                                │
                      POLLING ───────────────────────────────────────────┘
    any ──config/auth error──▶ FAILED ──reconnect()──▶ CONNECTING
    any ──stop()──▶ STOPPED (final)
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Final

__all__ = ["ALLOWED", "ConnectionState", "InvalidTransition", "Transition", "check"]


class ConnectionState(enum.StrEnum):
    """Lifecycle of a collector's connection."""

    IDLE = "idle"
    """Created, not started."""
    CONNECTING = "connecting"
    """Opening the socket, joining channels and loading tables for the first time."""
    SUBSCRIBED = "subscribed"
    """Every channel joined, table state loaded or resynced, traffic flowing."""
    RECONNECTING = "reconnecting"
    """Lost the connection or a channel; retrying with backoff."""
    STALE = "stale"
    """Neither a probe reply nor any traffic for two probe intervals; about to reconnect."""
    POLLING = "polling"
    """Disconnected for long enough that tables are refreshed over REST while retrying."""
    STOPPED = "stopped"
    """Stopped on request; final."""
    FAILED = "failed"
    """A configuration or authorisation error that needs a person; no automatic retry."""


_S = ConnectionState
ALLOWED: Final[dict[ConnectionState, frozenset[ConnectionState]]] = {
    _S.IDLE: frozenset({_S.CONNECTING, _S.STOPPED}),
    _S.CONNECTING: frozenset({_S.SUBSCRIBED, _S.RECONNECTING, _S.FAILED, _S.STOPPED}),
    _S.SUBSCRIBED: frozenset({_S.RECONNECTING, _S.STALE, _S.FAILED, _S.STOPPED}),
    _S.STALE: frozenset({_S.RECONNECTING, _S.FAILED, _S.STOPPED}),
    _S.RECONNECTING: frozenset({_S.SUBSCRIBED, _S.RECONNECTING, _S.POLLING, _S.FAILED, _S.STOPPED}),
    _S.POLLING: frozenset({_S.SUBSCRIBED, _S.FAILED, _S.STOPPED}),
    _S.FAILED: frozenset({_S.CONNECTING, _S.STOPPED}),
    _S.STOPPED: frozenset(),
}
"""For each state, the states it may move to."""


class InvalidTransition(RuntimeError):
    """A transition the lifecycle does not allow (a bug in the collector, not bad input)."""


@dataclass(frozen=True, slots=True)
class Transition:
    """One recorded state change.

    Attributes:
        at_ns: When it happened, nanoseconds since the epoch (UTC).
        source: The state left.
        target: The state entered.
        reason: Why, in words a person can act on.
    """

    at_ns: int
    source: ConnectionState
    target: ConnectionState
    reason: str


def check(source: ConnectionState, target: ConnectionState) -> None:
    """Raise :class:`InvalidTransition` unless ``source`` may move to ``target``."""
    if target not in ALLOWED[source]:
        raise InvalidTransition(f"{source.value} -> {target.value} is not an allowed transition")
