"""The telehealth pack, pure: its simulator is seeded, writes only what its migrations define (the
local server's store accepts every write), follows its state machines, stays bounded, has check-in
bursts and quiet spells and one clinic's incident, and its rtdata.toml names only what the
migrations define."""

from __future__ import annotations

import statistics
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from rtdata.config import Config, load_config
from rtdata.filters import parse_filter
from rtdata.introspect import schema_from_migrations
from rtdata.layout import BUILTIN_PAGES, WidgetType
from rtdata.scenarios import get_scenario
from rtdata.scenarios.telehealth import (
    CLINICS,
    TelehealthScenario,
    clinics,
    roster,
    scenario,
    state_machines,
)
from rtdata.scenarios.telehealth.alerts import (
    MAX_RESOLVED_ALERTS,
    MAX_UNRESOLVED_PER_CLINIC,
    PRIORITY,
    SLA_S,
)
from rtdata.scenarios.telehealth.gateway import MAX_SAMPLES
from rtdata.scenarios.telehealth.phases import (
    CYCLE_S,
    INCIDENT_CLINIC,
    INCIDENT_END_S,
    INCIDENT_START_S,
    PHASES,
    phase_at,
)
from rtdata.scenarios.telehealth.readings import BANDS
from rtdata.scenarios.telehealth.recovery import MAX_FINISHED_PER_CLINIC, PATIENTS_PER_CLINIC
from rtdata.scenarios.telehealth.scenario import MAX_MESSAGES, MAX_READINGS
from rtdata.server.schema import Schema, load_schema
from rtdata.server.store import TableStore
from rtdata.simulate import Broadcast, Write
from rtdata.simulate.dry import Change, DryRun
from rtdata.simulate.machine import check, histories
from rtdata.views.widgets import lifecycle, series

PACK = get_scenario("telehealth")
T0 = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
STEP_S = 0.1  # the demo's 10 writes per second
WRITES = 9000  # 900 s: two and a half cycles, two incidents
KEYS = {"care_assignments": ("provider_id", "patient_id"), "patient_status": ("patient_id",)}
CHANNEL_PURPOSES = ("announcements", "events", "collaboration", "metrics")


@dataclass
class Step:
    """One write of the long dry run, with the rows of every table after it."""

    elapsed_s: float
    write: Write | Broadcast
    changes: list[Change]


@dataclass
class Run:
    """The long dry run: each step, and the largest row count each table reached."""

    steps: list[Step]
    rows: dict[str, dict[str, dict[str, Any]]]
    most: dict[str, int]
    # elapsed_s -> (clinic -> raised alerts past their deadline), sampled every 5 s
    overdue: dict[float, Counter[str]]


@pytest.fixture(scope="module")
def schema() -> Schema:
    return load_schema(PACK.migrations)


@pytest.fixture(scope="module")
def config() -> Config:
    return load_config(PACK.config_path, env={})


@pytest.fixture(scope="module")
def run() -> Run:
    dry = DryRun(scenario(11), KEYS)
    steps, most, overdue = [], Counter[str](), {}
    for i, (now, write, changes) in enumerate(dry.run(WRITES, T0, step_s=STEP_S)):
        elapsed_s = i * STEP_S
        steps.append(Step(elapsed_s, write, changes))
        if i % 50 == 0:
            for table, rows in dry.rows.items():
                most[table] = max(most[table], len(rows))
            stamp = now.isoformat()
            overdue[elapsed_s] = Counter(
                r["tenant_id"]
                for r in dry.rows.get("patient_alerts", {}).values()
                if r["status"] == "raised" and r["ack_due_at"] < stamp
            )
    return Run(steps, dry.rows, dict(most), overdue)


def _writes(seed: int, n: int, step_s: float = STEP_S) -> list[Write | Broadcast]:
    dry = DryRun(scenario(seed), KEYS)
    return [write for _, write, _ in dry.run(n, T0, step_s=step_s)]


# ---------------------------------------------------------------- seeded and pure


