"""The lifecycles a scenario drives, as data, and a check that its rows follow them.

A pack declares one :class:`StateMachine` per status column its simulator moves (its
``state_machines()``); :func:`check` reads the changes of a dry run
(:class:`rtdata.simulate.dry.DryRun`) and returns every row whose statuses break its machine.
Pure: no I/O, no clock.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType

from rtdata.simulate.dry import Change

__all__ = ["StateMachine", "check", "histories"]


@dataclass(frozen=True, slots=True)
class StateMachine:
    """The statuses a table's rows move through.

    Attributes:
        table: The table.
        status_column: The column holding the status.
        transitions: Every status -> the statuses a row may move to from it (``()`` for a
            terminal one).
        initial: The statuses a row may be inserted with.
        must_pass: Status -> statuses a row must have been in before it reaches that one (for
            example ``{"completed": ("accepted", "en_route")}``).

    Raises:
        ValueError: A status named anywhere is not a key of ``transitions``.
    """

    table: str
    status_column: str
    transitions: Mapping[str, tuple[str, ...]]
    initial: tuple[str, ...]
    must_pass: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "transitions", MappingProxyType(dict(self.transitions)))
        object.__setattr__(self, "must_pass", MappingProxyType(dict(self.must_pass)))
        named = {
            *self.initial,
            *(s for targets in self.transitions.values() for s in targets),
            *self.must_pass,
            *(s for before in self.must_pass.values() for s in before),
        }
        unknown = sorted(named - set(self.transitions))
        if unknown:
            raise ValueError(f"{self.table}.{self.status_column}: unknown statuses {unknown}")

    @property
    def terminal(self) -> tuple[str, ...]:
        """The statuses a row never leaves."""
        return tuple(status for status, targets in self.transitions.items() if not targets)

    def problems(self, history: Sequence[object]) -> list[str]:
        """What is wrong with one row's statuses, oldest first (repeats already collapsed)."""
        if not history:
            return []
        found = []
        if history[0] not in self.initial:
            found.append(f"inserted as {history[0]!r}, not one of {list(self.initial)}")
        for before, after in itertools.pairwise(history):
            if after not in self.transitions.get(str(before), ()):
                found.append(f"moved {before!r} -> {after!r}")
        seen: set[object] = set()
        for status in history:
            missed = [s for s in self.must_pass.get(str(status), ()) if s not in seen]
            if missed:
                found.append(f"reached {status!r} without passing {missed}")
            seen.add(status)
        return found


def histories(machine: StateMachine, changes: Iterable[Change]) -> dict[str, list[object]]:
    """Each row's statuses in ``machine``'s table, oldest first, with a status repeated by
    consecutive changes counted once; a row deleted and inserted again continues its list."""
    out: dict[str, list[object]] = {}
    for change in changes:
        if change.table != machine.table or change.record is None:
            continue
        status = change.record.get(machine.status_column)
        history = out.setdefault(change.key, [])
        if not history or history[-1] != status:
            history.append(status)
    return out


def check(machines: Iterable[StateMachine], changes: Sequence[Change]) -> list[str]:
    """Every broken rule in ``changes``, one line per row and problem (empty: all valid)."""
    return [
        f"{machine.table} {key}: {problem}"
        for machine in machines
        for key, history in histories(machine, changes).items()
        for problem in machine.problems(history)
    ]
