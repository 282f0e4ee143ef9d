"""The admin pack: its simulator is seeded and writes only what its migrations define, follows
its lifecycles, brings its bursts, quiet spells and incidents, stays bounded; its roster is the
core team; its ``rtdata.toml`` names only what the migrations define."""

from __future__ import annotations

import itertools
from collections import Counter
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import Any

import pytest

from rtdata.config import load_config
from rtdata.introspect import schema_from_migrations
from rtdata.layout import Label, WidgetType
from rtdata.scenarios import get_scenario
from rtdata.scenarios.admin import role_machine, state_machines
from rtdata.scenarios.admin.accounts import CORE_ADMINS, CORE_STAFF, ESCALATED, MAX_USERS
from rtdata.scenarios.admin.patients import MAX_PATIENTS
from rtdata.scenarios.admin.phases import CYCLE_S, PHASE_STARTS_S, Phase, phase_at
from rtdata.scenarios.admin.scenario import MAX_PACKET_PATIENTS, AdminScenario
from rtdata.scenarios.admin.submissions import MAX_DECIDED, MAX_OPEN, PACKET
from rtdata.scenarios.admin.team import EDITORS_CHANNEL, MAX_EDITORS, TeamRoster
from rtdata.server.schema import load_schema
from rtdata.server.values import coerce
from rtdata.simulate import Write
from rtdata.simulate.dry import DryRun
from rtdata.simulate.machine import check, histories
from tests.unit.pack_runs import Run, play, writes

PACK = get_scenario("admin")
T0 = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
STEP_S = 0.1  # 10 writes a second, the demo's default rate
CYCLES = 4
WRITES = int(CYCLES * CYCLE_S / STEP_S)
SLA_PENDING_S = 60.0  # the review board's pending SLA (rtdata.toml)


@cache
def long_run() -> Run:
    return play(AdminScenario(3), WRITES, T0, STEP_S)


def _writes(seed: int, n: int) -> list[Write]:
    return writes(AdminScenario(seed), n, T0, STEP_S)


# ---------------------------------------------------------------- seeded, pure, schema-true


def test_the_same_seed_gives_the_same_writes_and_another_seed_others() -> None:
    assert _writes(5, 1500) == _writes(5, 1500)
    assert _writes(5, 1500) != _writes(6, 1500)


def test_a_naive_time_is_refused() -> None:
    with pytest.raises(ValueError, match="timezone"):
        AdminScenario(0).next_write(datetime(2026, 1, 1))


def test_writes_use_only_the_migrations_tables_columns_and_enum_labels() -> None:
    schema = load_schema(PACK.migrations)
    for step in long_run().steps:
        write = step.write
        table = schema.tables[write.table]
        columns = {c.name: c for c in table.columns}
        assert set(write.match) <= set(columns), write
        for row in write.rows():
            assert set(row) <= set(columns), write
            for name, value in row.items():
                coerce(columns[name], value)  # raises on a bad type or enum label
        if write.method == "POST":
            required = {
                c.name
                for c in table.columns
                if not c.nullable and c.default is None and not c.identity
            }
            for row in write.rows():
                assert required <= set(row), (write.table, required - set(row))


def test_every_row_keeps_the_migrations_checks_and_references() -> None:
    run = long_run()
    team = {a.id for a in run.scenario.team}
    patients: set[Any] = set()
    profiles: dict[str, str] = {}
    for change in run.changes():
        row = change.record
        if change.table == "patients" and row is not None:
            patients.add(row["id"])
            assert row["created_by"] in team
            assert row.get("updated_by") in (None, *team)
        elif change.table == "patients":
            patients.discard(change.old["id"])
        elif change.table == "profiles" and row is not None:
            if change.op == "UPDATE" and row["role"] != profiles[change.key]:
                assert profiles[row["role_changed_by"]] == "admin"  # only an admin changes roles
            profiles[change.key] = row["role"]
        elif change.table == "form_submissions" and row is not None:
            assert row["patient_id"] in patients  # no form of a deleted patient
            assert row["submitted_by"] in team
            if row["status"] != "pending":  # form_submissions_review_stamped
                assert row["reviewer_id"] in team
                assert row["reviewed_at"] is not None
            if row["status"] in ("approved", "rejected"):  # form_submissions_decision_stamped
                assert row["decided_at"] is not None
    # A patient goes only once its forms have gone (the cascade is sent as its own delete).
    live_forms = run.dry.rows.get("form_submissions", {}).values()
    assert {f["patient_id"] for f in live_forms} <= patients


