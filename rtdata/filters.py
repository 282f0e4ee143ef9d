"""The postgres_changes / PostgREST filter grammar: parse ``column=op.value`` and evaluate it.

One grammar serves realtime bindings (``filter: "status=eq.pending,priority=lte.2"``) and REST
query strings (``?status=eq.pending``). Pure functions: no I/O.

Operators: ``eq, neq, lt, lte, gt, gte, in, like, ilike, is, match, imatch, isdistinct``, each
with an optional ``not.`` prefix. Segments are separated by commas and ANDed; commas inside
``(...)`` or a double-quoted value do not split. Evaluation follows Postgres: SQL three-valued
logic (a comparison with NULL is unknown, ``not.`` of unknown stays unknown, and only true
matches), ``like``/``ilike`` with ``%``/``_`` and ``\\`` as the escape, ``match``/``imatch`` as
the regex operators ``~``/``~*``, ``is`` with ``null|true|false|unknown`` and ``isdistinct`` as
``IS DISTINCT FROM``.

The two dialects differ where the servers do (supabase/realtime ``subscriptions.ex`` and its
``check_equality_op`` SQL; PostgREST ``QueryParams.hs`` and ``SqlFragment.hs``):

- ``realtime``: a whole value in double quotes is unquoted (backslash escapes); ``in.(...)``
  becomes a Postgres array literal, so unquoted elements are trimmed, an unquoted ``null`` is
  NULL, and at most 100 values are allowed; ``*`` in a ``like`` pattern is a literal star;
  ``is`` values are lower case.
- ``postgrest``: values are taken verbatim; ``in`` elements may be double-quoted but are never
  trimmed nor NULL; ``*`` in a ``like``/``ilike`` pattern means ``%``; ``is`` values ignore case.

Patterns (``like``, ``ilike``, ``match``, ``imatch``) run on RE2, whose matching takes time
linear in the text whatever the pattern, so no filter can stall the server (``^(a+)+$`` over
``aaa…!`` is as quick as ``^a+$``). Postgres' ARE syntax is translated where RE2 spells it
differently: ``$`` and ``\\Z`` (end of text only), ``\\y \\Y`` and ``\\m \\M`` (the latter
two next to a token that matches a word character), ``[[:class:]]`` (ASCII ranges). What needs
backtracking, back-references and lookahead/lookbehind, is refused as an invalid regular
expression (``2201B``), as is a repetition bound above Postgres' 255. ``\\w`` and ``\\b`` know
ASCII word characters only, and text compares by code point (the C collation).
"""

from __future__ import annotations

import functools
import math
import operator
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Final, Literal

import re2

__all__ = [
    "COMPARE",
    "MAX_IN_VALUES",
    "MAX_PATTERN_MEMORY_BYTES",
    "MAX_REPETITION",
    "OPERATORS",
    "TEXT_TYPES",
    "Condition",
    "Dialect",
    "FilterError",
    "check_conditions",
    "matches",
    "parse_condition",
    "parse_filter",
    "predicate",
    "split_filter",
]

Dialect = Literal["realtime", "postgrest"]
Value = str | tuple[str | None, ...]


class FilterError(ValueError):
    """A filter that does not follow the grammar or does not fit its column.

    Attributes:
        reason: What is wrong, without the segment.
        segment: The offending ``column=op.value`` text, when known.
        sqlstate: The Postgres error code the server would answer with (``22P02`` for an
            uncastable value, ``2201B`` for a bad regex, ...), or ``None`` for a syntax error.
    """

    def __init__(self, reason: str, segment: str | None = None, sqlstate: str | None = None):
        super().__init__(f"filter {segment!r}: {reason}" if segment else reason)
        self.reason, self.segment, self.sqlstate = reason, segment, sqlstate


COMPARE: Final[Mapping[str, Callable[[Any, Any], bool]]] = {
    "eq": operator.eq,
    "neq": operator.ne,
    "lt": operator.lt,
    "lte": operator.le,
    "gt": operator.gt,
    "gte": operator.ge,
}
"""The comparison operators and what each computes."""
_PATTERN_OPS: Final = frozenset({"like", "ilike", "match", "imatch"})
OPERATORS: Final = frozenset({*COMPARE, *_PATTERN_OPS, "in", "is", "isdistinct"})
"""Operators this module parses and evaluates."""
MAX_IN_VALUES: Final = 100
"""The realtime server's limit on the values of one ``in`` filter."""
TEXT_TYPES: Final = frozenset({"text", "varchar", "bpchar", "name", "citext"})
"""Column types (Postgres typnames) that ``like``, ``ilike``, ``match`` and ``imatch`` accept."""
_IS_VALUES: Final = ("null", "true", "false", "unknown")
_SQL_OPERATOR: Final = {"like": "~~", "ilike": "~~*", "match": "~", "imatch": "~*"}


