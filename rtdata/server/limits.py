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
    "MAX_FRAME_BYTES",
]

# ---------------------------------------------------------------- HTTP (REST, auth, broadcast)

MAX_BODY_BYTES: Final = 16 * 2**20
"""A request body larger than this is refused with 413."""

# ---------------------------------------------------------------- realtime websocket

MAX_FRAME_BYTES: Final = 2**20
"""A websocket message larger than this closes the socket with 1009 (message too big)."""
