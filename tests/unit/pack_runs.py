"""A pack's simulator played dry for a long while, write by write, for the packs' pure tests."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime

from rtdata.simulate import Write, WriteSource
from rtdata.simulate.dry import Change, DryRun


@dataclass(frozen=True)
class Step:
    """One write of the run: when, the write, the rows it changed."""

    at: datetime
    write: Write
    changes: list[Change]
    start: datetime

    @property
    def elapsed_s(self) -> float:
        """Seconds since the run's first write."""
        return (self.at - self.start).total_seconds()


@dataclass(frozen=True)
class Run:
    """A write source played dry: the source (to read its own state), the rows, the steps."""

    scenario: WriteSource
    dry: DryRun
    steps: list[Step]

    def changes(self) -> Iterator[Change]:
        """Every changed row, in order."""
        for step in self.steps:
            yield from step.changes


def play(scenario: WriteSource, writes: int, start: datetime, step_s: float) -> Run:
    """Play ``writes`` writes of ``scenario`` ``step_s`` apart from ``start``; a source that
    broadcasts fails here (the packs that use this send none)."""
    dry = DryRun(scenario)
    steps = []
    for at, write, changes in dry.run(writes, start, step_s):
        assert isinstance(write, Write), "this pack sends no broadcast"
        steps.append(Step(at, write, changes, start))
    return Run(scenario, dry, steps)


def writes(scenario: WriteSource, n: int, start: datetime, step_s: float) -> list[Write]:
    """The first ``n`` writes of ``scenario`` (broadcasts left out)."""
    return [w for _, w, _ in DryRun(scenario).run(n, start, step_s) if isinstance(w, Write)]