@dataclass(frozen=True, slots=True)
class Condition:
    """One parsed filter segment.

    Attributes:
        column: Column name.
        op: Operator name, one of :data:`OPERATORS`.
        value: The raw text value (a SQL ``LIKE`` pattern for ``like``/``ilike``, a regex for
            ``match``/``imatch``, ``null|true|false|unknown`` for ``is``), or for ``in`` a tuple
            of raw texts where ``None`` is a SQL NULL element.
        negate: True when the segment had the ``not.`` prefix.
    """

    column: str
    op: str
    value: Value
    negate: bool = False

    def text(self) -> str:
        """Return the segment as written in a realtime filter, for messages."""
        value = self.value
        if isinstance(value, tuple):
            value = "(" + ",".join("null" if v is None else v for v in value) + ")"
        return f"{self.column}={'not.' if self.negate else ''}{self.op}.{value}"


# ---------------------------------------------------------------- parsing


def parse_condition(column: str, expression: str, *, dialect: Dialect = "realtime") -> Condition:
    """Parse the right-hand side of one segment, for example ``"not.in.(1,2)"``.

    In the ``realtime`` dialect a pattern is compiled here, so one that is invalid or that the
    local engine cannot run is refused now; in the ``postgrest`` dialect that waits for
    :func:`check_conditions` (or for Postgres, where Postgres evaluates the filter).

    Raises:
        FilterError: Unknown operator, missing value, a malformed ``in`` list, an ``is`` value
            other than ``null|true|false|unknown``, or (``realtime``) an invalid pattern.
    """
    segment = f"{column}={expression}"
    if not column:
        raise FilterError("no column name", segment)
    negate = expression.startswith("not.")
    op, dot, raw = (expression[4:] if negate else expression).partition(".")
    if not dot:
        raise FilterError("must look like column=op.value", segment)
    if op not in OPERATORS:
        raise FilterError(f"unsupported operator {op!r}", segment)
    value: Value
    if op == "in":
        if not (raw.startswith("(") and raw.endswith(")")):
            raise FilterError("'in' needs a list like (a,b)", segment)
        value = _parse_list(raw[1:-1], array_literal=dialect == "realtime", segment=segment)
        if dialect == "realtime" and len(value) > MAX_IN_VALUES:
            raise FilterError(f"too many values for 'in' (at most {MAX_IN_VALUES})", segment)
    elif op == "is":
        value = raw.lower() if dialect == "postgrest" else _unquote(raw)
        if value not in _IS_VALUES:
            raise FilterError("'is' takes null, true, false or unknown", segment)
    else:
        value = _unquote(raw) if dialect == "realtime" else raw
        if dialect == "postgrest" and op in {"like", "ilike"}:
            value = value.replace("*", "%")
        if op in _PATTERN_OPS and dialect == "realtime":
            # Realtime filters are evaluated here, so a pattern RE2 cannot run is refused at
            # join. A REST filter may be evaluated by Postgres, which checks its own patterns:
            # the in-memory backend compiles them in check_conditions, before evaluating.
            _compile_pattern(op, value, segment)
    return Condition(column, op, value, negate)


def parse_filter(text: str | None) -> tuple[Condition, ...]:
    """Parse a realtime binding filter such as ``"status=eq.pending,priority=lte.2"``.

    An empty, blank or missing filter gives no conditions (everything matches).

    Raises:
        FilterError: A segment does not follow the grammar, or a segment is empty.
    """
    return tuple(parse_condition(column, expression) for column, expression in split_filter(text))


def split_filter(text: str | None) -> Iterator[tuple[str, str]]:
    """Split a filter into its segments' ``(column, expression)`` pairs, the way the realtime
    server does: at top-level commas (not inside ``(...)`` or a quoted value), each at its
    first ``=``, the column trimmed and the expression kept as written.

    Lazily, so that a parser meets the problems in the order of the segments. An empty, blank
    or missing filter gives no pairs.

    Raises:
        FilterError: A segment is empty or has no ``=``.
    """
    if not text or not text.strip():
        return
    for segment in _split_segments(text.strip()):
        if not segment:
            raise FilterError("filter must not contain empty segments (check for extra commas)")
        column, eq, expression = segment.partition("=")
        if not eq:
            raise FilterError("must look like column=op.value", segment)
        # Only the segment is trimmed: the server keeps a value's own leading spaces.
        yield column.strip(), expression


