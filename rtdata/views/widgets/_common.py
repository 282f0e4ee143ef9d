"""What the widgets share: filter masks over frames, timestamps, keys and status entries.

Private to :mod:`rtdata.views.widgets`; every function is pure.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

import numpy as np
import numpy.typing as npt
import pandas as pd

from rtdata.events import decode_record, field_column
from rtdata.filters import Condition, FilterError, predicate
from rtdata.views.widgets._filter import (
    Comparison,
    comparison_mask,
    filter_columns,
    parse_widget_filter,
)
from rtdata.views.widgets._spec import SpecError

ENTRY_COLUMNS: Final = ("key", "status", "entered_at", "group")
"""Columns of :func:`status_entries`."""

CHANGE_OPS: Final = ("INSERT", "UPDATE", "SNAPSHOT")
"""Event ops that carry a row's new values."""


def check_filter(field: str, text: str | None) -> None:
    """Raise ``ValueError`` naming ``field`` when ``text`` is not ``None`` or a valid widget
    filter (:func:`rtdata.views.widgets._filter.parse_widget_filter`)."""
    if text is not None and not isinstance(text, str):
        raise SpecError(
            field, f"{field}={text!r} must be a filter as text, such as 'status=eq.open'"
        )
    try:
        parse_widget_filter(text)
    except FilterError as exc:
        raise SpecError(field, f"{field}={text!r} is not a valid filter: {exc.reason}") from None


def check_name(field: str, value: object, *, optional: bool = False) -> None:
    """Raise ``ValueError`` naming ``field`` unless ``value`` is a non-blank string."""
    if value is None and optional:
        return
    if not isinstance(value, str) or not value.strip():
        raise SpecError(field, f"{field}={value!r} must be a non-empty name")


def plain(value: Any) -> Any:
    """Return a cell as the JSON value it came from: NaN, NaT and NA become ``None``, NumPy
    scalars Python ones."""
    if isinstance(value, np.generic):
        value = value.item()
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def _caster(sample: Any) -> Callable[[str, str], Any]:
    # Filter texts are cast by the type of the column's values, the way the server casts them
    # to the column type; a text that is not a number raises for a column of numbers.
    def cast(_column: str, text: str) -> Any:
        if isinstance(sample, bool):
            return text.lower() in ("true", "t", "1")
        if isinstance(sample, int | float):
            try:
                return int(text)
            except ValueError:
                return float(text)
        return text

    return cast


def _condition_mask(condition: Condition, column: pd.Series) -> npt.NDArray[np.bool_]:
    values = [plain(v) for v in column.to_numpy(dtype=object)]
    sample = next((v for v in values if v is not None), None)
    try:
        test = predicate((condition,), _caster(sample))
    except ValueError:  # a value that does not fit the column: no row matches (even neq)
        return np.zeros(len(values), dtype=bool)
    try:
        codes, uniques = pd.factorize(pd.Series(values, dtype=object), use_na_sentinel=False)
    except TypeError:  # unhashable JSON values (objects, arrays): one test per row
        return np.fromiter((test({condition.column: v}) for v in values), bool, len(values))
    verdicts = np.fromiter(
        (test({condition.column: plain(v)}) for v in uniques), bool, len(uniques)
    )
    return verdicts[codes]


def filter_mask(
    rows: pd.DataFrame, text: str | None, now: datetime | None = None
) -> npt.NDArray[np.bool_]:
    """Return which rows match a widget filter such as ``"status=eq.open,priority=lte.2"`` or
    ``"closed_at=gt.col(expires_at),created_at=gte.now()-1h"`` (see
    :mod:`rtdata.views.widgets._filter`).

    Each condition is tested once per distinct value of its column (a ``now()`` or ``col()``
    value is read once per distinct value, then compared column-wise), so the cost is one pass
    over the rows plus one test per distinct value. Missing values (``None``, NaN) are SQL
    NULL; a condition on a column the frame lacks matches no row, as on the server.

    Args:
        rows: The rows.
        text: The filter; ``None`` or blank keeps every row.
        now: The render time, tz-aware; required when the filter compares with ``now()``.

    Raises:
        rtdata.filters.FilterError: ``text`` does not parse.
        ValueError: The filter compares with ``now()`` and ``now`` is ``None``.
    """
    mask = np.ones(len(rows), dtype=bool)
    for condition in parse_widget_filter(text):
        if any(name not in rows.columns for name in filter_columns((condition,))):
            return np.zeros(len(rows), dtype=bool)
        if isinstance(condition, Comparison):
            mask &= comparison_mask(condition, rows, now)
        else:
            mask &= _condition_mask(condition, rows[condition.column])
    return mask


