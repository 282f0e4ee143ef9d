"""What several widgets share: text templates, record filters and JSON records.

Private to :mod:`rtdata.views.widgets`; each widget module documents the behaviour it exposes.
"""

from __future__ import annotations

import math
import re
import string
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

import orjson

from rtdata.events import decode_record
from rtdata.filters import Condition, FilterError, predicate
from rtdata.views.widgets._filter import (
    Comparison,
    WidgetCondition,
    comparison_test,
    parse_widget_filter,
)

__all__ = [
    "RAW_ID",
    "Piece",
    "SpecError",
    "SpecMissing",
    "check_name",
    "check_names",
    "check_positive",
    "check_positive_int",
    "compile_filter",
    "compile_template",
    "loads_record",
    "parse_spec_filter",
    "render",
]

_NAME: Final = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# Alignment, a width of at most two digits, a thousands comma, a precision and a type: enough
# for "{level:.1f}" or "{count:>4}", and no way to ask for a megabyte of padding.
_SPEC: Final = re.compile(r"^[<>^]?\d{0,2},?(\.\d{1,2})?[sdfeg%]?$")

RAW_ID: Final = "id"
"""Format spec of a field shown as its raw value even where ``[labels]`` name it: ``{owner:id}``."""


class SpecError(ValueError):
    """A widget spec field that cannot be used.

    Args:
        field: The spec field at fault (as ``rtdata.toml`` names it), for a message's key path.
        message: The problem, naming the field and its value.

    Attributes:
        field: The spec field at fault.
    """

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


class SpecMissing(SpecError):
    """Spec fields that are required and not given (one of them is :attr:`SpecError.field`).

    A config that misspelt a key reports the misspelling, and not this as well.
    """


@dataclass(frozen=True, slots=True)
class Piece:
    """One parsed part of a template: literal text, then an optional field.

    Attributes:
        literal: Text copied as is.
        field: Column name of the field after the literal, or ``None``.
        old: The field reads the old values (``{old.name}``).
        spec: Format spec of the field (``".1f"``, or :data:`RAW_ID`), or ``""``.
        event: The field reads the event rather than a record (``{event.name}``).
    """

    literal: str
    field: str | None
    old: bool
    spec: str
    event: bool = False


def check_name(field: str, value: object) -> str:
    """Return ``value`` when it is a plain column, table or channel name.

    Raises:
        ValueError: It is not a non-empty string; the message names ``field`` and the value.
    """
    if not isinstance(value, str) or not value.strip():
        raise SpecError(field, f"{field} must be a non-empty name, not {value!r}")
    return value


def check_names(field: str, values: object, *, allow_empty: bool = True) -> tuple[str, ...]:
    """Return ``values`` as a tuple of names (see :func:`check_name`), without duplicates.

    Raises:
        ValueError: ``values`` is a string or not a sequence of names, has duplicates, or is
            empty when ``allow_empty`` is false.
    """
    if isinstance(values, str) or not isinstance(values, Sequence):
        raise SpecError(field, f"{field} must be a list of names, not {values!r}")
    names = tuple(check_name(field, v) for v in values)
    if len(set(names)) != len(names):
        raise SpecError(field, f"{field} must not repeat a name: {values!r}")
    if not names and not allow_empty:
        raise SpecError(field, f"{field} must name at least one column, not {values!r}")
    return names


def compile_template(
    field: str, text: object, *, event_fields: Collection[str] = ()
) -> tuple[Piece, ...]:
    """Parse a text template such as ``"{name} is now {role} (was {old.role})"``.

    Fields are plain names (a record's column), ``old.`` and a name (the old values), or
    ``event.`` and one of ``event_fields`` (what the caller knows of the event itself), each
    with an optional short format spec (``{level:.1f}``) or :data:`RAW_ID`. Attribute access
    beyond these, indexing, conversions (``!r``), positional fields and nested specs are
    refused, so a template can read values and nothing else.

    Args:
        field: Name of the spec field holding the template, for messages.
        text: The template.
        event_fields: The names ``event.`` may read; none by default.

    Raises:
        ValueError: The template is not text, does not parse, or uses a refused form.
    """
    if not isinstance(text, str):
        raise SpecError(field, f"{field} must be text, not {text!r}")
    try:
        parsed = list(string.Formatter().parse(text))
    except ValueError as exc:
        raise SpecError(field, f"{field} {text!r} does not parse: {exc}") from None
    pieces = []
    for literal, name, spec, conversion in parsed:
        if name is None:
            pieces.append(Piece(literal, None, False, ""))
            continue
        scope, dot, column = name.rpartition(".")
        known = scope == "old" or (scope == "event" and column in event_fields)
        if not _NAME.match(column) or (dot and not known):
            forms = "a plain name or old.name"
            if event_fields:
                forms += ", or " + ", ".join(f"event.{e}" for e in sorted(event_fields))
            raise SpecError(field, f"{field} {text!r}: field {{{name}}} must be {forms}")
        if conversion is not None:
            raise SpecError(field, f"{field} {text!r}: field {{{name}}} must not use !{conversion}")
        if spec and spec != RAW_ID and not _SPEC.match(spec):
            raise SpecError(
                field, f"{field} {text!r}: format spec {spec!r} of {{{name}}} is refused"
            )
        pieces.append(Piece(literal, column, scope == "old", spec or "", scope == "event"))
    return tuple(pieces)


