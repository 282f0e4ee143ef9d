"""Raw frames of a realtime connection, with secrets redacted, for debugging a feed.

:class:`FrameTrace` wraps ``recv`` and ``send`` of each websocket the collector opens (a
``websockets`` connection, which realtime-py reads with ``async for``), so it sees every frame
at the cost of one extra call, counts bytes for its observer, and keeps the last frames in a
ring. Frames realtime-py *drops* are only reported in its log (``Unrecognized message format``
at ERROR, with the whole frame); a logging filter counts those, and drops the record, without
lowering the logger's level, so normal traffic never builds log records. A frame over the client's size limit ends the socket: the
wrapped ``recv`` sees the close it sent (code 1009, message too big) and reports it.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

from websockets.exceptions import ConnectionClosed

__all__ = ["CHANNEL_LOGGER", "CLIENT_LOGGER", "FrameTrace", "TracedFrame", "redact"]

CLIENT_LOGGER: Final = "realtime._async.client"
"""The logger realtime-py reports dropped frames to (and, at DEBUG, every frame)."""

CHANNEL_LOGGER: Final = "realtime._async.channel"
"""The logger realtime-py's channels write every message they handle to, at DEBUG."""

_SECRET_VALUE = re.compile(
    r"""(?P<key>["']?(?:access_token|user_token|apikey|api_key|token|authorization|password|refresh_token)["']?\s*[:=]\s*)(?P<quote>["']?)[^"'&,\s}]+"""
    r"""(?P=quote)""",
    re.IGNORECASE,
)
_TOO_BIG: Final = 1009  # RFC 6455 close code: message too big
_JWT = re.compile(r"eyJ[\w-]+\.[\w-]+\.[\w-]+")


def _text(message: str | bytes) -> str:
    return message if isinstance(message, str) else f"<binary frame, {len(message)} bytes>"


def redact(text: str) -> str:
    """Replace tokens, keys and passwords in ``text`` with ``<redacted>``."""
    text = _SECRET_VALUE.sub(lambda m: f"{m['key']}{m['quote']}<redacted>{m['quote']}", text)
    return _JWT.sub("<redacted>", text)


@dataclass(frozen=True, slots=True)
class TracedFrame:
    """One frame seen on the collector's socket.

    Attributes:
        at_ns: When it was sent or received (epoch ns).
        direction: ``"in"`` or ``"out"``.
        text: The frame (redacted by :meth:`FrameTrace.frames`).
    """

    at_ns: int
    direction: str
    text: str


Observer = Callable[[str, int], None]
"""``observer(kind, size_bytes)`` with kind ``"in"``, ``"out"`` or a drop reason."""


class FrameTrace(logging.Filter):
    """Keeps a collector's last frames and reports traffic and drops to one observer.

    Invariants: ``_lock`` protects ``_frames``; frames are appended on the collector's loop
    thread and read from any thread. Raw frames never leave this class unredacted.

    Args:
        max_frames: Frames kept (0 keeps none but still counts bytes).
        observer: Called with ``("in", bytes)``, ``("out", bytes)`` or ``(reason, 0)``.
    """

    def __init__(self, max_frames: int = 200, observer: Observer | None = None) -> None:
        super().__init__()
        self._lock = threading.Lock()
        # (at_ns, direction, raw message): a TracedFrame is built only when frames are read.
        self._frames: deque[tuple[int, str, str | bytes]] = deque(maxlen=max(0, max_frames))
        self._observer = observer
        self._keep = max_frames > 0
        # The thread that reads the attached sockets (the collector's loop thread), written by
        # attach() on that thread: drops are counted only when reported there, because every
        # realtime-py client of the process logs to the same logger, without saying which.
        self._reader: int | None = None

    # ------------------------------------------------------------ frames

    def attach(self, ws: Any) -> None:
        """Wrap ``recv`` and ``send`` of a ``websockets`` connection to see its frames."""
        receive, send = ws.recv, ws.send
        keep, observer, frames, lock = self._keep, self._observer, self._frames, self._lock
        self._reader = threading.get_ident()

        async def traced_recv(*args: Any, **kwargs: Any) -> Any:
            try:
                message = await receive(*args, **kwargs)
            except ConnectionClosed as exc:
                if observer is not None and exc.sent is not None and exc.sent.code == _TOO_BIG:
                    observer("oversized frame", 0)
                raise
            if observer is not None:
                observer("in", len(message))
            if keep:
                with lock:
                    frames.append((time.time_ns(), "in", message))
            return message

        async def traced_send(message: Any, *args: Any, **kwargs: Any) -> Any:
            if keep and isinstance(message, str | bytes):
                with lock:
                    frames.append((time.time_ns(), "out", message))
            return await send(message, *args, **kwargs)

        # Instance attributes shadow the methods; websockets' ``async for`` calls self.recv().
        ws.recv, ws.send = traced_recv, traced_send

    def frames(self) -> list[TracedFrame]:
        """Return the kept frames, oldest first, with secrets redacted."""
        with self._lock:
            kept = list(self._frames)
        # Redacting on read keeps the hot path cheap.
        return [TracedFrame(at_ns, way, redact(_text(raw))) for at_ns, way, raw in kept]

    # ------------------------------------------------------------ drops (log records)

    def install(self) -> None:
        """Start counting the frames realtime-py drops (its WARNING and ERROR records) and
        redacting its records (see :meth:`filter`)."""
        for name in (CLIENT_LOGGER, CHANNEL_LOGGER):
            logging.getLogger(name).addFilter(self)

    def uninstall(self) -> None:
        """Stop counting dropped frames and redacting realtime-py's records."""
        for name in (CLIENT_LOGGER, CHANNEL_LOGGER):
            logging.getLogger(name).removeFilter(self)

    def filter(self, record: logging.LogRecord) -> bool:
        """Count drop reports made on the thread that reads this trace's sockets (another
        collector's drops are its own) and suppress them: realtime-py writes the whole frame
        into each, secrets and all, once per frame, and the observer's owner logs the first
        drop of each kind itself, without the frame (the trace keeps it, redacted). Every
        other record passes with its secrets redacted (realtime-py's DEBUG records carry
        every frame)."""
        if record.levelno < logging.WARNING:
            record.msg, record.args = redact(record.getMessage()), None
            return True
        if (
            record.levelno >= logging.WARNING
            and self._observer is not None
            and threading.get_ident() == self._reader
        ):
            message = record.getMessage()
            if message.startswith("Unrecognized message format"):
                self._observer("malformed frame", 0)
                return False
        return True