def _split_segments(text: str) -> list[str]:
    # The realtime server's split_top_level: a quote opens only after '.', '(' or ',', and a
    # backslash inside quotes escapes the next character.
    parts: list[str] = []
    current: list[str] = []
    depth, quoted, prev = 0, False, ""
    chars = iter(text)
    for ch in chars:
        if quoted:
            current.append(ch)
            if ch == "\\":
                current.append(next(chars, ""))
            elif ch == '"':
                quoted = False
        elif ch == "," and depth == 0:
            parts.append("".join(current).strip())
            current, ch = [], ""
        else:
            current.append(ch)
            if ch == '"' and prev in {".", "(", ","}:
                quoted = True
            elif ch == "(":
                depth += 1
            elif ch == ")":
                depth = max(0, depth - 1)
        prev = ch
    parts.append("".join(current).strip())
    return parts


def _parse_list(inner: str, *, array_literal: bool, segment: str) -> tuple[str | None, ...]:
    # Quoted elements take backslash escapes in both dialects. As a Postgres array literal
    # (realtime), unquoted elements are trimmed and an unquoted NULL is a NULL element.
    if (inner.strip() if array_literal else inner) == "":
        return ()
    values: list[str | None] = []
    i, n = 0, len(inner)
    while True:
        while array_literal and i < n and inner[i] in " \t":
            i += 1
        if i < n and inner[i] == '"':
            chars, i = [], i + 1
            while i < n and inner[i] != '"':
                if inner[i] == "\\" and i + 1 < n:
                    i += 1
                chars.append(inner[i])
                i += 1
            if i >= n:
                raise FilterError("unterminated quote in 'in' list", segment)
            i += 1
            while array_literal and i < n and inner[i] in " \t":
                i += 1
            if i < n and inner[i] != ",":
                raise FilterError("text after a quoted 'in' element", segment)
            values.append("".join(chars))
        else:
            end = inner.find(",", i)
            end = n if end < 0 else end
            element = inner[i:end].strip() if array_literal else inner[i:end]
            if array_literal and not element:
                raise FilterError("empty element in 'in' list", segment)
            values.append(None if array_literal and element.lower() == "null" else element)
            i = end
        if i >= n:
            return tuple(values)
        i += 1  # the comma


def _unquote(value: str) -> str:
    # The realtime server unquotes a value wrapped in double quotes, with backslash escapes;
    # anything else (including a dangling quote) is taken verbatim.
    if len(value) < 2 or value[0] != '"':
        return value
    out: list[str] = []
    i = 1
    while i < len(value):
        ch = value[i]
        if ch == '"':
            return "".join(out) if i == len(value) - 1 else value
        if ch == "\\" and i + 1 < len(value):
            i += 1
            ch = value[i]
        out.append(ch)
        i += 1
    return value


# ---------------------------------------------------------------- patterns

MAX_REPETITION: Final = 255
"""Postgres' largest bound in a ``{m,n}`` repetition (``RE_DUP_MAX``); above it the regex is
invalid (``2201B``)."""
MAX_PATTERN_MEMORY_BYTES: Final = 2**20
"""The memory RE2 may use for one compiled pattern, its program and its DFA cache. A pattern
whose program does not fit is refused (``2201B`` "pattern too large"); this bounds both the
time a pattern takes to compile (milliseconds) and the cost of matching per character."""
_WORD_CHARS: Final = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_")
_REPEAT: Final = re.compile(r"\{(\d+)(?:,(\d*))?\}")


def _compile_pattern(op: str, pattern: str, segment: str | None = None) -> _Regex:
    try:
        if op in {"like", "ilike"}:
            return _like_regex(pattern, op == "ilike")
        return _posix_regex(pattern, op == "imatch")
    except FilterError as exc:
        raise FilterError(exc.reason, segment, exc.sqlstate) from None


