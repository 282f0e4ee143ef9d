"""The journal: where a running writer puts accepted events until they are folded into Parquet.

A journal is a hidden file at the history root (``.journal-<id>.arrows``) holding one Arrow IPC
stream (LZ4-compressed record batches of :data:`~rtdata.history.layout.JOURNAL_SCHEMA`). The
writer appends a batch every ``flush_s``, so a crash loses at most what was appended since.
The writer holds an exclusive ``flock`` on its journal for as long as it is open; a journal
nobody holds was left by a crash (or by a fold that failed) and is folded by the next writer.

Folding turns a journal into one Parquet file per partition, ``part-<id>.parquet``, each
written under a temporary name, fsynced and renamed; the journal is deleted last. A crash
midway leaves some partitions folded and the journal in place: the next fold skips the
partitions whose file exists, and readers take a partition's rows from the journal only while
its file does not exist, so no event is lost or counted twice.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import pyarrow as pa  # type: ignore[import-untyped]
import pyarrow.parquet as pq  # type: ignore[import-untyped]

from rtdata.history.layout import (
    CATEGORICAL,
    JOURNAL_SCHEMA,
    SCHEMA,
    PartitionKey,
    folder,
    journal_id,
    journal_name,
    part_name,
    split,
    to_rows,
)

__all__ = [
    "DAMAGED_SUFFIX",
    "Folded",
    "Journal",
    "JournalRead",
    "find_journals",
    "fold",
    "fsync_folder",
    "read",
]

log = logging.getLogger("rtdata.history")

_OPTIONS: Final = pa.ipc.IpcWriteOptions(compression="lz4")
_FOLD_ROWS: Final = 131_072  # rows converted and split at a time while folding (bounds memory)
_PAUSE: Final = threading.Event()  # never set: waits between lock attempts

DAMAGED_SUFFIX: Final = ".damaged"
"""Suffix a folded journal with an unreadable part is kept under (readers ignore it)."""


class Journal:
    """One open journal, appended by the writer thread only.

    Invariants:
        * The file is created under a temporary name, locked, then renamed into place, so
          no other process ever sees it unlocked while it is open.
        * ``rows`` counts complete batches only.

    Args:
        root: The history folder (created if missing).
        ident: The journal's id (:func:`rtdata.history.layout.file_id`).
        opened_s: When it was opened (epoch seconds); rotation by age counts from here.
    """

    def __init__(self, root: Path, ident: str, opened_s: float) -> None:
        root.mkdir(parents=True, exist_ok=True)
        self.ident = ident
        self.path = root / journal_name(ident)
        self.opened_s = opened_s
        self.rows = 0
        temp = root / f"{self.path.name}.new"
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # a new file: nobody else has it
            os.replace(temp, self.path)
        except BaseException:
            os.close(fd)
            temp.unlink(missing_ok=True)
            raise
        self._fd = fd  # owned by _sink: closing the sink closes it, releasing the lock
        self._sink = pa.OSFile(fd, "wb")
        try:
            self._stream = pa.ipc.new_stream(self._sink, JOURNAL_SCHEMA, options=_OPTIONS)
        except BaseException:
            self._sink.close()
            raise

    def append(self, batches: list[Any]) -> None:
        """Write record batches in one call, which releases the GIL while Arrow compresses
        and writes them."""
        self._stream.write_table(pa.Table.from_batches(batches, schema=JOURNAL_SCHEMA))
        self.rows += sum(batch.num_rows for batch in batches)

    @property
    def size_bytes(self) -> int:
        """Bytes written so far (asked once per tick: each call releases the GIL)."""
        return int(self._sink.tell())

    def sync(self) -> None:
        """Make what was appended durable (``fsync``), not just safe from a process crash."""
        os.fsync(self._fd)

    def close(self) -> None:
        """End the stream, fsync and close the file, releasing the lock."""
        self._stream.close()
        self.sync()
        self._sink.close()

    def abandon(self) -> None:
        """Close after a failed write, never raising; the complete batches stay readable."""
        for close in (self._stream.close, self._sink.close):
            try:
                close()
            except Exception:  # already failing: the first error was reported
                log.debug("history: closing %s after an error failed", self.path, exc_info=True)


@dataclass(slots=True)
class JournalRead:
    """The readable part of a journal.

    Attributes:
        path: The journal file.
        ident: Its id.
        rows: History rows (:data:`~rtdata.history.layout.SCHEMA`) of its complete batches.
        problem: Why reading stopped before the end of the file, or ``None``.
        live: A writer holds the journal: a partial last batch is one being written.
    """

    path: Path
    ident: str
    rows: Any
    problem: str | None = None
    live: bool = False


def find_journals(root: Path) -> list[Path]:
    """Return the journals under ``root``, oldest first."""
    try:
        names = sorted(entry.name for entry in os.scandir(root))
    except (FileNotFoundError, NotADirectoryError):
        return []
    return [root / name for name in names if journal_id(Path(name)) is not None]


def _open(path: Path) -> tuple[str, int] | None:
    """Return the journal id of ``path`` and a read-only descriptor the caller closes, or
    ``None`` if the file went away (folded meanwhile).

    Raises:
        ValueError: ``path`` is not named like a journal.
    """
    ident = journal_id(path)
    if ident is None:
        raise ValueError(f"{path} is not named like a journal")
    try:
        return ident, os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return None


def read(path: Path) -> JournalRead | None:
    """Read every complete batch of a journal; ``None`` if it went away (folded meanwhile)."""
    opened = _open(path)
    if opened is None:
        return None
    ident, fd = opened
    try:
        live = not _try_lock(fd, fcntl.LOCK_SH)
        if not live:
            fcntl.flock(fd, fcntl.LOCK_UN)  # at once: never keep a writer from folding it
        problems: list[str] = []
        batches = list(_batches(fd, problems))
    finally:
        os.close(fd)
    table = pa.Table.from_batches(batches, schema=JOURNAL_SCHEMA)
    return JournalRead(path, ident, to_rows(table), problems[0] if problems else None, live)


@dataclass(slots=True)
class Folded:
    """What folding one journal did.

    Attributes:
        files: ``(path, size_bytes, rows)`` of each Parquet file it made visible.
        problem: Why part of the journal could not be read (it was kept, renamed with the
            suffix ``.damaged``), or ``None``.
    """

    files: list[tuple[Path, int, int]] = field(default_factory=list)
    problem: str | None = None


def fold(path: Path, root: Path, *, row_group_rows: int, wait_s: float = 0.0) -> Folded | None:
    """Fold a journal nobody holds into Parquet files, then delete it.

    Returns ``None``, doing nothing, when someone still holds the journal after ``wait_s``
    (a writer, or a reader checking whether a writer does) or it is gone. A journal with an
    unreadable part is folded as far as it can be read and renamed ``<name>.damaged``
    instead of deleted, so no byte of it is lost.

    Raises:
        OSError: Writing a file failed (pyarrow may raise its own errors too); every
            temporary file was removed and the journal kept.
    """
    opened = _open(path)
    if opened is None:
        return None
    ident, fd = opened
    try:
        deadline_s = time.monotonic() + wait_s
        while not _try_lock(fd, fcntl.LOCK_EX):
            if time.monotonic() >= deadline_s:
                return None  # being written
            _PAUSE.wait(0.005)  # a reader holds it for microseconds
        if os.fstat(fd).st_nlink == 0:
            return None  # folded by someone else since we listed it
        result = Folded()
        writers: dict[PartitionKey, tuple[Path, Path, Any, int]] = {}  # temp, final, writer
        skipped: set[PartitionKey] = set()
        try:
            for chunk in _chunks(fd, result):
                for key, part in split(to_rows(chunk)):
                    if key in skipped:
                        continue
                    if key not in writers:
                        final = folder(root, key) / part_name(ident)
                        if final.exists():  # folded by an earlier, interrupted fold
                            skipped.add(key)
                            continue
                        final.parent.mkdir(parents=True, exist_ok=True)
                        temp = final.with_name(f".{final.name}.tmp")
                        writer = pq.ParquetWriter(
                            str(temp), SCHEMA, compression="zstd", use_dictionary=list(CATEGORICAL)
                        )
                        writers[key] = (temp, final, writer, 0)
                    temp, final, writer, rows = writers[key]
                    writer.write_table(part, row_group_size=max(1, row_group_rows))
                    writers[key] = (temp, final, writer, rows + part.num_rows)
            for temp, final, writer, rows in writers.values():
                writer.close()
                _fsync_file(temp)
                os.replace(temp, final)
                fsync_folder(final.parent)
                result.files.append((final, final.stat().st_size, rows))
        except BaseException:
            for temp, _, writer, _ in writers.values():
                with contextlib.suppress(Exception):
                    writer.close()
                temp.unlink(missing_ok=True)
            raise
        if result.problem is None:
            path.unlink()
        else:
            os.replace(path, path.with_name(path.name + DAMAGED_SUFFIX))
        fsync_folder(root)
        return result
    finally:
        os.close(fd)  # releases the lock


def fsync_folder(path: Path) -> None:
    """Make renames and deletions in folder ``path`` durable."""
    directory = os.open(path, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)


def _fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _try_lock(fd: int, kind: int) -> bool:
    try:
        fcntl.flock(fd, kind | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def _batches(fd: int, problems: list[str]) -> Iterator[Any]:
    """Yield the complete batches of the journal open as ``fd`` (read from its start through a
    duplicate, so locks stay with ``fd``); append why reading stopped early to ``problems``."""
    read = 0
    try:
        with pa.OSFile(os.dup(fd), "rb") as source:
            reader = pa.ipc.open_stream(source)
            if not reader.schema.equals(JOURNAL_SCHEMA):
                problems.append("not an rtdata journal (other columns)")
                return
            while True:
                try:
                    batch = reader.read_next_batch()
                except StopIteration:
                    return
                read += 1
                yield batch
    except Exception as exc:  # pyarrow reports bad streams as several exception types
        at = f"after {read} complete batches" if read else "at its start"
        problems.append(f"unreadable {at} ({exc})")


def _chunks(fd: int, result: Folded) -> Iterator[Any]:
    """Yield the journal's complete batches as tables of at most about ``_FOLD_ROWS`` rows."""
    problems: list[str] = []
    pending: list[Any] = []
    rows = 0
    for batch in _batches(fd, problems):
        pending.append(batch)
        rows += batch.num_rows
        if rows >= _FOLD_ROWS:
            yield pa.Table.from_batches(pending, schema=JOURNAL_SCHEMA)
            pending, rows = [], 0
    if pending:
        yield pa.Table.from_batches(pending, schema=JOURNAL_SCHEMA)
    result.problem = problems[0] if problems else None