def test_same_seed_gives_the_same_writes_and_another_seed_others() -> None:
    assert _writes(5, 600) == _writes(5, 600)
    assert _writes(5, 600) != _writes(6, 600)


def test_the_clock_is_the_now_argument_in_utc_and_a_naive_one_is_refused() -> None:
    source = TelehealthScenario(1)
    lisbon_summer = timezone(timedelta(hours=1))
    first = source.next_write(T0.astimezone(lisbon_summer))
    assert isinstance(first, Write)
    assert first.table == "tenants"
    assert {row["created_at"] for row in first.rows()} == {T0.isoformat()}
    with pytest.raises(ValueError, match="timezone-aware"):
        source.next_write(datetime(2026, 3, 2, 8, 0))


def test_the_first_writes_are_the_clinics_with_fixed_ids_then_their_teams(
    run: Run,
) -> None:
    first, second = (s.write for s in run.steps[:2])
    assert isinstance(first, Write)
    assert isinstance(second, Write)
    assert [r["id"] for r in first.rows()] == [c.id for c in CLINICS]
    team = Counter(r["tenant_id"] for r in second.rows())
    assert team == {c.id: clinics.PROVIDERS_PER_CLINIC for c in CLINICS}


def test_apply_result_ignores_rows_it_cannot_use_and_a_repeat() -> None:
    source = TelehealthScenario(2)
    write = Write("POST", "messages", body={"patient_id": "p"}, returning=True)
    source.apply_result(write, [{"id": "seven"}, {"id": True}, {}])
    assert source.messages == 0
    source.apply_result(write, [{"id": 7, "patient_id": "p"}])
    source.apply_result(write, [{"id": 7, "patient_id": "p"}])
    assert source.messages == 1
    source.apply_result(Write("PATCH", "messages", body={}), [{"id": 8}])
    assert source.messages == 1


# ---------------------------------------------------------------- what the migrations define


def test_the_enum_labels_the_simulator_uses_are_the_migrations(schema: Schema) -> None:
    assert schema.enums == {
        "app_role": clinics.APP_ROLES,
        "care_role": clinics.CARE_ROLES,
        "tjv_procedure": clinics.PROCEDURES,
        "recovery_status": clinics.RECOVERY_STATUSES,
        "alert_type": clinics.ALERT_TYPES,
        "alert_severity": clinics.ALERT_SEVERITIES,
        "alert_status": clinics.ALERT_STATUSES,
        "rehab_phase": clinics.REHAB_PHASES,
        "care_plan_status": clinics.CARE_PLAN_STATUSES,
    }


def test_every_write_names_columns_and_enum_labels_of_the_migrations(
    run: Run, schema: Schema
) -> None:
    for step in run.steps:
        write = step.write
        if isinstance(write, Broadcast):
            continue
        table = schema.tables[write.table]
        named = [*write.match, *(c for row in write.rows() for c in row)]
        assert not [c for c in named if table.column(c) is None], write
        for row in write.rows():
            for name, value in row.items():
                column = table.column(name)
                assert column is not None
                if column.enum_values:
                    assert value in column.enum_values, (write.table, name, value)
        if write.method == "POST":  # every NOT NULL column without a default is given
            required = {
                c.name for c in table.columns if not c.nullable and not c.default and not c.identity
            }
            for row in write.rows():
                assert required <= set(row), (write.table, required - set(row))


def _conditions(write: Write) -> Any:
    return parse_filter(",".join(f"{c}={v}" for c, v in write.query_params().items()))


def test_the_local_servers_store_accepts_every_write() -> None:
    """Played against the local server's own store (casts, enums, NOT NULL, keys), with the
    stored rows fed back as the REST API would."""
    store = TableStore(load_schema(PACK.migrations))
    source = scenario(4)
    changed = Counter[str]()
    for i in range(4000):
        write = source.next_write(T0 + timedelta(seconds=i * STEP_S))
        if isinstance(write, Broadcast):
            continue
        if write.method == "POST":
            rows = store.insert(write.table, write.rows())
        elif write.method == "PATCH":
            assert isinstance(write.body, dict)
            rows = store.update(write.table, _conditions(write), write.body)
        else:
            rows = store.delete(write.table, _conditions(write))
        changed[write.table] += len(rows)
        if write.returning:
            source.apply_result(write, rows)
    assert set(changed) == set(load_schema(PACK.migrations).tables)