# ---------------------------------------------------------------- lifecycles


def test_the_state_machines_hold_over_four_cycles() -> None:
    changes = list(long_run().changes())
    forms, roles = state_machines()
    assert roles == role_machine()
    assert check([forms, roles], changes) == []
    finals = Counter(h[-1] for h in histories(forms, changes).values())
    assert finals["approved"] > 500
    assert finals["rejected"] > 50
    for history in histories(forms, changes).values():
        if history[-1] in forms.terminal:
            assert history[:2] == ["pending", "reviewed"]


def test_each_reviewer_approves_at_their_own_rate() -> None:
    run = long_run()
    rates = run.scenario.submissions.approval_rates
    assert set(rates) == {a.id for a in run.scenario.team}
    assert all(0.6 <= rate <= 0.95 for rate in rates.values())
    decided: dict[str, Counter[str]] = {}
    for change in run.changes():
        row = change.record
        if change.table == "form_submissions" and row and row["status"] in ("approved", "rejected"):
            decided.setdefault(row["reviewer_id"], Counter())[row["status"]] += 1
    for reviewer, counts in decided.items():
        n = counts.total()
        assert n > 40
        assert abs(counts["approved"] / n - rates[reviewer]) < 0.2


def test_roles_move_up_and_down_and_the_core_team_keeps_its_roles() -> None:
    run = long_run()
    roles = histories(role_machine(), list(run.changes()))
    team = {a.id: a.role for a in run.scenario.team}
    assert Counter(a.role for a in run.scenario.team) == {"admin": CORE_ADMINS, "staff": CORE_STAFF}
    for key, history in roles.items():
        if key in team:
            assert history == [team[key]]
        else:
            assert history[0] == "user"  # a sign-up starts as a user
    moves = Counter(m for h in roles.values() for m in itertools.pairwise(h))
    assert set(moves) == {
        ("user", "staff"),
        ("staff", "admin"),
        ("admin", "staff"),
        ("staff", "user"),
    }


# ---------------------------------------------------------------- phases and incidents


def test_the_phase_clock() -> None:
    assert [phase_at(s) for s in (0, 59.9, 60, 100, 160, 200, 299.9, 300, -5)] == [
        Phase.STEADY,
        Phase.STEADY,
        Phase.RUSH,
        Phase.BACKLOG,
        Phase.ESCALATION,
        Phase.QUIET,
        Phase.QUIET,
        Phase.STEADY,
        Phase.STEADY,
    ]
    assert list(PHASE_STARTS_S) == list(Phase)


def _rows_per_write(phase: Phase) -> float:
    steps = [s for s in long_run().steps if phase_at(s.elapsed_s) is phase]
    return sum(len(s.changes) for s in steps) / len(steps)


def _forms_submitted_per_min(phase: Phase) -> float:
    steps = [s for s in long_run().steps if phase_at(s.elapsed_s) is phase]
    submitted = sum(
        len(s.changes)
        for s in steps
        if s.write.table == "form_submissions" and s.write.method == "POST"
    )
    return submitted / (len(steps) * STEP_S / 60)


