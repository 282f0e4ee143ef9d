"""Fault injection for tests and demos: one API for Python callers and the admin endpoint.

Every fault is reversible and acts the way the real failure looks to a client:

========================  ==============================================================
``drop()``                abort every socket (no close frame), like a dead network path
``close()``               close every socket cleanly (1000), like a server restart
``freeze()/thaw()``       stop reading and writing without closing (a half-open link)
``latency(ms)``           delay every outgoing frame
``expire_tokens()``       every channel gets "Token has expired" then ``phx_close``
``reject_joins(on)``      new joins get an error reply
``drop_changes(f)``       drop a fraction ``f`` of postgres_changes frames
========================  ==============================================================
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rtdata.server.connections import Connections
from rtdata.server.realtime import RealtimeHub

__all__ = ["ACTIONS", "FaultError", "Faults"]

ACTIONS = (
    "drop",
    "close",
    "freeze",
    "thaw",
    "latency",
    "expire_tokens",
    "reject_joins",
    "drop_changes",
    "reset",
)
"""Action names the admin endpoint accepts."""


class FaultError(ValueError):
    """An unknown fault action or a bad argument; the text names it."""


class Faults:
    """The faults of one server. Methods must run on the server's loop thread
    (:class:`rtdata.LocalServer` wraps them for other threads)."""

    def __init__(self, hub: RealtimeHub, connections: Connections) -> None:
        self._hub = hub
        self._connections = connections

    def state(self) -> dict[str, Any]:
        """Return the current fault switches and the number of open sockets."""
        return {
            "sockets": len(self._connections.open),
            "frozen": self._connections.frozen,
            "latency_ms": self._connections.latency_ms,
            "reject_joins": self._hub.reject_joins,
            "drop_fraction": self._hub.drop_fraction,
        }

    def drop(self) -> int:
        """Abort every socket abruptly; return how many."""
        return self._connections.drop_all()

    async def close(self, code: int = 1000) -> int:
        """Close every socket cleanly; return how many."""
        return await self._connections.close_all(code)

    def freeze(self) -> None:
        """Stop reading and writing on every socket, new ones included, without closing."""
        self._connections.freeze(True)

    def thaw(self) -> None:
        """Undo :meth:`freeze`: queued frames flow again."""
        self._connections.freeze(False)

    def latency(self, ms: float) -> None:
        """Delay every outgoing frame by ``ms`` milliseconds (0 removes the delay)."""
        if ms < 0:
            raise FaultError("latency must be >= 0 ms")
        self._connections.latency_ms = float(ms)

    def expire_tokens(self) -> None:
        """Expire every joined channel's token now."""
        self._hub.expire_tokens()

    def reject_joins(self, on: bool = True) -> None:
        """Refuse (``True``) or accept again (``False``) new channel joins."""
        self._hub.reject_joins = on

    def drop_changes(self, fraction: float, seed: int = 0) -> None:
        """Drop ``fraction`` (0..1) of postgres_changes frames, chosen with ``seed``."""
        if not 0.0 <= fraction <= 1.0:
            raise FaultError("drop_changes fraction must be between 0 and 1")
        self._hub.drop_changes(fraction, seed)

    def reset(self) -> None:
        """Clear every switch (thaw, no latency, accept joins, drop nothing)."""
        self.thaw()
        self.latency(0)
        self.reject_joins(False)
        self.drop_changes(0.0)

    async def apply(self, request: Mapping[str, Any]) -> dict[str, Any]:
        """Apply an admin request such as ``{"action": "latency", "ms": 200}``; return state.

        Raises:
            FaultError: Unknown action or bad argument.
        """
        action = request.get("action")
        try:
            if action == "drop":
                self.drop()
            elif action == "close":
                await self.close(int(request.get("code", 1000)))
            elif action == "freeze":
                self.freeze()
            elif action == "thaw":
                self.thaw()
            elif action == "latency":
                self.latency(float(request["ms"]))
            elif action == "expire_tokens":
                self.expire_tokens()
            elif action == "reject_joins":
                self.reject_joins(bool(request.get("on", True)))
            elif action == "drop_changes":
                self.drop_changes(float(request["fraction"]), int(request.get("seed", 0)))
            elif action == "reset":
                self.reset()
            else:
                raise FaultError(
                    f"unknown fault action {action!r}; expected one of {', '.join(ACTIONS)}"
                )
        except (KeyError, TypeError, ValueError) as exc:
            if isinstance(exc, FaultError):
                raise
            raise FaultError(f"bad arguments for {action!r}: {exc}") from None
        return self.state()
