"""Event history on disk: Parquet files partitioned by day and table, read back through DuckDB.

Layout under the history root (hive partitions; ``_none`` holds events without a table)::

    date=2024-05-01/table=emergency_requests/part-20240501T100000123456Z-000001.parquet

:class:`HistoryWriter` takes events from the collector thread (``append`` is one deque append)
and converts and writes them on its own thread, so the collector's loop never waits on the
disk. Each partition has one open file, written in row groups to a hidden temporary name
(``.part-….parquet.tmp``). When the file reaches ``rotate_bytes`` or ``rotate_s``, or on
:meth:`HistoryWriter.flush` and :meth:`HistoryWriter.close`, it is finished, fsynced and
renamed into place with ``os.replace``. A visible file is therefore always complete. A crash
loses the open files: at most ``rotate_s`` of events.

:func:`load`, :func:`query` and :func:`aggregate_by_table_hour` read every valid visible file
with DuckDB's ``read_parquet(..., union_by_name=true)``: files written with fewer or more
columns load side by side, and missing columns come back as nulls.
"""

from __future__ import annotations

import contextlib
import heapq
import logging
import os
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from types import TracebackType
from typing import IO, Any, Final
from urllib.parse import quote, unquote

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa  # type: ignore[import-untyped]
import pyarrow.compute as pc  # type: ignore[import-untyped]
import pyarrow.parquet as pq  # type: ignore[import-untyped]

from rtdata.events import COLUMNS, Event

__all__ = ["SCHEMA", "HistoryStats", "HistoryWriter", "aggregate_by_table_hour", "load", "query"]

log = logging.getLogger(__name__)

_MiB: Final = 1 << 20
_NS_PER_DAY: Final = 86_400 * 10**9
_NO_TABLE: Final = "_none"
_TIMESTAMP: Final = pa.timestamp("ns", tz="UTC")
_CATEGORICAL: Final = ("kind", "channel", "table", "op", "source")

_EVENT: Final = pa.struct(
    [("received_at_ns", pa.int64()), ("commit_ns", pa.int64())]
    + [(name, pa.string()) for name in COLUMNS[3:]]
)  # Event's fields: COLUMNS without latency_ms, in the same order
_TYPES: Final = {"received_at": _TIMESTAMP, "commit_ts": _TIMESTAMP, "latency_ms": pa.float64()}

SCHEMA: Final = pa.schema([(name, _TYPES.get(name, pa.string())) for name in COLUMNS])
"""Arrow schema of every file written now: :data:`rtdata.events.COLUMNS`, in order."""


@dataclass(frozen=True, slots=True)
class HistoryStats:
    """What a :class:`HistoryWriter` has done so far.

    Attributes:
        rows_written: Events in files this writer made visible.
        rows_pending: Events appended but not yet in a visible file.
        rows_dropped: Events lost to write errors or to a full pending list.
        files: Visible files under the root (retention counts them).
        bytes: Size of those files.
        errors: Failed writes, renames and deletions.
    """

    rows_written: int = 0
    rows_pending: int = 0
    rows_dropped: int = 0
    files: int = 0
    bytes: int = 0
    errors: int = 0


@dataclass(slots=True)
class _OpenFile:
    """One partition's file being written under its temporary name (writer lock only)."""

    final: Path
    temp: Path
    sink: IO[bytes]
    writer: Any  # pyarrow.parquet.ParquetWriter
    opened_s: float
    rows: int = 0  # in row groups written
    pending: list[Any] = field(default_factory=list)  # Arrow tables of the next row group
    pending_rows: int = 0


