"""Widget filters: the realtime filter grammar, plus comparisons with the render time and between
two columns of a row.

A widget's filter (a tile's ``filter``, a queue's, a breakdown's, a feed's, a ``toast_filter``)
is a realtime filter (:mod:`rtdata.filters`: ``col=op.value`` segments, ANDed) in which the value
of ``eq``, ``neq``, ``lt``, ``lte``, ``gt`` and ``gte`` (with or without ``not.``) may also be:

- ``now()``, ``now()-15m``, ``now()+1.5h``: the render time, moved by a duration (a number and
  one of ``s``, ``m``, ``h``, ``d``, at most :data:`MAX_OFFSET_S`): ``expires_at=lt.now()`` keeps
  rows whose time has passed, ``created_at=gte.now()-15m`` the rows of the last quarter hour;
- ``col(name)``: column ``name`` of the same row: ``finished_at=gt.col(expires_at)``.

Both are read case-insensitively; a double-quoted value (``"now()"``) stays the text it is. They
belong to the dashboard only: Supabase Realtime and PostgREST compare a column with a constant,
so :func:`rtdata.filters.parse_filter`, which the local server and the bindings use, reads
``now()`` as text (which a time column then refuses to cast).

Evaluation keeps SQL's three-valued logic (only true matches, ``not.`` of unknown is unknown):

- A *time* is a ``datetime``, or ISO-8601 text that begins with a date, as Postgres and
  PostgREST write times (``2024-05-01T10:00:00+00:00``, ``2024-05-01 10:00:00.5+00``, ``...Z``,
  a date alone); without an offset it is UTC. ``now()`` compares the column's value as a time
  with the render time plus the duration; a null or a value that is not a time is unknown.
- ``col(name)`` compares two numbers as numbers, two booleans as booleans, two times as times
  (text that reads as a time counts as one), and two other texts by code point; a null on
  either side, or values of different kinds, is unknown.

Pure functions: the render time is always an argument, never read from the clock.
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Callable, Hashable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final

import numpy as np
import numpy.typing as npt
import pandas as pd

from rtdata.filters import COMPARE, Condition, FilterError, parse_condition, split_filter

__all__ = [
    "COMPARISONS",
    "MAX_OFFSET_S",
    "ColumnRef",
    "Comparison",
    "RelativeTime",
    "WidgetCondition",
    "comparison_mask",
    "comparison_test",
    "filter_columns",
    "parse_widget_filter",
    "time_us",
]

COMPARISONS: Final = COMPARE
"""The operators whose value may be ``now()`` or ``col(name)``."""

MAX_OFFSET_S: Final = 10_000 * 86400
"""The longest duration after ``now()``: 10,000 days."""

_UNIT_S: Final = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_NOW: Final = re.compile(r"now\(\)\s*(?:([+-])\s*(\d+(?:\.\d+)?)\s*([smhd]))?", re.I | re.A)
_COLUMN: Final = re.compile(r"col\(\s*([^\s(),\"]+)\s*\)", re.I)
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND: Final = timedelta(microseconds=1)


@dataclass(frozen=True, slots=True)
class RelativeTime:
    """The value ``now()`` moved by a duration.

    Attributes:
        offset_s: Seconds added to the render time (negative: earlier).
    """

    offset_s: float = 0.0

    def text(self) -> str:
        """Return the value as written in a filter, in the largest unit that counts the
        offset whole (``now()-15m`` for -900 s), else in seconds."""
        if not self.offset_s:
            return "now()"
        size_s = abs(self.offset_s)
        unit = next((u for u, s in reversed(_UNIT_S.items()) if size_s % s == 0), "s")
        return f"now(){'-' if self.offset_s < 0 else '+'}{size_s / _UNIT_S[unit]:g}{unit}"


@dataclass(frozen=True, slots=True)
class ColumnRef:
    """The value ``col(name)``: another column of the same row.

    Attributes:
        column: The column read.
    """

    column: str

    def text(self) -> str:
        """Return the value as written in a filter."""
        return f"col({self.column})"


@dataclass(frozen=True, slots=True)
class Comparison:
    """A filter segment comparing a column with ``now()`` or with another column.

    Attributes:
        column: The column on the left.
        op: One of :data:`COMPARISONS`.
        operand: What it is compared with.
        negate: The segment had the ``not.`` prefix.
    """

    column: str
    op: str
    operand: RelativeTime | ColumnRef
    negate: bool = False

    def text(self) -> str:
        """Return the segment as written in a filter, for messages."""
        return f"{self.column}={'not.' if self.negate else ''}{self.op}.{self.operand.text()}"


WidgetCondition = Condition | Comparison
"""One segment of a widget filter."""


def parse_widget_filter(text: str | None) -> tuple[WidgetCondition, ...]:
    """Parse a widget filter: the realtime grammar, with ``now()`` and ``col(name)`` values.

    An empty, blank or missing filter gives no conditions (everything matches).

    Raises:
        rtdata.filters.FilterError: A segment does not follow the grammar, a duration after
            ``now()`` or a ``col()`` is malformed, or ``now()``/``col()`` follows an operator
            other than :data:`COMPARISONS`; the reason names the bad part.
    """
    return tuple(_parse_segment(column, expression) for column, expression in split_filter(text))


def _parse_segment(column: str, expression: str) -> WidgetCondition:
    segment = f"{column}={expression}"
    negate = expression.startswith("not.")
    op, dot, raw = (expression[4:] if negate else expression).partition(".")
    value = raw.strip()
    if not dot or not value.lower().startswith(("now(", "col(")):
        return parse_condition(column, expression)
    if not column:
        raise FilterError("no column name", segment)
    if op not in COMPARISONS:
        raise FilterError(
            f"{value!r} compares with eq, neq, lt, lte, gt or gte only, not {op!r} "
            '(quote it, "...", to mean the text)',
            segment,
        )
    operand: RelativeTime | ColumnRef
    if value.lower().startswith("now("):
        operand = _relative_time(value, segment)
    else:
        match = _COLUMN.fullmatch(value)
        if match is None:
            raise FilterError(
                f"{value!r} is not a column reference; write col(name) with one column name",
                segment,
            )
        operand = ColumnRef(match.group(1))
    return Comparison(column, op, operand, negate)


def _relative_time(value: str, segment: str) -> RelativeTime:
    match = _NOW.fullmatch(value)
    if match is None:
        if not value.lower().startswith("now()"):
            raise FilterError(f"now() takes no argument, not {value!r}", segment)
        raise FilterError(
            f"bad duration {value[5:].strip()!r} in {value!r}; write now(), now()-15m or "
            "now()+2h (a number and s, m, h or d)",
            segment,
        )
    sign, number, unit = match.groups()
    if sign is None:
        return RelativeTime()
    offset_s = float(number) * _UNIT_S[unit.lower()]
    if offset_s > MAX_OFFSET_S:
        raise FilterError(
            f"duration {number}{unit} in {value!r} is longer than {MAX_OFFSET_S // 86400} days",
            segment,
        )
    return RelativeTime(-offset_s if sign == "-" else offset_s)


def filter_columns(conditions: Iterable[WidgetCondition]) -> list[str]:
    """Every column the conditions read, left-hand columns and ``col()`` references alike,
    each once, in order."""
    names: dict[str, None] = {}
    for condition in conditions:
        names[condition.column] = None
        if isinstance(condition, Comparison) and isinstance(condition.operand, ColumnRef):
            names[condition.operand.column] = None
    return list(names)


# ---------------------------------------------------------------- evaluation

# What a value is, for col(): values of the same kind compare; NULL is also anything that is
# neither a boolean, a number, text nor a datetime (a JSON object or array).
_NULL, _BOOL, _NUMBER, _TEXT, _DATETIME = range(5)


def time_us(value: Any) -> int | None:
    """Return a time as UTC epoch microseconds, or ``None`` when ``value`` is not a time (see
    the module docstring) or is null."""
    if isinstance(value, str):
        return _text_us(value)
    if not isinstance(value, datetime) or value is pd.NaT:
        return None
    return _datetime_us(value)


@functools.lru_cache(maxsize=32768)  # a table's times are read again at every refresh
def _text_us(text: str) -> int | None:
    # ISO 8601 that begins with a YYYY-MM-DD date, as Postgres and PostgREST write times (and
    # dates); not the basic (20240501) nor the week (2024-W18) forms fromisoformat also reads.
    if len(text) < 10 or text[4] != "-" or text[7] != "-":
        return None
    try:
        return _datetime_us(datetime.fromisoformat(text))
    except ValueError:  # a month 13, an hour 25: not a time
        return None


def _datetime_us(value: datetime) -> int:
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return (value - _EPOCH) // _MICROSECOND


def _scalar(value: Any) -> Any:
    """A cell as its JSON value: NumPy scalars as Python ones, NaN, NaT and NA as ``None``."""
    if isinstance(value, np.generic):
        value = value.item()
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def _kind(value: Any) -> int:
    """The kind of a value :func:`_scalar` returned."""
    if isinstance(value, bool):
        return _BOOL
    if isinstance(value, int | float):
        return _NUMBER
    if isinstance(value, str):
        return _TEXT
    if isinstance(value, datetime):
        return _DATETIME
    return _NULL


def _comparable(left: Any, right: Any) -> tuple[Any, Any] | None:
    """The two values as keys that compare the way the module docstring says, or ``None``
    when the comparison is unknown."""
    left, right = _scalar(left), _scalar(right)
    left_kind, right_kind = _kind(left), _kind(right)
    if left_kind in (_TEXT, _DATETIME) and right_kind in (_TEXT, _DATETIME):
        left_us, right_us = time_us(left), time_us(right)
        if left_us is not None and right_us is not None:
            return left_us, right_us
    if left_kind == right_kind and left_kind in (_BOOL, _NUMBER, _TEXT):
        return left, right
    return None


def _target_us(condition: Comparison, operand: RelativeTime, now: datetime | None) -> int:
    if now is None:
        raise ValueError(f"filter {condition.text()!r} compares with now(): pass the render time")
    return _datetime_us(now) + round(operand.offset_s * 1e6)


def comparison_test(
    condition: Comparison, now: datetime | None
) -> Callable[[Mapping[str, Any]], bool | None]:
    """Compile a comparison into a record test: ``True``, ``False``, or ``None`` for unknown
    (a null, a value of another kind, or a column the record lacks).

    Args:
        condition: The comparison.
        now: The render time, tz-aware; required when the condition compares with ``now()``.

    Raises:
        ValueError: The condition compares with ``now()`` and ``now`` is ``None``.
    """
    compare = COMPARISONS[condition.op]
    column, operand, negate = condition.column, condition.operand, condition.negate

    def verdict(result: bool | None) -> bool | None:
        return None if result is None else result != negate

    if isinstance(operand, ColumnRef):
        other = operand.column

        def between(row: Mapping[str, Any]) -> bool | None:
            if column not in row or other not in row:
                return None
            keys = _comparable(row[column], row[other])
            return verdict(None if keys is None else bool(compare(*keys)))

        return between
    target_us = _target_us(condition, operand, now)

    def relative(row: Mapping[str, Any]) -> bool | None:
        if column not in row:
            return None
        at_us = time_us(_scalar(row[column]))
        return verdict(None if at_us is None else bool(compare(at_us, target_us)))

    return relative


@dataclass(frozen=True, slots=True)
class _Column:
    """A column's values row by row, read once per distinct value."""

    codes: npt.NDArray[np.intp]  # per row, its distinct value
    distinct: npt.NDArray[np.object_]  # the distinct values, as :func:`_scalar` returns them

    def times(self) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.bool_]]:
        """Per row, its time in epoch microseconds (0 where none), and whether it has one."""
        times = [time_us(v) for v in self.distinct]
        n = len(times)
        us = np.fromiter((t or 0 for t in times), np.int64, n)
        return us[self.codes], np.fromiter((t is not None for t in times), bool, n)[self.codes]

    def kinds(self) -> npt.NDArray[np.int8]:
        """Per row, the kind of its value."""
        return np.fromiter((_kind(v) for v in self.distinct), np.int8, len(self.distinct))[
            self.codes
        ]


