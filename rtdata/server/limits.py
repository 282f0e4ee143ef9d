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
    "AUTH_FAILURES_PER_EMAIL_BURST",
    "AUTH_FAILURES_PER_EMAIL_PER_5_MIN",
    "AUTH_RATE_BURST",
    "AUTH_RATE_LIMIT_KEYS",
    "AUTH_SIGN_INS_SIGN_UPS_PER_5_MIN",
    "AUTH_TOKEN_REFRESHES_PER_5_MIN",
    "JOIN_RATE_WINDOW_S",
    "MAX_ACCESS_TOKEN_BYTES",
    "MAX_APP_METADATA_BYTES",
    "MAX_BODY_BYTES",
    "MAX_CHANNELS_PER_SOCKET",
    "MAX_EMAIL_BYTES",
    "MAX_FILTER_BYTES",
    "MAX_FRAME_BYTES",
    "MAX_HEADER_COUNT",
    "MAX_HEADER_FIELD_BYTES",
    "MAX_IN_VALUES",
    "MAX_ISSUER_BYTES",
    "MAX_JOINS_PER_S",
    "MAX_PATTERN_MEMORY_BYTES",
    "MAX_REPETITION",
    "MAX_REQUEST_LINE_BYTES",
    "MAX_ROWS_PER_INSERT",
    "MAX_USER_METADATA_BYTES",
]

# ---------------------------------------------------------------- HTTP (REST, auth, broadcast)

MAX_BODY_BYTES: Final = 16 * 2**20
"""A request body larger than this is refused with 413."""

MAX_ROWS_PER_INSERT: Final = 100_000
"""A POST (insert or upsert) of more rows than this in one body is refused with 413
``PGRST102`` naming the count, before any row is cast or stored: one request never holds the
database for the time a larger batch takes. Split larger loads into several requests."""

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

MAX_JOINS_PER_S: Final = 100
"""Channel joins the server takes per second from all sockets together, averaged over
:data:`JOIN_RATE_WINDOW_S` (Supabase's free-plan "channel joins per second", counted for the
whole project as Realtime counts it). Past it a join is refused with
``ClientJoinRateLimitReached: Too many joins per second`` on its own topic, and its socket and
that socket's other channels live on; joins are taken again as the window moves on. A refused
join is not counted, so a client that keeps retrying is let in once the rate falls."""

JOIN_RATE_WINDOW_S: Final = 10
"""The window over which :data:`MAX_JOINS_PER_S` is averaged: a burst of up to
``MAX_JOINS_PER_S * JOIN_RATE_WINDOW_S`` joins (a dashboard of many tables reconnecting) is
taken at once."""

# ---------------------------------------------------------------- auth (/auth/v1, tokens)

AUTH_RATE_BURST: Final = 30
"""Requests one IP may make at once to a rate-limited auth endpoint before the bucket's refill
rate applies (GoTrue's token buckets all hold 30)."""

AUTH_SIGN_INS_SIGN_UPS_PER_5_MIN: Final = 30
"""Password sign-ins and sign-ups one IP may make per 5 minutes once its burst is spent
(Supabase's ``sign_in_sign_ups`` default); more get 429 ``over_request_rate_limit``."""

AUTH_TOKEN_REFRESHES_PER_5_MIN: Final = 150
"""Refresh-token grants one IP may make per 5 minutes once its burst is spent (GoTrue's
``RATE_LIMIT_TOKEN_REFRESH`` default); more get 429 ``over_request_rate_limit``."""

AUTH_FAILURES_PER_EMAIL_BURST: Final = 10
"""Failed sign-ins (and refused sign-ups) one email may have, from any IP, before it is locked:
further attempts for that email, a right password included, get 429 until it refills."""

AUTH_FAILURES_PER_EMAIL_PER_5_MIN: Final = 10
"""The rate at which a locked email's failure budget refills, per 5 minutes."""

AUTH_RATE_LIMIT_KEYS: Final = 10_000
"""IPs and emails the auth rate limiter remembers at once; past this the least recently seen
is forgotten, so the limiter's memory stays bounded under a flood of addresses."""

MAX_EMAIL_BYTES: Final = 255
"""A longer email (UTF-8) is refused with 400 ``validation_failed`` "An email address is too
long" (GoTrue's limit and message)."""

MAX_USER_METADATA_BYTES: Final = 2048
"""``user_metadata`` (sign-up's ``data``) larger than this as compact JSON is refused with 400
``validation_failed``. GoTrue has no such limit, but the metadata travels in every access token,
and a token must fit in one HTTP header (:data:`MAX_ACCESS_TOKEN_BYTES`)."""

MAX_APP_METADATA_BYTES: Final = 1024
"""Custom ``app_metadata`` claims larger than this as compact JSON are refused with 400
``validation_failed``; they travel twice in every access token (in ``app_metadata`` and at its
top level)."""

MAX_ISSUER_BYTES: Final = 255
"""A request origin (from its ``Host`` header) longer than this is not used as the access
token's ``iss``; the server's own URL is used instead."""

MAX_ACCESS_TOKEN_BYTES: Final = 8000
"""The largest access token the server issues: with ``Bearer `` it fits in one header under the
HTTP server's 8190-byte field limit. The sizes above keep every token under it; a user whose
stored metadata (``auth.users`` written by hand) would exceed it is refused at sign-in with
500 ``unexpected_failure`` instead of being given a token no request could carry."""

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

MAX_IN_VALUES: Final = filters.MAX_IN_VALUES
"""The most values an ``in`` list of a realtime binding's filter may hold (Realtime's limit);
a join with more is refused on its topic."""

MAX_REPETITION: Final = filters.MAX_REPETITION
"""Postgres' largest ``{m,n}`` bound in a regex; above it ``2201B`` "invalid repetition
count(s)", as Postgres answers."""
