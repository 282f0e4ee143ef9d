"""Row scoping: which rows, events and presence metas a signed-in user may see.

A scope rule (``[[access.scopes]]`` in ``rtdata.toml``) names roles, a claim and a column:
a user who holds any of the roles sees only rows whose column equals the claim's value in
their verified token, as the app's own RLS would compare them. For example, a clinic's staff
(role ``clinic``) see only rows whose ``tenant_id`` is their ``app_metadata.staff_tenant_id``.

Every rule fails closed:

* a user under a rule whose claim is missing sees no row at all;
* a table without the rule's column (or its per-table override) shows no row;
* an event is kept only when its record (or, for a DELETE, its old record) has the column
  with the user's value; a presence event only when every meta it carries does. Alerts
  (which may name any table or channel) are dropped; collector status events, which carry no
  row, are kept unless their channel is another value's (below).
* with a channel pattern (``tenant:{value}:*``), a broadcast or presence message on a channel
  of that form is kept when the channel has the user's value and dropped when it has another,
  whatever its payload says.

A user under several rules sees what every one of them allows (their intersection). Values
are compared as text (``5`` equals ``"5"``; ``true`` equals ``"true"``).

Nothing here does I/O: :class:`rtdata.scoped.ScopedReader` applies a :class:`RowScope` to a
recorder's reads.
"""

from __future__ import annotations

import functools
import hashlib
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

import numpy as np
import orjson
import pandas as pd

from rtdata.events import EventKind, field_column

__all__ = [
    "CLAIM_PATH",
    "ROLE_NAME",
    "SCOPE_KEYS",
    "Bound",
    "RowScope",
    "ScopeRule",
    "parse_scopes",
    "scope_of",
]

SCOPE_KEYS: Final = ("roles", "claim", "column", "columns", "channel")
"""The keys an ``[[access.scopes]]`` entry takes."""

CLAIM_PATH: Final = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")
"""A dotted claim path, such as ``app_metadata.role`` (``[access]`` reads its claims with it)."""
ROLE_NAME: Final = re.compile(r"^[a-z0-9_-]{1,40}$")
"""A dashboard role's name."""
_IDENTIFIER: Final = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")


@dataclass(frozen=True)
class ScopeRule:
    """One ``[[access.scopes]]`` entry.

    Attributes:
        roles: The dashboard roles it applies to (a user holding any of them is scoped).
        claim: Dotted path of the claim whose value the rows must carry, for example
            ``app_metadata.staff_tenant_id``.
        column: The column (or record, or presence meta field) that must equal it.
        columns: Table -> the column to compare in that table instead of :attr:`column`
            (``tenants = "id"``: the tenants table is keyed by the tenant id itself).
        channel: A channel-name pattern holding ``{value}`` once, ``*`` for any text: a
            broadcast or presence message on a channel of this form (``tenant:{value}:*``)
            is kept when the channel has the user's value and dropped when it has another,
            whatever its payload; on another channel its payload decides.
    """

    roles: tuple[str, ...]
    claim: str
    column: str
    columns: Mapping[str, str] = field(default_factory=dict)
    channel: str | None = None

    @property
    def channel_family(self) -> re.Pattern[str] | None:
        """What every channel of :attr:`channel`'s form matches (any value), or ``None``."""
        return None if self.channel is None else _channel_pattern(self.channel, None)

    def channel_of(self, value: str | None) -> re.Pattern[str] | None:
        """What the channels of :attr:`channel` with ``value`` match, or ``None`` (no pattern
        or no value)."""
        if self.channel is None or value is None:
            return None
        return _channel_pattern(self.channel, value)

    def column_of(self, table: str | None) -> str:
        """The column compared in ``table`` (:attr:`column` unless overridden)."""
        return self.columns.get(table, self.column) if table is not None else self.column

    @property
    def fields(self) -> tuple[str, ...]:
        """Every column this rule compares, in any table."""
        return tuple(dict.fromkeys((self.column, *self.columns.values())))


@dataclass(frozen=True)
class Bound:
    """A rule with the value one user's claims give it.

    Attributes:
        rule: The rule.
        value: The claim's value as text, or ``None`` when the user's token lacks it (then
            nothing passes).
    """

    rule: ScopeRule
    value: str | None

    def keeps(self, table: str | None, record: Mapping[str, Any]) -> bool:
        """Whether a row (or record, or meta) of ``table`` passes."""
        column = self.rule.column_of(table)
        return self.value is not None and column in record and _text(record[column]) == self.value

    def channel_verdict(self, channel: str) -> bool | None:
        """Whether a message on ``channel`` passes by the rule's channel pattern: ``None``
        when the rule has none or the channel is not of its form, else whether the channel
        is the one with the user's value."""
        family = self.rule.channel_family
        if family is None or not family.fullmatch(channel):
            return None
        own = self.rule.channel_of(self.value)
        return own is not None and own.fullmatch(channel) is not None


