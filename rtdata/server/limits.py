"""The local server's limits: every bound on what one request, frame, socket or sign-in may carry
or cost, with its default, in one place.

Each limit is checked where its input arrives, and crossing it is a clear error naming the
limit (PostgREST's, GoTrue's or Realtime's shape for that endpoint), never a crash and never a
wait. The README's "Limits and hostile input" section lists them; a test checks that it names
every one.
"""

from __future__ import annotations

from typing import Final

__all__ = [
    "MAX_BODY_BYTES",
    "MAX_CHANNELS_PER_SOCKET",
    "MAX_FRAME_BYTES",
    "MAX_HEADER_COUNT",
    "MAX_HEADER_FIELD_BYTES",
    "MAX_REQUEST_LINE_BYTES",
]

# ---------------------------------------------------------------- HTTP (REST, auth, broadcast)

MAX_BODY_BYTES: Final = 16 * 2**20
"""A request body larger than this is refused with 413."""

MAX_REQUEST_LINE_BYTES: Final = 8190
"""A request line (method, path and query) longer than this is refused with 400, before any
handler runs (aiohttp's ``max_line_size``; nginx's and Kong's default header buffer is 8 KiB)."""

MAX_HEADER_FIELD_BYTES: Final = 8190
"""A header (name or value) longer than this is refused with 400, before any handler runs
(aiohttp's ``max_field_size``). A JWT in ``Authorization`` must fit in it."""

MAX_HEADER_COUNT: Final = 128
"""A request with more headers than this is refused with 400 (aiohttp's ``max_headers``)."""

# ---------------------------------------------------------------- realtime websocket

MAX_FRAME_BYTES: Final = 2**20
"""A websocket message larger than this closes the socket with 1009 (message too big)."""

MAX_CHANNELS_PER_SOCKET: Final = 100
"""A socket holding this many joined channels has its next join (of a new topic) refused with
``ChannelRateLimitReached: Too many channels``, Realtime's reply at ``max_channels_per_client``
(100 by default); its other channels live on."""