class _Regex:
    """A pattern compiled by RE2: matching takes time linear in the text, whatever the pattern."""

    __slots__ = ("_regexp",)

    def __init__(self, pattern: str, ignore_case: bool) -> None:
        options = re2.Options()
        options.dot_nl = True  # Postgres' '.' and '[^x]' match newlines; so does LIKE's '_'
        options.never_capture = True  # only whether it matches is asked
        options.case_sensitive = not ignore_case
        options.log_errors = False
        options.max_mem = MAX_PATTERN_MEMORY_BYTES
        try:
            self._regexp = re2.compile(pattern, options)
        except re2.error as exc:
            reason = exc.args[0].decode() if isinstance(exc.args[0], bytes) else str(exc)
            raise FilterError(f"invalid regular expression: {reason}", None, "2201B") from None
        except UnicodeEncodeError:
            raise FilterError(
                "invalid regular expression: not valid UTF-8", None, "2201B"
            ) from None

    def search(self, text: str) -> bool | None:
        """Tell whether the pattern matches somewhere in ``text`` (``None``: not UTF-8 text)."""
        try:
            return self._regexp.search(text) is not None
        except UnicodeEncodeError:
            return None

    def fullmatch(self, text: str) -> bool | None:
        """Tell whether the pattern matches the whole ``text`` (``None``: not UTF-8 text)."""
        try:
            return self._regexp.fullmatch(text) is not None
        except UnicodeEncodeError:
            return None


@functools.lru_cache(maxsize=1024)
def _like_regex(pattern: str, ignore_case: bool) -> _Regex:
    out: list[str] = []
    chars = iter(pattern)
    for ch in chars:
        if ch == "\\":
            escaped = next(chars, None)
            if escaped is None:
                raise FilterError("LIKE pattern must not end with escape character", None, "22025")
            out.append(_literal(escaped))
        elif ch == "%":
            out.append(".*")
        elif ch == "_":
            out.append(".")
        else:
            out.append(_literal(ch))
    return _Regex("".join(out), ignore_case)


def _literal(ch: str) -> str:
    return ch if ch in _WORD_CHARS or ord(ch) > 0x7F else f"\\x{{{ord(ch):x}}}"


_POSIX_CLASSES: Final = {
    "alpha": "a-zA-Z",
    "digit": "0-9",
    "alnum": "a-zA-Z0-9",
    "upper": "A-Z",
    "lower": "a-z",
    "space": r"\s",
    "blank": r" \t",
    "punct": "".join(_literal(c) for c in "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~"),
    "xdigit": "0-9A-Fa-f",
    "word": r"\w",
    "cntrl": r"\x00-\x1f\x7f",
    "print": r"\x20-\x7e",
    "graph": r"\x21-\x7e",
}
_ARE_ESCAPES: Final = {"y": r"\b", "Y": r"\B", "Z": r"\z"}


@functools.lru_cache(maxsize=1024)
def _posix_regex(pattern: str, ignore_case: bool) -> _Regex:
    # Postgres' ARE syntax, translated to RE2's where they differ. RE2 matches in linear time,
    # so a pattern such as ^(a+)+$ cannot stall the server; the price is that back-references
    # and lookaround, which need backtracking, are refused.
    out: list[str] = []
    i, n = 0, len(pattern)
    while i < n:
        ch = pattern[i]
        if ch == "\\" and i + 1 < n:
            nxt = pattern[i + 1]
            if nxt.isdigit() and nxt != "0":
                raise FilterError(_UNSUPPORTED.format("back-references"), None, "2201B")
            if nxt in "mM":
                out.append(_word_edge(pattern, i, out))
            else:
                out.append(_ARE_ESCAPES.get(nxt, pattern[i : i + 2]))
            i += 2
        elif ch == "(" and pattern.startswith(("(?=", "(?!", "(?<=", "(?<!"), i):
            raise FilterError(_UNSUPPORTED.format("lookahead and lookbehind"), None, "2201B")
        elif ch == "$":
            out.append(r"\z")
            i += 1
        elif ch == "[":
            i = _bracket(pattern, i, out)
        elif ch == "{" and (repeat := _REPEAT.match(pattern, i)):
            if any(int(b) > MAX_REPETITION for b in repeat.groups() if b):
                raise FilterError(
                    "invalid regular expression: invalid repetition count(s)", None, "2201B"
                )
            out.append(repeat.group())
            i = repeat.end()
        else:
            out.append(ch)
            i += 1
    return _Regex("".join(out), ignore_case)


_UNSUPPORTED: Final = (
    "invalid regular expression: {} are not supported by the local server, whose regex engine"
    " (RE2) runs in time linear in the text"
)


