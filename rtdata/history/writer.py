"""HistoryWriter: takes events from the collector thread and journals them on its own thread."""

from __future__ import annotations

import contextlib
import heapq
import itertools
import logging
import os
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Final

from rtdata.events import Event
from rtdata.history import journal
from rtdata.history.layout import file_id, journal_batch

__all__ = ["HistoryStats", "HistoryWriter"]

log = logging.getLogger("rtdata.history")

_MiB: Final = 1 << 20
# Events converted per pa.array call: the GIL is held for about 2 ms per batch, and a batch's
# event tuples and strings still fit in the CPU caches (larger batches convert slower).
_BATCH_ROWS: Final = 4096
# Batches are written this many events at a time, in one call that releases the GIL: every
# release and re-acquisition is a hand-over the collector thread waits for, so few and large.
_WRITE_ROWS: Final = 16 * _BATCH_ROWS


@dataclass(frozen=True, slots=True)
class HistoryStats:
    """What a :class:`HistoryWriter` has done so far.

    Attributes:
        rows_written: Events in Parquet files this writer made (including events it recovered
            from the journals of an earlier run).
        rows_pending: Events appended but not yet in a Parquet file: queued in memory or in a
            journal (where :func:`rtdata.history.load` already sees them).
        rows_dropped: Events lost to write errors or to a full queue.
        files: Parquet files under the root (retention counts them).
        bytes: Size of those files.
        errors: Failed writes, folds, renames and deletions.
        rows_queued: The part of ``rows_pending`` not yet written to a journal: what a crash
            of the process would lose now (it may count a batch being written twice).
    """

    rows_written: int = 0
    rows_pending: int = 0
    rows_dropped: int = 0
    files: int = 0
    bytes: int = 0
    errors: int = 0
    rows_queued: int = 0


