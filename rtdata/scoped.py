"""What the dashboard reads of a recorder, whole or as one scoped user may see it.

:class:`Reader` is the read surface every page and widget uses. A
:class:`rtdata.recorder.Recorder` is one; a :class:`ScopedReader` is one too, and applies a
:class:`rtdata.scope.RowScope` to every table, event snapshot and presence read, so a page
needs no code of its own to respect row scoping: what it never receives, it cannot show or
export.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Collection, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Final, Protocol

import pandas as pd

from rtdata.events import COLUMNS, EventKind, field_column
from rtdata.scope import RowScope

if TYPE_CHECKING:
    from rtdata.introspect import ProjectSchema
    from rtdata.lifecycle import Transition
    from rtdata.metrics import Metrics, MetricsSnapshot
    from rtdata.recorder import CollectorStatus, Recorder
    from rtdata.resync import Gap
    from rtdata.settings import Settings

__all__ = ["BufferReader", "PresenceReader", "Reader", "ScopedReader"]


class BufferReader(Protocol):
    """The read side of an :class:`rtdata.EventBuffer`."""

    @property
    def version(self) -> int:
        """A counter that changes on every append."""

    def snapshot(
        self,
        since: datetime | None = None,
        *,
        tables: Sequence[str] | None = None,
        kinds: Sequence[str] | None = None,
        channels: Sequence[str] | None = None,
        ops: Sequence[str] | None = None,
        newest: int | None = None,
        fields: Sequence[str] = (),
        columns: Sequence[str] | None = None,
    ) -> pd.DataFrame:
        """The buffered events (see :meth:`rtdata.EventBuffer.snapshot`)."""


class PresenceReader(Protocol):
    """The read side of a :class:`rtdata.presence.LivePresence`."""

    def members(self, channels: Collection[str] | None = None) -> pd.DataFrame:
        """The metas online (see :meth:`rtdata.presence.LivePresence.members`)."""


class Reader(Protocol):
    """What pages and widgets read: a :class:`rtdata.recorder.Recorder`'s read surface."""

    @property
    def uid(self) -> int:
        """Names the data this reader shows, unique in this process: views computed from it
        are cached under it."""

    @property
    def settings(self) -> Settings:
        """What is followed."""

    @property
    def schema(self) -> ProjectSchema | None:
        """The project's REST schema, once read."""

    @property
    def status(self) -> CollectorStatus:
        """The collector's connection state."""

    @property
    def transitions(self) -> list[Transition]:
        """The recent lifecycle transitions."""

    @property
    def gaps(self) -> list[Gap]:
        """The recent gaps."""

    @property
    def metrics(self) -> Metrics:
        """Latency, rates, reconnects and alerts."""

    @property
    def buffer(self) -> BufferReader:
        """The recorded events."""

    @property
    def presence(self) -> PresenceReader:
        """Who is online."""

    def table(self, name: str) -> pd.DataFrame:
        """The current rows of table ``name``."""

    def metrics_snapshot(self) -> MetricsSnapshot:
        """The current health metrics."""


_uids: Final = itertools.count(-1, -1)  # negative: never a recorder's uid
_uids_lock: Final = threading.Lock()
_scoped_uids: dict[tuple[int, str], int] = {}