def _read(column: pd.Series) -> _Column:
    raw = column.to_numpy(dtype=object)
    try:
        codes, uniques = pd.factorize(raw, use_na_sentinel=False)
    except TypeError:  # JSON objects and arrays, which compare with nothing: as nulls
        raw = np.array([v if isinstance(v, Hashable) else None for v in raw], dtype=object)
        codes, uniques = pd.factorize(raw, use_na_sentinel=False)
    distinct = np.empty(len(uniques), dtype=object)
    distinct[:] = [_scalar(v) for v in uniques]
    return _Column(np.asarray(codes, dtype=np.intp), distinct)


def comparison_mask(
    condition: Comparison, rows: pd.DataFrame, now: datetime | None
) -> npt.NDArray[np.bool_]:
    """Return which rows a comparison keeps: :func:`comparison_test` over whole columns, each
    value parsed once per distinct value.

    Raises:
        KeyError: ``rows`` lacks a column the comparison reads.
        ValueError: The condition compares with ``now()`` and ``now`` is ``None``.
    """
    compare = COMPARISONS[condition.op]
    left = _read(rows[condition.column])
    left_us, left_timed = left.times()
    if isinstance(condition.operand, RelativeTime):
        target_us = _target_us(condition, condition.operand, now)
        result = np.asarray(compare(left_us, target_us), dtype=bool)
        return np.asarray(left_timed & (result != condition.negate), dtype=bool)
    right = _read(rows[condition.operand.column])
    right_us, right_timed = right.times()
    timed = left_timed & right_timed
    left_kinds = left.kinds()
    same = (left_kinds == right.kinds()) & np.isin(left_kinds, (_BOOL, _NUMBER, _TEXT)) & ~timed
    left_values, right_values = left.distinct[left.codes], right.distinct[right.codes]
    result = np.zeros(len(rows), dtype=bool)
    result[timed] = compare(left_us[timed], right_us[timed])
    result[same] = np.asarray(compare(left_values[same], right_values[same]), dtype=bool)
    return np.asarray((timed | same) & (result != condition.negate), dtype=bool)
