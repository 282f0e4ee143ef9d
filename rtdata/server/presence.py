"""Presence state of one topic, as Phoenix Presence keeps it: keys with lists of metas.

Pure data structure: :meth:`Presence.track`, :meth:`Presence.untrack` return the diff to fan
out (``{"joins": {...}, "leaves": {...}}``), or ``None`` when nothing changed.
"""

from __future__ import annotations

import base64
import itertools
from collections.abc import Mapping
from typing import Any

__all__ = ["Presence", "presence_ref"]

Meta = dict[str, Any]
Diff = dict[str, dict[str, dict[str, list[Meta]]]]

_counter = itertools.count(1)


def presence_ref() -> str:
    """Return a new unique ``phx_ref`` (opaque text, as Phoenix makes them)."""
    return base64.urlsafe_b64encode(next(_counter).to_bytes(12, "big")).decode().rstrip("=")


class Presence:
    """Who is present on one topic: metas by key, each owned by one channel member."""

    def __init__(self) -> None:
        # key -> owner id -> meta; an owner (one joined channel) has at most one meta per key.
        self._metas: dict[str, dict[int, Meta]] = {}

    def state(self) -> dict[str, dict[str, list[Meta]]]:
        """Return the ``presence_state`` payload: ``{key: {"metas": [...]}}``."""
        return {
            key: {"metas": [dict(m) for m in owners.values()]}
            for key, owners in self._metas.items()
            if owners
        }

    def track(self, key: str, owner: int, payload: Mapping[str, Any]) -> Diff | None:
        """Add or update ``owner``'s meta under ``key``; return the diff, or ``None`` if the
        payload is unchanged."""
        owners = self._metas.setdefault(key, {})
        old = owners.get(owner)
        if old is not None and {
            k: v for k, v in old.items() if not k.startswith("phx_ref")
        } == dict(payload):
            return None
        meta: Meta = {**payload, "phx_ref": presence_ref()}
        leaves: dict[str, dict[str, list[Meta]]] = {}
        if old is not None:
            meta["phx_ref_prev"] = old["phx_ref"]
            leaves = {key: {"metas": [old]}}
        owners[owner] = meta
        return {"joins": {key: {"metas": [dict(meta)]}}, "leaves": leaves}

    def untrack(self, key: str, owner: int) -> Diff | None:
        """Remove ``owner``'s meta under ``key``; return the leaves diff, or ``None``."""
        owners = self._metas.get(key)
        if not owners or owner not in owners:
            return None
        old = owners.pop(owner)
        if not owners:
            del self._metas[key]
        return {"joins": {}, "leaves": {key: {"metas": [old]}}}

    def untrack_owner(self, owner: int) -> Diff | None:
        """Remove every meta of ``owner`` (it left or disconnected); return the leaves diff."""
        leaves: dict[str, dict[str, list[Meta]]] = {}
        for key in list(self._metas):
            owners = self._metas[key]
            if owner in owners:
                leaves[key] = {"metas": [owners.pop(owner)]}
                if not owners:
                    del self._metas[key]
        return {"joins": {}, "leaves": leaves} if leaves else None