def _word_edge(pattern: str, i: int, out: list[str]) -> str:
    # \m (start of a word) and \M (end of a word) are zero-width tests RE2 lacks. Next to a
    # token that must match a word character they are the same as \b: \m before a literal
    # letter, digit or underscore (or \w, \d) that is not optional, \M after one.
    if pattern[i + 1] == "m":
        token = (
            pattern[i + 2 : i + 4] if pattern.startswith("\\", i + 2) else pattern[i + 2 : i + 3]
        )
        after = pattern[i + 2 + len(token) : i + 3 + len(token)]
        if _is_word_token(token) and after not in {"*", "?", "{"}:
            return r"\b"
    else:
        previous = out[-2:] if out and out[-1] == "+" else out[-1:]
        token = previous[0] if previous else ""
        if _is_word_token(token):
            return r"\b"
    raise FilterError(
        _UNSUPPORTED.format(
            "\\m and \\M other than next to a letter, digit, underscore, \\w or \\d"
        ),
        None,
        "2201B",
    )


def _is_word_token(token: str) -> bool:
    return (len(token) == 1 and token in _WORD_CHARS) or token in {r"\w", r"\d"}


def _bracket(pattern: str, i: int, out: list[str]) -> int:
    # Copy one bracket expression starting at pattern[i] == "[", translating [:class:] and
    # escaping what Python would read as set operators. Returns the index after it.
    out.append("[")
    i += 1
    if pattern.startswith("^", i):
        out.append("^")
        i += 1
    if pattern.startswith("]", i):
        out.append(r"\]")
        i += 1
    while i < len(pattern) and pattern[i] != "]":
        ch = pattern[i]
        if ch == "[" and pattern.startswith(":", i + 1) and ":]" in pattern[i + 2 :]:
            name = pattern[i + 2 : pattern.index(":]", i + 2)]
            if name not in _POSIX_CLASSES:
                raise FilterError(f"invalid character class [:{name}:]", None, "2201B")
            out.append(_POSIX_CLASSES[name])
            i += len(name) + 4
            continue
        if ch == "\\" and i + 1 < len(pattern):
            out.append(pattern[i : i + 2])
            i += 2
            continue
        out.append("\\" + ch if ch in "[&~|" else ch)
        i += 1
    if i < len(pattern):
        out.append("]")
        i += 1
    return i


# ---------------------------------------------------------------- checking against types


def check_conditions(
    conditions: Iterable[Condition],
    column_types: Mapping[str, str],
    cast: Callable[[str, str], Any] | None = None,
) -> None:
    """Check conditions against column types the way the servers do before evaluating.

    Args:
        conditions: Parsed conditions.
        column_types: Column name -> Postgres typname (``int8``, ``text``, ``bool``, ...).
        cast: When given, ``cast(column, text)`` is tried on every value that is cast
            (comparisons, ``isdistinct`` and non-NULL ``in`` elements).

    Raises:
        FilterError: With :attr:`FilterError.sqlstate` ``42703`` for an unknown column,
            ``42804`` for ``is.true|false|unknown`` on a non-boolean column, ``42883`` for a
            pattern operator on a non-text column or a comparison on a ``json`` column,
            ``2201B`` for a regex that is invalid or that RE2 cannot run (back-references,
            lookaround, too large), ``22025`` for a LIKE pattern ending in its escape,
            and, for a value ``cast`` rejects, the SQLSTATE of the :class:`FilterError` it
            raised (``22003`` out of range, ``22007`` not a date, ...), else ``22P02``.
    """
    for cond in conditions:
        segment = cond.text()
        typ = column_types.get(cond.column)
        if typ is None:
            raise FilterError(f"column {cond.column} does not exist", segment, "42703")
        if cond.op == "is" and cond.value != "null" and typ != "bool":
            raise FilterError(
                f"argument of IS {str(cond.value).upper()} must be type boolean, not type {typ}",
                segment,
                "42804",
            )
        if cond.op in _PATTERN_OPS and typ not in TEXT_TYPES:
            symbol = _SQL_OPERATOR[cond.op]
            raise FilterError(f"operator does not exist: {typ} {symbol} unknown", segment, "42883")
        if cond.op in _PATTERN_OPS:
            _compile_pattern(cond.op, str(cond.value), segment)
        if typ == "json" and cond.op in {*COMPARE, "in"}:
            raise FilterError("operator does not exist: json = unknown", segment, "42883")
        if cast is None or cond.op in _PATTERN_OPS or cond.op == "is":
            continue
        values = cond.value if isinstance(cond.value, tuple) else (cond.value,)
        for value in values:
            if value is not None:
                try:
                    cast(cond.column, value)
                except FilterError as exc:  # a cast that knows its error's SQLSTATE
                    raise FilterError(exc.reason, segment, exc.sqlstate or "22P02") from None
                except ValueError as exc:
                    raise FilterError(str(exc), segment, "22P02") from None


