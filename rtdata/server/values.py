"""Column values: JSON values cast to a column's type and ordered the way Postgres orders them."""

from __future__ import annotations

import dataclasses
import enum
import functools
import json
import math
import re
import uuid
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Context, Decimal
from typing import Any, Final

import orjson

from rtdata.server.schema import Column

__all__ = [
    "CastError",
    "NonFinite",
    "SqlState",
    "coerce",
    "coerce_literal",
    "comparable",
    "json_bytes",
]

_INT_TYPES = {"int2", "int4", "int8"}
_FLOAT_TYPES = {"float4", "float8"}
_TEXT_TYPES = {"text", "varchar", "bpchar"}
_INT_RANGES: Mapping[str, tuple[int, int]] = {
    "int2": (-(2**15), 2**15 - 1),
    "int4": (-(2**31), 2**31 - 1),
    "int8": (-(2**63), 2**63 - 1),
}
_FLOAT4_MAX: Final = 3.4028234663852886e38
# Postgres's integer input (pg_strtoint, 16+): ASCII digits, "_" between digits, 0x/0o/0b.
_INTEGER: Final = re.compile(
    r"\s*([+-]?)(?:(\d+(?:_\d+)*)|0[xX]((?:_?[0-9a-fA-F])+)|0[oO]((?:_?[0-7])+)"
    r"|0[bB]((?:_?[01])+))\s*",
    re.ASCII,
)
_FLOAT: Final = re.compile(
    r"\s*[+-]?(?:(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?|inf|infinity|nan)\s*",
    re.ASCII | re.IGNORECASE,
)
_NUMERIC: Final = re.compile(
    r"\s*[+-]?(?:\d+(?:_\d+)*(?:\.(?:\d+(?:_\d+)*)?)?|\.\d+(?:_\d+)*)(?:[eE][+-]?\d+)?\s*",
    re.ASCII,
)
# ISO 8601 as Postgres reads it: date, optional time (T or space), optional zone.
_DATETIME: Final = re.compile(
    r"\s*(\d{4})-(\d{1,2})-(\d{1,2})"
    r"(?:[T ](\d{1,2}):(\d{1,2})(?::(\d{1,2})(?:\.(\d{1,6})\d*)?)?)?"
    r"\s*(Z|[+-]\d{1,2}(?::?\d{2})?)?\s*",
    re.ASCII | re.IGNORECASE,
)
_MAX_ZONE_S: Final = 15 * 3600 + 59 * 60 + 59  # Postgres: a zone within +-15:59:59
# numeric's special values (Postgres 14+), case-insensitive; "-NaN" is not one.
_NUMERIC_SPECIAL: Final[Mapping[str, float]] = {
    "nan": math.nan,
    **dict.fromkeys(("infinity", "+infinity", "inf", "+inf"), math.inf),
    **dict.fromkeys(("-infinity", "-inf"), -math.inf),
}
_NUMERIC_MAX_WEIGHT: Final = 131072  # digits before the point a numeric may have
_NUMERIC_MAX_SCALE: Final = 16383  # digits after it
_ENDLESS_TIMES: Final[Mapping[str, str]] = {
    "infinity": "infinity",
    "+infinity": "infinity",
    "-infinity": "-infinity",
}
_TIME_WORDS: Final = frozenset({"epoch", "now", "today", "tomorrow", "yesterday"})


class NonFinite(float):
    """A ``NaN`` or infinite ``real``, ``double precision`` or ``numeric``, as this store keeps it.

    It orders and compares as the float it is. JSON has no such numbers, so Postgres writes
    them as text, and so does :func:`json_bytes`: ``"NaN"``, ``"Infinity"``, ``"-Infinity"``.
    """

    __slots__ = ()

    @property
    def text(self) -> str:
        """Postgres's JSON text of the value."""
        if math.isnan(self):
            return "NaN"
        return "Infinity" if self > 0 else "-Infinity"


@functools.total_ordering
class _Endless:
    """A timestamp or date ``infinity`` (``sign`` 1) or ``-infinity`` (-1): after, or before,
    every other moment, and equal only to itself (a datetime defers to it when compared)."""

    __slots__ = ("sign",)

    def __init__(self, sign: int) -> None:
        self.sign = sign

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Endless) and other.sign == self.sign

    def __lt__(self, other: object) -> bool:
        return self.sign < other.sign if isinstance(other, _Endless) else self.sign < 0

    def __hash__(self) -> int:
        return hash(("endless", self.sign))

    def __repr__(self) -> str:
        return "infinity" if self.sign > 0 else "-infinity"


