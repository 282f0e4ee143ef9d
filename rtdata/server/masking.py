"""RFC 6455 section 5.1 on the server's websockets: a client frame that is not masked is refused
by closing the socket with 1002 (protocol error).

aiohttp's frame reader unmasks a frame when it carries a mask and takes it as it is when it does
not, so the rule is enforced here, in one place: :class:`MaskScanner` follows the frame
boundaries of what a client sends (it reads headers only and skips payloads without copying
them), and :func:`refuse_unmasked_frames` puts it in front of one prepared
:class:`aiohttp.web.WebSocketResponse`'s reader.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, Final

from aiohttp import WSCloseCode, web

__all__ = ["UNMASKED_CLOSE_MESSAGE", "MaskScanner", "refuse_unmasked_frames"]

UNMASKED_CLOSE_MESSAGE: Final = b"client frames must be masked"
"""The reason sent in the 1002 close frame that answers an unmasked client frame."""

_MASK_BIT: Final = 0x80
_LENGTH_BITS: Final = 0x7F
_LENGTH_16: Final = 126
_LENGTH_64: Final = 127
_MASK_KEY_BYTES: Final = 4


class MaskScanner:
    """Follows the frames of one client-to-server byte stream and finds the first unmasked one.

    Feed it the bytes in the order they arrive, in chunks of any size.
    """

    def __init__(self) -> None:
        self._header = bytearray()
        self._skip_bytes = 0
        self.refused = False
        """Whether an unmasked frame was found (every later call then returns 0)."""

    def feed(self, data: bytes) -> int | None:
        """Scan the next chunk of the stream.

        Returns:
            ``None`` while every frame so far is masked; else the offset in ``data`` where
            the first unmasked frame starts (0 when its header began in an earlier chunk),
            so the bytes before it can still be delivered.
        """
        if self.refused:
            return 0
        pos, end = 0, len(data)
        while pos < end:
            if self._skip_bytes:
                step = min(self._skip_bytes, end - pos)
                self._skip_bytes -= step
                pos += step
                continue
            self._header.append(data[pos])
            pos += 1
            if len(self._header) == 2 and not self._header[1] & _MASK_BIT:
                self.refused = True
                return max(pos - 2, 0)
            if len(self._header) >= 2 and len(self._header) == _header_bytes(self._header):
                self._skip_bytes = _payload_bytes(self._header)
                self._header.clear()
        return None


def _header_bytes(header: bytearray) -> int:
    code = header[1] & _LENGTH_BITS
    extended = 2 if code == _LENGTH_16 else 8 if code == _LENGTH_64 else 0
    return 2 + extended + _MASK_KEY_BYTES


def _payload_bytes(header: bytearray) -> int:
    code = header[1] & _LENGTH_BITS
    if code == _LENGTH_16:
        return int.from_bytes(header[2:4], "big")
    if code == _LENGTH_64:
        return int.from_bytes(header[2:10], "big")
    return code


class _Guard:
    """Stands in front of aiohttp's websocket reader and passes on only masked frames."""

    def __init__(
        self, reader: Any, ws: web.WebSocketResponse, on_refused: Callable[[], None]
    ) -> None:
        self.reader, self.ws, self.on_refused = reader, ws, on_refused
        self.scanner = MaskScanner()
        self.closing: asyncio.Task[bool] | None = None

    def feed_data(self, data: bytes) -> tuple[bool, bytes]:
        if self.scanner.refused:
            return False, b""
        at = self.scanner.feed(data)
        if at is None:
            result: tuple[bool, bytes] = self.reader.feed_data(data)
            return result
        if at:
            self.reader.feed_data(data[:at])  # the masked frames before it still count
        self.on_refused()
        self.closing = asyncio.get_running_loop().create_task(
            self.ws.close(code=WSCloseCode.PROTOCOL_ERROR, message=UNMASKED_CLOSE_MESSAGE)
        )
        return False, b""

    def feed_eof(self) -> None:
        self.reader.feed_eof()


def refuse_unmasked_frames(
    request: web.Request, ws: web.WebSocketResponse, on_refused: Callable[[], None]
) -> None:
    """Close ``ws`` with 1002 at the first unmasked frame its client sends.

    The frames before it are delivered; nothing from it on is. ``ws.receive()`` then returns
    a ``CLOSING`` message, as for any close the server starts.

    Args:
        request: The request ``ws`` was prepared for (after ``await ws.prepare(request)``).
        ws: The prepared websocket.
        on_refused: Called once when an unmasked frame is found (to count it).

    Raises:
        RuntimeError: aiohttp's request handler has no websocket reader to guard (its
            internals changed); refusing to serve is safer than serving unguarded.
    """
    handler: Any = request.protocol
    reader = getattr(handler, "_payload_parser", None)
    if reader is None or not hasattr(reader, "feed_data"):
        raise RuntimeError("aiohttp's websocket reader was not found; cannot enforce masking")
    handler._payload_parser = _Guard(reader, ws, on_refused)