# ---------------------------------------------------------------- lifecycles


def test_the_state_machines_hold_over_a_long_run(run: Run) -> None:
    changes = [c for step in run.steps for c in step.changes]
    machines = state_machines()
    assert {m.table for m in machines} == {"patient_alerts", "patient_status", "care_plans"}
    assert check(machines, changes) == []
    for machine in machines:
        finals = Counter(h[-1] for h in histories(machine, changes).values())
        assert sum(finals[s] for s in machine.terminal) >= 20, (machine.table, finals)
        for terminal in machine.terminal:
            assert finals[terminal], f"no {machine.table} row ever ended {terminal}"


def test_alerts_are_acknowledged_by_a_clinician_of_their_clinic(run: Run) -> None:
    team = {p.id: p.tenant_id for p in clinics.care_team(11)}
    alerts: dict[str, dict[str, Any]] = {}
    for step in run.steps:
        for change in step.changes:
            if change.table == "patient_alerts" and change.record is not None:
                alerts[change.key] = change.record
    acknowledged = [a for a in alerts.values() if a.get("acknowledged_by")]
    assert len(acknowledged) > 100
    for alert in acknowledged:
        assert team[alert["acknowledged_by"]] == alert["tenant_id"]
        assert alert["acknowledged_at"] >= alert["raised_at"]
    for alert in alerts.values():
        due = datetime.fromisoformat(alert["ack_due_at"]) - datetime.fromisoformat(
            alert["raised_at"]
        )
        assert due.total_seconds() == SLA_S[alert["severity"]]
        assert alert["priority"] == clinics.ALERT_SEVERITIES[::-1].index(alert["severity"]) + 1


# ---------------------------------------------------------------- the incident


def _cycle_times(run: Run, start_s: float, end_s: float) -> Iterator[float]:
    for elapsed_s in run.overdue:
        if start_s <= elapsed_s % CYCLE_S < end_s:
            yield elapsed_s


def test_the_offline_clinics_alerts_pile_up_past_their_deadline(run: Run) -> None:
    riverside, others = CLINICS[INCIDENT_CLINIC].id, [c.id for c in CLINICS[:INCIDENT_CLINIC]]
    late = list(_cycle_times(run, INCIDENT_START_S + 60, INCIDENT_END_S))
    assert max(run.overdue[t][riverside] for t in late) >= 8
    mean = statistics.mean(run.overdue[t][riverside] for t in late)
    for other in others:  # the others have about one alert past its deadline at most
        assert mean > 3 * max(1.0, statistics.mean(run.overdue[t][other] for t in late))
    # Once the team is back, the backlog is worked through.
    after = list(_cycle_times(run, INCIDENT_END_S + 60, INCIDENT_END_S + 100))
    assert after
    assert max(run.overdue[t][riverside] for t in after) <= 3


def test_the_incident_shows_in_escalations_and_the_gateway(run: Run) -> None:
    escalated = {
        c.record["tenant_id"]
        for s in run.steps
        for c in s.changes
        if c.table == "patient_alerts" and c.record and c.record.get("escalation_level") == 2
    }
    assert CLINICS[INCIDENT_CLINIC].id in escalated
    failing = Counter(
        (row["tenant_id"], INCIDENT_START_S <= s.elapsed_s % CYCLE_S < INCIDENT_END_S)
        for s in run.steps
        if isinstance(s.write, Write) and s.write.table == "system_metrics"
        for row in s.write.rows()
        if row["error_rate_pct"] > 2
    )
    assert set(failing) == {(CLINICS[INCIDENT_CLINIC].id, True)}
    urgent = [
        s
        for s in run.steps
        if isinstance(s.write, Broadcast) and s.write.payload.get("priority") == "urgent"
    ]
    assert {s.write.topic for s in urgent} == {  # type: ignore[union-attr]
        CLINICS[INCIDENT_CLINIC].channel("announcements")
    }
    assert all(INCIDENT_START_S <= s.elapsed_s % CYCLE_S < INCIDENT_END_S for s in urgent)


