"""The crm pack: its simulator is deterministic, writes only what its migrations define, follows
its ticket lifecycle, has bursts, quiet spells and an SLA breach wave, keeps its tables bounded;
its ``rtdata.toml`` names only what the migrations define. All pure: dry runs, no server."""

from __future__ import annotations

import statistics
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from rtdata.config import Config, load_config
from rtdata.introspect import schema_from_migrations
from rtdata.layout import BUILTIN_PAGES, Label, WidgetType
from rtdata.scenarios import Scenario, get_scenario
from rtdata.scenarios.crm import state_machines
from rtdata.scenarios.crm.catalogue import PRODUCTS, SLA_POLICIES, TEAMS
from rtdata.scenarios.crm.desk import MAX_CLOSED, MAX_UNRESOLVED
from rtdata.scenarios.crm.phases import CYCLE_S, PHASES, phase_at
from rtdata.scenarios.crm.sales import MAX_ACQUISITIONS, MAX_CUSTOMERS, MAX_INTERACTIONS
from rtdata.scenarios.crm.scenario import CrmScenario
from rtdata.server.schema import Schema, load_schema
from rtdata.settings import Settings
from rtdata.simulate import Write
from rtdata.simulate.dry import Change, DryRun
from rtdata.simulate.machine import check, histories
from rtdata.views.widgets import lifecycle

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
STEP_S = 0.1  # the demo's default rate: 10 writes per second
WRITES = 12_000  # 20 minutes: two and a half cycles
UNRESOLVED = ("open", "assigned", "waiting")


@pytest.fixture(scope="module")
def pack() -> Scenario:
    return get_scenario("crm")


@pytest.fixture(scope="module")
def config(pack: Scenario) -> Config:
    return load_config(pack.config_path, env={})


@pytest.fixture(scope="module")
def schema(pack: Scenario) -> Schema:
    return load_schema(pack.migrations)


@dataclass
class Step:
    now: datetime
    elapsed_s: float
    phase: str
    write: Write
    changes: list[Change]
    backlog: tuple[int, int] | None  # every 20th step: unassigned and first-response breached


@dataclass
class Run:
    steps: list[Step]
    dry: DryRun

    def changes(self) -> Iterator[Change]:
        return (c for s in self.steps for c in s.changes)


def _backlog(tickets: Iterable[dict[str, Any]]) -> tuple[int, int]:
    """Unassigned tickets, and unresolved ones whose first response breached its SLA."""
    unassigned = breached = 0
    for row in tickets:
        unassigned += row["status"] == "open"
        breached += row["status"] in UNRESOLVED and row["first_response_breached"] is True
    return unassigned, breached


def _dry(config: Config, seed: int, writes: int, step_s: float = STEP_S) -> Run:
    scenario = CrmScenario(seed)
    dry = DryRun(scenario, Settings(config=config).table_keys)
    steps = []
    for i, (now, write, changes) in enumerate(dry.run(writes, T0, step_s)):
        assert isinstance(write, Write)  # the pack sends no broadcast
        elapsed_s = (now - T0).total_seconds()
        backlog = _backlog(dry.rows.get("tickets", {}).values()) if i % 20 == 0 else None
        steps.append(Step(now, elapsed_s, phase_at(elapsed_s).name, write, changes, backlog))
    return Run(steps, dry)


@pytest.fixture(scope="module")
def run(config: Config) -> Run:
    return _dry(config, 5, WRITES)


# ---------------------------------------------------------------- the simulator


def test_the_same_seed_gives_the_same_writes(config: Config) -> None:
    first = [s.write for s in _dry(config, 11, 3000).steps]
    again = [s.write for s in _dry(config, 11, 3000).steps]
    other = [s.write for s in _dry(config, 12, 3000).steps]
    assert first == again
    assert first != other