def test_the_rush_is_a_burst_of_bulk_posts_and_the_lull_is_quiet() -> None:
    rush, steady, quiet = (_rows_per_write(p) for p in (Phase.RUSH, Phase.STEADY, Phase.QUIET))
    assert rush > 1.5 * steady
    assert quiet < steady
    assert _forms_submitted_per_min(Phase.QUIET) < _forms_submitted_per_min(Phase.RUSH) / 4
    bulk = [
        len(s.write.rows())
        for s in long_run().steps
        if s.write.method == "POST" and phase_at(s.elapsed_s) is Phase.RUSH
    ]
    assert max(bulk) >= len(PACKET) * 3
    quiet_posts = [
        len(s.write.rows())
        for s in long_run().steps
        if s.write.method == "POST" and s.write.table == "patients"
        and phase_at(s.elapsed_s) is Phase.QUIET
    ]  # fmt: skip
    assert set(quiet_posts) <= {1}


def _role_changes() -> list[tuple[float, str, str, str]]:
    """(elapsed s, account, new role, changed by) of every role change of the long run."""
    roles: dict[str, str] = {}
    out = []
    for step in long_run().steps:
        for change in step.changes:
            row = change.record
            if change.table != "profiles" or row is None:
                continue
            if change.op == "UPDATE" and row["role"] != roles[change.key]:
                out.append((step.elapsed_s, change.key, row["role"], row["role_changed_by"]))
            roles[change.key] = row["role"]
    return out


def test_the_role_escalation_makes_several_admins_within_a_minute_then_is_reverted() -> None:
    changes = _role_changes()
    for cycle in range(CYCLES):
        start_s = cycle * CYCLE_S + PHASE_STARTS_S[Phase.ESCALATION]
        made = Counter(
            by for t, _, role, by in changes if start_s <= t < start_s + 40 and role == "admin"
        )
        (culprit, count), *others = made.most_common()
        assert count >= ESCALATED
        assert sum(n for _, n in others) <= 1  # ordinary grants are rare
        escalated = {
            who
            for t, who, role, by in changes
            if start_s <= t < start_s + 40 and role == "admin" and by == culprit
        }
        end_s = (cycle + 1) * CYCLE_S
        reverted = {
            who: by for t, who, role, by in changes if start_s + 40 <= t < end_s and role == "user"
        }
        assert escalated <= set(reverted)  # the quiet phase takes every one back to user
        assert {reverted[who] for who in escalated} - {culprit}  # by another admin
    admins: set[str] = set()  # besides the core team's
    peak = 0
    for _, who, role, _ in changes:
        (admins.add if role == "admin" else admins.discard)(who)
        peak = max(peak, CORE_ADMINS + len(admins))
    assert peak >= 7  # the Admins tile (warn 5, critical 7) turns critical


