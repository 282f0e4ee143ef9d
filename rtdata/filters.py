"""The postgres_changes / PostgREST filter grammar: parse ``column=op.value`` and evaluate it.

One grammar serves realtime bindings (``filter: "status=eq.pending,priority=lte.2"``) and REST
query strings (``?status=eq.pending``). Pure functions: no I/O.

Supported now: ``eq, neq, lt, lte, gt, gte, in`` and the ``not.`` prefix; comma-separated
segments are ANDed (commas inside ``(...)`` are not separators). Other operators of the current
server are rejected with :class:`FilterError` naming them.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final

__all__ = ["OPERATORS", "Condition", "FilterError", "matches", "parse_condition", "parse_filter"]


class FilterError(ValueError):
    """A filter that does not follow the grammar; the text names the offending part."""


_COMPARE: Final[dict[str, Callable[[Any, Any], bool]]] = {
    "eq": operator.eq,
    "neq": operator.ne,
    "lt": operator.lt,
    "lte": operator.le,
    "gt": operator.gt,
    "gte": operator.ge,
}
OPERATORS: Final = frozenset({*_COMPARE, "in"})
"""Operators this module evaluates."""

_MAX_IN_VALUES: Final = 100


@dataclass(frozen=True, slots=True)
class Condition:
    """One parsed filter segment.

    Attributes:
        column: Column name.
        op: Operator name, one of :data:`OPERATORS`.
        value: The raw text value, or a tuple of raw texts for ``in``.
        negate: True when the segment had the ``not.`` prefix.
    """

    column: str
    op: str
    value: str | tuple[str, ...]
    negate: bool = False


def parse_condition(column: str, expression: str) -> Condition:
    """Parse the right-hand side of one segment, for example ``"not.in.(1,2)"``.

    Raises:
        FilterError: Unknown operator, missing value, or a malformed ``in`` list.
    """
    if not column:
        raise FilterError(f"filter {column}={expression!r} has no column name")
    negate = expression.startswith("not.")
    rest = expression[4:] if negate else expression
    op, dot, raw = rest.partition(".")
    if not dot:
        raise FilterError(f"filter {column}={expression!r} must look like column=op.value")
    if op not in OPERATORS:
        raise FilterError(f"filter {column}={expression!r} uses unsupported operator {op!r}")
    if op == "in":
        if not (raw.startswith("(") and raw.endswith(")")):
            raise FilterError(f"filter {column}={expression!r}: 'in' needs a list like (a,b)")
        values = tuple(_split_top_level(raw[1:-1]))
        if len(values) > _MAX_IN_VALUES:
            raise FilterError(f"filter {column}=in.(...) has more than {_MAX_IN_VALUES} values")
        return Condition(column, op, tuple(_unquote(v) for v in values), negate)
    return Condition(column, op, _unquote(raw), negate)


def parse_filter(text: str | None) -> tuple[Condition, ...]:
    """Parse a realtime binding filter such as ``"status=eq.pending,priority=lte.2"``.

    An empty or missing filter gives no conditions (everything matches).

    Raises:
        FilterError: A segment does not follow the grammar.
    """
    if not text:
        return ()
    conditions = []
    for segment in _split_top_level(text):
        column, eq, expression = segment.partition("=")
        if not eq:
            raise FilterError(f"filter segment {segment!r} must look like column=op.value")
        conditions.append(parse_condition(column.strip(), expression.strip()))
    return tuple(conditions)


def matches(
    conditions: Iterable[Condition],
    row: Mapping[str, Any],
    cast: Callable[[str, str], Any],
    comparable: Callable[[str, Any], Any] = lambda _column, value: value,
) -> bool:
    """Tell whether ``row`` satisfies every condition.

    A condition on a column missing from ``row`` fails, as the server fails closed. A ``NULL``
    value never satisfies a comparison (SQL three-valued logic), negated or not.

    Args:
        conditions: Parsed conditions, ANDed.
        row: Column values.
        cast: ``cast(column, text)`` turns a filter's raw text into the column's value type;
            it raises ``ValueError`` when the text cannot be cast.
        comparable: ``comparable(column, value)`` maps a stored value to one that orders like
            Postgres (for example timestamps to datetimes); identity by default.
    """
    for cond in conditions:
        if cond.column not in row:
            return False
        actual = row[cond.column]
        if actual is None:
            return False
        left = comparable(cond.column, actual)
        if cond.op == "in":
            assert isinstance(cond.value, tuple)
            wanted = {comparable(cond.column, cast(cond.column, v)) for v in cond.value}
            result = left in wanted
        else:
            assert isinstance(cond.value, str)
            right = comparable(cond.column, cast(cond.column, cond.value))
            try:
                result = _COMPARE[cond.op](left, right)
            except TypeError:
                result = False
        if result == cond.negate:
            return False
    return True


def _split_top_level(text: str) -> list[str]:
    parts: list[str] = []
    current: list[str] = []
    depth, quoted = 0, False
    for ch in text:
        if ch == '"':
            quoted = not quoted
        elif not quoted and ch == "(":
            depth += 1
        elif not quoted and ch == ")":
            depth -= 1
        if ch == "," and depth == 0 and not quoted:
            parts.append("".join(current))
            current = []
        else:
            current.append(ch)
    parts.append("".join(current))
    return [p for p in (part.strip() for part in parts) if p]


def _unquote(value: str) -> str:
    value = value.strip()
    if len(value) >= 2 and value[0] == value[-1] == '"':
        return value[1:-1]
    return value