def test_the_roster_is_the_scenarios_care_team_about_70_percent_online() -> None:
    people = roster(3)
    assert people.members == TelehealthScenario(3).team
    assert len(people.members) == 18
    assert people.target_online == 13  # 70 % of 18


def test_the_offline_clinics_team_signs_out_and_comes_back() -> None:
    people = roster(11)
    start = T0
    online_by_clinic: dict[float, Counter[int]] = {}
    clinic_of = {p.id: p.clinic for p in people.members}
    for i in range(300):  # one change every 3 s, as the presence simulator paces them
        elapsed_s = i * 3.0
        change = people.next_change(start + timedelta(seconds=elapsed_s))
        assert change.channel == CLINICS[change.provider.clinic].channel("collaboration")
        online_by_clinic[elapsed_s] = Counter(clinic_of[k] for k in people.online)
    first = [online_by_clinic[t] for t in (0.0, 3.0, 6.0)]
    assert [set(c) for c in first] == [{0}, {0, 1}, {0, 1, 2}]  # clinics take turns at first
    for elapsed_s, online in online_by_clinic.items():
        into = elapsed_s % CYCLE_S
        if INCIDENT_START_S + 30 <= into < INCIDENT_END_S:
            assert online[INCIDENT_CLINIC] == 0, elapsed_s
        elif into >= INCIDENT_END_S + 60:
            assert online[INCIDENT_CLINIC] >= 1, elapsed_s
        if elapsed_s >= 6:  # after the first sign-ins, the other clinics always have someone
            assert online[0] >= 1, elapsed_s
            assert online[1] >= 1, elapsed_s


# ---------------------------------------------------------------- load and bounds


