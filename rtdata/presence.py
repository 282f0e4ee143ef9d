"""Live presence: who is online on each presence channel the collector follows.

The collector records each presence ``join`` and ``leave`` as an event whose ``key`` is the
presence key and whose ``record`` is the JSON list of the metas that joined or left (each
holds what a client tracked and the server's ``presence_ref``: one tracked session of a key).
It records a ``sync`` (no key) each time it joins a presence channel, before the server's
state arrives as joins. :class:`PresenceState` folds those events one at a time; its rules are
the roster's (:func:`rtdata.views.widgets.roster.replay` folds a buffer snapshot with it):

* a join adds its metas; a meta already online under the same identity (``presence_ref``, else
  ``phx_ref``, else its content) keeps its first join time;
* a leave removes its metas, and a leave naming no meta removes the whole key;
* a sync empties its channel, so whoever left while the link was down is not carried over,
  but puts the join times aside: a meta stated again after it keeps the join time it had.

Join times put aside are bounded: a channel's next sync drops those its previous sync put
aside and no join stated again, so at most as many are held as were online on the channel at
its latest sync. :class:`LivePresence` is the thread boundary around the state.

(The local server's own presence tracking is :mod:`rtdata.server.presence`, unrelated.)
"""

from __future__ import annotations

import threading
from collections.abc import Collection
from typing import Any, Final

import orjson
import pandas as pd

from rtdata.events import Event, EventKind

__all__ = [
    "MEMBER_COLUMNS",
    "LivePresence",
    "Member",
    "PresenceState",
    "Slot",
    "decode_metas",
    "members_frame",
    "meta_identity",
]

Slot = tuple[str, str]
"""A presence key on its channel: ``(channel, key)``."""

Member = tuple[str, str, dict[str, Any], int]
"""One meta online: ``(channel, key, meta, joined_at_ns)``, the join time in epoch
nanoseconds (UTC)."""

MEMBER_COLUMNS: Final = ("channel", "key", "meta", "joined_at")
"""Columns of :func:`members_frame` (and so of :meth:`LivePresence.members`)."""


def decode_metas(record: str | None) -> list[dict[str, Any]]:
    """Decode a presence record: a JSON list of metas (a lone object counts as one meta).

    Text that is not JSON, and items that are not objects, count as no meta.
    """
    if not isinstance(record, str) or not record:
        return []
    try:
        value = orjson.loads(record)
    except orjson.JSONDecodeError:
        return []
    items = value if isinstance(value, list) else [value]
    return [item for item in items if isinstance(item, dict)]


def meta_identity(meta: dict[str, Any]) -> str:
    """Identity of a meta within its key: the server's ref, else the meta's own content."""
    ref = meta.get("presence_ref", meta.get("phx_ref"))
    return str(ref) if ref is not None else orjson.dumps(meta, option=orjson.OPT_SORT_KEYS).decode()


