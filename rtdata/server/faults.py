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
``malformed(kinds)``      send every joined channel frames a client must survive
========================  ==============================================================

``malformed`` adds frames (it never replaces a real one), queued in order with the socket's
other frames, one of each kind in :data:`MALFORMED_KINDS` by default (see
:func:`malformed_frames`). A client should drop each one, count it and carry on: none of them
may end its subscription or change its data.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Final

import orjson

from rtdata.server.connections import Connection, Connections
from rtdata.server.realtime import RealtimeHub

__all__ = ["ACTIONS", "MALFORMED_KINDS", "FaultError", "Faults", "malformed_frames"]

ACTIONS = (
    "drop",
    "close",
    "freeze",
    "thaw",
    "latency",
    "expire_tokens",
    "reject_joins",
    "drop_changes",
    "malformed",
    "reset",
)
"""Action names the admin endpoint accepts."""

MALFORMED_KINDS: Final = ("not_json", "wrong_types", "truncated", "binary", "keyless")
"""The malformed frames :meth:`Faults.malformed` can send, one frame each:

* ``not_json``: a text frame that is not JSON;
* ``wrong_types``: valid JSON in the socket's serializer shape whose fields have the wrong
  types (``ids`` a string, ``data`` a number);
* ``truncated``: a postgres_changes frame cut off in the middle (an unterminated array in
  vsn 2.0.0, an unterminated object in 1.0.0);
* ``binary``: a binary frame of bytes that are neither JSON nor a vsn 2.0.0 broadcast;
* ``keyless``: a well-formed postgres_changes INSERT for the channel's own bindings whose
  record is empty (no table row has no primary key).
"""


def malformed_frames(
    topic: str, vsn: str, binding_ids: Sequence[int], kinds: Iterable[str] = MALFORMED_KINDS
) -> list[str | bytes]:
    """Return one malformed frame of each of ``kinds`` for channel ``topic`` of a socket
    speaking serializer ``vsn`` (``"1.0.0"`` or ``"2.0.0"``) whose bindings are ``binding_ids``.

    Raises:
        FaultError: An unknown kind.
    """
    v1 = vsn == "1.0.0"
    frames: list[str | bytes] = []
    for kind in kinds:
        if kind == "not_json":
            frames.append(f"{{topic: {topic}, event: postgres_changes, payload: <not json>")
        elif kind == "wrong_types":
            payload = {"ids": "1", "data": 42}
            body: Any = (
                {"topic": topic, "event": "postgres_changes", "payload": payload, "ref": None}
                if v1
                else [None, None, topic, "postgres_changes", payload]
            )
            frames.append(orjson.dumps(body).decode())
        elif kind == "truncated":
            cut = {"schema": "public", "table": "t", "type": "INSERT", "record": {"id": 1}}
            payload = {"ids": list(binding_ids), "data": cut}
            body = (
                {"topic": topic, "event": "postgres_changes", "payload": payload, "ref": None}
                if v1
                else [None, None, topic, "postgres_changes", payload]
            )
            whole = orjson.dumps(body).decode()
            frames.append(whole[: len(whole) // 2])
        elif kind == "binary":
            frames.append(b"\x00\xffrtdata: not a frame\xfe")
        elif kind == "keyless":
            data: dict[str, Any] = {
                "schema": "public",
                "table": "rtdata_malformed",
                "commit_timestamp": "2000-01-01T00:00:00.000Z",
                "type": "INSERT",
                "columns": [],
                "record": {},
                "errors": None,
            }
            payload = {"ids": list(binding_ids), "data": data}
            body = (
                {"topic": topic, "event": "postgres_changes", "payload": payload, "ref": None}
                if v1
                else [None, None, topic, "postgres_changes", payload]
            )
            frames.append(orjson.dumps(body).decode())
        else:
            raise FaultError(
                f"unknown malformed frame kind {kind!r}; expected some of {', '.join(MALFORMED_KINDS)}"
            )
    return frames


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

    def malformed(self, kinds: Iterable[str] = MALFORMED_KINDS) -> int:
        """Send every joined channel one frame of each of ``kinds`` (see
        :func:`malformed_frames`), after the frames already queued on its socket; return how
        many frames were queued.

        Raises:
            FaultError: An unknown kind.
        """
        kinds = tuple(kinds)
        sent = 0
        for member in self._hub.members():
            connection = member.session.transport
            if not isinstance(connection, Connection):
                continue
            ids = [b.id for b in member.bindings]
            for frame in malformed_frames(member.topic, connection.vsn, ids, kinds):
                connection.push_raw(frame)
                sent += 1
        return sent

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
            elif action == "malformed":
                kinds = request.get("kinds", MALFORMED_KINDS)
                if isinstance(kinds, str) or not isinstance(kinds, list | tuple):
                    raise FaultError("malformed kinds must be a list of kind names")
                self.malformed(kinds)
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