def test_check_in_bursts_upload_more_rows_per_insert_than_quiet_spells(run: Run) -> None:
    rows_per_upload: dict[str, list[int]] = defaultdict(list)
    for step in run.steps:
        write = step.write
        if isinstance(write, Write) and write.table == "vital_signs" and write.method == "POST":
            rows_per_upload[phase_at(step.elapsed_s).name].append(len(write.rows()))
    assert {p.name for p in PHASES} == set(rows_per_upload)
    mean = {name: statistics.mean(counts) for name, counts in rows_per_upload.items()}
    assert mean["check_in"] > 3 * mean["quiet"]
    assert mean["quiet"] < mean["steady"] < mean["check_in"]
    per_10_s = Counter[int]()
    for step in run.steps:
        per_10_s[int(step.elapsed_s // 10)] += sum(c.op == "INSERT" for c in step.changes)
    busiest, calmest = max(per_10_s.values()), min(per_10_s.values())
    assert busiest > 3 * calmest


def test_the_live_rows_stay_bounded(run: Run) -> None:
    clinics_n = len(CLINICS)
    patients = clinics_n * (PATIENTS_PER_CLINIC + MAX_FINISHED_PER_CLINIC + 2)
    bounds = {
        "tenants": clinics_n,
        "providers": clinics_n * clinics.PROVIDERS_PER_CLINIC,
        "patients": patients,
        "patient_status": patients,
        "care_plans": patients,
        "care_assignments": 3 * patients,
        "vital_signs": MAX_READINGS + 15,
        "messages": MAX_MESSAGES + 1,
        "patient_alerts": clinics_n * MAX_UNRESOLVED_PER_CLINIC + MAX_RESOLVED_ALERTS + 1,
        "system_metrics": clinics_n * (MAX_SAMPLES + 1),
    }
    assert set(run.most) == set(bounds)
    assert {t: n for t, n in run.most.items() if n > bounds[t]} == {}
    assert len(run.rows["vital_signs"]) > MAX_READINGS / 2  # and the demo is not empty


# ---------------------------------------------------------------- rtdata.toml


def test_the_config_names_only_what_the_migrations_define(config: Config, schema: Schema) -> None:
    described = schema_from_migrations(PACK.migrations)
    columns = {name: tuple(table.columns) for name, table in described.tables.items()}
    assert config.page_problems(config.tables(), columns) == []
    assert set(config.tables()) == set(schema.tables)
    for table, key in config.tables().items():
        assert key == schema.tables[table].primary_key, table
    assert all(schema.tables[t].published for t in config.tables())


def test_every_clinic_channel_is_followed(config: Config) -> None:
    names = {c.name for c in config.channels}
    assert {c.channel(p) for c in CLINICS for p in CHANNEL_PURPOSES} <= names
    assert set(config.presence_channels()) == {c.channel("collaboration") for c in CLINICS}
    assert set(config.broadcast_channels()) == {
        c.channel(p) for c in CLINICS for p in ("announcements", "events")
    }
    for clinic in CLINICS:
        (metrics,) = [c for c in config.channels if c.name == clinic.channel("metrics")]
        (binding,) = metrics.postgres_changes
        assert (binding.table, binding.filter) == ("system_metrics", f"tenant_id=eq.{clinic.id}")
    (tables,) = [c for c in config.channels if c.name == "rtdata-tables"]
    assert {b.table: b.events for b in tables.postgres_changes}["messages"] == ("INSERT",)


def test_the_simulator_only_broadcasts_on_followed_channels(run: Run, config: Config) -> None:
    sent = Counter(
        (s.write.topic, s.write.event) for s in run.steps if isinstance(s.write, Broadcast)
    )
    followed = {(c.name, e) for c in config.channels for e in c.broadcast}
    assert set(sent) == followed


def test_the_pages_and_their_widgets(config: Config) -> None:
    names = [p.name for p in config.pages]
    assert len(names) >= 4
    assert not set(names) & set(BUILTIN_PAGES)
    assert set(config.dashboard.wall_pages) <= {*names, *BUILTIN_PAGES}
    used = {w.type for p in config.pages for w in p.widgets}
    assert used == set(WidgetType) - {WidgetType.MAP}
    boards = {
        w.spec.table: w.spec
        for p in config.pages
        for w in p.widgets
        if isinstance(w.spec, lifecycle.LifecycleSpec)
    }
    alerts, recovery = boards["patient_alerts"], boards["patient_status"]
    assert alerts.statuses == clinics.ALERT_STATUSES
    assert alerts.spans == (("raised", "acknowledged"), ("acknowledged", "resolved"))
    assert alerts.group_column == "tenant_id"
    # Most severe first, and a raised alert's SLA is its severity's acknowledgement deadline.
    assert alerts.priority_column == alerts.sla_column == "severity"
    assert alerts.priority_order == tuple(sorted(PRIORITY, key=PRIORITY.__getitem__))
    assert {value: dict(by) for value, by in alerts.sla_s_by.items()} == {
        severity: {"raised": deadline_s} for severity, deadline_s in SLA_S.items()
    }
    assert "raised" not in alerts.sla_s
    assert set(recovery.statuses) == set(clinics.RECOVERY_STATUSES)
    assert set(recovery.terminal) == {"readmitted", "discharged"}


def test_the_readings_bands_are_the_alert_rules(config: Config) -> None:
    (readings,) = [
        w.spec
        for p in config.pages
        for w in p.widgets
        if isinstance(w.spec, series.SeriesSpec) and w.spec.table == "vital_signs"
    ]
    assert {b.column: (b.lower, b.upper) for b in readings.bands} == dict(BANDS)
    assert (readings.entity_column, readings.cohort_column) == ("patient_id", "tenant_id")


def test_every_tenant_owned_table_names_its_tenant_tenant_id(schema: Schema) -> None:
    owned = set(schema.tables) - {"tenants"}
    assert {t for t in owned if schema.tables[t].column("tenant_id") is None} == set()