class PresenceState:
    """Who is online, folded from presence events one at a time; no lock, no clock, no I/O.

    Events must be applied in receive order; the rules are the module's. Meta dicts are
    stored as given and never changed.

    Invariants:
        * ``_online`` maps a slot to its metas by identity, each with its join time; a slot
          with no meta is removed, never kept empty.
        * ``_forgotten[channel]`` holds the join times the channel's latest sync put aside
          that no join has stated again; the channel's next sync replaces it whole.
    """

    def __init__(self) -> None:
        self._online: dict[Slot, dict[str, tuple[dict[str, Any], int]]] = {}
        self._forgotten: dict[str, dict[Slot, dict[str, int]]] = {}

    def apply(
        self, channel: str, op: str, key: str | None, record: str | None, received_at_ns: int
    ) -> None:
        """Apply one presence event given by its fields (``record`` as JSON text)."""
        self.apply_metas(channel, op, key, decode_metas(record), received_at_ns)

    def apply_metas(
        self,
        channel: str,
        op: str,
        key: str | None,
        metas: list[dict[str, Any]],
        received_at_ns: int,
    ) -> None:
        """Apply one presence event whose record is already decoded (:func:`decode_metas`).

        Args:
            channel: Channel without the ``realtime:`` prefix.
            op: ``join``, ``leave`` or ``sync``; any other op changes nothing.
            key: Presence key (``None`` is kept as the text ``"None"``; a sync has none).
            metas: The metas that joined or left.
            received_at_ns: Receive time in epoch nanoseconds: a new meta's join time.
        """
        if op == "sync":
            aside: dict[Slot, dict[str, int]] = {}
            for slot in [slot for slot in self._online if slot[0] == channel]:
                aside[slot] = {ref: joined for ref, (_, joined) in self._online.pop(slot).items()}
            if aside:
                self._forgotten[channel] = aside
            else:
                self._forgotten.pop(channel, None)
            return
        slot = (channel, str(key))
        if op == "join":
            if not metas:
                return
            current = self._online.setdefault(slot, {})
            kept = self._forgotten.get(channel)
            known = kept.get(slot) if kept else None
            for meta in metas:
                ref = meta_identity(meta)
                joined = known.pop(ref, received_at_ns) if known else received_at_ns
                current.setdefault(ref, (meta, joined))
            if kept is not None and known is not None and not known:
                del kept[slot]
                if not kept:
                    del self._forgotten[channel]
        elif op == "leave":
            if not metas:
                self._online.pop(slot, None)
                return
            found = self._online.get(slot)
            if found is None:
                return
            for meta in metas:
                found.pop(meta_identity(meta), None)
            if not found:
                del self._online[slot]

    def members(self, channels: Collection[str] | None = None) -> list[Member]:
        """Return every meta online on ``channels`` (all when ``None``), slot by slot in the
        order the slots came online, each slot's metas in the order they joined.

        The meta dicts are the state's own: callers must not change them.
        """
        return [
            (channel, key, meta, joined)
            for (channel, key), current in self._online.items()
            if channels is None or channel in channels
            for meta, joined in current.values()
        ]

    @property
    def forgotten_total(self) -> int:
        """Join times put aside by syncs and not stated again (memory held besides the
        metas online)."""
        return sum(len(refs) for kept in self._forgotten.values() for refs in kept.values())


def members_frame(members: list[Member]) -> pd.DataFrame:
    """Return members as a frame of :data:`MEMBER_COLUMNS`: ``channel`` and ``key`` as text,
    ``meta`` a dict per row (a shallow copy), ``joined_at`` tz-aware UTC (nanoseconds)."""
    joined_ns = pd.Series([m[3] for m in members], dtype="int64")
    return pd.DataFrame(
        {
            "channel": pd.Series([m[0] for m in members], dtype=object),
            "key": pd.Series([m[1] for m in members], dtype=object),
            "meta": pd.Series([dict(m[2]) for m in members], dtype=object),
            "joined_at": pd.to_datetime(joined_ns, unit="ns", utc=True),
        }
    )


class LivePresence:
    """Who is online on every presence channel, kept as the collector records presence events.

    Unlike a replay of the event buffer, it forgets no one still online when the buffer
    evicts their join. It holds every channel it is given events of, whatever the settings.

    Invariants:
        * ``_lock`` protects ``_state``; the collector thread is the only writer. Records are decoded before the lock is taken and frames built after it is
          released, so a reader holds it only to list the metas online.
        * A reader sees the state after a whole number of events, never half of one.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._state = PresenceState()

    def apply(self, event: Event) -> bool:
        """Apply one event if it is a presence event (in receive order); return whether it was.

        Events of other kinds are ignored.
        """
        if event.kind != EventKind.PRESENCE:
            return False
        metas = decode_metas(event.record)
        with self._lock:
            self._state.apply_metas(event.channel, event.op, event.key, metas, event.received_at_ns)
        return True

    @property
    def forgotten_total(self) -> int:
        """See :attr:`PresenceState.forgotten_total`."""
        with self._lock:
            return self._state.forgotten_total

    def members(self, channels: Collection[str] | None = None) -> pd.DataFrame:
        """Return the metas online on ``channels`` (all when ``None``) as a new frame the
        caller owns (:func:`members_frame`), in :meth:`PresenceState.members` order."""
        chosen = None if channels is None else frozenset(channels)
        with self._lock:
            members = self._state.members(chosen)
        return members_frame(members)
