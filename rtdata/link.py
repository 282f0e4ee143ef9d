"""The link to realtime-py: typed outcomes, and the one place that touches its internals.

The supervisor decides what to do with a lost link from a :class:`LinkLost` and its
:class:`LossKind`, never from an error's text:

* :attr:`LossKind.REFUSED`: the server said no (bad key, refused join, invalid binding);
  retrying will not help, a person must act.
* :attr:`LossKind.TRANSIENT`: the network, a timeout, a closed socket, a server error;
  retried with backoff.
* :attr:`LossKind.STALE`: the socket looks open but nothing comes back; torn down and retried.

realtime-py hands some facts over in private attributes or as JSON inside an ``Exception``
(a refused join). Every such access lives here, and :data:`SUPPORTED_REALTIME` names the
realtime-py versions it was checked against (a test fails on any other).
"""

from __future__ import annotations

import contextlib
import enum
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from realtime import AsyncRealtimeClient, RealtimeSubscribeStates
from websockets.exceptions import InvalidStatus

__all__ = [
    "REFUSED_REASONS",
    "SUPPORTED_REALTIME",
    "LinkLost",
    "LossKind",
    "abort",
    "change_callbacks",
    "connect_failure",
    "join_failure",
    "socket",
    "supported",
]

SUPPORTED_REALTIME: Final = ("2.34.0", "2.34.1")
"""realtime-py versions whose private attributes this module was checked against."""

REFUSED_REASONS: Final = frozenset(
    {"Unauthorized", "InvalidJWTToken", "TopicNameRequired", "MalformedJoinPayload"}
)
"""Codes that start a join's error reason (``"Code: detail"``) and mean the server refused it
for good: an authorisation or configuration problem."""

_REFUSED_HTTP: Final = frozenset({401, 403})


class LossKind(enum.StrEnum):
    """What kind of failure ended a link (see the module docstring)."""

    REFUSED = "refused"
    TRANSIENT = "transient"
    STALE = "stale"


@dataclass(frozen=True)
class LinkLost(Exception):
    """Why a link ended.

    Attributes:
        kind: What the supervisor does about it.
        detail: Words a person can act on (shown as the transition's reason).
    """

    kind: LossKind
    detail: str

    def __str__(self) -> str:
        return self.detail


def supported(version: str) -> bool:
    """Tell whether ``version`` of realtime-py is one this module was checked against."""
    return version in SUPPORTED_REALTIME


def connect_failure(exc: Exception) -> LinkLost:
    """Classify an exception raised by ``AsyncRealtimeClient.connect()``.

    A handshake the server answered with HTTP 401 or 403 is refused; anything else (no
    route, reset, timeout, 5xx) is transient.
    """
    detail = f"{type(exc).__name__}: {exc}"
    if isinstance(exc, InvalidStatus) and exc.response.status_code in _REFUSED_HTTP:
        return LinkLost(LossKind.REFUSED, f"the server refused the API key ({detail})")
    return LinkLost(LossKind.TRANSIENT, detail)


def join_failure(topic: str, state: RealtimeSubscribeStates, error: Exception | None) -> LinkLost:
    """Classify a channel's subscribe state other than SUBSCRIBED.

    realtime-py reports a refused join, a system error (for example a binding the server
    cannot serve) and a channel error as ``CHANNEL_ERROR`` with the server's payload dumped
    as JSON into the exception. A reason whose code is in :data:`REFUSED_REASONS`, or an
    error from the postgres_changes extension, is refused; timeouts, closes and everything
    else are transient.
    """
    detail = f"{topic}: {state.value}" + (f": {error}" if error else "")
    if state != RealtimeSubscribeStates.CHANNEL_ERROR or error is None:
        return LinkLost(LossKind.TRANSIENT, detail)
    payload = _payload(error)
    if payload.get("extension") == "postgres_changes" and payload.get("status") == "error":
        return LinkLost(LossKind.REFUSED, detail)
    reason = payload.get("reason")
    if isinstance(reason, str) and reason.partition(":")[0].strip() in REFUSED_REASONS:
        return LinkLost(LossKind.REFUSED, detail)
    return LinkLost(LossKind.TRANSIENT, detail)


def _payload(error: Exception) -> Mapping[str, Any]:
    if len(error.args) != 1 or not isinstance(error.args[0], str):
        return {}
    try:
        decoded = json.loads(error.args[0])
    except ValueError:
        return {}
    return decoded if isinstance(decoded, dict) else {}


# ------------------------------------------------------------ realtime-py internals


def socket(client: AsyncRealtimeClient) -> Any:
    """Return the client's open ``websockets`` connection, or ``None``.

    realtime-py keeps it private (``_ws_connection``); the frame trace and the fast path
    wrap its ``recv``, and :func:`abort` needs it to drop a link whose peer is gone.
    """
    return getattr(client, "_ws_connection", None)


def change_callbacks(client: AsyncRealtimeClient) -> Callable[[str], Sequence[Any] | None]:
    """Return a lookup from a topic to its channel's postgres_changes callbacks.

    The lookup reads the client's live channel table on every call, so channels joined
    later are found too; ``None`` means realtime-py has no such channel.
    """
    channels = client.channels

    def lookup(topic: str) -> Sequence[Any] | None:
        channel = channels.get(topic)
        return None if channel is None else channel.postgres_changes_callbacks

    return lookup


def abort(ws: Any) -> None:
    """Drop a ``websockets`` connection at once, without a closing handshake."""
    if ws is not None:
        with contextlib.suppress(Exception):
            ws.transport.abort()
