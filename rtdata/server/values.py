"""Column values: JSON values cast to a column's type and ordered the way Postgres orders them."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from rtdata.server.schema import Column

__all__ = ["CastError", "coerce", "comparable"]

_INT_TYPES = {"int2", "int4", "int8"}
_FLOAT_TYPES = {"float4", "float8"}
_TEXT_TYPES = {"text", "varchar", "bpchar"}


class CastError(ValueError):
    """A value that cannot be cast to its column's type (Postgres error 22P02)."""


def coerce(column: Column, value: Any) -> Any:
    """Cast a JSON value to ``column``'s type and return it in JSON form, as Postgres would.

    Timestamps come back as ISO 8601 text with offset (``timestamptz``) the way Postgres renders
    them in JSON; numbers, booleans, text, json and arrays keep their JSON form. A value of an
    enum column must be one of its labels.

    Raises:
        CastError: The value cannot be cast; the message names the type and value.
    """
    if value is None:
        return None
    t = column.type
    if t.startswith("_"):
        if isinstance(value, str) and value.startswith("{") and value.endswith("}"):
            value = [v.strip().strip('"') for v in value[1:-1].split(",") if v.strip()]
        if not isinstance(value, list):
            raise CastError(f'malformed array literal: "{value}"')
        element = Column(column.name, t[1:], enum_values=column.enum_values)
        return [coerce(element, v) for v in value]
    try:
        cast: Callable[[Any], Any] = _CASTS.get(t, _as_text)
        cast_value = cast(value)
    except (ValueError, TypeError, InvalidOperation, OverflowError):
        raise CastError(f'invalid input syntax for type {_PRETTY.get(t, t)}: "{value}"') from None
    if column.enum_values and cast_value not in column.enum_values:
        raise CastError(f'invalid input value for enum {t}: "{value}"')
    return cast_value


def _as_int(value: Any) -> int:
    if isinstance(value, bool):
        raise TypeError("bool is not an integer")
    if isinstance(value, float):
        if not value.is_integer():
            raise ValueError("not an integer")
        return int(value)
    return int(value)


def _as_float(value: Any) -> float:
    if isinstance(value, bool):
        raise TypeError("bool is not a number")
    return float(value)


def _as_numeric(value: Any) -> int | float:
    if isinstance(value, bool):
        raise TypeError("bool is not a number")
    number = Decimal(str(value))
    if not number.is_finite():
        raise ValueError("not finite")
    return int(number) if number == number.to_integral_value() else float(number)


def _as_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in {"t", "true", "y", "yes", "on", "1"}:
        return True
    if text in {"f", "false", "n", "no", "off", "0"}:
        return False
    raise ValueError(text)


def _as_text(value: Any) -> str:
    if isinstance(value, dict | list):
        raise TypeError("not text")
    return value if isinstance(value, str) else json.dumps(value)


def _as_uuid(value: Any) -> str:
    return str(uuid.UUID(str(value)))


def _as_timestamptz(value: Any) -> str:
    parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC).isoformat()


def _as_timestamp(value: Any) -> str:
    return (
        datetime.fromisoformat(str(value).replace("Z", "+00:00")).replace(tzinfo=None).isoformat()
    )


def _as_date(value: Any) -> str:
    return date.fromisoformat(str(value)[:10]).isoformat()


def _as_json(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value


_CASTS: dict[str, Callable[[Any], Any]] = {
    **dict.fromkeys(_INT_TYPES, _as_int),
    **dict.fromkeys(_FLOAT_TYPES, _as_float),
    **dict.fromkeys(_TEXT_TYPES, _as_text),
    "numeric": _as_numeric,
    "bool": _as_bool,
    "uuid": _as_uuid,
    "timestamptz": _as_timestamptz,
    "timestamp": _as_timestamp,
    "date": _as_date,
    "json": _as_json,
    "jsonb": _as_json,
}
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

    Timestamps and dates compare as datetimes, numbers as numbers, everything else as stored.
    """
    if value is None:
        return None
    if column.type in {"timestamptz", "timestamp", "date"}:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    return value