class HistoryWriter:
    """Writes events to Parquet files under ``root``, on a background thread.

    Invariants:
        * One thread at a time appends (the collector's); ``append`` never blocks on disk
          and never raises. ``_pending`` is a deque because its ``append`` and ``popleft``
          are atomic: the hot path takes no lock.
        * ``_write_lock`` serialises writing (the underscore attributes of the writing
          path), so row groups keep the order of ``append``; ``_lock`` guards ``_published``.
        * Errors are counted in :meth:`stats` and logged once; the events involved are dropped.
        * One writer per root: :meth:`start` deletes temporary files left by a crash.

    Args:
        root: The history folder (created on first write).
        rotate_bytes: Finish a file once it holds this many bytes.
        rotate_s: Finish a file this many seconds after it was opened.
        max_total_bytes: After each rotation, delete the oldest files until the visible
            files (plus the open ones) take at most this much.
        flush_rows: Write a partition's row group once it has this many pending events.
        flush_s: How often the background thread takes the appended events.
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
        flush_s: float = 2.0,
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
        self._clock_s = clock_s
        self._pending: deque[Event] = deque()  # appended by one thread, popped by the writer
        self._dropped = 0  # written by the appending thread only
        self._lock = threading.Lock()  # guards _published
        self._published = HistoryStats()
        self._write_lock = threading.Lock()  # guards everything the writing path touches
        self._open: dict[tuple[int, str | None], _OpenFile] = {}
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
        if len(pending) >= self.max_pending_rows:
            self._dropped += 1
            return
        pending.append(event)
        if len(pending) == self.flush_rows:
            self._wake.set()

    def stats(self) -> HistoryStats:
        """Return the counters as of the last write, plus the current pending and dropped."""
        with self._lock:
            s = self._published
        open_rows = s.rows_pending + len(self._pending)
        return HistoryStats(
            s.rows_written,
            open_rows,
            s.rows_dropped + self._dropped,
            s.files,
            s.bytes,
            s.errors,
        )

    def start(self) -> HistoryWriter:
        """Start the background thread (again after :meth:`close`); return ``self``."""
        if self._thread is None:
            for stale in self.root.glob("date=*/table=*/.part-*.parquet.tmp"):
                log.warning("history: deleting %s, left unfinished by an earlier run", stale)
                stale.unlink(missing_ok=True)
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name="rtdata-history", daemon=True)
            self._thread.start()
        return self

    def flush(self) -> None:
        """Write every queued event and finish the open files, so :func:`load` sees them."""
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
            pending = sum(f.pending_rows + f.rows for f in self._open.values())
            stats = HistoryStats(
                self._rows_written, pending, self._lost, len(self._files), self._bytes, self._errors
            )
            with self._lock:
                self._published = stats

    def _write(self, finish: bool) -> None:
        if not self._scanned:
            self._scan()
        popleft = self._pending.popleft
        batch = [popleft() for _ in range(len(self._pending))]
        now_s = self._clock_s()
        try:
            partitions = list(_partitions(batch))
        except Exception:
            self._lost += len(batch)  # events that are not Events: a caller's bug
            raise
        for key, rows in partitions:
            try:
                part = self._open.get(key) or self._open_file(key, now_s)
            except Exception as exc:
                self._error(f"open a file for {key[1] or _NO_TABLE}", exc)
                self._lost += rows.num_rows
                continue
            part.pending.append(rows)
            part.pending_rows += rows.num_rows
        rotated = False
        for key, part in list(self._open.items()):
            try:
                due = finish or now_s - part.opened_s >= self.rotate_s
                if part.pending and (due or part.pending_rows >= self.flush_rows):
                    rows = pa.concat_tables(part.pending)
                    part.writer.write_table(rows, row_group_size=max(1, rows.num_rows))
                    part.rows += rows.num_rows
                    part.pending, part.pending_rows = [], 0
                if due or (part.rows and part.sink.tell() >= self.rotate_bytes):
                    del self._open[key]
                    self._finish(part)
                    rotated = True
            except Exception as exc:
                self._open.pop(key, None)
                self._abandon(part, exc)
        if rotated:
            self._retain()

    def _open_file(self, key: tuple[int, str | None], now_s: float) -> _OpenFile:
        day, table = key
        folder = self.root / f"date={np.datetime64(day, 'D')}" / f"table={_encode(table)}"
        folder.mkdir(parents=True, exist_ok=True)
        self._seq += 1
        stamp = datetime.fromtimestamp(now_s, UTC).strftime("%Y%m%dT%H%M%S%fZ")
        name = f"part-{stamp}-{self._seq:06d}.parquet"
        temp = folder / f".{name}.tmp"
        sink = open(temp, "wb")  # noqa: SIM115 - closed by _finish or _abandon
        writer = pq.ParquetWriter(sink, SCHEMA, compression="zstd")
        self._open[key] = part = _OpenFile(folder / name, temp, sink, writer, now_s)
        return part

    def _finish(self, part: _OpenFile) -> None:
        part.writer.close()
        part.sink.flush()
        os.fsync(part.sink.fileno())
        part.sink.close()
        os.replace(part.temp, part.final)
        directory = os.open(part.final.parent, os.O_RDONLY)
        try:
            os.fsync(directory)  # makes the rename itself durable
        finally:
            os.close(directory)
        size = part.final.stat().st_size
        heapq.heappush(self._files, (part.final.name, part.final, size))
        self._bytes += size
        self._rows_written += part.rows

    def _abandon(self, part: _OpenFile, exc: Exception) -> None:
        self._error(f"write {part.temp}", exc)
        self._lost += part.rows + part.pending_rows
        for close in (part.writer.close, part.sink.close):
            try:
                close()
            except Exception:  # already failing: the first error was reported
                log.debug("history: closing %s after an error failed", part.temp, exc_info=True)
        part.temp.unlink(missing_ok=True)

    def _retain(self) -> None:
        open_bytes = sum(part.sink.tell() for part in self._open.values())
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
        self._scanned = True
        for path in self.root.glob("date=*/table=*/part-*.parquet"):
            size = path.stat().st_size
            heapq.heappush(self._files, (path.name, path, size))
            self._bytes += size

    def _error(self, what: str, exc: Exception) -> None:
        self._errors += 1
        if self._errors == 1:
            log.error("history: cannot %s: %s (further errors are counted, not logged)", what, exc)


def _encode(table: str | None) -> str:
    return _NO_TABLE if table is None else quote(table, safe="")


def _partitions(events: Sequence[Event]) -> Iterator[tuple[tuple[int, str | None], Any]]:
    """Convert events to Arrow in one pass and split them by (day number, table)."""
    if not events:
        return
    received, commit, *text = pa.array(events, type=_EVENT).flatten()
    latency = pc.divide(pc.subtract(received, commit).cast(pa.float64()), 1e6)
    columns = [received.cast(_TIMESTAMP), commit.cast(_TIMESTAMP), latency, *text]
    rows = pa.Table.from_arrays(columns, schema=SCHEMA)
    day = pc.divide(received, _NS_PER_DAY)  # integer division; times are after 1970
    keys = pa.table({"day": day, "table": rows["table"]}).group_by(["day", "table"])
    distinct = keys.aggregate([]).to_pylist()
    if len(distinct) == 1:
        yield (distinct[0]["day"], distinct[0]["table"]), rows
        return
    for key in distinct:
        table = key["table"]
        same = pc.is_null(rows["table"]) if table is None else pc.equal(rows["table"], table)
        yield (key["day"], table), rows.filter(pc.and_(pc.equal(day, key["day"]), same))


# ---------------------------------------------------------------- reading

_SELECT: Final = (
    f'SELECT * EXCLUDE (date, "table"), NULLIF("table", \'{_NO_TABLE}\') AS "table" '
    "FROM read_parquet($files, hive_partitioning = true, union_by_name = true, "
    "hive_types = {'date': DATE, 'table': VARCHAR})"
)
_AGGREGATE: Final = (
    "SELECT \"table\", date_trunc('hour', CAST(received_at AS TIMESTAMPTZ)) AS hour, "
    "count(*) AS events, avg(latency_ms) AS mean_latency_ms, "
    "quantile_cont(latency_ms, 0.99) AS p99_latency_ms FROM events"
)
_Prune = tuple[int | None, int | None, Sequence[str] | None]  # since_ns, until_ns, tables
_checked: dict[tuple[Path, Path], tuple[int, int, bool]] = {}  # (root, path) → size, mtime, ok
_checked_lock = threading.Lock()  # guards _checked: loads run on any thread


def load(
    root: str | os.PathLike[str],
    since: datetime | None = None,
    until: datetime | None = None,
    tables: Sequence[str] | None = None,
    kinds: Sequence[str] | None = None,
) -> pd.DataFrame:
    """Return the recorded events as a DataFrame the caller owns, oldest first.

    Columns and dtypes are those of :meth:`rtdata.EventBuffer.snapshot`, followed by any
    column that newer files add. Files that are not valid history are skipped with a
    warning naming them (once per file version); a missing folder gives an empty frame.

    Args:
        root: The history folder.
        since: Keep events received at or after this time (naive times are UTC).
        until: Keep events received before this time.
        tables: Keep events of these tables only.
        kinds: Keep events of these kinds only.
    """
    if kinds is not None and not kinds:
        return _frame(SCHEMA.empty_table())
    since_ns, until_ns = _ns(since), _ns(until)
    where, params = _where(since_ns, until_ns, tables, kinds)
    sql = f"SELECT * FROM events{where} ORDER BY received_at"
    return _frame(_read(Path(root), (since_ns, until_ns, tables), sql, params))


def query(
    root: str | os.PathLike[str], sql: str, params: Mapping[str, Any] | None = None
) -> pd.DataFrame:
    """Run a DuckDB ``SELECT`` over the history, visible to it as the view ``events``.

    ``events`` has the columns of :func:`load`; pass values as ``$name`` parameters in
    ``params``, never formatted into ``sql``.
    """
    table = _read(Path(root), (None, None, None), sql, dict(params or {}))
    return table.to_pandas()  # type: ignore[no-any-return]


def aggregate_by_table_hour(
    root: str | os.PathLike[str],
    since: datetime | None = None,
    until: datetime | None = None,
    tables: Sequence[str] | None = None,
) -> pd.DataFrame:
    """Count events and their commit → receive latency per table and UTC hour, in DuckDB.

    Returns:
        Columns ``table``, ``hour`` (UTC), ``events``, ``mean_latency_ms`` and
        ``p99_latency_ms`` (NaN without commit times), ordered by table and hour.
    """
    since_ns, until_ns = _ns(since), _ns(until)
    where, params = _where(since_ns, until_ns, tables, None)
    sql = f"{_AGGREGATE}{where} GROUP BY ALL ORDER BY ALL"
    table = _read(Path(root), (since_ns, until_ns, tables), sql, params)
    return table.to_pandas()  # type: ignore[no-any-return]


def _read(root: Path, prune: _Prune, sql: str, params: dict[str, Any]) -> Any:
    """Run ``sql`` over the view ``events`` of the files ``prune`` keeps; return Arrow."""
    for attempt in range(3):
        files = [str(path) for path in _files(root, *prune)]
        con = duckdb.connect()
        try:
            con.execute("SET TimeZone = 'UTC'")
            if files:
                con.sql(_SELECT, params={"files": files}).create_view("events")
            else:
                con.register("events", SCHEMA.empty_table())
            return con.sql(sql, params=params).to_arrow_table()
        except duckdb.IOException:
            if attempt == 2:
                raise
            log.debug("history: a file went away while reading (retention); listing again")
        finally:
            con.close()
    raise AssertionError("unreachable")


def _ns(moment: datetime | None) -> int | None:
    if moment is None:
        return None
    stamp = pd.Timestamp(moment)
    return (stamp.tz_localize(UTC) if stamp.tz is None else stamp).as_unit("ns").value


def _where(
    since_ns: int | None,
    until_ns: int | None,
    tables: Sequence[str] | None,
    kinds: Sequence[str] | None,
) -> tuple[str, dict[str, Any]]:
    clauses: list[str] = []
    params: dict[str, Any] = {}
    if since_ns is not None:
        clauses.append("received_at >= CAST(make_timestamp_ns($since) AS TIMESTAMPTZ_NS)")
        params["since"] = since_ns
    if until_ns is not None:
        clauses.append("received_at < CAST(make_timestamp_ns($until) AS TIMESTAMPTZ_NS)")
        params["until"] = until_ns
    if tables is not None:
        clauses.append('list_contains($tables, "table")')
        params["tables"] = list(tables)
    if kinds is not None:
        clauses.append("list_contains($kinds, kind)")
        params["kinds"] = list(kinds)
    return (" WHERE " + " AND ".join(clauses) if clauses else ""), params


def _files(
    root: Path, since_ns: int | None, until_ns: int | None, tables: Sequence[str] | None
) -> list[Path]:
    """Return the valid files of the partitions that can hold matching events."""
    first = None if since_ns is None else datetime.fromtimestamp(since_ns // 10**9, UTC).date()
    last = None if until_ns is None else datetime.fromtimestamp(until_ns // 10**9, UTC).date()
    found: list[Path] = []
    seen: set[Path] = set()
    for day_dir in _entries(root):
        if not _check(root, day_dir, seen, "date"):
            continue
        day = date.fromisoformat(day_dir.name.removeprefix("date="))
        if (first is not None and day < first) or (last is not None and day > last):
            continue
        for table_dir in _entries(day_dir):
            if not _check(root, table_dir, seen, "table"):
                continue
            value = table_dir.name.removeprefix("table=")
            if tables is not None and (value == _NO_TABLE or unquote(value) not in tables):
                continue
            found += [path for path in _entries(table_dir) if _check(root, path, seen, "file")]
    if first is None and last is None and tables is None:  # saw everything: forget the gone
        with _checked_lock:
            for gone in [key for key in _checked if key[0] == root and key[1] not in seen]:
                del _checked[gone]
    return found


def _entries(folder: Path) -> list[Path]:
    try:
        return sorted(path for path in folder.iterdir() if not path.name.startswith("."))
    except (FileNotFoundError, NotADirectoryError):
        return []


def _check(root: Path, path: Path, seen: set[Path], level: str) -> bool:
    """Return whether ``path`` is part of the history; warn once per version of one that isn't.

    ``level`` is ``"date"`` or ``"table"`` for a partition folder, ``"file"`` for a file.
    """
    seen.add(path)
    try:
        stat = path.stat()
    except OSError:
        return False  # deleted since it was listed (retention): not worth a warning
    with _checked_lock:
        cached = _checked.get((root, path))
    if cached is not None and cached[:2] == (stat.st_size, stat.st_mtime_ns):
        return cached[2]
    problem = _problem(path, level)
    with _checked_lock:
        _checked[(root, path)] = (stat.st_size, stat.st_mtime_ns, problem is None)
    if problem is not None:
        log.warning("history: skipping %s: %s", path, problem)
    return problem is None


def _problem(path: Path, level: str) -> str | None:
    if level != "file":
        value = path.name.removeprefix(f"{level}=")
        valid = path.is_dir() and value != path.name and value != ""
        if valid and level == "date":
            try:
                date.fromisoformat(value)
            except ValueError:
                valid = False
        return None if valid else f"not a {level}=... partition folder"
    if path.is_dir():
        return "a folder inside a table partition"
    try:
        schema = pq.read_metadata(path).schema.to_arrow_schema()
    except Exception as exc:  # pyarrow reports bad files as several exception types
        return f"not a readable Parquet file ({exc})"
    index = schema.get_field_index("received_at")
    if index < 0 or not pa.types.is_timestamp(schema.field(index).type):
        return "a Parquet file without a received_at timestamp column (not rtdata history)"
    return None


def _frame(table: Any) -> pd.DataFrame:
    """Convert an Arrow table of history rows to the dtypes of EventBuffer.snapshot."""
    rows = table.num_rows
    data: dict[str, Any] = {}
    for name in COLUMNS:
        column = table.column(name) if name in table.column_names else None
        if column is None:
            column = pa.nulls(rows, _TYPES.get(name, pa.string()))
        column = column.cast(_TYPES.get(name, pa.string()))
        if name in ("received_at", "commit_ts"):
            ns = column.cast(pa.int64()).fill_null(np.iinfo(np.int64).min).to_numpy()
            data[name] = pd.DatetimeIndex(ns.view("datetime64[ns]"), tz="UTC")
        elif name == "latency_ms":
            data[name] = column.to_numpy(zero_copy_only=False).astype(np.float64)
        elif name in _CATEGORICAL:
            encoded = pc.dictionary_encode(pa.chunked_array(column).combine_chunks())
            codes = encoded.indices.fill_null(-1).to_numpy(zero_copy_only=False)
            categories = pd.Index(encoded.dictionary.to_pylist(), dtype=object)
            data[name] = pd.Categorical.from_codes(codes, categories=categories, validate=False)
        else:
            text = column.to_numpy(zero_copy_only=False)
            data[name] = pd.Series(text, dtype=object, copy=False)
    extra = [name for name in table.column_names if name not in data]
    data |= {name: table.column(name).to_pandas() for name in extra}
    return pd.DataFrame(data, columns=[*COLUMNS, *extra], copy=False)
