"""Column value casts (:func:`rtdata.server.values.coerce`) against Postgres's input rules.

Examples pin messages and SQLSTATEs observed on Postgres 18 (the embedded cluster); properties
(hypothesis) check the rules over whole ranges of input.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Context, Decimal
from typing import Any

import hypothesis.strategies as st
import pytest
from hypothesis import example, given

from rtdata.server.schema import Column
from rtdata.server.values import CastError, SqlState, coerce, comparable, json_bytes

RANGES = {"int2": 2**15, "int4": 2**31, "int8": 2**63}
PRETTY = {"int2": "smallint", "int4": "integer", "int8": "bigint"}


def _refusal(column: Column, value: Any) -> CastError:
    with pytest.raises(CastError) as caught:
        coerce(column, value)
    return caught.value


@given(st.sampled_from(sorted(RANGES)), st.integers())
def test_integers_cast_within_their_range_and_are_22003_outside(typ: str, number: int) -> None:
    column = Column("c", typ)
    if -RANGES[typ] <= number < RANGES[typ]:
        assert coerce(column, number) == number
        assert coerce(column, f" {number} ") == number
    else:
        error = _refusal(column, number)
        assert error.sqlstate is SqlState.NUMERIC_VALUE_OUT_OF_RANGE
        assert error.message == f'value "{number}" is out of range for type {PRETTY[typ]}'


@given(st.floats(allow_nan=False, allow_infinity=False))
def test_a_json_float_is_never_an_integer(number: float) -> None:
    # Postgres reads a JSON number's text; "10.0" and "1e+300" are not integer syntax.
    error = _refusal(Column("c", "int8"), number)
    assert error.sqlstate is SqlState.INVALID_TEXT_REPRESENTATION


@given(st.integers(min_value=10, max_value=2**62), st.data())
def test_underscores_between_digits_read_as_postgres_16_does(number: int, data: Any) -> None:
    digits = str(number)
    cut = data.draw(st.integers(min_value=1, max_value=len(digits) - 1))
    assert coerce(Column("c", "int8"), f"{digits[:cut]}_{digits[cut:]}") == number


@pytest.mark.parametrize("text", ["_10", "10_", "1__0", "١٢", "1.0", "0x", "", "1e3"])
def test_integer_syntax_postgres_refuses(text: str) -> None:
    error = _refusal(Column("c", "int4"), text)
    assert error.sqlstate is SqlState.INVALID_TEXT_REPRESENTATION
    assert error.message == f'invalid input syntax for type integer: "{text}"'


@pytest.mark.parametrize(("text", "number"), [("0x1F", 31), ("0o17", 15), ("-0b101", -5)])
def test_integer_prefixes(text: str, number: int) -> None:
    assert coerce(Column("c", "int4"), text) == number


@given(st.text())
def test_text_without_nul_is_kept_and_with_nul_is_22p05(text: str) -> None:
    column = Column("c", "text")
    if "\x00" in text:
        error = _refusal(column, text)
        assert (error.sqlstate, error.message) == (
            SqlState.UNTRANSLATABLE_CHARACTER,
            "unsupported Unicode escape sequence",
        )
    else:
        assert coerce(column, text) == text


@given(st.recursive(st.text(), lambda inner: st.lists(inner) | st.dictionaries(st.text(), inner)))
@example("\x00")  # a document's text that is only a NUL (found by CI)
def test_json_documents_refuse_a_nul_anywhere(document: Any) -> None:
    def has_nul(value: Any) -> bool:
        if isinstance(value, str):
            return "\x00" in value
        if isinstance(value, dict):
            return any(has_nul(k) or has_nul(v) for k, v in value.items())
        return isinstance(value, list) and any(has_nul(v) for v in value)

    column = Column("c", "jsonb")
    if has_nul(document):
        assert _refusal(column, document).sqlstate is SqlState.UNTRANSLATABLE_CHARACTER
    elif not isinstance(document, str):  # a JSON string is read as a document's text
        assert coerce(column, document) == document


@given(
    st.decimals(
        allow_nan=False, allow_infinity=False, places=4, min_value=-(10**6), max_value=10**6
    )
)
def test_numeric_rounds_to_its_scale_and_overflows_past_its_precision(number: Decimal) -> None:
    column = Column("c", "numeric", modifiers=(6, 2))
    rounded = number.quantize(Decimal("0.01"), rounding="ROUND_HALF_UP")
    if abs(rounded) < 10**4:
        assert Decimal(str(coerce(column, str(number)))) == rounded
    else:
        error = _refusal(column, str(number))
        assert (error.sqlstate, error.message) == (
            SqlState.NUMERIC_VALUE_OUT_OF_RANGE,
            "numeric field overflow",
        )


def test_real_range_and_float8_range() -> None:
    assert coerce(Column("c", "float8"), 1e300) == 1e300
    error = _refusal(Column("c", "float4"), 1e300)
    assert (error.sqlstate, error.message) == (
        SqlState.NUMERIC_VALUE_OUT_OF_RANGE,
        '"1e+300" is out of range for type real',
    )
    assert _refusal(Column("c", "float8"), "1e400").sqlstate is (
        SqlState.NUMERIC_VALUE_OUT_OF_RANGE
    )


@given(st.datetimes(min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 31)))
def test_iso_timestamps_round_trip(moment: datetime) -> None:
    text = moment.replace(tzinfo=UTC).isoformat()
    assert coerce(Column("c", "timestamptz"), text) == text
    assert coerce(Column("c", "timestamp"), moment.isoformat()) == moment.isoformat()


@pytest.mark.parametrize(
    ("typ", "text", "state"),
    [
        ("timestamptz", "2024-02-30T10:00:00Z", SqlState.DATETIME_FIELD_OVERFLOW),
        ("timestamptz", "2024-01-01 25:00", SqlState.DATETIME_FIELD_OVERFLOW),
        ("date", "2024-13-01", SqlState.DATETIME_FIELD_OVERFLOW),
        ("timestamptz", "nonsense", SqlState.INVALID_DATETIME_FORMAT),
        ("date", "2024-01-01garbage", SqlState.INVALID_DATETIME_FORMAT),
        ("timestamptz", "2024-01-01T00:00:00+25:00", SqlState.INVALID_TIME_ZONE_DISPLACEMENT),
    ],
)
def test_datetime_refusals(typ: str, text: str, state: SqlState) -> None:
    assert _refusal(Column("c", typ), text).sqlstate is state


def test_varchar_length_and_trailing_spaces() -> None:
    column = Column("c", "varchar", modifiers=(3,))
    assert coerce(column, "abc   ") == "abc"  # Postgres drops spaces past the length
    error = _refusal(column, "abcd")
    assert (error.sqlstate, error.message) == (
        SqlState.STRING_DATA_RIGHT_TRUNCATION,
        "value too long for type character varying(3)",
    )
    assert coerce(Column("c", "bpchar", modifiers=(3,)), "a") == "a  "


# ---------------------------------------------------------------- special values


def _postgres_json(number: float) -> Any:
    """How Postgres writes a float in JSON: a number, or text for NaN and the infinities."""
    if number != number:
        return "NaN"
    if number in (float("inf"), float("-inf")):
        return "Infinity" if number > 0 else "-Infinity"
    return number


@given(st.floats(allow_nan=True, allow_infinity=True), st.sampled_from(["float8", "numeric"]))
def test_every_double_is_read_from_its_text_and_written_as_valid_json(
    number: float, typ: str
) -> None:
    stored = coerce(Column("c", typ), str(number))  # "nan", "inf", "-inf", "1e+300", ...
    written = json.loads(json_bytes({"c": stored}), parse_constant=_refuse)["c"]  # no bare NaN
    expected = _postgres_json(number)
    if isinstance(expected, str):
        assert written == expected
    else:  # a numeric keeps the decimal digits of the text it was given
        assert Decimal(str(written)) == Decimal(str(number))


def _refuse(constant: str) -> None:
    raise AssertionError(f"{constant} is not JSON")


def test_special_values_stay_special_when_written_again() -> None:
    column = Column("c", "float8")
    stored = coerce(column, "-Infinity")
    assert json_bytes(coerce(column, stored)) == b'"-Infinity"'
    numeric = Column("c", "numeric")
    assert json_bytes(coerce(numeric, coerce(numeric, "NaN"))) == b'"NaN"'


def test_a_document_past_64_bits_with_a_nan_is_still_valid_json() -> None:
    stored = [coerce(Column("c", "numeric"), "NaN"), 10**30]
    assert json.loads(json_bytes(stored)) == ["NaN", 10**30]  # json keeps every digit


def test_a_constrained_numeric_holds_nan_but_no_infinity() -> None:
    column = Column("c", "numeric", modifiers=(6, 2))
    assert json_bytes(coerce(column, "nan")) == b'"NaN"'
    error = _refusal(column, "-inf")
    assert (error.sqlstate, error.message, error.detail) == (
        SqlState.NUMERIC_VALUE_OUT_OF_RANGE,
        "numeric field overflow",
        "A field with precision 6, scale 2 cannot hold an infinite value.",
    )


@pytest.mark.parametrize("typ", ["timestamptz", "timestamp", "date"])
def test_infinities_bound_every_moment_and_equal_only_themselves(typ: str) -> None:
    column = Column("c", typ)
    moments = [coerce(column, v) for v in ["infinity", "2024-05-01", "-infinity", "epoch"]]
    ordered = sorted(moments, key=lambda v: comparable(column, v))
    assert ordered[0] == "-infinity"
    assert ordered[-1] == "infinity"
    assert ordered[1].startswith("1970-01-01")
    assert ordered[2].startswith("2024-05-01")
    assert comparable(column, "infinity") == comparable(column, coerce(column, " +Infinity "))
    assert comparable(column, "infinity") != comparable(column, "-infinity")


def test_date_words_are_read_as_of_now_in_utc() -> None:
    before = datetime.now(UTC)
    now = datetime.fromisoformat(coerce(Column("c", "timestamptz"), "now"))
    after = datetime.now(UTC)
    assert before <= now <= after
    today = coerce(Column("c", "date"), "today")
    assert today in {before.date().isoformat(), after.date().isoformat()}
    assert coerce(Column("c", "timestamp"), "epoch") == "1970-01-01T00:00:00"


@given(
    st.decimals(allow_nan=False, allow_infinity=False),
    st.integers(1, 40),
    st.integers(0, 10),
)
@example(Decimal("1E+30"), 12, 2)  # found by make explore: a 500 on the in-memory database
def test_a_constrained_numeric_casts_or_overflows_never_crashes(
    number: Decimal, precision: int, scale: int
) -> None:
    column = Column("c", "numeric", modifiers=(precision, scale))
    limit = Decimal(10) ** (precision - scale)
    exponent = number.as_tuple().exponent
    assert isinstance(exponent, int)
    unreadable = (number and number.adjusted() >= 131072) or -exponent > 16383  # Postgres's
    too_big = bool(number) and number.adjusted() >= precision - scale
    room = Context(prec=precision + 2)

    def rounds_past_limit() -> bool:
        rounded = number.quantize(Decimal(10) ** -scale, rounding=ROUND_HALF_UP, context=room)
        return abs(rounded) >= limit

    if unreadable or too_big or rounds_past_limit():
        with pytest.raises(CastError) as caught:
            coerce(column, str(number))
        assert caught.value.sqlstate is SqlState.NUMERIC_VALUE_OUT_OF_RANGE
    else:
        assert abs(Decimal(str(coerce(column, str(number))))) < limit