def _text(value: Any, spec: str) -> str:
    if isinstance(value, dict | list):
        return orjson.dumps(value).decode()
    if spec and not isinstance(value, bool):
        try:
            return format(value, spec)
        except (ValueError, TypeError):  # a number's spec applied to text: show the text
            pass
    if isinstance(value, float):
        if math.isnan(value):
            return ""
        if value.is_integer() and abs(value) < 2**53:
            # pandas turns an int column with a null into floats: 10.0 was 10
            return str(int(value))
    return str(value)


def render(
    pieces: Sequence[Piece],
    record: Mapping[str, Any],
    old: Mapping[str, Any],
    missing: str,
    *,
    labels: Mapping[str, Mapping[str, str]] | None = None,
    event: Mapping[str, Any] | None = None,
) -> str:
    """Render a compiled template over a record, its old values and its event.

    A field missing from its mapping, or null there, renders as ``missing``; a list or an object
    renders as JSON, NaN as ``""`` and an integral float without a format spec as an integer
    (``10.0`` as ``10``: pandas turns an integer column with a null into floats). Rendering
    never raises.

    Args:
        pieces: The compiled template (:func:`compile_template`).
        record: Values of plain fields.
        old: Values of ``old.`` fields.
        missing: Text of a missing or null value.
        labels: Per column, the label text of each id as text (``"7"``, not ``7.0``): a
            record or ``old.`` field of such a column shows the label of its value (then its
            format spec), or the value itself when the id has none. A field with the
            :data:`RAW_ID` spec shows the value.
        event: Values of ``event.`` fields; none when ``None``.
    """
    out = []
    for piece in pieces:
        out.append(piece.literal)
        if piece.field is None:
            continue
        if piece.event:
            value = None if event is None else event.get(piece.field)
        else:
            value = (old if piece.old else record).get(piece.field)
        if value is None:
            out.append(missing)
        elif piece.spec == RAW_ID:
            out.append(_text(value, ""))
        else:
            names = None if labels is None or piece.event else labels.get(piece.field)
            key = None if names is None else _id_text(value)
            label = None if names is None or key is None else names.get(key)
            out.append(_text(value if label is None else label, piece.spec))
    return "".join(out)


def _id_text(value: Any) -> str | None:
    """An id as label maps key it (as ``rtdata.views.widgets._common.key_text`` does: ``1``,
    not ``1.0``); ``None`` for a list or an object, which no id is."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, dict | list):
        return None
    return str(value)


def parse_spec_filter(field: str, text: object) -> tuple[WidgetCondition, ...]:
    """Parse a filter of a spec with
    :func:`rtdata.views.widgets._filter.parse_widget_filter`.

    Raises:
        ValueError: It is not text or does not follow the grammar; the message names
            ``field`` and the text.
    """
    if not isinstance(text, str):
        raise SpecError(field, f"{field} must be filter text, not {text!r}")
    try:
        return parse_widget_filter(text)
    except FilterError as exc:
        raise SpecError(field, f"{field} {text!r}: {exc}") from None


def compile_filter(
    conditions: Sequence[WidgetCondition],
    samples: Iterable[Mapping[str, Any]],
    now: datetime | None = None,
) -> Callable[[Mapping[str, Any]], bool]:
    """Compile filter conditions into a record test, casting each value by the column's type.

    The type of a column is that of its first non-null value in ``samples`` (text when none
    is seen), the way a dashboard tile casts its filter. A value that cannot be cast to it
    makes the condition fail on every record rather than raise. Comparisons with ``now()`` or
    ``col()`` need no cast (:mod:`rtdata.views.widgets._filter`); ``now`` is the render time
    they compare with.

    Raises:
        ValueError: A condition compares with ``now()`` and ``now`` is ``None``.
    """
    comparisons = [comparison_test(c, now) for c in conditions if isinstance(c, Comparison)]
    plain = [c for c in conditions if isinstance(c, Condition)]
    if not plain and not comparisons:
        return lambda _record: True
    wanted = {c.column for c in plain}
    types: dict[str, type] = {}
    for record in samples if wanted else ():
        for column in wanted - types.keys():
            value = record.get(column)
            if value is not None:
                types[column] = type(value)
        if len(types) == len(wanted):
            break
    try:
        keep = predicate(plain, lambda column, text: _cast(types.get(column), text))
    except (ValueError, FilterError):
        return lambda _record: False
    if not comparisons:
        return keep

    def test(record: Mapping[str, Any]) -> bool:
        return keep(record) and all(compare(record) is True for compare in comparisons)

    return test


def _cast(kind: type | None, text: str) -> Any:
    if kind is bool:
        return text.lower() in ("true", "t", "1")
    if kind is int or kind is float:  # a JSON number column may hold 1 and 2.5 alike
        try:
            return int(text)
        except ValueError:
            return float(text)
    return text


loads_record = decode_record
"""Decode a record's JSON text to a dict (:func:`rtdata.events.decode_record`)."""


def check_positive_int(field: str, value: object, *, most: int) -> int:
    """Return ``value`` when it is an int from 1 to ``most``.

    Raises:
        ValueError: It is not; the message names ``field`` and the value.
    """
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= most:
        raise SpecError(field, f"{field} must be an integer from 1 to {most}, not {value!r}")
    return value


def check_positive(field: str, value: object) -> float:
    """Return ``value`` when it is a finite number above zero.

    Raises:
        ValueError: It is not; the message names ``field`` and the value.
    """
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or value <= 0
    ):
        raise SpecError(field, f"{field} must be a positive number, not {value!r}")
    return float(value)
