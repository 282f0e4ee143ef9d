"""Column values in Postgres's text format turned into the JSON values Realtime sends.

Supabase's Realtime puts ``to_jsonb(value)`` in a change's ``record`` and ``old_record``
(realtime-protocol.md §3). :func:`to_json` reproduces that from the text pgoutput sends, the way
Postgres's ``to_jsonb`` categorises a type (``json_categorize_type``, after resolving a domain to
its base type):

- ``int2``/``int4``/``int8``/``oid``/``float4``/``float8``/``numeric``: a JSON number, or the text
  when it is not a valid JSON number (``NaN``, ``Infinity``, ``-Infinity``). A float in
  exponent notation with no fractional part is an integer, as ``to_jsonb`` prints it in plain
  notation. Integers beyond 64 bits become floats (orjson, which encodes frames, stops at 64
  bits): the one place where the value differs from what a JSON reader makes of ``to_jsonb``.
- ``bool``: ``true``/``false``.
- ``json``/``jsonb``: the parsed document (integers beyond 64 bits as floats, as above).
- ``date``, ``timestamp``, ``timestamptz``: ISO 8601 as ``to_jsonb`` prints it
  (``2024-05-01T10:00:00.123+00:00``), which needs the session that produced the text to use
  ``DateStyle = ISO`` (the change reader sets it, and ``TimeZone``, on its connection).
- arrays: lists (nested for several dimensions) of their elements converted the same way.
- everything else (text, varchar, uuid, enums, time, interval, bytea, ...): the text itself.
  Composite types are sent as their text too, where ``to_jsonb`` would make an object.

The module is pure: no driver, no clock. Type facts come in as :class:`TypeInfo`, built by
:mod:`rtdata.server.postgres.catalog` from ``pg_type``.
"""

from __future__ import annotations

import enum
import json
import re
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Final

import orjson

__all__ = ["ArrayError", "JsonKind", "TypeInfo", "parse_array", "to_json"]

_INT64_MIN: Final = -(2**63)
_UINT64_MAX: Final = 2**64 - 1
_INTEGER: Final = re.compile(r"-?(?:0|[1-9]\d*)")
_JSON_NUMBER: Final = re.compile(r"-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?")
_TZ_HOURS_ONLY: Final = re.compile(r"([+-]\d\d)$")
_ARRAY_SPACE: Final = " \t\n\r\v\f"  # array_isspace(): Python's str.isspace() knows more


class ArrayError(ValueError):
    """Text that is not a Postgres array literal; the text names the problem and offset."""


class JsonKind(enum.Enum):
    """How ``to_jsonb`` renders a type."""

    STRING = "string"
    NUMBER = "number"
    BOOL = "bool"
    JSON = "json"
    DATE = "date"
    TIMESTAMP = "timestamp"
    ARRAY = "array"


@dataclass(frozen=True, slots=True)
class TypeInfo:
    """What :func:`to_json` needs to know about a column's type.

    Attributes:
        name: The type's ``typname`` as Realtime reports it in ``columns`` (``int4``, ``_text``,
            the enum's name, ...).
        kind: How its values render in JSON.
        element: The element type, for an array.
        delimiter: The element separator of the array text format (``,`` except for ``box``).
    """

    name: str
    kind: JsonKind
    element: TypeInfo | None = None
    delimiter: str = ","


JsonValue = Any
"""A value ``orjson`` can encode: None, bool, int, float, str, list or dict."""


def to_json(text: str, info: TypeInfo) -> JsonValue:
    """Convert one value from Postgres's text format to the JSON value ``to_jsonb`` gives.

    Args:
        text: The value in its type's text output format.
        info: The value's type.

    Raises:
        ArrayError: An array's text is malformed.
        ValueError: A bool, json or number text that its type never outputs.
    """
    kind = info.kind
    if kind is JsonKind.STRING:
        return text
    if kind is JsonKind.NUMBER:
        return _number(text)
    if kind is JsonKind.BOOL:
        if text == "t":
            return True
        if text == "f":
            return False
        raise ValueError(f"{text!r} is not a bool in Postgres's text format")
    if kind is JsonKind.JSON:
        return _json(text)
    if kind is JsonKind.TIMESTAMP:
        return _timestamp(text)
    if kind is JsonKind.DATE:
        return text  # ISO DateStyle prints dates as to_jsonb does (and "infinity" alike)
    element = info.element
    if element is None:
        raise ValueError(f"array type {info.name} has no element type")
    return _convert_nested(parse_array(text, info.delimiter), element)