class HistoryWriter:
    """Writes events to a journal on a background thread and folds it into Parquet files.

    Invariants:
        * One thread at a time appends (the collector's); ``append`` never blocks on disk
          and never raises. ``_pending`` is a deque because its ``append`` and ``popleft``
          are atomic: the hot path takes no lock.
        * ``_write_lock`` serialises writing (the underscore attributes of the writing
          path), so batches keep the order of ``append``; ``_lock`` guards ``_published``.
        * Every ``flush_s`` at the latest, the events appended so far are written to the
          journal (safe from a crash of this process); about ``flush_s`` later it is fsynced
          (safe from a crash of the machine).
        * Errors are counted in :meth:`stats` and logged once. Events whose journal write
          failed are dropped; a journal that failed to fold stays on disk and is folded again.
        * One writer per root: :meth:`start` deletes temporary files left by a crash.

    Args:
        root: The history folder (created on first write).
        rotate_bytes: Fold the journal into Parquet files once it holds this many
            (compressed) bytes; each file is then at most about this size.
        rotate_s: Fold the journal this many seconds after it was opened.
        max_total_bytes: After each fold, delete the oldest files until the Parquet files
            (plus the open journal) take at most this much.
        flush_rows: Take the appended events before ``flush_s`` is up once this many are
            queued; also the row-group size of the Parquet files.
        flush_s: Journal the appended events at least this often: the most a crash loses.
        max_pending_rows: Events held for the background thread before new ones are dropped.
        clock_s: Wall clock in seconds (file names and ages); a parameter for tests.
    """

    def __init__(
        self,
        root: str | os.PathLike[str],
        *,
        rotate_bytes: int = 64 * _MiB,
        rotate_s: float = 300.0,
        max_total_bytes: int = 10 * 1024 * _MiB,
        flush_rows: int = 50_000,
        flush_s: float = 1.0,
        max_pending_rows: int = 1_000_000,
        clock_s: Callable[[], float] = time.time,
    ) -> None:
        if min(rotate_bytes, rotate_s, max_total_bytes, flush_rows, flush_s) <= 0:
            raise ValueError("history limits and intervals must be positive")
        self.root = Path(root)
        self.rotate_bytes = rotate_bytes
        self.rotate_s = rotate_s
        self.max_total_bytes = max_total_bytes
        self.flush_rows = flush_rows
        self.flush_s = flush_s
        self.max_pending_rows = max_pending_rows
        self._wake_at = flush_rows - 1  # queued before an append that makes flush_rows
        self._clock_s = clock_s
        self._pending: deque[Event] = deque()  # appended by one thread, popped by the writer
        self._dropped = 0  # written by the appending thread only
        self._lock = threading.Lock()  # guards _published and the reset of _in_flight
        self._published = HistoryStats()
        self._in_flight = 0  # popped since the last publish (raised before popping)
        self._write_lock = threading.Lock()  # guards everything the writing path touches
        self._journal: journal.Journal | None = None
        self._synced_s = 0.0  # time.monotonic() of the journal's last fsync
        self._unfolded: dict[Path, int] = {}  # this writer's closed journals → their rows
        self._files: list[tuple[str, Path, int]] = []  # heap of (file name, path, size)
        self._bytes = 0
        self._seq = 0
        self._rows_written = 0
        self._lost = 0  # events dropped by write errors
        self._errors = 0
        self._scanned = False
        self._wake = threading.Event()  # set: take the pending events now
        self._stop = threading.Event()  # set: the background thread should return
        self._thread: threading.Thread | None = None

    def append(self, event: Event) -> None:
        """Queue one event (cheap: a deque append; called on the collector thread)."""
        pending = self._pending
        queued = len(pending)
        if queued < self.max_pending_rows:
            pending.append(event)
            if queued == self._wake_at:
                self._wake.set()
        else:
            self._dropped += 1

    def stats(self) -> HistoryStats:
        """Return the counters as of the last write, plus the current pending and dropped."""
        with self._lock:
            s, in_flight = self._published, self._in_flight
        queued = len(self._pending) + in_flight
        return HistoryStats(
            s.rows_written,
            s.rows_pending + queued,
            s.rows_dropped + self._dropped,
            s.files,
            s.bytes,
            s.errors,
            queued,
        )

    def start(self) -> HistoryWriter:
        """Start the background thread (again after :meth:`close`); return ``self``.

        Journals left by an earlier run are folded into Parquet files on that thread.
        """
        if self._thread is None:
            for stale in self.root.glob("date=*/table=*/.part-*.parquet.tmp"):
                log.warning("history: deleting %s, left unfinished by an earlier run", stale)
                stale.unlink(missing_ok=True)
            for stale in self.root.glob(".journal-*.arrows.new"):
                stale.unlink(missing_ok=True)  # created but never written: empty
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name="rtdata-history", daemon=True)
            self._thread.start()
        return self

    def flush(self) -> None:
        """Write every queued event and fold the journal, so the events are in Parquet files."""
        self._tick(finish=True)

    def close(self) -> None:
        """Stop the background thread, then :meth:`flush`; safe to call repeatedly."""
        thread = self._thread
        if thread is not None:
            self._stop.set()
            self._wake.set()
            thread.join()
            self._thread = None
        self.flush()

    def __enter__(self) -> HistoryWriter:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # ------------------------------------------------------------ writing (one thread at a time)

    def _run(self) -> None:
        interval_s = min(self.flush_s, self.rotate_s)
        while not self._stop.is_set():
            self._wake.wait(interval_s)
            self._wake.clear()
            self._tick(finish=False)

    def _tick(self, *, finish: bool) -> None:
        with self._write_lock:
            try:
                self._write(finish)
            except Exception as exc:  # the thread must never die, nor raise into a caller
                self._error("write", exc)
            current = 0 if self._journal is None else self._journal.rows
            stats = HistoryStats(
                self._rows_written,
                current + sum(self._unfolded.values()),
                self._lost,
                len(self._files),
                self._bytes,
                self._errors,
            )
            with self._lock:
                self._published = stats
                self._in_flight = 0

    def _write(self, finish: bool) -> None:
        if not self._scanned:
            self._scanned = True
            self._scan()
            self._fold_all()  # journals of an earlier run
        pending = self._pending
        now_s = self._clock_s()
        # What is queued now; later appends wait for the next tick, so a collector that
        # appends faster than this thread journals cannot starve the sync and rotation below.
        left = len(pending)
        while left:
            batches = []
            take = min(left, _WRITE_ROWS)
            left -= take
            self._in_flight += take  # before popping: stats() may overcount, never undercount
            while take:
                count = min(take, _BATCH_ROWS)
                take -= count
                # Pops exactly count events in C (islice stops without calling popleft again).
                events = list(itertools.islice(iter(pending.popleft, None), count))
                try:
                    batches.append(journal_batch(events))
                except Exception as exc:  # items that are not Events: a caller's bug
                    self._error("convert events", exc)
                    good = [e for e in events if _convertible(e)]  # the slow path, once
                    self._lost += count - len(good)
                    if good:
                        batches.append(journal_batch(good))
            if batches:
                self._write_batches(batches, now_s)
        part = self._journal
        if part is not None and time.monotonic() - self._synced_s >= self.flush_s:
            try:
                part.sync()
            except OSError as exc:
                self._error(f"fsync {part.path}", exc)
            self._synced_s = time.monotonic()
        if finish or (
            part is not None
            and (now_s - part.opened_s >= self.rotate_s or part.size_bytes >= self.rotate_bytes)
        ):
            self._rotate()  # also folds journals whose fold failed before

    def _write_batches(self, batches: list[Any], now_s: float) -> None:
        count = sum(batch.num_rows for batch in batches)
        part = self._journal
        try:
            if part is None:
                self._seq += 1
                part = journal.Journal(self.root, file_id(now_s, self._seq), now_s)
                self._journal = part
                self._synced_s = time.monotonic()
        except Exception as exc:
            self._error(f"open a journal under {self.root}", exc)
            self._lost += count
            return
        try:
            part.append(batches)
        except Exception as exc:
            self._error(f"write {part.path}", exc)
            self._lost += count
            part.abandon()  # its complete batches are folded with the next rotation
            self._journal = None
            self._unfolded[part.path] = part.rows

    def _rotate(self) -> None:
        part, self._journal = self._journal, None
        if part is not None:
            try:
                part.close()
            except Exception as exc:
                self._error(f"close {part.path}", exc)
                part.abandon()
            self._unfolded[part.path] = part.rows
        self._fold_all()
        self._retain()

    def _fold_all(self) -> None:
        """Fold every journal nobody holds: this writer's closed ones and any left by a crash."""
        for path in journal.find_journals(self.root):
            own = path in self._unfolded  # nobody writes it: wait out a reader's brief lock
            try:
                folded = journal.fold(
                    path, self.root, row_group_rows=self.flush_rows, wait_s=1.0 if own else 0.0
                )
            except Exception as exc:
                self._error(f"fold {path}", exc)
                continue
            if folded is None:
                continue  # held by another writer
            if folded.problem is not None:
                log.warning(
                    "history: %s: %s; folded the readable part, kept the file as %s",
                    path,
                    folded.problem,
                    path.name + journal.DAMAGED_SUFFIX,
                )
            self._unfolded.pop(path, None)
            for final, size, rows in folded.files:
                heapq.heappush(self._files, (final.name, final, size))
                self._bytes += size
                self._rows_written += rows

    def _retain(self) -> None:
        open_bytes = 0 if self._journal is None else self._journal.size_bytes
        while self._files and self._bytes + open_bytes > self.max_total_bytes:
            _, path, size = heapq.heappop(self._files)
            self._bytes -= size
            try:
                path.unlink(missing_ok=True)
            except OSError as exc:
                self._error(f"delete {path}", exc)
                continue
            with contextlib.suppress(OSError):  # rmdir fails, as meant, on a folder in use
                path.parent.rmdir()
                path.parent.parent.rmdir()

    def _scan(self) -> None:
        for path in self.root.glob("date=*/table=*/part-*.parquet"):
            size = path.stat().st_size
            heapq.heappush(self._files, (path.name, path, size))
            self._bytes += size

    def _error(self, what: str, exc: Exception) -> None:
        self._errors += 1
        if self._errors == 1:
            log.error("history: cannot %s: %s (further errors are counted, not logged)", what, exc)


def _convertible(item: object) -> bool:
    try:
        journal_batch([item])  # type: ignore[list-item]
    except Exception:
        return False
    return True