_ENDLESS: Final[Mapping[str, _Endless]] = {"infinity": _Endless(1), "-infinity": _Endless(-1)}


class SqlState(enum.Enum):
    """The Postgres SQLSTATEs a value's cast may fail with."""

    INVALID_TEXT_REPRESENTATION = "22P02"
    """The text is not of the type at all (``invalid input syntax``, an unknown enum label)."""
    NUMERIC_VALUE_OUT_OF_RANGE = "22003"
    """A number outside its type's range, or beyond a ``numeric``'s precision."""
    UNTRANSLATABLE_CHARACTER = "22P05"
    """A NUL character (``\\u0000``) in text or JSON."""
    STRING_DATA_RIGHT_TRUNCATION = "22001"
    """Text longer than its ``varchar(n)``/``char(n)``."""
    INVALID_DATETIME_FORMAT = "22007"
    """Text that is not a date or timestamp."""
    DATETIME_FIELD_OVERFLOW = "22008"
    """A date or time whose field is out of range (month 13, February 30, hour 25)."""
    INVALID_TIME_ZONE_DISPLACEMENT = "22009"
    """A time zone offset beyond +-15:59:59."""


class CastError(ValueError):
    """A value its column's type refuses, with the error Postgres raises for it.

    Attributes:
        sqlstate: The SQLSTATE Postgres gives this failure.
        message: Postgres's primary message (also the exception's text).
        detail: Postgres's detail line, or ``None``.
    """

    def __init__(
        self,
        message: str,
        sqlstate: SqlState = SqlState.INVALID_TEXT_REPRESENTATION,
        detail: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message, self.sqlstate, self.detail = message, sqlstate, detail


def coerce(column: Column, value: Any) -> Any:
    """Cast a JSON value to ``column``'s type and return it in JSON form, as Postgres would.

    Postgres's input rules: integers within their type's range (JSON numbers with a fraction
    or exponent are not integers, text may use ``_`` between digits and ``0x``/``0o``/``0b``
    as in Postgres 16+), ``real`` within its range, ``numeric(p, s)`` rounded to ``s``
    places and within ``p`` digits, text and JSON without NUL, ``varchar(n)``/``char(n)``
    within ``n`` characters, ISO 8601 dates and timestamps with every field in range, enum
    labels of the column's type. Timestamps come back as ISO 8601 text with offset
    (``timestamptz``) the way Postgres renders them in JSON; numbers, booleans, text, json
    and arrays keep their JSON form. Postgres's special values are read too: ``NaN`` and
    ``Infinity`` in ``real``, ``double precision`` and ``numeric`` (as :class:`NonFinite`),
    and ``infinity``, ``-infinity``, ``epoch``, ``now``, ``today``, ``tomorrow`` and
    ``yesterday`` in dates and timestamps (the words as of now, in UTC).

    Raises:
        CastError: The value does not cast; its ``sqlstate`` and message are Postgres's.
    """
    if value is None:
        return None
    t = column.type
    if t.startswith("_"):
        if isinstance(value, str) and value.startswith("{") and value.endswith("}"):
            value = [v.strip().strip('"') for v in value[1:-1].split(",") if v.strip()]
        if not isinstance(value, list):
            raise CastError(f'malformed array literal: "{_shown(value)}"')
        element = Column(column.name, t[1:], enum_values=column.enum_values)
        return [coerce(element, v) for v in value]
    pretty = _PRETTY.get(t, t)
    if t in _INT_TYPES:
        return _as_int(value, t, pretty)
    if t in _FLOAT_TYPES:
        return _as_float(value, t, pretty)
    if t == "numeric":
        return _as_numeric(value, column.modifiers)
    if t in _TEXT_TYPES:
        return _as_text(value, t, column.modifiers)
    if t in {"timestamptz", "timestamp", "date"}:
        return _as_datetime(value, t, pretty)
    if t in {"json", "jsonb"}:
        return _as_json(value)
    try:
        cast: Callable[[Any], Any] = _CASTS.get(t, _as_plain_text)
        cast_value = cast(value)
    except (ValueError, TypeError):
        raise CastError(f'invalid input syntax for type {pretty}: "{_shown(value)}"') from None
    if column.enum_values and cast_value not in column.enum_values:
        raise CastError(f'invalid input value for enum {t}: "{_shown(value)}"')
    return cast_value


def coerce_literal(column: Column, text: str) -> Any:
    """Cast a filter's value as Postgres casts a literal compared with ``column``.

    The literal takes the column's base type, without its length or precision: ``eq.abcd`` on
    a ``varchar(3)`` or ``eq.Infinity`` on a ``numeric(6, 2)`` matches nothing, where writing
    the same value is an error.

    Raises:
        CastError: As :func:`coerce`.
    """
    if column.modifiers:
        column = dataclasses.replace(column, modifiers=())
    return coerce(column, text)


def json_bytes(value: Any) -> bytes:
    """The JSON text of a row, record or value as the server sends it.

    orjson writes integers up to 64 bits; a ``numeric`` can hold more digits (Postgres keeps
    them exactly, and PostgREST sends them all), so such a value is written by the standard
    library instead, digits intact. A :class:`NonFinite` is written as Postgres writes it in
    JSON, as text (``"NaN"``, ``"Infinity"``, ``"-Infinity"``), never as ``null``.
    """
    try:
        return orjson.dumps(value, default=_json_default)
    except TypeError:  # an integer beyond 64 bits: orjson has no other TypeError for our values
        return json.dumps(_plain(value), separators=(",", ":"), ensure_ascii=False).encode()


def _json_default(value: Any) -> Any:
    if isinstance(value, NonFinite):  # orjson hands float subclasses here
        return value.text
    if isinstance(value, Decimal):  # a numeric no float or 64-bit integer holds: every digit
        return orjson.Fragment(_decimal_text(value))
    raise TypeError(f"not JSON: {type(value).__name__}")


def _decimal_text(value: Decimal) -> str:
    """A numeric as Postgres writes it: positional, every digit, no negative zero."""
    return format(value if value else value.copy_abs(), "f")


def _plain(value: Any) -> Any:
    """``value`` with every :class:`NonFinite` as its text, for the standard library's writer
    (a :class:`~decimal.Decimal` as a float: only a document with an integer orjson cannot
    write comes here, and a stored numeric never is one)."""
    if isinstance(value, NonFinite):
        return value.text
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def _shown(value: Any) -> str:
    """The text Postgres receives for a JSON value (how PostgREST hands it over)."""
    if isinstance(value, str):
        return value
    if isinstance(value, NonFinite):
        return value.text
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)  # any size (orjson stops at 64 bits)
    try:
        return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()
    except orjson.JSONEncodeError:
        return json.dumps(value, separators=(",", ":"), default=str)


