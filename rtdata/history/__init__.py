"""Event history on disk: a journal for what just arrived, Parquet files for the rest.

Layout under the history root (hive partitions; ``_none`` holds events without a table)::

    .journal-20240501T100000123456Z-000001.arrows          the open journal (hidden)
    date=2024-05-01/table=orders/part-20240501T100000123456Z-000001.parquet

:class:`HistoryWriter` takes events from the collector thread (``append`` is one deque append)
and handles them on its own thread, so the collector's loop never waits on the disk. At least
every ``flush_s`` it converts the queued events to Arrow (one C-level call per 4,096 events,
its only work that holds the GIL) and appends them to its journal
(:mod:`rtdata.history.journal`), an Arrow IPC stream. A crash therefore loses at most about
``flush_s`` of events.
When the journal reaches ``rotate_bytes`` or ``rotate_s``, and on :meth:`HistoryWriter.flush`
and :meth:`HistoryWriter.close`, it is folded into one Parquet file per (day, table) partition,
each written under a temporary name, fsynced and renamed into place, so a visible file is
always complete. The next writer folds the journals a crash left behind.

:func:`load`, :func:`query` and :func:`aggregate_by_table_hour` read every valid Parquet file
with DuckDB's ``read_parquet(..., union_by_name=true)`` (files written with fewer or more
columns load side by side; missing columns come back as nulls), together with the rows still
in journals.
"""

from rtdata.history.layout import SCHEMA
from rtdata.history.reader import aggregate_by_table_hour, load, query
from rtdata.history.replay import rebuild_tables
from rtdata.history.writer import HistoryStats, HistoryWriter

__all__ = [
    "SCHEMA",
    "HistoryStats",
    "HistoryWriter",
    "aggregate_by_table_hour",
    "load",
    "query",
    "rebuild_tables",
]
