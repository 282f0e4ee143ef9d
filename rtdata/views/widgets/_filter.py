"""Widget filters: the realtime filter grammar, plus comparisons with the render time and between
two columns of a row.

A widget's filter (a tile's ``filter``, a queue's, a breakdown's, a feed's, a ``toast_filter``)
is a realtime filter (:mod:`rtdata.filters`: ``col=op.value`` segments, ANDed) in which the value
of ``eq``, ``neq``, ``lt``, ``lte``, ``gt`` and ``gte`` (with or without ``not.``) may also be:

- ``now()``, ``now()-15m``, ``now()+1d``: the render time, moved by a duration (a number and one
  of ``s``, ``m``, ``h``, ``d``): ``expires_at=lt.now()`` keeps rows whose time has passed,
  ``created_at=gte.now()-15m`` the rows of the last quarter of an hour;
- ``col(name)``: column ``name`` of the same row: ``finished_at=gt.col(expires_at)``.

Both are read case-insensitively; a double-quoted value (``"now()"``) stays the text it is. They
belong to the dashboard only: Supabase Realtime and PostgREST compare a column with a constant,
so :func:`rtdata.filters.parse_filter`, which the local server and the bindings use, reads
``now()`` as text (which a time column then refuses to cast).

Evaluation keeps SQL's three-valued logic (only true matches, ``not.`` of unknown is unknown):

- A *time* is a ``datetime``, or ISO-8601 text as Postgres and PostgREST write it
  (``2024-05-01T10:00:00+00:00``, ``2024-05-01 10:00:00.5+00``, ``...Z``, a date); without an
  offset it is UTC. ``now()`` compares the column's value as a time with the render time plus
  the duration; a null or a value that is not a time is unknown.
- ``col(name)`` compares two numbers as numbers, two booleans as booleans, two times as times
  (text that reads as a time counts as one), and two other texts by code point; a null on
  either side, or values of different kinds, is unknown.

Pure functions: the render time is always an argument, never read from the clock.
"""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final

import numpy as np
import pandas as pd

from rtdata.filters import Condition, FilterError, parse_condition, split_filter

__all__ = [
    "COMPARISONS",
    "MAX_OFFSET_S",
    "ColumnRef",
    "Comparison",
    "RelativeTime",
    "WidgetCondition",
    "comparison_test",
    "filter_columns",
    "parse_widget_filter",
    "time_ns",
]

COMPARISONS: Final[Mapping[str, Callable[[Any, Any], bool]]] = {
    "eq": operator.eq,
    "neq": operator.ne,
    "lt": operator.lt,
    "lte": operator.le,
    "gt": operator.gt,
    "gte": operator.ge,
}
"""The operators whose value may be ``now()`` or ``col(name)``."""

MAX_OFFSET_S: Final = 10_000 * 86400
"""The longest duration after ``now()``: 10,000 days."""

_UNIT_S: Final = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_NOW: Final = re.compile(r"now\(\)\s*(?:([+-])\s*(\d+(?:\.\d+)?)\s*([smhd]))?", re.I | re.A)
_COLUMN: Final = re.compile(r"col\(\s*([^\s(),\"]+)\s*\)", re.I)
# ISO-8601 as Postgres and PostgREST write times and dates; anything else is not a time.
_TIME_TEXT: Final = re.compile(
    r"\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?)?(?:Z|[+-]\d{2}(?::?\d{2})?)?",
    re.A,
)
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


def time_ns(value: Any) -> int | None:
    """Return a time as UTC epoch nanoseconds (at microsecond precision), or ``None`` when
    ``value`` is not a time (see the module docstring) or is null."""
    if isinstance(value, str):
        if _TIME_TEXT.fullmatch(value) is None:
            return None
        try:
            value = datetime.fromisoformat(value)
        except ValueError:  # a month 13, an hour 25: not a time
            return None
    if not isinstance(value, datetime) or value is pd.NaT:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return int((value - _EPOCH) // _MICROSECOND) * 1000


def _scalar(value: Any) -> Any:
    """A cell as its JSON value: NumPy scalars as Python ones, NaN, NaT and NA as ``None``."""
    if isinstance(value, np.generic):
        value = value.item()
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def _comparable(left: Any, right: Any) -> tuple[Any, Any] | None:
    """The two values as keys that compare the way the module docstring says, or ``None``
    when the comparison is unknown."""
    left, right = _scalar(left), _scalar(right)
    if left is None or right is None:
        return None
    if isinstance(left, bool) or isinstance(right, bool):
        return (left, right) if isinstance(left, bool) and isinstance(right, bool) else None
    if isinstance(left, int | float) and isinstance(right, int | float):
        return left, right
    if isinstance(left, str | datetime) and isinstance(right, str | datetime):
        left_ns, right_ns = time_ns(left), time_ns(right)
        if left_ns is not None and right_ns is not None:
            return left_ns, right_ns
        if isinstance(left, str) and isinstance(right, str):
            return left, right
    return None


def comparison_test(
    condition: Comparison, now: datetime | None
) -> Callable[[Mapping[str, Any]], bool | None]:
    """Compile a comparison into a row test: ``True``, ``False``, or ``None`` for unknown (a
    null, a value of another kind, or a column the row lacks).

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
    if now is None:
        raise ValueError(f"filter {condition.text()!r} compares with now(): pass the render time")
    target_ns = time_ns(now)
    assert target_ns is not None  # a datetime is a time
    target_ns += round(operand.offset_s * 1e9)

    def relative(row: Mapping[str, Any]) -> bool | None:
        if column not in row:
            return None
        at_ns = time_ns(_scalar(row[column]))
        return verdict(None if at_ns is None else bool(compare(at_ns, target_ns)))

    return relative
