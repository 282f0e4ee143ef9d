"""EventBuffer: the bounded, thread-safe hand-off of events from the collector to readers.

This is the thread boundary between the collector's loop thread (the only writer) and any
number of readers (Streamlit sessions, notebooks). Storage is columnar in sealed chunks:

* ``append`` adds the event to the open tail list: a lock, a list append and a compare.
* When the tail holds ``chunk_rows`` rows it is sealed into per-column NumPy arrays (int64
  times, int8/int16/int32 codes for low-cardinality text, object arrays for the rest):
  O(chunk_rows) once per chunk, so amortised O(1) per event.
* Every :data:`_MERGED_CHUNKS` full sealed chunks are merged into one, so a million events are
  about 16 chunks: a snapshot pays per chunk it reads. Each row is copied once more for it.
* ``snapshot`` takes references to the sealed chunks and a copy of the tail under the lock and
  builds the frame outside it; sealed chunks are never mutated, and every column of the result
  is a freshly allocated array, so readers own the result and never block the writer long.

Both bounds (rows and age) evict whole chunks, or the evicted prefix of the oldest chunk; rows
past the age bound that are still stored are masked out of every snapshot and not counted by
``len``.

Readers can ask a snapshot for record fields (``fields``): each sealed chunk decodes the JSON of
a row once, the first time a reader asks for one of its fields, and keeps the values with the
chunk (they go when it is evicted). A reader that redraws every second then decodes only what
arrived since, not the whole window again.
"""

from __future__ import annotations

import itertools
import sys
import threading
from bisect import bisect_left
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from itertools import chain
from operator import attrgetter
from typing import Any, Final, TypeAlias

import numpy as np
import numpy.typing as npt
import pandas as pd

from rtdata.events import COLUMNS, Event, decode_record, field_column

_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)

__all__ = ["DEFAULT_MAX_ROWS", "EventBuffer"]

DEFAULT_MAX_ROWS: Final = 1_000_000
"""Default bound on buffered events."""

_NAT: Final = np.iinfo(np.int64).min  # numpy's NaT as int64
_CATEGORICAL: Final = ("kind", "channel", "table", "op", "source")
_TEXT: Final = ("key", "record", "old_record")
_GET: Final = {
    name: attrgetter(name) for name in ("received_at_ns", "commit_ns", *_CATEGORICAL, *_TEXT)
}
_RECEIVED: Final = attrgetter("received_at_ns")

_Codes: TypeAlias = npt.NDArray[np.signedinteger[Any]]
_Lookup: TypeAlias = dict[str | None, int]
"""Category → code for one categorical column; ``None`` is always first, with code -1."""


@dataclass(frozen=True, slots=True)
class _Chunk:
    """Immutable column arrays of consecutive events, with what the bounds need to know."""

    received_ns: npt.NDArray[np.int64]
    commit_ns: npt.NDArray[np.int64]
    codes: dict[str, _Codes]
    text: dict[str, npt.NDArray[np.object_]]
    min_ns: int
    max_ns: int
    ordered: bool  # received_ns never decreases, so a time bound is one searchsorted
    nbytes: int  # estimate, see EventBuffer.nbytes
    # Record fields decoded for readers: field -> (value per row, which rows are decoded).
    # The one mutable part, written only under EventBuffer._decode_lock.
    decoded: dict[str, tuple[npt.NDArray[np.object_], npt.NDArray[np.bool_]]] = field(
        default_factory=dict, compare=False
    )

    def __len__(self) -> int:
        return len(self.received_ns)