def test_the_first_writes_insert_the_reference_rows_with_fixed_ids(run: Run) -> None:
    tables = [s.write.table for s in run.steps[:6]]
    assert tables == ["sla_policies", "teams", "agents", "products", "customers", "tickets"]
    rows = run.dry.rows
    assert sorted(int(k) for k in rows["sla_policies"]) == [p.priority for p in SLA_POLICIES]
    assert {int(k): r["name"] for k, r in rows["teams"].items()} == dict(TEAMS)
    assert {int(k): r["name"] for k, r in rows["products"].items()} == {
        p.id: p.name for p in PRODUCTS
    }
    roles = Counter(r["role"] for r in rows["agents"].values())
    assert roles == {"agent": 12, "lead": 3, "admin": 1}


def _check_value(schema: Schema, table: str, column: str, value: Any) -> str | None:
    col = schema.tables[table].column(column)
    if col is None:
        return f"{table}.{column} is not a column"
    if value is None:
        return None if col.nullable else f"{table}.{column} is NOT NULL"
    if col.enum_values and value not in col.enum_values:
        return f"{table}.{column}: {value!r} is not one of {col.enum_values}"
    kinds: dict[str, type | tuple[type, ...]] = {
        "int2": int,
        "int4": int,
        "int8": int,
        "numeric": (int, float),
        "text": str,
        "uuid": str,
        "bool": bool,
        "timestamptz": str,
    }
    kind = kinds.get(col.type)
    if kind is not None and not isinstance(value, kind):
        return f"{table}.{column}: {value!r} is not {col.type}"
    if col.type == "timestamptz":
        assert datetime.fromisoformat(value).tzinfo is not None
    return None


def test_writes_use_only_the_migrations_tables_columns_and_enum_values(
    run: Run, schema: Schema
) -> None:
    problems: set[str] = set()
    for step in run.steps:
        write = step.write
        assert write.table in schema.tables, write.table
        table = schema.tables[write.table]
        for column, value in write.match.items():
            problems.add(_check_value(schema, write.table, column, value) or "")
        for row in write.rows():
            for column, value in row.items():
                problems.add(_check_value(schema, write.table, column, value) or "")
            if write.method == "POST":
                for col in table.columns:  # every NOT NULL column without default is given
                    needed = not col.nullable and col.default is None and not col.identity
                    if needed and col.name not in row:
                        problems.add(f"{write.table}.{col.name} missing from an insert")
        if write.method == "DELETE":
            assert write.body is None
            assert write.match
    assert problems == {""}


def test_the_tickets_follow_their_state_machine_and_every_closed_one_was_resolved(
    run: Run,
) -> None:
    changes = list(run.changes())
    machines = state_machines()
    assert [m.table for m in machines] == ["tickets"]
    assert check(machines, changes) == []
    finals = Counter(h[-1] for h in histories(machines[0], changes).values())
    assert finals["closed"] > 200
    closed = [h for h in histories(machines[0], changes).values() if h[-1] == "closed"]
    assert any("waiting" in h for h in closed)
    assert any("waiting" not in h for h in closed)
    assert any(h.count("resolved") > 1 for h in closed)  # reopened, then resolved again


def test_the_sla_due_times_follow_the_priority_and_the_sweep_flags_only_overdue_tickets(
    run: Run,
) -> None:
    policies = {p.priority: p for p in SLA_POLICIES}
    flagged = Counter[str]()
    for step in run.steps:
        for change in step.changes:
            if change.table != "tickets" or change.record is None:
                continue
            row = change.record
            created = datetime.fromisoformat(row["created_at"])
            policy = policies[row["priority"]]
            due = datetime.fromisoformat(row["first_response_due_at"])
            assert due - created == timedelta(seconds=policy.first_response_s)
            due = datetime.fromisoformat(row["resolution_due_at"])
            assert due - created == timedelta(seconds=policy.resolution_s)
            body = step.write.body if step.write.method == "PATCH" else {}
            assert isinstance(body, dict)
            for kind in ("first_response", "resolution"):
                if body.get(f"{kind}_breached") is True:
                    flagged[kind] += 1
                    assert step.now > datetime.fromisoformat(row[f"{kind}_due_at"])
                    assert row["status"] in (("open",) if kind == "first_response" else UNRESOLVED)
    assert flagged["first_response"] > 50
    assert flagged["resolution"] >= 5


