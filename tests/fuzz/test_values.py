"""Fuzz: value coercion (:func:`rtdata.server.values.coerce`), what the in-memory backend stores.

Any JSON value for a column of any supported type is accepted in the type's JSON form or
refused with a :class:`rtdata.server.values.CastError` carrying a SQLSTATE, never another
exception; what is accepted keeps the type's invariants (integers in range, no NUL in text,
numbers finite where the type has no infinity), so a stored row can always be read back.
"""

from __future__ import annotations

from typing import Any

import hypothesis.strategies as st
from hypothesis import HealthCheck, given, settings

from rtdata.server.schema import Column
from rtdata.server.values import CastError, SqlState, coerce, json_bytes

FAST = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

TYPES = ["int2", "int4", "int8", "float4", "float8", "numeric", "bool", "text", "varchar",
         "uuid", "timestamptz", "timestamp", "date", "json", "jsonb", "_int4", "_text"]  # fmt: skip
RANGES = {"int2": 2**15, "int4": 2**31, "int8": 2**63}

scalars = (
    st.none()
    | st.booleans()
    | st.integers(-(2**80), 2**80)
    | st.floats()
    | st.text(max_size=30)
    | st.sampled_from(["1_0", "0x1F", "1e300", "NaN", "-Infinity", "2024-02-30", "\x00", "é"])
)
values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=10,
)


def _outcome(column: Column, value: Any) -> Any:
    try:
        return coerce(column, value)
    except CastError as exc:
        return exc


@FAST
@given(st.sampled_from(TYPES), values)
def test_any_value_for_any_type_is_cast_or_refused_with_a_sqlstate(kind: str, value: Any) -> None:
    column = Column("c", kind)
    result = _outcome(column, value)
    if isinstance(result, CastError):
        assert isinstance(result.sqlstate, SqlState)
        assert str(result)
        return
    if value is None:
        assert result is None
        return
    if kind in RANGES:
        assert isinstance(result, int)
        assert not isinstance(result, bool)
        assert -RANGES[kind] <= result < RANGES[kind]
    elif kind in ("float4", "float8"):
        assert isinstance(result, float | int)
    elif kind in ("text", "varchar"):
        assert isinstance(result, str)
        assert "\x00" not in result
    elif kind in ("json", "jsonb"):
        assert "\\u0000" not in json_bytes(result).decode()  # what the server sends back
    elif kind == "numeric":
        assert json_bytes(result)  # digits past 64 bits too
    elif kind.startswith("_"):
        assert isinstance(result, list)


@FAST
@given(st.sampled_from(["active", "closed"]) | st.text(max_size=10))
def test_an_enum_column_takes_only_its_labels(value: str) -> None:
    column = Column("status", "ticket_status", enum_values=("active", "closed"))
    result = _outcome(column, value)
    if isinstance(result, CastError):
        assert result.sqlstate is SqlState.INVALID_TEXT_REPRESENTATION
    else:
        assert result in ("active", "closed")