class EventBuffer:
    """Bounded, thread-safe buffer of :class:`rtdata.events.Event` rows.

    Invariants:
        * One writer thread appends; any thread may read. ``_lock`` protects every underscore
          attribute; nothing else is shared but the sealed chunks' decoded-field caches,
          which ``_decode_lock`` guards (readers fill them; the writer never touches them).
        * Sealed chunks are immutable but for that cache, so a snapshot may read them after
          releasing the lock.
        * ``len(self) <= max_rows``: the oldest events are evicted first.
        * With ``max_age_s``, no snapshot and no ``len`` includes an event received more than
          ``max_age_s`` before the newest (latest ``received_at``) event so far. The bound
          follows receive times, not the wall clock, so a quiet stream keeps its last window;
          it never moves back, so expired events stay gone even if the clock steps back.
        * ``len`` is exact: it counts what an unfiltered snapshot would return.

    Args:
        max_rows: Most events kept.
        max_age_s: Keep only events received at most this many seconds before the newest
            one; ``None`` for no age bound.
        chunk_rows: Rows per sealed chunk (trade-off between seal cost and snapshot overhead).
    """

    def __init__(
        self,
        max_rows: int = DEFAULT_MAX_ROWS,
        max_age_s: float | None = None,
        chunk_rows: int = 8192,
    ) -> None:
        if max_rows < 1 or chunk_rows < 1:
            raise ValueError("max_rows and chunk_rows must be positive")
        if max_age_s is not None and not max_age_s > 0:
            raise ValueError("max_age_s must be positive (or None)")
        self.max_rows = max_rows
        self.max_age_s = max_age_s
        self.chunk_rows = chunk_rows
        self._max_age_ns = None if max_age_s is None else round(max_age_s * 1e9)
        self._decode_lock = threading.Lock()  # guards every chunk's ``decoded`` cache
        self._lock = threading.Lock()  # guards every attribute below
        self._chunks: deque[_Chunk] = deque()
        self._head = 0  # rows of _chunks[0] already evicted
        self._tail: list[Event] = []
        self._tail_ordered = True  # no event in _tail is older than one appended before it
        self._rows = 0  # stored rows: chunks after _head plus the tail (may include expired)
        self._nbytes = 0  # sum of _Chunk.nbytes over _chunks
        self._version = 0
        self._last_ns = _NAT  # receive time of the last appended event; _NAT before any
        self._newest_ns = _NAT  # latest receive time ever appended: the age bound's reference
        # Append-only: codes in sealed chunks index into these forever.
        self._lookups: dict[str, _Lookup] = {name: {None: -1} for name in _CATEGORICAL}

    def __len__(self) -> int:
        """Number of events a snapshot without filters would return."""
        with self._lock:
            cutoff = self._cutoff_ns()
            if cutoff is None:
                return self._rows
            self._expire(cutoff)
            return self._rows - self._count_expired(cutoff)

    @property
    def version(self) -> int:
        """A counter that changes on every append; readers cache derived views on it."""
        with self._lock:
            return self._version

    @property
    def last_received_at(self) -> datetime | None:
        """Receive time of the last appended event (to the microsecond, as a ``datetime``
        holds it), or ``None`` when nothing ever was."""
        with self._lock:
            ns = self._last_ns
        if ns == _NAT:
            return None
        return _EPOCH + timedelta(microseconds=ns // 1000)  # no warning for the dropped ns

    @property
    def nbytes(self) -> int:
        """Estimated bytes held by the events.

        A sealed chunk's estimate is taken once, when it is sealed: the ``nbytes`` of its
        NumPy arrays (8 bytes a row for each object column) plus ``sys.getsizeof`` of every
        non-empty string in the ``key``, ``record`` and ``old_record`` columns. A chunk's
        bytes are subtracted when the chunk is dropped, so rows evicted from the front of
        the oldest chunk count until the rest of that chunk goes too. The open tail (fewer
        than ``chunk_rows`` events still held as :class:`Event` objects) counts each event's
        ``sys.getsizeof`` plus that of the same strings, measured on each call (outside the
        lock). Not counted: the category dictionaries and the category strings of the tail,
        allocator overhead, strings shared between rows, which count once per row, and the
        record fields readers asked :meth:`snapshot` for, kept with each chunk once decoded
        (8 bytes a row and a flag per field asked for, plus the values themselves).
        """
        with self._lock:
            sealed, tail = self._nbytes, self._tail[:]
        text = (filter(None, map(_GET[name], tail)) for name in _TEXT)
        return sealed + sum(map(sys.getsizeof, tail)) + sum(map(str.__sizeof__, chain(*text)))

    def append(self, event: Event) -> None:
        """Add one event, evicting the oldest when full."""
        with self._lock:
            ns = event.received_at_ns
            if ns >= self._newest_ns:
                self._newest_ns = ns
            else:
                self._tail_ordered = False
            self._last_ns = ns
            self._tail.append(event)
            self._rows += 1
            self._version += 1
            if len(self._tail) >= self.chunk_rows:
                self._seal()
            if self._rows > self.max_rows:
                self._evict()

    def extend(self, events: Iterable[Event]) -> None:
        """Add events in order."""
        for event in events:
            self.append(event)

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
        """Return the buffered events as a new DataFrame the caller owns.

        Columns are :data:`rtdata.events.COLUMNS`: ``received_at`` and ``commit_ts`` are
        tz-aware UTC timestamps, ``latency_ms`` is float (NaN without a commit time), ``kind``,
        ``channel``, ``table``, ``op`` and ``source`` are categoricals, and ``key``, ``record``
        and ``old_record`` are object columns of text (records as JSON) or ``None``. Events
        past the age bound are never included. Rows are in buffer order (the order they were
        appended).

        Args:
            since: Keep events received at or after this time.
            tables: Keep events of these tables only.
            kinds: Keep events of these kinds only.
            channels: Keep events of these channels only.
            ops: Keep events with one of these ops only.
            newest: Keep only the last this many events that pass the other filters. The cost
                is then about that of the events kept, however many are buffered.
            fields: Add one object column per record field, named by
                :func:`rtdata.events.field_column`, after the others: the field's value in the
                event's decoded record, ``None`` where the record is missing, is not a JSON
                object or lacks the field. A sealed chunk decodes each record once and keeps
                the values for later snapshots (see :attr:`nbytes` for what that holds).
            columns: Only these of :data:`rtdata.events.COLUMNS` (in that order, before the
                fields); ``None`` for all. Each text column costs about as much as all the
                others together, so a reader that decodes no record is cheaper without it.

        Raises:
            ValueError: ``newest`` is negative, or ``columns`` names no event column.
        """
        if newest is not None and newest < 0:
            raise ValueError(f"newest={newest!r} must be zero or more")
        unknown = sorted(set(columns or ()) - set(COLUMNS))
        if unknown:
            raise ValueError(f"columns={unknown!r}: not event columns {list(COLUMNS)!r}")
        with self._lock:
            cutoff = self._cutoff_ns()
            if cutoff is not None:
                self._expire(cutoff)
            parts = [(chunk, 0) for chunk in self._chunks]
            if parts:
                parts[0] = (parts[0][0], self._head)
            tail = list(self._tail)  # the writer keeps appending to (and trimming) the list
            lookups = {name: dict(lookup) for name, lookup in self._lookups.items()}
        if tail:  # built outside the lock; new categories go into the copied lookups only
            parts.append((_build(tail, lookups), 0))
        oldest_ns = cutoff
        if since is not None:
            since_ns = pd.Timestamp(since).value
            oldest_ns = since_ns if cutoff is None else max(cutoff, since_ns)
        wanted = {"table": tables, "kind": kinds, "channel": channels, "op": ops}
        picks = _picks(parts, lookups, oldest_ns, wanted, newest)
        frame = _frame(picks, lookups, COLUMNS if columns is None else columns)
        if fields:
            with self._decode_lock:
                decoded = _decode(picks, tuple(dict.fromkeys(fields)))
            for name, values in decoded.items():
                frame[field_column(name)] = pd.Series(values, dtype=object, copy=False)
        return frame

    def clear(self) -> None:
        """Drop every event (the version still advances)."""
        with self._lock:
            self._chunks.clear()
            self._tail = []
            self._tail_ordered = True
            self._head = 0
            self._rows = 0
            self._nbytes = 0
            self._version += 1

    # -------------------------------------------------------- internals (lock held)

    def _cutoff_ns(self) -> int | None:
        """Oldest receive time the age bound keeps, or ``None`` when nothing is too old."""
        if self._max_age_ns is None or self._newest_ns == _NAT:
            return None
        return self._newest_ns - self._max_age_ns

    def _seal(self) -> None:
        chunk = _build(self._tail, self._lookups)
        self._chunks.append(chunk)
        self._nbytes += chunk.nbytes
        self._tail = []
        self._tail_ordered = True
        cutoff = self._cutoff_ns()
        if cutoff is not None:
            self._expire(cutoff)
        self._compact()

    def _compact(self) -> None:
        """Merge the last :data:`_MERGED_CHUNKS` sealed chunks into one when each holds just
        ``chunk_rows`` rows (and none has evicted rows): a snapshot pays per chunk it reads,
        so a full buffer is about 16 large chunks, not 122 small ones. Amortised O(1) per
        event: each row is copied once more, ``_MERGED_CHUNKS`` seals later."""
        if len(self._chunks) < _MERGED_CHUNKS:
            return
        parts = [self._chunks[-i] for i in range(_MERGED_CHUNKS, 0, -1)]
        if any(len(part) != self.chunk_rows for part in parts):
            return
        if len(self._chunks) == _MERGED_CHUNKS and self._head:
            return
        merged = _merge(parts)
        # Readers' decoded fields move along, unless a reader is decoding right now: the
        # writer never waits for a reader (the new chunk then decodes again when asked).
        if self._decode_lock.acquire(blocking=False):
            try:
                merged.decoded.update(_merge_decoded(parts))
            finally:
                self._decode_lock.release()
        for _ in parts:
            self._chunks.pop()
        self._chunks.append(merged)

    def _drop_first(self) -> None:
        first = self._chunks.popleft()
        self._rows -= len(first) - self._head
        self._nbytes -= first.nbytes
        self._head = 0

    def _evict(self) -> None:
        excess = self._rows - self.max_rows
        while excess > 0 and self._chunks:
            first = len(self._chunks[0]) - self._head
            if first <= excess:
                self._drop_first()
                excess -= first
            else:
                self._head += excess
                self._rows -= excess
                excess = 0
        if excess > 0:  # everything sealed is gone; trim the open tail
            del self._tail[:excess]
            self._rows -= excess

    def _expire(self, cutoff: int) -> None:
        """Evict the expired prefix: leading chunks, rows of the first, or the tail's."""
        while self._chunks:
            first = self._chunks[0]
            if first.min_ns >= cutoff:
                return
            received = first.received_ns[self._head :]
            if first.ordered:
                gone = int(np.searchsorted(received, cutoff))
            else:
                kept = np.flatnonzero(received >= cutoff)
                gone = int(kept[0]) if kept.size else len(received)
            if gone < len(received):
                self._head += gone
                self._rows -= gone
                return
            self._drop_first()
        gone = _leading_below(self._tail, cutoff, self._tail_ordered)
        if gone:
            del self._tail[:gone]
            self._rows -= gone

    def _count_expired(self, cutoff: int) -> int:
        """Stored rows older than ``cutoff`` (left after ``_expire`` when times go backwards)."""
        expired = 0
        for i, chunk in enumerate(self._chunks):
            if chunk.min_ns < cutoff:
                received = chunk.received_ns[self._head if i == 0 else 0 :]
                if chunk.ordered:
                    expired += int(np.searchsorted(received, cutoff))
                else:
                    expired += int(np.count_nonzero(received < cutoff))
        if not self._tail_ordered:
            return expired + sum(1 for e in self._tail if e.received_at_ns < cutoff)
        return expired + _leading_below(self._tail, cutoff, True)


def _leading_below(events: list[Event], cutoff: int, ordered: bool) -> int:
    """Length of the prefix of ``events`` received before ``cutoff``."""
    if ordered:
        return bisect_left(events, cutoff, key=_RECEIVED)
    for i, event in enumerate(events):
        if event.received_at_ns >= cutoff:
            return i
    return len(events)


def _code_dtype(size: int) -> type[np.signedinteger[Any]]:
    # The thresholds pandas uses for Categorical codes, so from_codes keeps the array as is.
    return next(t for t in (np.int8, np.int16, np.int32) if size < np.iinfo(t).max)


def _build(events: list[Event], lookups: dict[str, _Lookup]) -> _Chunk:
    """Turn events into a chunk; new categories are added to ``lookups``."""
    # Column by column with C-level getters: transposing through per-row tuples allocates
    # GC-tracked objects that survive into older generations and trigger full collections.
    n = len(events)
    received = np.fromiter(map(_GET["received_at_ns"], events), np.int64, n)
    commits = map(_GET["commit_ns"], events)
    commit = np.fromiter((_NAT if c is None else c for c in commits), np.int64, n)
    nbytes = received.nbytes + commit.nbytes
    codes: dict[str, _Codes] = {}
    for name in _CATEGORICAL:
        values = list(map(_GET[name], events))
        lookup = lookups[name]
        for value in dict.fromkeys(values):  # distinct values, first-seen order
            if value not in lookup:
                # str(): plain str categories, so an EventKind member and its text are one.
                lookup[str(value)] = len(lookup) - 1  # None holds code -1
        codes[name] = np.fromiter(map(lookup.__getitem__, values), _code_dtype(len(lookup)), n)
        nbytes += codes[name].nbytes
    text: dict[str, npt.NDArray[np.object_]] = {}
    for name in _TEXT:
        values = list(map(_GET[name], events))
        text[name] = np.fromiter(values, object, n)
        # str.__sizeof__ is what sys.getsizeof returns for a str, without the dispatch.
        nbytes += text[name].nbytes + sum(map(str.__sizeof__, filter(None, values)))
    return _Chunk(
        received,
        commit,
        codes,
        text,
        min_ns=int(received.min()),
        max_ns=int(received.max()),
        ordered=bool((received[1:] >= received[:-1]).all()),
        nbytes=nbytes,
    )


_Pick: TypeAlias = tuple[_Chunk, int, "npt.NDArray[np.bool_] | None"]
"""A chunk, the index of its first selected row, and which rows from there are selected
(``None``: all of them)."""


def _picks(
    parts: list[tuple[_Chunk, int]],
    lookups: dict[str, _Lookup],
    oldest_ns: int | None,
    wanted: dict[str, Sequence[str] | None],
    newest: int | None,
) -> list[_Pick]:
    """Select rows chunk by chunk.

    Args:
        parts: Chunks with the index of their first live row, oldest first.
        lookups: Category codes of every chunk in ``parts``.
        oldest_ns: Keep rows received at or after this time (the age bound and ``since``).
        wanted: Allowed values per categorical column; ``None`` keeps every value.
        newest: Keep only the last this many selected rows; ``None`` keeps all. Chunks are
            read newest first, and those older than needed are never looked at.
    """
    allowed: dict[str, npt.NDArray[np.bool_]] = {}
    for name, values in wanted.items():
        if values is not None:
            lookup = lookups[name]
            # One slot per category plus a last one, always False, that code -1 lands on.
            allowed[name] = np.zeros(len(lookup), dtype=bool)
            allowed[name][[lookup[v] for v in values if v in lookup and v is not None]] = True
    picks: list[_Pick] = []
    left = newest
    for chunk, first in reversed(parts):
        if left is not None and left <= 0:
            break
        start, mask = first, None
        if oldest_ns is not None and chunk.min_ns < oldest_ns:
            if chunk.max_ns < oldest_ns:
                continue
            received = chunk.received_ns[start:]
            if chunk.ordered:
                start += int(np.searchsorted(received, oldest_ns))
            else:
                mask = received >= oldest_ns
        for name, table in allowed.items():
            keep = table[chunk.codes[name][start:]]
            mask = keep if mask is None else mask & keep
        count = len(chunk) - start if mask is None else int(np.count_nonzero(mask))
        if count == 0:
            continue
        if left is not None:
            if count > left:  # keep this chunk's last `left` selected rows only
                if mask is None:
                    start += count - left
                else:
                    mask = mask.copy()
                    mask[np.flatnonzero(mask)[: count - left]] = False
            left -= min(count, left)
        picks.append((chunk, start, mask))
    picks.reverse()
    return picks


_MERGED_CHUNKS: Final = 8
"""Sealed chunks of ``chunk_rows`` rows merged into one (:meth:`EventBuffer._compact`)."""


def _merge(parts: list[_Chunk]) -> _Chunk:
    """One chunk holding ``parts``' rows in order (their codes index the same lookups)."""
    ordered = all(part.ordered for part in parts) and all(
        before.max_ns <= after.min_ns for before, after in itertools.pairwise(parts)
    )
    return _Chunk(
        np.concatenate([part.received_ns for part in parts]),
        np.concatenate([part.commit_ns for part in parts]),
        {name: np.concatenate([part.codes[name] for part in parts]) for name in _CATEGORICAL},
        {name: np.concatenate([part.text[name] for part in parts]) for name in _TEXT},
        min_ns=min(part.min_ns for part in parts),
        max_ns=max(part.max_ns for part in parts),
        ordered=ordered,
        nbytes=sum(part.nbytes for part in parts),
    )


def _merge_decoded(
    parts: list[_Chunk],
) -> dict[str, tuple[npt.NDArray[np.object_], npt.NDArray[np.bool_]]]:
    """The decoded fields of ``parts``, concatenated (rows a part never decoded stay undone)."""
    names = {name for part in parts for name in part.decoded}
    out = {}
    for name in names:
        values, done = [], []
        for part in parts:
            entry = part.decoded.get(name)
            if entry is None:
                entry = (np.full(len(part), None, dtype=object), np.zeros(len(part), dtype=bool))
            values.append(entry[0])
            done.append(entry[1])
        out[name] = (np.concatenate(values), np.concatenate(done))
    return out


def _frame(
    picks: list[_Pick], lookups: dict[str, _Lookup], columns: Sequence[str] = COLUMNS
) -> pd.DataFrame:
    """Concatenate the picked rows into a frame of fresh arrays, of ``columns`` only.

    Args:
        picks: Selected rows per chunk, oldest first (see :func:`_picks`).
        lookups: Category codes of every chunk in ``picks``.
        columns: The columns wanted, a subset of :data:`rtdata.events.COLUMNS` in its order.
    """

    # Row positions once per chunk: taking a few positions from each column is much cheaper
    # than scanning a boolean mask of the whole chunk for every column.
    rows = [_rows(chunk, start, mask) for chunk, start, mask in picks]

    def gather(arrays: list[npt.NDArray[Any]], empty: npt.DTypeLike) -> npt.NDArray[Any]:
        pieces = [a[where] for a, where in zip(arrays, rows, strict=True)]
        return np.concatenate(pieces) if pieces else np.empty(0, dtype=empty)

    wanted = set(columns)
    data: dict[str, Any] = {}
    if wanted & {"received_at", "latency_ms"}:
        received = gather([c.received_ns for c, _, _ in picks], np.int64)
        data["received_at"] = pd.DatetimeIndex(received.view("datetime64[ns]"), tz="UTC")
    if wanted & {"commit_ts", "latency_ms"}:
        commit = gather([c.commit_ns for c, _, _ in picks], np.int64)
        data["commit_ts"] = pd.DatetimeIndex(commit.view("datetime64[ns]"), tz="UTC")
    if "latency_ms" in wanted:
        latency = (received - commit) / 1e6  # NaT rows wrap around; overwritten just below
        latency[commit == _NAT] = np.nan
        data["latency_ms"] = latency
    for name in _CATEGORICAL:
        if name in wanted:
            codes = gather([c.codes[name] for c, _, _ in picks], np.int8)
            categories = pd.Index(list(lookups[name])[1:], dtype=object)
            data[name] = pd.Categorical.from_codes(codes, categories=categories, validate=False)
    for name in _TEXT:
        if name in wanted:
            # An explicit object dtype: pandas 3 would otherwise infer (and convert to) ``str``.
            column = gather([c.text[name] for c, _, _ in picks], object)
            data[name] = pd.Series(column, dtype=object, copy=False)
    return pd.DataFrame(data, columns=[c for c in COLUMNS if c in wanted], copy=False)


def _rows(
    chunk: _Chunk, start: int, mask: npt.NDArray[np.bool_] | None
) -> slice | npt.NDArray[np.intp]:
    """The picked rows of ``chunk``: a slice when they run to its end, else their positions."""
    return slice(start, len(chunk)) if mask is None else start + np.flatnonzero(mask)


def _decode(picks: list[_Pick], fields: tuple[str, ...]) -> dict[str, npt.NDArray[np.object_]]:
    """Return each field's value in the picked rows' records, decoding each record of a chunk
    at most once over the chunk's life (call with ``EventBuffer._decode_lock`` held)."""
    pieces: dict[str, list[npt.NDArray[np.object_]]] = {name: [] for name in fields}
    for chunk, start, mask in picks:
        rows = start + (np.arange(len(chunk) - start) if mask is None else np.flatnonzero(mask))
        cache = chunk.decoded
        missing = np.zeros(len(rows), dtype=bool)
        for name in fields:
            entry = cache.get(name)
            missing |= True if entry is None else ~entry[1][rows]
        todo = rows[missing]
        if todo.size:
            records = [_record(text) for text in chunk.text["record"][todo]]
            for name in fields:
                if name not in cache:
                    values = np.full(len(chunk), None, dtype=object)
                    cache[name] = (values, np.zeros(len(chunk), dtype=bool))
                values, done = cache[name]
                # fromiter keeps a list or object value as one cell; assigning a list would not.
                got = (record.get(name) for record in records)
                values[todo] = np.fromiter(got, dtype=object, count=len(records))
                done[todo] = True
        for name in fields:
            pieces[name].append(cache[name][0][rows] if rows.size else np.empty(0, object))
    return {
        name: np.concatenate(parts) if parts else np.empty(0, dtype=object)
        for name, parts in pieces.items()
    }


_record = decode_record  # the decoder the field caches use (a seam for the tests that count)
