"""Raw frames of the official realtime client, with secrets redacted, for debugging a feed.

realtime-py logs every frame it sends and receives at DEBUG (``send: ...``, ``receive: ...``)
and every frame it drops at ERROR (``Unrecognized message format ...``). :class:`FrameTrace`
is a logging *filter* on that logger: it keeps the last frames in a ring, counts bytes and
dropped frames for its observers, and swallows the DEBUG records so they never reach other
handlers. The trace is process-wide: it sees every realtime client in the process.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

__all__ = ["CLIENT_LOGGER", "FrameTrace", "TracedFrame", "redact"]

CLIENT_LOGGER: Final = "realtime._async.client"
"""The logger realtime-py writes its frames to."""

_SECRET_VALUE = re.compile(
    r"""(?P<key>["']?(?:access_token|user_token|apikey|api_key|token|authorization|password|refresh_token)["']?\s*[:=]\s*)(?P<quote>["']?)[^"'&,\s}]+"""
    r"""(?P=quote)""",
    re.IGNORECASE,
)
_JWT = re.compile(r"eyJ[\w-]+\.[\w-]+\.[\w-]+")


def redact(text: str) -> str:
    """Replace tokens, keys and passwords in ``text`` with ``<redacted>``."""
    text = _SECRET_VALUE.sub(lambda m: f"{m['key']}{m['quote']}<redacted>{m['quote']}", text)
    return _JWT.sub("<redacted>", text)


@dataclass(frozen=True, slots=True)
class TracedFrame:
    """One frame as the client logged it.

    Attributes:
        at_ns: When it was logged (epoch ns).
        direction: ``"in"`` or ``"out"``.
        text: The frame (redacted by :meth:`FrameTrace.frames`).
    """

    at_ns: int
    direction: str
    text: str


Observer = Callable[[str, int], None]
"""``observer(kind, size_bytes)`` with kind ``"in"``, ``"out"`` or a drop reason."""


class FrameTrace(logging.Filter):
    """Keeps the last frames of realtime clients and reports traffic to observers.

    Invariants: ``_lock`` protects ``_frames`` and ``_observers``; the filter runs on whichever
    thread logs (the collector's loop thread).

    Args:
        max_frames: Frames kept.
    """

    def __init__(self, max_frames: int = 200) -> None:
        super().__init__()
        self._lock = threading.Lock()
        self._frames: deque[TracedFrame] = deque(maxlen=max(1, max_frames))
        self._observers: list[Observer] = []
        self._installed = 0

    def install(self, observer: Observer | None = None) -> None:
        """Attach to realtime-py's logger (idempotent) and add ``observer``."""
        with self._lock:
            if observer is not None:
                self._observers.append(observer)
            self._installed += 1
            first = self._installed == 1
        if first:
            logger = logging.getLogger(CLIENT_LOGGER)
            logger.addFilter(self)
            logger.setLevel(logging.DEBUG)

    def uninstall(self, observer: Observer | None = None) -> None:
        """Remove ``observer``; detach from the logger when the last user leaves."""
        with self._lock:
            if observer is not None and observer in self._observers:
                self._observers.remove(observer)
            self._installed = max(0, self._installed - 1)
            last = self._installed == 0
        if last:
            logger = logging.getLogger(CLIENT_LOGGER)
            logger.removeFilter(self)
            logger.setLevel(logging.NOTSET)

    def frames(self) -> list[TracedFrame]:
        """Return the kept frames, oldest first, with secrets redacted."""
        with self._lock:
            kept = list(self._frames)
        # Redacting on read keeps the hot path cheap; raw frames never leave this class.
        return [TracedFrame(f.at_ns, f.direction, redact(f.text)) for f in kept]

    def filter(self, record: logging.LogRecord) -> bool:
        """Capture frame records; let only WARNING and above through to other handlers."""
        if record.levelno >= logging.WARNING:
            message = record.getMessage()
            if message.startswith("Unrecognized message format"):
                self._notify("malformed frame", len(message))
            elif "closed with code: 1009" in message:
                self._notify("oversized frame", 0)
            return True
        message = record.getMessage()
        if message.startswith("receive: "):
            self._keep("in", message[9:])
        elif message.startswith("send: "):
            self._keep("out", message[6:])
        return False

    def _keep(self, direction: str, text: str) -> None:
        frame = TracedFrame(time.time_ns(), direction, text)
        with self._lock:
            self._frames.append(frame)
            observers = list(self._observers)
        for observer in observers:
            observer(direction, len(text))

    def _notify(self, kind: str, size: int) -> None:
        with self._lock:
            observers = list(self._observers)
        for observer in observers:
            observer(kind, size)
