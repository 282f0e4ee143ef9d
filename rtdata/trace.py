"""Raw frames of a realtime connection, with secrets redacted, for debugging a feed.

:class:`FrameTrace` wraps ``recv`` and ``send`` of each websocket the collector opens (a
``websockets`` connection, which realtime-py reads with ``async for``), so it sees every frame
at the cost of one extra call, counts bytes for its observer, and keeps the last frames in a
ring. Frames realtime-py *drops* are only reported in its log (``Unrecognized message format``
at ERROR, with the whole frame); a logging filter counts those, and drops the record, without
lowering the logger's level, so normal traffic never builds log records. A frame over the client's size limit ends the socket: the
wrapped ``recv`` sees the close it sent (code 1009, message too big) and reports it. A reply
that answers no request of the socket (an unknown ref, or one already answered) is reported as
an unexpected reply (:class:`ReplyLedger`).
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

from rtdata import protocol

__all__ = [
    "CHANNEL_LOGGER",
    "CLIENT_LOGGER",
    "MAX_PENDING_REFS",
    "FrameTrace",
    "ReplyLedger",
    "TracedFrame",
    "redact",
]

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
MAX_PENDING_REFS: Final = 1000
"""Requests a :class:`ReplyLedger` remembers awaiting their reply; past it the oldest is
forgotten (some requests, such as a token update, get no reply)."""
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


def _decoded(frame: str | bytes) -> protocol.Message | None:
    """The message in a text frame of either serializer, or ``None`` when it cannot be read."""
    if not isinstance(frame, str):
        return None  # binary frames are vsn 2 broadcasts; a request's ref is never only there
    try:
        if frame.lstrip().startswith("["):
            return protocol.decode_v2(frame)
        return protocol.decode(frame)
    except protocol.ProtocolError:
        return None


class ReplyLedger:
    """The refs of one socket's requests awaiting a reply, to notice a ``phx_reply`` that
    answers none of them: an unknown ref, or a ref already answered. realtime-py ignores such
    a reply, and so does the collector; it is counted, because a server that sends one is
    confused about the socket's state. Sans-I/O: frames in, verdicts out.

    Args:
        max_pending: Refs remembered at once (:data:`MAX_PENDING_REFS`).
    """

    def __init__(self, max_pending: int = MAX_PENDING_REFS) -> None:
        self._pending: dict[str, None] = {}
        self._max_pending = max_pending

    def sent(self, frame: str | bytes) -> None:
        """Note the ref of a frame the client sent, if it has one."""
        message = _decoded(frame)
        if message is None or message.ref is None:
            return
        self._pending[message.ref] = None
        if len(self._pending) > self._max_pending:
            del self._pending[next(iter(self._pending))]

    def unexpected(self, frame: str | bytes) -> bool:
        """Whether ``frame`` is a reply to no pending request; a reply that is expected is
        taken off the ledger."""
        if not isinstance(frame, str) or "phx_reply" not in frame:
            return False
        message = _decoded(frame)
        if message is None or message.event != "phx_reply" or message.ref is None:
            return False  # an undecodable frame is counted as malformed elsewhere
        if not {"status", "response"} <= message.payload.keys():
            return False  # not a reply realtime-py reads: counted as malformed, once
        if message.ref in self._pending:
            del self._pending[message.ref]
            return False
        return True


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
        ledger = ReplyLedger()  # refs are this socket's own
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
                if ledger.unexpected(message):
                    observer("unexpected reply", 0)
            if keep:
                with lock:
                    frames.append((time.time_ns(), "in", message))
            return message

        async def traced_send(message: Any, *args: Any, **kwargs: Any) -> Any:
            if observer is not None and isinstance(message, str | bytes):
                ledger.sent(message)
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