def _per_phase(run: Run, value: Any) -> dict[str, float]:
    """Mean of ``value(step)`` over the steps of each phase of the first two cycles."""
    seen: dict[str, list[float]] = defaultdict(list)
    for step in run.steps:
        if step.elapsed_s < 2 * CYCLE_S and step.elapsed_s > 10:  # past the opening writes
            seen[step.phase].append(float(value(step)))
    return {phase: statistics.fmean(values) for phase, values in seen.items()}


def test_bursts_and_quiet_spells(run: Run) -> None:
    assert [p.name for p in PHASES] == ["steady", "burst", "quiet", "breach_wave", "recovery"]

    def filed(step: Step) -> int:
        write = step.write
        return len(write.rows()) if (write.table, write.method) == ("tickets", "POST") else 0

    tickets_per_s = {k: v / STEP_S for k, v in _per_phase(run, filed).items()}
    assert tickets_per_s["burst"] > 5 * tickets_per_s["quiet"]
    assert tickets_per_s["breach_wave"] > 8 * tickets_per_s["quiet"]
    posts = [s for s in run.steps if s.write.method == "POST" and s.elapsed_s > 10]
    burst = [len(s.write.rows()) for s in posts if s.phase == "burst"]
    quiet = [len(s.write.rows()) for s in posts if s.phase == "quiet"]
    assert max(quiet) == 1
    assert statistics.fmean(burst) > 2 * statistics.fmean(quiet)
    events = _per_phase(run, lambda s: len(s.changes))
    assert events["burst"] > 1.4 * events["quiet"]