class ScopedReader:
    """A recorder as a scoped user sees it: the same reads, keeping only what
    :class:`rtdata.scope.RowScope` allows.

    Metrics, transitions and gaps pass through: they count events and name tables, never
    rows. Each (recorder, scope) pair has one :attr:`uid`, so users with the same scope share
    their computed views and never see another scope's.

    Args:
        recorder: The shared recorder.
        scope: The user's scope.
    """

    def __init__(self, recorder: Recorder, scope: RowScope) -> None:
        self._recorder = recorder
        self.scope = scope
        """The scope applied."""
        key = (recorder.uid, scope.key)
        with _uids_lock:
            uid = _scoped_uids.get(key)
            if uid is None:
                uid = _scoped_uids[key] = next(_uids)
        self._uid = uid
        self._buffer = _ScopedBuffer(recorder, scope)
        self._presence = _ScopedPresence(recorder, scope)

    @property
    def uid(self) -> int:
        """One per (recorder, scope), negative (a recorder's are positive)."""
        return self._uid

    @property
    def settings(self) -> Settings:
        """The recorder's settings."""
        return self._recorder.settings

    @property
    def schema(self) -> ProjectSchema | None:
        """The recorder's schema (tables and columns, no rows)."""
        return self._recorder.schema

    @property
    def status(self) -> CollectorStatus:
        """The recorder's status."""
        return self._recorder.status

    @property
    def transitions(self) -> list[Transition]:
        """The recorder's transitions."""
        return self._recorder.transitions

    @property
    def gaps(self) -> list[Gap]:
        """The recorder's gaps (tables and times, no rows)."""
        return self._recorder.gaps

    @property
    def metrics(self) -> Metrics:
        """The recorder's metrics (counts and latencies, no rows)."""
        return self._recorder.metrics

    @property
    def buffer(self) -> BufferReader:
        """The recorded events the scope keeps."""
        return self._buffer

    @property
    def presence(self) -> PresenceReader:
        """The presence metas the scope keeps."""
        return self._presence

    def table(self, name: str) -> pd.DataFrame:
        """The current rows of ``name`` the scope keeps."""
        return self.scope.rows(name, self._recorder.table(name))

    def metrics_snapshot(self) -> MetricsSnapshot:
        """The recorder's metrics snapshot."""
        return self._recorder.metrics_snapshot()


_NEEDED: Final = ("kind", "channel", "table", "record", "old_record")


class _ScopedBuffer:
    def __init__(self, recorder: Recorder, scope: RowScope) -> None:
        self._recorder = recorder
        self._scope = scope

    @property
    def version(self) -> int:
        return self._recorder.buffer.version

    def snapshot(
        self,
        since: datetime | None = None,
        *,
        tables: Sequence[str] | None = None,
        kinds: Sequence[str] | None = None,
        channels: Sequence[str] | None = None,
        ops: Sequence[str] | None = None,
        newest: int | None = None,
        fields: Sequence[str] = (),
        columns: Sequence[str] | None = None,
    ) -> pd.DataFrame:
        if newest is not None and newest < 0:
            raise ValueError(f"newest={newest!r} must be zero or more")
        if kinds is None:  # alerts never reach a scoped user
            kinds = [k for k in EventKind if k != EventKind.ALERT]
        wanted = list(COLUMNS) if columns is None else list(columns)
        read = [c for c in COLUMNS if c in wanted or c in _NEEDED]
        extra = [f for f in self._scope.fields if f not in fields]
        frame = self._recorder.buffer.snapshot(
            since,
            tables=tables,
            kinds=kinds,
            channels=channels,
            ops=ops,
            fields=[*fields, *extra],
            columns=read,
        )
        kept = self._scope.events(frame)
        if newest is not None:
            kept = kept.iloc[max(0, len(kept) - newest) :] if newest else kept.iloc[:0]
        drop = [c for c in read if c not in wanted] + [field_column(f) for f in extra]
        kept = kept.drop(columns=drop).reset_index(drop=True)
        # A categorical column keeps every category of the whole buffer: another tenant's
        # channel name would still travel with the frame (an Arrow dictionary, a picker).
        for column in kept.columns:
            if isinstance(kept[column].dtype, pd.CategoricalDtype):
                kept[column] = kept[column].cat.remove_unused_categories()
        return kept


class _ScopedPresence:
    def __init__(self, recorder: Recorder, scope: RowScope) -> None:
        self._recorder = recorder
        self._scope = scope

    def members(self, channels: Collection[str] | None = None) -> pd.DataFrame:
        return self._scope.members(self._recorder.presence.members(channels))
