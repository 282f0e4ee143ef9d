"""Reading the history back: :func:`load`, :func:`query` and :func:`aggregate_by_table_hour`.

Every call sees the valid Parquet files plus the rows of every journal (the open one of a
running writer, and any a crash left), through DuckDB.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, Final
from urllib.parse import unquote

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa  # type: ignore[import-untyped]
import pyarrow.compute as pc  # type: ignore[import-untyped]
import pyarrow.parquet as pq  # type: ignore[import-untyped]

from rtdata.events import COLUMNS
from rtdata.history import journal
from rtdata.history.layout import CATEGORICAL, NO_TABLE, SCHEMA, TYPES, folder, part_name, split

__all__ = ["aggregate_by_table_hour", "load", "query"]

log = logging.getLogger("rtdata.history")

_PARQUET: Final = (
    f'SELECT * EXCLUDE (date, "table"), NULLIF("table", \'{NO_TABLE}\') AS "table" '
    "FROM read_parquet($files, hive_partitioning = true, union_by_name = true, "
    "hive_types = {'date': DATE, 'table': VARCHAR})"
)
_JOURNALS: Final = "SELECT * FROM journal_rows"
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
    column that newer files add. Events still in a journal (written by a running writer, or
    left by a crash) are included. Files that are not valid history, and the unreadable part
    of a journal nobody is writing, are skipped with a warning naming them (once per file
    version); a missing folder gives an empty frame.

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
        # Journals before files: a partition folded in between is then in the file list,
        # and _journal_rows leaves it out (see rtdata.history.journal).
        reads = _journals(root)
        files = _files(root, *prune)
        pending = _journal_rows(root, reads, set(files))
        con = duckdb.connect()
        try:
            con.execute("SET TimeZone = 'UTC'")
            con.register("journal_rows", pending)
            if files:
                union = f" UNION ALL BY NAME {_JOURNALS}" if pending.num_rows else ""
                con.sql(_PARQUET + union, params={"files": [str(p) for p in files]}).create_view(
                    "events"
                )
            else:
                con.sql(_JOURNALS).create_view("events")
            return con.sql(sql, params=params).to_arrow_table()
        except duckdb.IOException:
            if attempt == 2:
                raise
            log.debug("history: a file went away while reading (retention); listing again")
        finally:
            con.close()
    raise AssertionError("unreachable")


def _journals(root: Path) -> list[journal.JournalRead]:
    reads = []
    for path in journal.find_journals(root):
        try:
            read = journal.read(path)
        except OSError as exc:
            read = None
            _warn_once(root, path, f"not readable ({exc})")
        if read is None:
            continue
        if read.problem is not None and not read.live:
            _warn_once(root, path, f"{read.problem}; using its complete batches")
        reads.append(read)
    return reads


def _journal_rows(root: Path, reads: list[journal.JournalRead], listed: set[Path]) -> Any:
    """Return the journal rows of every partition not yet in a listed Parquet file."""
    tables = [SCHEMA.empty_table()]
    for read in reads:
        name = part_name(read.ident)
        if not any(path.name == name for path in listed):
            tables.append(read.rows)  # nothing folded yet: the common case
            continue
        for key, rows in split(read.rows):
            if folder(root, key) / name not in listed:
                tables.append(rows)
    return pa.concat_tables(tables)


def _warn_once(root: Path, path: Path, problem: str) -> None:
    try:
        stat = path.stat()
    except OSError:
        return
    version = (stat.st_size, stat.st_mtime_ns, False)
    with _checked_lock:
        if _checked.get((root, path)) == version:
            return
        _checked[(root, path)] = version
    log.warning("history: skipping %s: %s", path, problem)


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
            if tables is not None and (value == NO_TABLE or unquote(value) not in tables):
                continue
            found += [path for path in _entries(table_dir) if _check(root, path, seen, "file")]
    if first is None and last is None and tables is None:  # saw everything: forget the gone
        seen.update(journal.find_journals(root))
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
            column = pa.nulls(rows, TYPES.get(name, pa.string()))
        column = column.cast(TYPES.get(name, pa.string()))
        if name in ("received_at", "commit_ts"):
            ns = column.cast(pa.int64()).fill_null(np.iinfo(np.int64).min).to_numpy()
            data[name] = pd.DatetimeIndex(ns.view("datetime64[ns]"), tz="UTC")
        elif name == "latency_ms":
            data[name] = column.to_numpy(zero_copy_only=False).astype(np.float64)
        elif name in CATEGORICAL:
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