def _as_int(value: Any, t: str, pretty: str) -> int:
    number: int | None = None
    if isinstance(value, int) and not isinstance(value, bool):
        number = value
    elif isinstance(value, str):
        match = _INTEGER.fullmatch(value)
        if match is not None:
            sign, decimal, hexa, octal, binary = match.groups()
            digits, base = next(
                (d, b) for d, b in ((decimal, 10), (hexa, 16), (octal, 8), (binary, 2)) if d
            )
            number = int(digits.replace("_", ""), base) * (-1 if sign == "-" else 1)
    if number is None:
        raise CastError(f'invalid input syntax for type {pretty}: "{_shown(value)}"')
    low, high = _INT_RANGES[t]
    if not low <= number <= high:
        raise CastError(
            f'value "{_shown(value).strip()}" is out of range for type {pretty}',
            SqlState.NUMERIC_VALUE_OUT_OF_RANGE,
        )
    return number


def _as_float(value: Any, t: str, pretty: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise CastError(f'invalid input syntax for type {pretty}: "{_shown(value)}"')
    if isinstance(value, str) and _FLOAT.fullmatch(value) is None:
        raise CastError(f'invalid input syntax for type {pretty}: "{value}"')
    try:
        number = float(value)
    except OverflowError:
        number = math.inf
    text_infinite = isinstance(value, NonFinite) or (
        isinstance(value, str) and "inf" in value.lower()
    )
    if (math.isinf(number) and not text_infinite) or (
        t == "float4" and math.isfinite(number) and abs(number) > _FLOAT4_MAX
    ):
        raise CastError(
            f'"{_shown(value).strip()}" is out of range for type {pretty}',
            SqlState.NUMERIC_VALUE_OUT_OF_RANGE,
        )
    return number if math.isfinite(number) else NonFinite(number)


def _as_numeric(value: Any, modifiers: tuple[int, ...]) -> int | float | Decimal:
    shown = _shown(value)
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise CastError(f'invalid input syntax for type numeric: "{shown}"')
    if isinstance(value, NonFinite):
        value = value.text
    if isinstance(value, str) and _NUMERIC.fullmatch(value) is None:
        special = _NUMERIC_SPECIAL.get(value.strip().lower())
        if special is None:
            raise CastError(f'invalid input syntax for type numeric: "{shown}"')
        if modifiers and math.isinf(special):
            precision, scale = modifiers[0], modifiers[1] if len(modifiers) > 1 else 0
            raise CastError(
                "numeric field overflow",
                SqlState.NUMERIC_VALUE_OUT_OF_RANGE,
                f"A field with precision {precision}, scale {scale} cannot hold an infinite value.",
            )
        return NonFinite(special)
    number = Decimal(shown.strip().replace("_", ""))
    exponent = number.as_tuple().exponent
    assert isinstance(exponent, int)  # finite: the specials were handled above
    if (number and number.adjusted() >= _NUMERIC_MAX_WEIGHT) or -exponent > _NUMERIC_MAX_SCALE:
        raise CastError("value overflows numeric format", SqlState.NUMERIC_VALUE_OUT_OF_RANGE)
    if modifiers:
        precision, scale = modifiers[0], modifiers[1] if len(modifiers) > 1 else 0
        digits = precision - scale
        overflow = CastError(
            "numeric field overflow",
            SqlState.NUMERIC_VALUE_OUT_OF_RANGE,
            f"A field with precision {precision}, scale {scale} must round to an absolute"
            f" value less than {f'10^{digits}' if digits else '1'}.",
        )
        if number and number.adjusted() >= digits:
            raise overflow  # before rounding, which could not fit it in any context
        room = Context(prec=precision + 2)
        number = number.quantize(Decimal(1).scaleb(-scale), rounding=ROUND_HALF_UP, context=room)
        if abs(number) >= Decimal(10) ** digits:
            raise overflow  # rounding carried it over (999.995 in a numeric(5, 2))
    if number == number.to_integral_value():
        # An integer orjson cannot write (past 64 bits) stays a Decimal, written whole.
        return int(number) if number.adjusted() < 18 else number
    as_float = float(number)
    # A float when it says the same number; else every digit is kept (1e-1001, 0.1234...89).
    return as_float if Decimal(repr(as_float)) == number else number


def _as_text(value: Any, t: str, modifiers: tuple[int, ...]) -> str:
    text = _shown(value)  # Postgres reads a JSON object or array as its text too
    _refuse_nul(text)
    length = modifiers[0] if modifiers else None
    if length is not None and len(text) > length:
        if text[length:].strip(" "):
            kind = "character varying" if t == "varchar" else "character"
            raise CastError(
                f"value too long for type {kind}({length})",
                SqlState.STRING_DATA_RIGHT_TRUNCATION,
            )
        text = text[:length]  # Postgres drops trailing spaces beyond the length
    if t == "bpchar" and length is not None:
        text = text.ljust(length)
    return text


def _refuse_nul(text: str) -> None:
    if "\x00" in text:
        raise CastError(
            "unsupported Unicode escape sequence",
            SqlState.UNTRANSLATABLE_CHARACTER,
            "\\u0000 cannot be converted to text.",
        )


def _as_plain_text(value: Any) -> str:
    if isinstance(value, dict | list):
        raise TypeError("not text")
    text = _shown(value)
    _refuse_nul(text)
    return text


def _as_datetime(value: Any, t: str, pretty: str) -> str:
    shown = _shown(value)
    if isinstance(value, str):
        word = value.strip().lower()
        if word in _ENDLESS_TIMES:
            return _ENDLESS_TIMES[word]
        if word in _TIME_WORDS:
            return _moment_text(_word_moment(word), t)
    match = _DATETIME.fullmatch(shown) if isinstance(value, str) else None
    if match is None:
        raise CastError(
            f'invalid input syntax for type {pretty}: "{shown}"', SqlState.INVALID_DATETIME_FORMAT
        )
    year, month, day, hour, minute, second, fraction, zone = match.groups()
    try:
        parsed = datetime(
            int(year),
            int(month),
            int(day),
            int(hour or 0),
            int(minute or 0),
            int(second or 0),
            int((fraction or "0").ljust(6, "0")),
        )
    except ValueError:
        raise CastError(
            f'date/time field value out of range: "{shown}"', SqlState.DATETIME_FIELD_OVERFLOW
        ) from None
    if t == "date":
        return parsed.date().isoformat()
    offset_s = _zone_s(zone, shown)
    if t == "timestamp":
        return parsed.isoformat()
    moment = parsed.replace(tzinfo=UTC) - timedelta(seconds=offset_s)
    return moment.isoformat()


def _word_moment(word: str) -> datetime:
    """The moment a special date/time word names, in UTC (the REST session's time zone)."""
    now = datetime.now(UTC)
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
    moments = {
        "epoch": datetime(1970, 1, 1, tzinfo=UTC),
        "now": now,
        "today": midnight,
        "tomorrow": midnight + timedelta(days=1),
        "yesterday": midnight - timedelta(days=1),
    }
    return moments[word]


def _moment_text(moment: datetime, t: str) -> str:
    if t == "date":
        return moment.date().isoformat()
    if t == "timestamp":
        return moment.replace(tzinfo=None).isoformat()
    return moment.isoformat()


def _zone_s(zone: str | None, shown: str) -> int:
    if zone is None or zone.upper() == "Z":
        return 0
    digits = zone[1:].replace(":", "")
    hours, minutes = (int(digits), 0) if len(digits) <= 2 else (int(digits[:-2]), int(digits[-2:]))
    offset_s = hours * 3600 + minutes * 60
    if offset_s > _MAX_ZONE_S or minutes > 59:
        raise CastError(
            f'time zone displacement out of range: "{shown}"',
            SqlState.INVALID_TIME_ZONE_DISPLACEMENT,
        )
    return -offset_s if zone[0] == "-" else offset_s


def _as_json(value: Any) -> Any:
    if isinstance(value, str):
        _refuse_nul(value)  # Postgres refuses a NUL in any text, a document's text included
        try:
            value = orjson.loads(value)
        except orjson.JSONDecodeError:
            raise CastError(f'invalid input syntax for type json: "{value}"') from None
    _refuse_nul_in_document(value)
    return value


def _refuse_nul_in_document(value: Any) -> None:
    """Refuse a NUL in any string or key of a JSON document (Postgres refuses ``\\u0000``)."""
    if isinstance(value, str):
        _refuse_nul(value)
    elif isinstance(value, dict):
        for key, item in value.items():
            _refuse_nul(str(key))
            _refuse_nul_in_document(item)
    elif isinstance(value, list):
        for item in value:
            _refuse_nul_in_document(item)


def _as_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in {"t", "true", "y", "yes", "on", "1"}:
        return True
    if text in {"f", "false", "n", "no", "off", "0"}:
        return False
    raise ValueError(text)


def _as_uuid(value: Any) -> str:
    return str(uuid.UUID(str(value)))


_CASTS: dict[str, Callable[[Any], Any]] = {"bool": _as_bool, "uuid": _as_uuid}
_PRETTY: Mapping[str, str] = {
    "int2": "smallint",
    "int4": "integer",
    "int8": "bigint",
    "float4": "real",
    "float8": "double precision",
    "bool": "boolean",
    "timestamptz": "timestamp with time zone",
    "timestamp": "timestamp without time zone",
}


def comparable(column: Column, value: Any) -> Any:
    """Return a value of ``column`` in a form that orders the way Postgres orders it.

    Timestamps and dates compare as datetimes (``infinity`` after and ``-infinity`` before
    every one), numbers as numbers, everything else as stored.
    """
    if value is None:
        return None
    if column.type in {"timestamptz", "timestamp", "date"}:
        endless = _ENDLESS.get(value) if isinstance(value, str) else None
        if endless is not None:
            return endless
        return datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    return value
