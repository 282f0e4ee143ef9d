"""Lifecycles as data: the state-machine check, the dry run it reads, and every pack's simulator
held to its own machines over a long dry run."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import pytest

from rtdata.config import load_config
from rtdata.scenarios import SCENARIOS
from rtdata.settings import Settings
from rtdata.simulate import Broadcast, Write
from rtdata.simulate.dry import Change, DryRun
from rtdata.simulate.machine import StateMachine, check, histories

T0 = datetime(2026, 3, 1, tzinfo=UTC)
TICKETS = StateMachine(
    "tickets",
    "status",
    {"open": ("assigned", "closed"), "assigned": ("done",), "done": (), "closed": ()},
    initial=("open",),
    must_pass={"done": ("open", "assigned")},
)


def test_a_valid_history_has_no_problem() -> None:
    assert TICKETS.problems(["open", "assigned", "done"]) == []
    assert TICKETS.problems(["open", "closed"]) == []
    assert TICKETS.terminal == ("done", "closed")


@pytest.mark.parametrize(
    ("history", "problem"),
    [
        (["assigned", "done"], "inserted as 'assigned'"),
        (["open", "done"], "moved 'open' -> 'done'"),
        (["open", "closed", "assigned"], "moved 'closed' -> 'assigned'"),
        (["open", "assigned", None], "moved 'assigned' -> None"),
    ],
)
def test_each_broken_rule_is_named(history: list[object], problem: str) -> None:
    assert any(problem in found for found in TICKETS.problems(history)), TICKETS.problems(history)


def test_must_pass_is_checked_on_its_own() -> None:
    loose = StateMachine(
        "t", "s", {"a": ("c",), "b": ("c",), "c": ()}, initial=("a", "b"), must_pass={"c": ("b",)}
    )
    assert loose.problems(["a", "c"]) == ["reached 'c' without passing ['b']"]
    assert loose.problems(["b", "c"]) == []


def test_an_unknown_status_is_refused() -> None:
    with pytest.raises(ValueError, match=r"tickets.status: unknown statuses \['gone'\]"):
        StateMachine("tickets", "status", {"open": ("gone",)}, initial=("open",))


def test_histories_collapse_repeats_and_skip_deletes_and_other_tables() -> None:
    changes = [
        Change("tickets", "INSERT", "1", {"id": 1, "status": "open"}, {}),
        Change("other", "INSERT", "1", {"id": 1, "status": "x"}, {}),
        Change("tickets", "UPDATE", "1", {"id": 1, "status": "open", "note": "n"}, {"id": 1}),
        Change("tickets", "UPDATE", "1", {"id": 1, "status": "done"}, {"id": 1}),
        Change("tickets", "DELETE", "1", None, {"id": 1}),
    ]
    assert histories(TICKETS, changes) == {"1": ["open", "done"]}
    assert check([TICKETS], changes) == [
        "tickets 1: moved 'open' -> 'done'",
        "tickets 1: reached 'done' without passing ['assigned']",
    ]


class Script:
    """A write source that replays a fixed list and keeps what comes back."""

    def __init__(self, writes: Sequence[Write | Broadcast]) -> None:
        self.writes = list(writes)
        self.results: list[tuple[str, list[Mapping[str, Any]]]] = []

    def next_write(self, now: datetime) -> Write | Broadcast:
        return self.writes.pop(0)

    def apply_result(self, write: Write, rows: Sequence[Mapping[str, Any]]) -> None:
        self.results.append((write.table, [dict(r) for r in rows]))


def test_a_dry_run_answers_as_postgrest_would() -> None:
    script = Script(
        [
            Write("POST", "tickets", [{"status": "open"}, {"status": "open"}], returning=True),
            Write("POST", "tickets", {"id": 10, "status": "open"}),
            Write("POST", "tickets", {"status": "open"}),
            Write("PATCH", "tickets", {"status": "assigned"}, {"id": 2}, returning=True),
            Write("DELETE", "tickets", match={"status": "open"}),
            Broadcast("room", "note", {"n": 1}),
            Write("POST", "links", {"a": 1, "b": 2}),
        ]
    )
    run = DryRun(script, {"links": ("a", "b")})
    steps = list(run.run(7, T0))
    assert [len(changes) for _, _, changes in steps] == [2, 1, 1, 1, 3, 0, 1]
    assert script.results == [
        ("tickets", [{"status": "open", "id": 1}, {"status": "open", "id": 2}]),
        ("tickets", [{"id": 2, "status": "assigned"}]),
    ]
    assert steps[2][2][0].key == "11"  # an identity stays ahead of an explicit id
    assert steps[3][2][0] == Change(
        "tickets", "UPDATE", "2", {"id": 2, "status": "assigned"}, {"id": 2}
    )
    assert sorted(c.key for c in steps[4][2]) == ["1", "10", "11"]
    assert {c.op for c in steps[4][2]} == {"DELETE"}
    assert list(run.rows["tickets"]) == ["2"]
    assert steps[6][2][0].key == "1|2"
    assert isinstance(steps[1][1], Write)
    assert steps[1][1].returning is False
    assert len(script.results) == 2  # no feedback for writes that do not ask for it


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_every_packs_simulator_follows_its_state_machines(name: str) -> None:
    pack = SCENARIOS[name]
    module = __import__(pack.module, fromlist=["state_machines"])
    machines = module.state_machines()
    assert machines, f"{name} declares no state machine"
    keys = Settings(config=load_config(pack.config_path)).table_keys
    run = DryRun(pack.scenario(3), keys)
    changes = [c for _, _, step in run.run(8000, T0, step_s=0.5) for c in step]
    assert check(machines, changes) == []
    for machine in machines:
        finals = [h[-1] for h in histories(machine, changes).values()]
        assert finals, f"{name}: no {machine.table} row was ever written"
        if machine.terminal:  # a lifecycle with an end: some rows reach it
            assert set(finals) & set(machine.terminal), f"{name}: no {machine.table} row finished"
