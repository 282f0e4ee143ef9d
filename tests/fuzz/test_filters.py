"""Fuzz: the filter parser and evaluator (``rtdata.filters``), shared by the server's REST and
realtime paths and the dashboard's widgets.

Any filter text parses to conditions or raises :class:`rtdata.filters.FilterError`, never
another exception; a parsed condition writes back to a segment that parses to itself; and
evaluating any parsed pattern condition on any text answers, true or false, in bounded time
(a pathological regex never holds the caller).
"""

from __future__ import annotations

import hypothesis.strategies as st
from hypothesis import HealthCheck, given, settings

from rtdata.filters import OPERATORS, Condition, FilterError, matches, parse_condition, parse_filter

FAST = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])

filter_alphabet = st.sampled_from(
    [*"abz09_.,()=\"'\\*%^$+?[]{}|!: -not.eqinlikematch", "\x00", "é"]
)
texts = st.text(alphabet=filter_alphabet, max_size=80) | st.text(max_size=40)
columns = st.from_regex(r"[a-z_][a-z0-9_]{0,12}", fullmatch=True)
values = st.text(alphabet=st.sampled_from(list("abcXYZ019 _-")), min_size=1, max_size=12).filter(
    lambda v: v.strip() == v
)


@FAST
@given(texts)
def test_any_realtime_filter_parses_or_is_refused_with_a_filter_error(text: str) -> None:
    try:
        conditions: tuple[Condition, ...] | FilterError = parse_filter(text)
    except FilterError as exc:
        conditions = exc
    if isinstance(conditions, FilterError):
        assert str(conditions)
    else:
        assert all(isinstance(c, Condition) and c.op in OPERATORS for c in conditions)


@FAST
@given(columns, texts, st.sampled_from(["realtime", "postgrest"]))
def test_any_condition_parses_or_is_refused(column: str, expression: str, dialect: str) -> None:
    try:
        parse_condition(column, expression, dialect=dialect)  # type: ignore[arg-type]
    except FilterError as exc:
        refused = str(exc)
        assert refused


@FAST
@given(columns, st.sampled_from(["eq", "neq", "lt", "lte", "gt", "gte"]), values, st.booleans())
def test_a_parsed_condition_writes_back_to_itself(
    column: str, op: str, value: str, negate: bool
) -> None:
    condition = Condition(column, op, value, negate)
    (again,) = parse_filter(condition.text())
    assert again == condition


@FAST
@given(
    st.sampled_from(["like", "ilike", "match", "imatch"]),
    st.text(alphabet=st.sampled_from(list("a+*()?|.^$%_[]{}\\1")), min_size=1, max_size=24),
    st.text(alphabet=st.sampled_from(list("aab!")), max_size=40),
)
def test_pattern_conditions_answer_on_any_text(op: str, pattern: str, text: str) -> None:
    try:
        condition = parse_condition("name", f"{op}.{pattern}", dialect="postgrest")
    except FilterError:
        return
    assert matches([condition], {"name": text}, lambda _c, raw: raw) in (True, False)
