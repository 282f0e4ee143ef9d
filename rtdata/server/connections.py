"""Websocket connections of the local server and the faults that act on them.

A :class:`Connection` is the :class:`rtdata.server.realtime.Transport` of one socket: it encodes
for the socket's serializer (vsn 1.0.0 or 2.0.0) and ships frames from an outbox in order, so
fan-out never waits on a slow client. :class:`Connections` holds every open socket and applies
the connection-level faults (drop, close, freeze, latency). Everything runs on the server loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Final

import orjson
from aiohttp import web

from rtdata import protocol
from rtdata.protocol import Message

__all__ = ["Connection", "Connections"]

_V1: Final = "1.0.0"
_V2: Final = "2.0.0"
SERIALIZERS: Final = (_V1, _V2)
"""Serializer versions (``vsn``) the server speaks."""


class Connection:
    """One open websocket: its serializer, outbox and fault switches.

    Args:
        ws: The prepared aiohttp websocket.
        transport: The underlying asyncio transport (aborted by :meth:`drop`).
        vsn: ``"1.0.0"`` (JSON objects) or ``"2.0.0"`` (JSON arrays and binary broadcasts).
        connections: The registry whose faults apply to this connection.
    """

    def __init__(
        self,
        ws: web.WebSocketResponse,
        transport: asyncio.Transport | None,
        vsn: str,
        connections: Connections,
    ) -> None:
        self.ws = ws
        self.transport = transport
        self.vsn = vsn
        self.registry = connections
        self._outbox: asyncio.Queue[tuple[float, str | bytes]] = asyncio.Queue()
        self.thawed = asyncio.Event()
        """Set while the connection may read and write; cleared by the freeze fault."""
        if not connections.frozen:
            self.thawed.set()

    # ------------------------------------------------------------ Transport

    def push(self, message: Message) -> None:
        """Encode ``message`` for this socket's serializer and queue it.

        Binary user broadcasts are not delivered to vsn 1.0.0 sockets, as on Supabase.
        """
        if self.vsn == _V1:
            payload = message.payload
            if isinstance(payload, protocol.UserBroadcastPayload) and isinstance(
                payload.get("payload"), bytes
            ):
                return
            frame: str | bytes = protocol.encode(message)
        else:
            frame = protocol.encode_v2(message)
        self._outbox.put_nowait((time.monotonic(), frame))

    def push_change(self, topic: str, ids: list[int], data_json: bytes) -> None:
        """Queue a postgres_changes push whose data is pre-encoded JSON."""
        head = orjson.dumps(topic)
        ids_json = orjson.dumps(ids)
        if self.vsn == _V1:
            frame = (
                b'{"topic":' + head + b',"event":"postgres_changes","payload":{"ids":' + ids_json
                + b',"data":' + data_json + b'},"ref":null}'
            )  # fmt: skip
        else:
            frame = (
                b'[null,null,' + head + b',"postgres_changes",{"ids":' + ids_json
                + b',"data":' + data_json + b"}]"
            )  # fmt: skip
        self._outbox.put_nowait((time.monotonic(), frame.decode()))

    def push_raw(self, frame: str | bytes) -> None:
        """Queue ``frame`` exactly as given, text or binary, whatever it holds (the malformed
        frames fault: :meth:`rtdata.server.faults.Faults.malformed`)."""
        self._outbox.put_nowait((time.monotonic(), frame))

    # ------------------------------------------------------------ I/O

    async def write_loop(self) -> None:
        """Send queued frames in order, honouring the freeze and latency faults."""
        while True:
            queued_at, frame = await self._outbox.get()
            delay_s = queued_at + self.registry.latency_ms / 1000 - time.monotonic()
            if delay_s > 0:
                await asyncio.sleep(delay_s)
            await self.thawed.wait()
            try:
                if isinstance(frame, bytes):
                    await self.ws.send_bytes(frame)
                else:
                    await self.ws.send_str(frame)
            except ConnectionError:
                return

    def drop(self) -> None:
        """Abort the TCP connection without a close frame."""
        if self.transport is not None:
            self.transport.abort()

    async def close(self, code: int = 1000) -> None:
        """Close the websocket cleanly with ``code``."""
        self.thawed.set()
        with contextlib.suppress(ConnectionError, RuntimeError):
            await self.ws.close(code=code)


class Connections:
    """Every open connection, and the connection-level faults."""

    def __init__(self) -> None:
        self.open: set[Connection] = set()
        self.frozen = False
        """Fault: connections neither read nor write (sockets stay open)."""
        self.latency_ms = 0.0
        """Fault: added delay before each outgoing frame, in milliseconds."""

    def drop_all(self) -> int:
        """Abort every socket abruptly; return how many."""
        for connection in list(self.open):
            connection.drop()
        return len(self.open)

    async def close_all(self, code: int = 1000) -> int:
        """Close every socket cleanly; return how many."""
        closing = list(self.open)
        await asyncio.gather(*(c.close(code) for c in closing))
        return len(closing)

    def freeze(self, frozen: bool) -> None:
        """Stop (``True``) or resume (``False``) reading and writing on every socket."""
        self.frozen = frozen
        for connection in self.open:
            if frozen:
                connection.thawed.clear()
            else:
                connection.thawed.set()