# ---------------------------------------------------------------- evaluation

Test = Callable[[Any], bool | None]


def predicate(
    conditions: Iterable[Condition],
    cast: Callable[[str, str], Any],
    comparable: Callable[[str, Any], Any] = lambda _column, value: value,
) -> Callable[[Mapping[str, Any]], bool]:
    """Compile conditions once into a row test; see :func:`matches` for the semantics.

    Values are cast here, so a value ``cast`` rejects raises now, even before any row. A
    pattern that does not compile (possible only in the ``postgrest`` dialect, which leaves
    patterns to :func:`check_conditions`) matches no row.
    """
    tests = [(cond.column, _compile(cond, cast, comparable)) for cond in conditions]

    def test(row: Mapping[str, Any]) -> bool:
        for column, check in tests:
            if column not in row or check(row[column]) is not True:
                return False
        return True

    return test


def matches(
    conditions: Iterable[Condition],
    row: Mapping[str, Any],
    cast: Callable[[str, str], Any],
    comparable: Callable[[str, Any], Any] = lambda _column, value: value,
) -> bool:
    """Tell whether ``row`` satisfies every condition.

    Only a condition that is true passes: a comparison with NULL is unknown and fails, negated
    or not (``not.`` of unknown is unknown). A condition on a column missing from ``row``, or
    one that cannot be evaluated on the row's value (a pattern on a number, mismatched types),
    fails the same way: the server fails closed.

    Args:
        conditions: Parsed conditions, ANDed.
        row: Column values.
        cast: ``cast(column, text)`` turns a filter's raw text into the column's value type;
            it raises ``ValueError`` when the text cannot be cast.
        comparable: ``comparable(column, value)`` maps a stored or cast value to one that
            orders like Postgres (for example timestamps to datetimes); identity by default.
    """
    return predicate(conditions, cast, comparable)(row)


def _order_key(value: Any) -> Any:
    # Postgres orders NaN above every other float and NaN = NaN is true.
    if isinstance(value, float) and math.isnan(value):
        return (1, 0.0)
    if isinstance(value, int | float | Decimal) and not isinstance(value, bool):
        return (0, value)
    return value


def _compile(
    cond: Condition, cast: Callable[[str, str], Any], comparable: Callable[[str, Any], Any]
) -> Test:
    column = cond.column

    def key(value: Any) -> Any:
        return _order_key(comparable(column, value))

    def typed(text: str) -> Any:
        return key(cast(column, text))

    test: Test
    if cond.op == "in":
        assert isinstance(cond.value, tuple)
        wanted = [typed(v) for v in cond.value if v is not None]
        has_null = None in cond.value

        def test(actual: Any) -> bool | None:
            if not cond.value:
                return False  # x = ANY('{}') is false, even for a NULL x
            if actual is None:
                return None
            left = key(actual)
            return True if any(left == w for w in wanted) else (None if has_null else False)

    elif cond.op == "is":
        want = {"null": None, "unknown": None, "true": True, "false": False}[str(cond.value)]

        def test(actual: Any) -> bool | None:
            return actual is want

    else:
        assert isinstance(cond.value, str)
        test = _compile_scalar(cond.op, cond.value, key, typed)
    if not cond.negate:
        return test
    positive = test

    def negated(actual: Any) -> bool | None:
        result = positive(actual)
        return None if result is None else not result

    return negated


def _compile_scalar(
    op: str, value: str, key: Callable[[Any], Any], typed: Callable[[str], Any]
) -> Test:
    if op in _PATTERN_OPS:
        try:
            regex = _compile_pattern(op, value)
        except FilterError:
            # Only a pattern parsed in the postgrest dialect, left for Postgres to check, gets
            # here; the server refuses it in check_conditions before evaluating. Fail closed.
            return lambda _actual: None
        search = regex.fullmatch if op in {"like", "ilike"} else regex.search

        def pattern_test(actual: Any) -> bool | None:
            if not isinstance(actual, str):
                return None
            return search(actual)

        return pattern_test
    right = typed(value)
    if op == "isdistinct":

        def distinct_test(actual: Any) -> bool | None:
            return True if actual is None else bool(key(actual) != right)

        return distinct_test
    compare = COMPARE[op]

    def compare_test(actual: Any) -> bool | None:
        if actual is None:
            return None
        try:
            return bool(compare(key(actual), right))
        except TypeError:
            return None

    return compare_test
