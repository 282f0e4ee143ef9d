"""The local server's limits: every bound on what one request, frame, socket or sign-in may carry
or cost, with its default, in one place.

Each limit is checked where its input arrives, and crossing it is a clear error naming the
limit (PostgREST's, GoTrue's or Realtime's shape for that endpoint), never a crash and never a
wait. The README's "Limits and hostile input" section lists them; a test checks that it names
every one.
"""

from __future__ import annotations

from typing import Final

from rtdata import filters

__all__ = [
    "MAX_BODY_BYTES",
    "MAX_FILTER_BYTES",
    "MAX_FRAME_BYTES",
    "MAX_PATTERN_MEMORY_BYTES",
    "MAX_REPETITION",
]

# ---------------------------------------------------------------- HTTP (REST, auth, broadcast)

MAX_BODY_BYTES: Final = 16 * 2**20
"""A request body larger than this is refused with 413."""

# ---------------------------------------------------------------- realtime websocket

MAX_FRAME_BYTES: Final = 2**20
"""A websocket message larger than this closes the socket with 1009 (message too big)."""

# ---------------------------------------------------------------- filters (REST and realtime)

MAX_FILTER_BYTES: Final = 4096
"""The longest filter, in UTF-8 bytes: one REST filter parameter's value (``?col=op.value``) or
one realtime binding's whole ``filter``. Longer is refused: REST with 400 ``PGRST100``, a
realtime join with a ``postgres_changes`` system error on that topic. Pattern filters
(``like``, ``ilike``, ``match``, ``imatch``) need no time bound besides: they run on RE2 in
time linear in the text (:mod:`rtdata.filters`)."""

MAX_PATTERN_MEMORY_BYTES: Final = filters.MAX_PATTERN_MEMORY_BYTES
"""The memory RE2 may use for one ``like``/``ilike``/``match``/``imatch`` pattern (the default
lives in the pure :mod:`rtdata.filters`, below the server). A pattern that needs more is an
invalid regular expression (``2201B``, "pattern too large"): this bounds a pattern's compile
time and its matching cost per character, so no filter holds the server (in-memory backend and
every realtime subscription; on Postgres the statement timeout bounds SQL evaluation)."""

MAX_REPETITION: Final = filters.MAX_REPETITION
"""Postgres' largest ``{m,n}`` bound in a regex; above it ``2201B`` "invalid repetition
count(s)", as Postgres answers."""