def test_the_review_backlog_leaves_forms_past_their_sla() -> None:
    pending: dict[str, float] = {}
    worst: dict[tuple[int, Phase], float] = {}
    for step in long_run().steps:
        for change in step.changes:
            if change.table != "form_submissions":
                continue
            if change.op == "INSERT":
                pending[change.key] = step.elapsed_s
            elif change.record is None or change.record["status"] != "pending":
                pending.pop(change.key, None)
        oldest_s = step.elapsed_s - min(pending.values(), default=step.elapsed_s)
        slot = (int(step.elapsed_s // CYCLE_S), phase_at(step.elapsed_s))
        worst[slot] = max(worst.get(slot, 0.0), oldest_s)
    for cycle in range(CYCLES):
        assert worst[cycle, Phase.BACKLOG] > SLA_PENDING_S
        assert worst[cycle, Phase.STEADY] < SLA_PENDING_S
        assert worst[cycle, Phase.QUIET] < 3 * SLA_PENDING_S  # the lull clears the backlog


def test_the_live_set_stays_bounded() -> None:
    scenario = AdminScenario(11)
    dry = DryRun(scenario)
    most: Counter[str] = Counter()
    for i, _ in enumerate(dry.run(36_000, T0, STEP_S)):  # an hour at 10 writes a second
        if i % 500 == 0:
            for table, rows in dry.rows.items():
                most[table] = max(most[table], len(rows))
    assert most["profiles"] <= CORE_ADMINS + CORE_STAFF + MAX_USERS + 3 * ESCALATED
    assert most["patients"] <= MAX_PATIENTS + MAX_PACKET_PATIENTS + 10
    assert most["form_submissions"] <= MAX_OPEN + MAX_DECIDED + len(PACKET) * MAX_PACKET_PATIENTS


# ---------------------------------------------------------------- presence


def test_the_roster_is_the_core_team_on_two_static_channels() -> None:
    roster = PACK.roster(3)
    assert isinstance(roster, TeamRoster)
    team = {a.email: a for a in AdminScenario(3).team}
    assert {m.email for m in roster.members} == set(team)
    config = load_config(PACK.config_path)
    assert set(config.presence_channels()) == {"online", EDITORS_CHANNEL}
    editors_seen = 0
    for i in range(600):
        change = roster.next_change(T0 + timedelta(seconds=3 * i))
        assert change.key in team
        assert change.channel in (None, EDITORS_CHANNEL)
        if change.kind != "leave":
            assert change.meta["role"] == team[change.key].role
            assert change.meta["user"] == team[change.key].full_name
        assert set(roster.editing) <= set(roster.online)
        assert len(roster.editing) <= MAX_EDITORS
        if i >= roster.target_online:
            assert 2 <= len(roster.online) <= len(team)
            editors_seen += bool(roster.editing)
    assert editors_seen > 500  # someone nearly always has a form open


def test_the_roster_is_seeded() -> None:
    def keys(seed: int) -> list[tuple[str, str, str | None]]:
        roster = TeamRoster(seed, AdminScenario(seed).team)
        return [
            (c.kind, c.key, c.channel)
            for c in (roster.next_change(T0 + timedelta(seconds=i)) for i in range(200))
        ]

    assert keys(4) == keys(4)
    assert keys(4) != keys(5)


# ---------------------------------------------------------------- rtdata.toml


def test_the_config_names_only_what_the_migrations_define() -> None:
    config = load_config(PACK.config_path, env={})
    schema = schema_from_migrations(PACK.migrations)
    columns = {name: tuple(table.columns) for name, table in schema.tables.items()}
    assert set(config.tables()) == set(load_schema(PACK.migrations).tables)
    assert config.page_problems(list(config.tables()), columns) == []
    assert config.resync_columns() == dict.fromkeys(config.tables(), "updated_at")
    assert config.labels["reviewer_id"] == Label("reviewer_id", "profiles", "id", "full_name")
    assert config.labels["patient_id"] == Label("patient_id", "patients", "id", "full_name")


def test_the_pages_and_what_is_on_them() -> None:
    config = load_config(PACK.config_path, env={})
    names = [p.name for p in config.pages]
    assert names == ["console", "submissions", "reviewers", "access", "patients", "team"]
    assert set(config.dashboard.wall_pages) <= set(names)
    used = {w.type for p in config.pages for w in p.widgets}
    assert used == set(WidgetType) - {WidgetType.SERIES, WidgetType.MAP}
    (board,) = [w.spec for p in config.pages for w in p.widgets if w.type is WidgetType.LIFECYCLE]
    forms, _ = state_machines()
    assert board.statuses == tuple(forms.transitions)
    assert set(board.terminal) == set(forms.terminal)
    assert dict(board.sla_s) == {"pending": SLA_PENDING_S, "reviewed": 30.0}
    assert board.columns
    assert "data" not in board.columns  # the form's answers stay off the board
    feeds = [w.spec for p in config.pages for w in p.widgets if w.type is WidgetType.FEED]
    assert any(f.changed == ("role",) and f.toast_filter == "role=eq.admin" for f in feeds)