@dataclass(frozen=True)
class RowScope:
    """What one user may see: every bound must pass.

    Attributes:
        bounds: The user's rules with their values (at least one).
    """

    bounds: tuple[Bound, ...]

    @property
    def key(self) -> str:
        """A short stable text naming this scope (a digest of the rules and values): the same
        for every user with the same scope, so their computed views can be shared."""
        text = repr(
            [
                (
                    b.rule.claim,
                    b.rule.column,
                    sorted(b.rule.columns.items()),
                    b.rule.channel,
                    b.value,
                )
                for b in self.bounds
            ]
        )
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    @property
    def fields(self) -> tuple[str, ...]:
        """Every column the bounds compare (record fields an events frame needs decoded)."""
        return tuple(dict.fromkeys(f for b in self.bounds for f in b.rule.fields))

    @property
    def unset_claims(self) -> tuple[str, ...]:
        """The claims of the bounds the user's token lacks (each shows nothing)."""
        return tuple(b.rule.claim for b in self.bounds if b.value is None)

    def rows(self, table: str, frame: pd.DataFrame) -> pd.DataFrame:
        """The rows of ``table`` (a frame of its current rows) this scope keeps, as a new
        frame with the same columns."""
        keep = np.ones(len(frame), dtype=bool)
        for bound in self.bounds:
            column = bound.rule.column_of(table)
            if bound.value is None or column not in frame.columns:
                keep[:] = False
                break
            keep &= _matches(frame[column], bound.value)
        return frame.loc[keep].reset_index(drop=True)

    def members(self, frame: pd.DataFrame) -> pd.DataFrame:
        """The presence members (a :func:`rtdata.presence.members_frame`) this scope keeps:
        those on a channel the rule's pattern gives the user's value, or, on a channel of no
        pattern's form, whose meta carries the value."""
        if frame.empty:
            return frame
        keep = [
            all(_member_passes(b, channel, meta) for b in self.bounds)
            for channel, meta in zip(frame["channel"], frame["meta"], strict=True)
        ]
        return frame.loc[np.asarray(keep, dtype=bool)].reset_index(drop=True)

    def events(self, frame: pd.DataFrame) -> pd.DataFrame:
        """The events of ``frame`` this scope keeps.

        ``frame`` is an events snapshot with at least the ``kind``, ``channel``, ``table``,
        ``record`` and ``old_record`` columns and a field column
        (:func:`rtdata.events.field_column`) for each of :attr:`fields`; the result keeps its
        columns and order.
        """
        if frame.empty:
            return frame
        kinds = frame["kind"].astype(object).to_numpy()
        tables = frame["table"].astype(object).to_numpy()
        channels = frame["channel"].astype(object).to_numpy()
        records = frame["record"].to_numpy()
        olds = frame["old_record"].to_numpy()
        status = kinds == EventKind.STATUS.value  # carries no row: always kept
        changes = kinds == EventKind.POSTGRES_CHANGES.value
        messages = (kinds == EventKind.BROADCAST.value) | (kinds == EventKind.PRESENCE.value)
        fast = (changes | (kinds == EventKind.BROADCAST.value)) & np.array(
            [isinstance(r, str) for r in records], dtype=bool
        )
        slow = np.flatnonzero((changes | messages) & ~fast)
        items = {i: _items(kinds[i], records[i], olds[i]) for i in slow}
        keep = changes | messages
        for bound in self.bounds:
            if bound.value is None:
                keep[:] = False
                break
            passing = np.zeros(len(frame), dtype=bool)
            values = np.empty(len(frame), dtype=object)
            values[:] = None
            for column in bound.rule.fields:
                chosen = fast & np.array([bound.rule.column_of(t) == column for t in tables])
                if chosen.any():
                    values[chosen] = frame[field_column(column)].to_numpy()[chosen]
            passing[fast] = [_text(v) == bound.value for v in values[fast]]
            for i, found in items.items():
                passing[i] = bool(found) and all(bound.keeps(tables[i], item) for item in found)
            # A message on a channel of the rule's pattern: the channel decides.
            for channel in set(channels[messages]):
                verdict = bound.channel_verdict(channel)
                if verdict is not None:
                    passing[messages & (channels == channel)] = verdict
            keep &= passing
        # A status event carries no row, but its channel's name may name another tenant.
        for channel in set(channels[status]):
            if self.allows_channel(channel) is False:
                status &= channels != channel
        kept: pd.DataFrame = frame.loc[keep | status]
        return kept

    def allows_channel(self, channel: str) -> bool | None:
        """Whether this scope keeps a channel's messages by its name alone: ``False`` when a
        rule's channel pattern names it with another value, ``True`` when every rule's does
        with the user's, ``None`` otherwise (the messages' records decide)."""
        verdicts = [b.channel_verdict(channel) for b in self.bounds]
        if False in verdicts:
            return False
        return True if verdicts and all(v is True for v in verdicts) else None