def timestamps(values: pd.Series) -> pd.Series:
    """Parse ISO-8601 texts to tz-aware UTC timestamps; what does not parse becomes NaT."""
    return pd.to_datetime(values, utc=True, format="ISO8601", errors="coerce")


def age_s(values: pd.Series, now: datetime) -> pd.Series:
    """Return ``now`` minus each ISO-8601 time in seconds, as floats (NaN where no time)."""
    seconds: pd.Series = (pd.Timestamp(now) - timestamps(values)).dt.total_seconds()
    return seconds.astype(float)


def key_text(value: Any) -> str | None:
    """Return a primary-key cell as the text events carry (``1``, not ``1.0``)."""
    value = plain(value)
    if value is None:
        return None
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def value_text(value: Any) -> str | None:
    """Return a cell as the text a config names it by (a TOML key is text): ``1`` and ``1.0``
    as ``"1"``, booleans as ``"true"`` and ``"false"``, ``None`` for a missing value."""
    value = plain(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    return key_text(value)


def value_texts(values: pd.Series) -> npt.NDArray[np.object_]:
    """Return :func:`value_text` of each cell, converting each distinct value once."""
    cells = values.to_numpy(dtype=object)
    # Factorising takes True, 1 and 1.0 for one value: a column mixing kinds (or holding JSON
    # objects and arrays, which do not hash) is converted cell by cell.
    if pd.api.types.infer_dtype(cells, skipna=True) not in ("mixed", "mixed-integer"):
        try:
            codes, uniques = pd.factorize(cells)
        except TypeError:
            pass
        else:  # the appended None is the text of code -1, a missing value
            texts = np.array([*(value_text(v) for v in uniques), None], dtype=object)
            return np.asarray(texts[codes], dtype=object)
    return np.array([value_text(v) for v in cells], dtype=object)


loads = decode_record
"""Parse an event's JSON record (:func:`rtdata.events.decode_record`)."""


def record_values(events: pd.DataFrame, field: str) -> npt.NDArray[np.object_]:
    """Return record field ``field`` of each event: its value in the decoded record, ``None``
    where the record is missing, not a JSON object or lacks it.

    A snapshot that was asked for the field (:meth:`rtdata.EventBuffer.snapshot`'s
    ``fields``) already holds it, decoded once per event for every reader; otherwise each
    record is decoded here.
    """
    column = field_column(field)
    if column in events.columns:
        return events[column].to_numpy(dtype=object)
    if "record" not in events.columns:  # a snapshot of other columns: no record to read
        return np.full(len(events), None, dtype=object)
    texts = events["record"].to_numpy(dtype=object)
    return np.fromiter((loads(text).get(field) for text in texts), dtype=object, count=len(texts))


def table_changes(events: pd.DataFrame, table: str, ops: tuple[str, ...]) -> pd.DataFrame:
    """Return the postgres_changes events of ``table`` with one of ``ops``, in buffer order."""
    if events.empty or "table" not in events.columns:
        return events.iloc[0:0]
    mask = (
        (events["kind"] == "postgres_changes")
        & (events["table"] == table)
        & events["op"].isin(list(ops))
    )
    return events[mask.to_numpy(dtype=bool)]


def event_times(changes: pd.DataFrame) -> pd.Series:
    """Return each event's commit time, or its receive time where it has none."""
    return changes["commit_ts"].where(changes["commit_ts"].notna(), changes["received_at"])


@dataclass(frozen=True, slots=True)
class KeyHistory:
    """What the events show of each key of a table, on integer codes: a key's code is its
    index in :attr:`keys`.

    Attributes:
        keys: Every key with an event, in order of first appearance.
        first_ns: Per code, the earliest event time (any op), in epoch nanoseconds.
        entry_codes: The key of each status entry (see :func:`status_entries`), oldest first.
        entry_status: The status each entry entered.
        entry_ns: When, in epoch nanoseconds.
        last_entry: Per code, the index of its newest entry, or -1 when it has none.
        group: Per code, its value of the group column in its newest record with a status;
            ``None`` without a group column.
    """

    keys: npt.NDArray[np.object_]
    first_ns: npt.NDArray[np.int64]
    entry_codes: npt.NDArray[np.intp]
    entry_status: npt.NDArray[np.object_]
    entry_ns: npt.NDArray[np.int64]
    last_entry: npt.NDArray[np.intp]
    group: npt.NDArray[np.object_] | None

    def codes_of(self, keys: Sequence[object]) -> npt.NDArray[np.intp]:
        """The code of each of ``keys``, -1 for a key with no event."""
        wanted = pd.Index(list(keys), dtype=object)
        return np.asarray(pd.Index(self.keys, dtype=object).get_indexer(wanted))

    def entries(self) -> pd.DataFrame:
        """The entries as a frame with the columns :data:`ENTRY_COLUMNS`."""
        return pd.DataFrame(
            {
                "key": pd.Series(self.keys[self.entry_codes], dtype=object),
                "status": pd.Series(self.entry_status, dtype=object),
                "entered_at": pd.Series(self.entry_ns.view("datetime64[ns]")).dt.tz_localize("UTC"),
                "group": pd.Series(
                    self.group[self.entry_codes]
                    if self.group is not None
                    else [None] * len(self.entry_codes),
                    dtype=object,
                ),
            },
            columns=list(ENTRY_COLUMNS),
        )


def key_history(
    events: pd.DataFrame, table: str, status_column: str, group_column: str | None = None
) -> KeyHistory:
    """Read each key of ``table`` from the events: when it was first seen, and when it entered
    each status (see :func:`status_entries`), keys factorised once."""
    changes = table_changes(events, table, (*CHANGE_OPS, "DELETE"))
    grouped = group_column is not None
    if changes.empty:  # perhaps without columns: a frame of no events at all
        none = np.empty(0, dtype=object)
        return KeyHistory(
            none, np.empty(0, np.int64), np.empty(0, np.intp), none, np.empty(0, np.int64),
            np.empty(0, np.intp), none if grouped else None,
        )  # fmt: skip
    codes, keys = pd.factorize(changes["key"].to_numpy(dtype=object))
    codes = np.asarray(codes, dtype=np.intp)
    keys = np.asarray(keys, dtype=object)
    times = event_times(changes).to_numpy(dtype="datetime64[ns]").view(np.int64)
    known = codes >= 0
    first_ns = np.full(len(keys), np.iinfo(np.int64).max, dtype=np.int64)
    np.minimum.at(first_ns, codes[known], times[known])
    status = record_values(changes, status_column)  # None for deletes: they hold no record
    group = record_values(changes, group_column) if group_column else None
    valid = np.flatnonzero(pd.notna(status) & known)
    latest = np.full(len(keys), None, dtype=object) if grouped else None
    last_entry = np.full(len(keys), -1, dtype=np.intp)
    if not len(valid):
        none = np.empty(0, dtype=object)
        return KeyHistory(
            keys, first_ns, np.empty(0, np.intp), none, np.empty(0, np.int64), last_entry, latest
        )
    key_codes, status, times = codes[valid], status[valid], times[valid]
    # Each key's records by time (then buffer order): a new entry where the key or the status
    # changes from the record before.
    order = np.lexsort((times, key_codes))
    by_key, by_status = key_codes[order], _codes(status)[order]
    starts = np.ones(len(order), dtype=bool)
    starts[1:] = (by_key[1:] != by_key[:-1]) | (by_status[1:] != by_status[:-1])
    is_entry = np.zeros(len(order), dtype=bool)
    is_entry[order[starts]] = True
    chronological = np.argsort(times, kind="stable")
    picked = chronological[is_entry[chronological]]
    if group is not None and latest is not None:
        last = np.ones(len(order), dtype=bool)
        last[:-1] = by_key[1:] != by_key[:-1]
        latest[by_key[last]] = group[valid][order[last]]
    entry_codes = key_codes[picked]
    # A key's newest entry: the first of it in the reversed entries.
    reversed_codes = entry_codes[::-1]
    found, first = np.unique(reversed_codes, return_index=True)
    last_entry[found] = len(entry_codes) - 1 - first
    return KeyHistory(
        keys, first_ns, entry_codes, status[picked], times[picked], last_entry, latest
    )


def status_entries(
    events: pd.DataFrame, table: str, status_column: str, group_column: str | None = None
) -> pd.DataFrame:
    """Return every time a key of ``table`` was seen entering a status, oldest first.

    A key enters a status at the first ``INSERT``, ``UPDATE`` or ``SNAPSHOT`` record that
    shows it there after a record that showed another status (or none). Times are commit
    times, or receive times where there is none (snapshots): a snapshot shows when the
    status was first seen, not when it was entered.

    Returns:
        A frame with the columns :data:`ENTRY_COLUMNS`; ``group`` is the key's value of
        ``group_column`` in its newest record (``None`` without a group column).
    """
    return key_history(events, table, status_column, group_column).entries()


def _codes(values: npt.NDArray[np.object_]) -> npt.NDArray[np.intp]:
    """One integer per distinct value; a value that cannot be hashed (a JSON list or object)
    is told apart by its text."""
    try:
        return np.asarray(pd.factorize(values)[0], dtype=np.intp)
    except TypeError:
        texts = np.array([repr(v) for v in values], dtype=object)
        return np.asarray(pd.factorize(texts)[0], dtype=np.intp)