def _convert_nested(items: list[Any], element: TypeInfo) -> list[Any]:
    return [
        None
        if item is None
        else _convert_nested(item, element)
        if isinstance(item, list)
        else to_json(item, element)
        for item in items
    ]


def _number(text: str) -> JsonValue:
    if _INTEGER.fullmatch(text):
        value = int(text)
        return value if _INT64_MIN <= value <= _UINT64_MAX else float(value)
    if _JSON_NUMBER.fullmatch(text):
        # to_jsonb keeps the number as numeric, which prints without an exponent:
        # float8's "8.2e+16" becomes 82000000000000000, an integer to a JSON reader.
        exponent = Decimal(text).as_tuple().exponent
        if isinstance(exponent, int) and exponent >= 0:
            value = int(Decimal(text))
            return value if _INT64_MIN <= value <= _UINT64_MAX else float(value)
        return float(text)
    if text in ("NaN", "Infinity", "-Infinity"):
        return text  # not a JSON number: to_jsonb makes it a string
    raise ValueError(f"{text!r} is not a number in Postgres's text format")


def _json(text: str) -> JsonValue:
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        # json (not jsonb) keeps text orjson refuses, such as a lone surrogate escape.
        return json.loads(text)


def _timestamp(text: str) -> str:
    if text in ("infinity", "-infinity"):
        return text
    # ISO DateStyle: "2024-05-01 10:00:00.123+00[ BC]"; to_jsonb: "2024-05-01T10:00:00.123+00:00".
    stamp = text.replace(" ", "T", 1)
    suffix = ""
    if stamp.endswith(" BC"):
        stamp, suffix = stamp[:-3], " BC"
    stamp = _TZ_HOURS_ONLY.sub(r"\1:00", stamp)  # without a zone it ends in seconds
    return stamp + suffix


def parse_array(text: str, delimiter: str = ",") -> list[Any]:
    """Parse a Postgres array literal into nested lists of element texts (``None`` for NULL).

    A dimension decoration (``[0:1]={a,b}``) is dropped, as ``to_jsonb`` drops it.

    Raises:
        ArrayError: Unbalanced braces, an unterminated quote, or text after the array.
    """
    pos = 0
    if text.startswith("["):
        pos = text.find("=")
        if pos < 0:
            raise ArrayError(f"array dimensions without '=' in {text[:40]!r}")
        pos += 1
    if pos >= len(text) or text[pos] != "{":
        raise ArrayError(f"array text does not start with '{{' at offset {pos}: {text[:40]!r}")
    items, pos = _parse_level(text, pos + 1, delimiter)
    if text[pos:].strip(_ARRAY_SPACE):
        raise ArrayError(f"unexpected text after the array at offset {pos}: {text[pos:][:20]!r}")
    return items


def _parse_level(text: str, pos: int, delimiter: str) -> tuple[list[Any], int]:
    """Parse elements after an opening brace up to its closing brace; return the items and the
    offset after the closing brace."""
    items: list[Any] = []
    n = len(text)
    expect_item = True
    while True:
        while pos < n and text[pos] in _ARRAY_SPACE:
            pos += 1
        if pos >= n:
            raise ArrayError("array text ends before its closing '}'")
        ch = text[pos]
        if ch == "}":
            return items, pos + 1
        if not expect_item:
            if ch != delimiter:
                raise ArrayError(f"expected {delimiter!r} or '}}' at offset {pos}, got {ch!r}")
            pos += 1
            expect_item = True
            continue
        if ch == "{":
            sub, pos = _parse_level(text, pos + 1, delimiter)
            items.append(sub)
        elif ch == '"':
            chars: list[str] = []
            pos += 1
            while True:
                if pos >= n:
                    raise ArrayError("unterminated quoted array element")
                ch = text[pos]
                if ch == "\\":
                    if pos + 1 >= n:
                        raise ArrayError("array text ends after a backslash")
                    chars.append(text[pos + 1])
                    pos += 2
                elif ch == '"':
                    pos += 1
                    break
                else:
                    chars.append(ch)
                    pos += 1
            items.append("".join(chars))
        else:
            start = pos
            chars = []
            while pos < n and text[pos] not in (delimiter, "}"):
                if text[pos] == "\\" and pos + 1 < n:
                    chars.append(text[pos + 1])
                    pos += 2
                else:
                    chars.append(text[pos])
                    pos += 1
            raw = "".join(chars).strip(_ARRAY_SPACE)
            if not raw:
                raise ArrayError(f"empty unquoted array element at offset {start}")
            items.append(None if raw.upper() == "NULL" else raw)
        expect_item = False