def _items(kind: str, record: Any, old: Any) -> list[Any]:
    """What a change (its record, or a DELETE's old record), a broadcast (its payload) or a
    presence event (its list of metas) carries, decoded; empty when it carries nothing."""
    text = record if isinstance(record, str) else old
    if not isinstance(text, str):
        return []
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError:
        return []
    return value if kind == EventKind.PRESENCE.value and isinstance(value, list) else [value]


def _member_passes(bound: Bound, channel: str, meta: Any) -> bool:
    verdict = bound.channel_verdict(channel)
    if verdict is not None:
        return verdict
    return isinstance(meta, Mapping) and bound.keeps(None, meta)


def scope_of(
    rules: Iterable[ScopeRule],
    roles: Iterable[str],
    claims: Mapping[str, Any],
    claim: Callable[[Mapping[str, Any], str], Any],
) -> RowScope | None:
    """The scope of a user with these dashboard ``roles`` and verified ``claims``: one bound
    per rule that names any of their roles; ``None`` when no rule does (they see every row).

    Args:
        rules: The config's rules.
        roles: The user's dashboard roles.
        claims: The user's verified claims.
        claim: Reads a dotted claim path (:func:`rtdata.access.claim`).
    """
    held = set(roles)
    bounds = tuple(
        Bound(rule, _claim_text(claim(claims, rule.claim)))
        for rule in rules
        if held.intersection(rule.roles)
    )
    return RowScope(bounds) if bounds else None


def _claim_text(value: Any) -> str | None:
    """A claim's value as the text rows are compared with; ``None`` for a missing, empty or
    structured (object or list) value."""
    if value is None or isinstance(value, Mapping | list):
        return None
    text = _text(value)
    return text if text else None


@functools.lru_cache(maxsize=256)
def _channel_pattern(pattern: str, value: str | None) -> re.Pattern[str]:
    """``pattern`` (``*`` any text, ``{value}`` the value, or any text when ``None``) as a
    regular expression."""
    before, _, after = pattern.partition("{value}")
    parts = [".*".join(re.escape(p) for p in side.split("*")) for side in (before, after)]
    middle = ".+?" if value is None else re.escape(value)
    return re.compile(parts[0] + middle + parts[1], re.DOTALL)


def _text(value: Any) -> str | None:
    """A value as compared text: ``True`` -> ``true``, ``5.0`` -> ``5``; ``None`` stays."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        if value != value:  # NaN: a missing value in a frame
            return None
        return str(int(value)) if value.is_integer() else repr(value)
    return str(value)


def _matches(column: pd.Series[Any], value: str) -> np.ndarray[Any, np.dtype[np.bool_]]:
    return np.array([_text(v) == value for v in column.to_numpy()], dtype=bool)


# ---------------------------------------------------------------- parsing

Report = Callable[[str, str], None]
"""Called with (key path, problem) for each problem found while parsing."""


def parse_scopes(value: Any, report: Report) -> tuple[ScopeRule, ...]:
    """Read ``[[access.scopes]]``; every problem is reported with its key path, and a rule
    with a problem is left out (then :func:`rtdata.config.load_config` fails on the report)."""
    if not isinstance(value, list):
        report("access.scopes", "must be an array of tables ([[access.scopes]])")
        return ()
    rules = []
    for i, entry in enumerate(value):
        path = f"access.scopes[{i}]"
        if not isinstance(entry, dict):
            report(path, "must be a table")
            continue
        for key in entry:
            if key not in SCOPE_KEYS:
                report(f"{path}.{key}", f"unknown key; the keys are {', '.join(SCOPE_KEYS)}")
        roles = entry.get("roles")
        claim = entry.get("claim")
        column = entry.get("column")
        columns = entry.get("columns", {})
        channel = entry.get("channel")
        bad = False
        if channel is not None and (
            not isinstance(channel, str) or channel.count("{value}") != 1 or len(channel) > 200
        ):
            report(
                f"{path}.channel",
                f"must be a channel pattern holding {{value}} once, got {channel!r}",
            )
            bad = True
        if (
            not isinstance(roles, list)
            or not roles
            or not all(isinstance(r, str) and ROLE_NAME.match(r) for r in roles)
        ):
            report(f"{path}.roles", "must be a non-empty array of role names ([a-z0-9_-], 1-40)")
            bad = True
        if not isinstance(claim, str) or not CLAIM_PATH.match(claim):
            report(f"{path}.claim", f"must be a dotted claim path, got {claim!r}")
            bad = True
        if not isinstance(column, str) or not _IDENTIFIER.match(column):
            report(f"{path}.column", f"must be a column name, got {column!r}")
            bad = True
        if not isinstance(columns, dict) or not all(
            isinstance(t, str)
            and _IDENTIFIER.match(t)
            and isinstance(c, str)
            and _IDENTIFIER.match(c)
            for t, c in columns.items()
        ):
            report(f"{path}.columns", "must map table names to column names")
            bad = True
        if not bad:
            rules.append(
                ScopeRule(
                    tuple(str(r) for r in roles or ()),
                    str(claim),
                    str(column),
                    dict(columns),
                    channel,
                )
            )
    return tuple(rules)