def test_the_breach_wave_piles_tickets_past_their_sla_then_recovers(run: Run) -> None:
    by_phase: dict[tuple[int, str], list[tuple[int, int]]] = defaultdict(list)
    for step in run.steps:
        cycle = int(step.elapsed_s // CYCLE_S)
        # By a minute in, the inbox filed before the desk opened has been worked.
        if step.backlog is not None and step.elapsed_s > 60:
            by_phase[cycle, step.phase].append(step.backlog)
    for cycle in (0, 1):
        before, after = by_phase[cycle, "quiet"], by_phase[cycle + 1, "quiet"]
        wave = by_phase[cycle, "breach_wave"] + by_phase[cycle, "recovery"]
        assert max(u for u, _ in wave) > 3 * max(u for u, _ in before) + 10, cycle
        assert max(b for _, b in wave) >= 10, cycle
        assert max(b for _, b in before + after) <= 3, cycle
        drained, _ = by_phase[cycle, "recovery"][-1]  # the queue, at the end of the cycle
        assert drained <= 3, cycle


def test_the_live_set_stays_bounded(config: Config) -> None:
    long = _dry(config, 2, 30_000)  # fifty minutes at 10 writes per second
    rows = long.dry.rows
    tickets = Counter(r["status"] for r in rows["tickets"].values())
    assert tickets["closed"] <= MAX_CLOSED
    assert sum(tickets[s] for s in UNRESOLVED) <= MAX_UNRESOLVED
    assert len(rows["customers"]) <= MAX_CUSTOMERS + 3  # a sign-up batch before the prune
    assert len(rows["acquisitions"]) <= MAX_ACQUISITIONS + 1
    assert len(rows["interactions"]) <= MAX_INTERACTIONS + 10  # one bulk insert before the prune
    assert len(rows["comments"]) <= 10 * len(rows["tickets"])
    assert len(rows["attachments"]) <= 3 * len(rows["tickets"])
    live = {str(k) for k in rows["tickets"]}
    assert {str(r["ticket_id"]) for r in rows["comments"].values()} <= live
    assert {str(r["ticket_id"]) for r in rows["attachments"].values()} <= live
    customers = set(rows["customers"])
    for table in ("tickets", "acquisitions", "interactions"):
        assert {r["customer_id"] for r in rows[table].values()} <= customers, table


def test_it_keeps_going_at_two_writes_per_second(config: Config) -> None:
    slow = _dry(config, 4, 4000, step_s=0.5)
    changes = list(slow.changes())
    assert check(state_machines(), changes) == []
    statuses = Counter(r["status"] for r in slow.dry.rows["tickets"].values())
    assert statuses["closed"] > 20


def test_the_phase_clock_cycles() -> None:
    assert phase_at(0).name == "steady"
    assert phase_at(215).name == "breach_wave"
    assert phase_at(CYCLE_S + 215).name == "breach_wave"
    assert phase_at(CYCLE_S - 1).name == "recovery"
    assert [p.start_s for p in PHASES] == sorted(p.start_s for p in PHASES)


def test_now_must_be_timezone_aware() -> None:
    with pytest.raises(ValueError, match="timezone"):
        CrmScenario(0).next_write(datetime(2026, 1, 1))


# ---------------------------------------------------------------- the config


def test_the_config_names_only_what_the_migrations_define(pack: Scenario, config: Config) -> None:
    assert config.source == str(pack.config_path)
    migrated = schema_from_migrations(pack.migrations)
    columns = {name: tuple(table.columns) for name, table in migrated.tables.items()}
    assert set(config.tables()) == set(load_schema(pack.migrations).tables)
    assert config.page_problems(set(config.tables()), columns) == []


def test_each_app_table_has_its_channel_and_the_reference_tables_share_one(
    config: Config, schema: Schema
) -> None:
    by_channel = {c.name: [b.table for b in c.postgres_changes] for c in config.channels}
    for table in ("products", "customers", "acquisitions", "interactions"):
        assert by_channel[f"public:{table}"] == [table]
    for table in ("tickets", "comments", "attachments"):
        assert by_channel[f"public:{table}"] == [table]
    assert by_channel["crm-reference"] == ["teams", "agents", "sla_policies"]
    assert config.presence_channels() == ()
    assert config.broadcast_channels() == ()
    assert config.tables()["sla_policies"] == ("priority",)
    resync = config.resync_columns()
    for name, column in resync.items():
        assert schema.tables[name].column(column) is not None
    assert all(t.published for t in schema.tables.values())


def test_the_labels_and_pages(config: Config) -> None:
    assert config.labels["priority"] == Label("priority", "sla_policies", "priority", "name")
    assert config.labels["assigned_to"] == Label("assigned_to", "agents", "id", "full_name")
    names = [p.name for p in config.pages]
    assert names == ["helpdesk", "sla", "activity", "crm", "admin"]
    assert not set(names) & set(BUILTIN_PAGES)
    assert set(config.dashboard.wall_pages) <= set(names) | set(BUILTIN_PAGES)
    used = {w.type for p in config.pages for w in p.widgets}
    assert used == {
        WidgetType.TILES,
        WidgetType.LIFECYCLE,
        WidgetType.QUEUE,
        WidgetType.BREAKDOWN,
        WidgetType.FEED,
    }
    boards = [w.spec for p in config.pages for w in p.widgets if w.type is WidgetType.LIFECYCLE]
    for board in boards:
        assert isinstance(board, lifecycle.LifecycleSpec)
        assert board.statuses == ("open", "assigned", "waiting", "resolved", "closed")
        assert board.spans == (("open", "assigned"), ("assigned", "resolved"))
        assert board.terminal == ("resolved", "closed")
    groups = [b.group_column for b in boards if isinstance(b, lifecycle.LifecycleSpec)]
    assert groups == ["priority", "team_id"]
    # An open ticket's board SLA is its priority's first response, as sla_policies says.
    first_response = {str(p.priority): {"open": p.first_response_s} for p in SLA_POLICIES}
    for board in boards:
        assert isinstance(board, lifecycle.LifecycleSpec)
        assert board.sla_column == "priority"
        assert {value: dict(by) for value, by in board.sla_s_by.items()} == first_response
        assert "open" not in board.sla_s
        assert {"id", "priority", "status"} <= set(board.columns)
        assert "description" not in board.columns
