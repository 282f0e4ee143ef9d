"""Pure tests of the hospital scenario and of the simulator shell (in-process transport only)."""

from __future__ import annotations

import itertools
import json
import logging
import threading
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import httpx
import pytest

from rtdata.scenarios import get_scenario
from rtdata.scenarios.hospital import LISBON, City, HospitalScenario
from rtdata.server.schema import load_schema
from rtdata.server.values import CastError, coerce
from rtdata.simulate import AuthUser, Simulator, Write
from rtdata.simulate.runner import _next_due_s

MIGRATIONS_DIR = get_scenario("hospital").migrations

# The emergency status graph as the migration documents it; written out here, not imported,
# so a wrong graph in the scenario makes these tests fail.
ALLOWED = {
    "pending": {"accepted", "cancelled"},
    "accepted": {"en_route", "cancelled"},
    "en_route": {"on_scene"},
    "on_scene": {"completed"},
    "completed": set(),
    "cancelled": set(),
}
FINISHED = {"completed", "cancelled"}
IDENTITY_TABLES = {
    "verification_requests",
    "emergency_requests",
    "vital_signs",
    "hospital_resources",
    "waitlist_entries",
    "financial_disputes",
}
T0 = datetime(2025, 3, 14, 9, 30, tzinfo=UTC)
N_WRITES = 5_000


def is_abnormal(row: dict[str, Any]) -> bool:
    """Apply the thresholds of the brief, independently of the scenario's own helper."""
    return (
        row["heart_rate"] > 130
        or row["heart_rate"] < 45
        or row["spo2"] < 90
        or row["systolic"] > 180
        or row["temperature"] > 39.5
    )


@dataclass
class FakeServer:
    """Assigns increasing identity ids the way the REST API would, and nothing else."""

    next_id: int = 1000
    assigned: list[int] = field(default_factory=list)

    def rows_for(self, write: Write) -> list[dict[str, Any]]:
        rows = []
        for row in write.rows():
            if write.table in IDENTITY_TABLES:
                self.next_id += 1
                self.assigned.append(self.next_id)
                row = {**row, "id": self.next_id}
            rows.append(row)
        return rows


def drive(
    seed: int, n: int = N_WRITES, *, step_s: float = 0.05
) -> Iterator[tuple[Write, datetime]]:
    """Yield ``n`` writes of a scenario, feeding fake server ids back after each POST."""
    scenario = HospitalScenario(seed)
    server = FakeServer()
    for i in range(n):
        now = T0 + timedelta(seconds=i * step_s)
        write = scenario.next_write(now)
        if write.returning:
            scenario.apply_result(write, server.rows_for(write))
        yield write, now


@pytest.fixture(scope="module")
def writes() -> list[Write]:
    return [w for w, _ in drive(seed=42)]


@dataclass
class Emergencies:
    """Emergency state rebuilt from the writes alone."""

    history: dict[int, list[str]] = field(default_factory=dict)
    deleted: set[int] = field(default_factory=set)
    open_counts: list[int] = field(default_factory=list)


def replay_emergencies(seed: int, n: int = N_WRITES) -> Emergencies:
    state = Emergencies()
    scenario = HospitalScenario(seed)
    server = FakeServer()
    open_ids: set[int] = set()
    for i in range(n):
        write = scenario.next_write(T0 + timedelta(seconds=i))
        rows = server.rows_for(write) if write.returning else []
        if write.returning:
            scenario.apply_result(write, rows)
        if write.table == "emergency_requests":
            if write.method == "POST":
                for row in rows:
                    assert row["status"] == "pending"
                    state.history[row["id"]] = [row["status"]]
                    open_ids.add(row["id"])
            elif write.method == "PATCH":
                emergency_id = write.match["id"]
                assert emergency_id in state.history, f"PATCH of unknown emergency {emergency_id}"
                assert emergency_id not in state.deleted, f"PATCH of deleted {emergency_id}"
                assert write.body is not None
                assert not isinstance(write.body, list)
                state.history[emergency_id].append(write.body["status"])
                if write.body["status"] in FINISHED:
                    open_ids.discard(emergency_id)
            else:
                emergency_id = write.match["id"]
                assert state.history[emergency_id][-1] in FINISHED, "deleted an open emergency"
                assert emergency_id not in state.deleted, f"deleted {emergency_id} twice"
                state.deleted.add(emergency_id)
        state.open_counts.append(len(open_ids))
    return state


# ---------------------------------------------------------------- determinism


def test_same_seed_gives_same_writes() -> None:
    first = [w for w, _ in drive(seed=7, n=2_000)]
    second = [w for w, _ in drive(seed=7, n=2_000)]
    assert first == second


def test_different_seeds_give_different_writes() -> None:
    first = [w for w, _ in drive(seed=7, n=500)]
    other = [w for w, _ in drive(seed=8, n=500)]
    assert first != other


def test_same_seed_same_results_gives_same_writes_whatever_the_clock() -> None:
    slow = [(w.method, w.table, w.match) for w, _ in drive(seed=3, n=1_000, step_s=5.0)]
    fast = [(w.method, w.table, w.match) for w, _ in drive(seed=3, n=1_000, step_s=0.001)]
    assert slow == fast


# ---------------------------------------------------------------- opening writes


def test_first_write_seeds_hospitals_with_fixed_ids(writes: list[Write]) -> None:
    first = writes[0]
    assert (first.method, first.table, first.returning) == ("POST", "hospitals", True)
    rows = first.rows()
    assert [row["id"] for row in rows] == list(range(1, len(rows) + 1))
    assert 5 <= len(rows) <= 8
    assert len({row["name"] for row in rows}) == len(rows)
    for row in rows:
        assert row["district"] in LISBON.districts
        assert LISBON.contains(row["lat"], row["lon"])
    assert not any(w.table == "hospitals" for w in writes[1:])


def test_second_write_adds_verified_staff(writes: list[Write]) -> None:
    second = writes[1]
    assert (second.method, second.table) == ("POST", "profiles")
    rows = second.rows()
    assert 3 <= len(rows) <= 12
    assert all(row["verified"] is True for row in rows)
    assert {row["role"] for row in rows} <= {"nurse", "doctor", "dispatcher", "admin"}


# ---------------------------------------------------------------- emergencies


def test_emergency_statuses_follow_the_graph() -> None:
    state = replay_emergencies(seed=42)
    assert len(state.history) > 200
    finals = Counter(history[-1] for history in state.history.values())
    assert finals["completed"] > 0
    assert finals["cancelled"] > 0
    assert state.deleted, "old finished emergencies are never deleted"
    for emergency_id, history in state.history.items():
        for before, after in itertools.pairwise(history):
            assert after in ALLOWED[before], f"emergency {emergency_id}: {before} -> {after}"


def test_open_emergencies_stay_bounded() -> None:
    state = replay_emergencies(seed=5)
    assert max(state.open_counts) <= 60
    warmed_up = state.open_counts[500:]
    assert min(warmed_up) >= 15
    assert 20 <= sum(warmed_up) / len(warmed_up) <= 60


def test_finished_emergencies_stay_bounded() -> None:
    state = replay_emergencies(seed=11, n=12_000)
    finished_alive = [
        i for i, h in state.history.items() if h[-1] in FINISHED and i not in state.deleted
    ]
    assert len(finished_alive) <= 201


def test_emergency_rows_are_plausible(writes: list[Write]) -> None:
    posts = [w for w in writes if w.table == "emergency_requests" and w.method == "POST"]
    assert len(posts) > 200
    priorities: Counter[int] = Counter()
    for write in posts:
        assert isinstance(write.body, dict)
        row = write.body
        assert LISBON.contains(row["lat"], row["lon"]), (row["lat"], row["lon"])
        assert row["hospital_id"] in range(1, 7)
        assert row["priority"] in range(1, 6)
        street_and_number, district = row["pickup_address"].rsplit(", ", 1)
        assert district in LISBON.districts
        assert street_and_number.split()[-1].isdigit()
        assert len(row["patient_name"].split()) >= 2
        priorities[row["priority"]] += 1
    critical_share = priorities[1] / len(posts)
    assert 0.04 <= critical_share <= 0.18


def test_locations_stay_inside_a_small_city() -> None:
    city = City("Tiny", 10.0, 10.001, 20.0, 20.001, ("North", "South"))
    scenario = HospitalScenario(1, city=city)
    server = FakeServer()
    for i in range(2_000):
        write = scenario.next_write(T0 + timedelta(seconds=i))
        for row in write.rows():
            if "lat" in row:
                assert city.contains(row["lat"], row["lon"])
            if "pickup_address" in row:
                assert row["pickup_address"].endswith((", North", ", South"))
        if write.returning:
            scenario.apply_result(write, server.rows_for(write))


# ---------------------------------------------------------------- vitals


def test_abnormal_vitals_appear_at_a_plausible_rate(writes: list[Write]) -> None:
    readings = [w.body for w in writes if w.table == "vital_signs" and w.method == "POST"]
    assert len(readings) > 500
    abnormal = sum(is_abnormal(row) for row in readings if isinstance(row, dict))
    assert 0.01 <= abnormal / len(readings) <= 0.15


def test_vitals_stay_bounded_and_use_a_patient_pool() -> None:
    server_ids: list[int] = []
    alive: set[int] = set()
    patients: set[str] = set()
    scenario = HospitalScenario(42)
    server = FakeServer()
    for i in range(N_WRITES):
        write = scenario.next_write(T0 + timedelta(seconds=i))
        if write.returning:
            rows = server.rows_for(write)
            scenario.apply_result(write, rows)
            if write.table == "vital_signs":
                for row in rows:
                    alive.add(row["id"])
                    server_ids.append(row["id"])
                    patients.add(row["patient_id"])
                    assert row["patient_id"].startswith("P-")
                    assert row["patient_id"][2:].isdigit()
        elif write.table == "vital_signs":
            assert write.method == "DELETE"
            assert write.match["id"] in alive
            alive.discard(write.match["id"])
        assert len(alive) <= 400
    assert len(server_ids) > len(alive), "old vitals are never deleted"
    assert 5 <= len(patients) <= 200


# ---------------------------------------------------------------- profiles and verification


def test_verification_requests_move_from_pending_to_a_decision() -> None:
    scenario = HospitalScenario(9)
    server = FakeServer()
    pending: dict[int, str] = {}
    decided: set[int] = set()
    approved_profiles: list[str] = []
    profiles: set[str] = set()
    verified_patches: list[str] = []
    for i in range(N_WRITES):
        write = scenario.next_write(T0 + timedelta(seconds=i))
        rows = server.rows_for(write) if write.returning else []
        if write.returning:
            scenario.apply_result(write, rows)
        if write.table == "profiles" and write.method == "POST":
            for row in rows:
                assert row["role"] in {"patient", "nurse", "doctor", "dispatcher", "admin"}
                assert row["hospital_id"] in range(1, 7)
                profiles.add(row["id"])
        elif write.table == "verification_requests" and write.method == "POST":
            for row in rows:
                assert row["status"] == "pending"
                assert row["profile_id"] in profiles
                assert row["document_type"] in {"license", "id_card", "insurance"}
                pending[row["id"]] = row["profile_id"]
        elif write.table == "verification_requests" and write.method == "PATCH":
            assert isinstance(write.body, dict)
            request_id = write.match["id"]
            assert request_id in pending, f"decision for a request not pending: {request_id}"
            assert write.body["status"] in {"approved", "rejected"}
            assert write.body["updated_at"]
            decided.add(request_id)
            if write.body["status"] == "approved":
                approved_profiles.append(pending[request_id])
            del pending[request_id]
        elif write.table == "profiles" and write.method == "PATCH":
            assert write.body == {"verified": True, "updated_at": write.body["updated_at"]}
            verified_patches.append(write.match["id"])
    assert decided
    assert approved_profiles
    assert verified_patches == approved_profiles


def test_profile_ids_are_uuid4_from_the_seed(writes: list[Write]) -> None:
    ids = [
        row["id"]
        for w in writes
        if w.table == "profiles" and w.method == "POST"
        for row in w.rows()
    ]
    assert len(ids) == len(set(ids))
    assert all(uuid.UUID(i).version == 4 for i in ids)


# ---------------------------------------------------------------- operations tables

OPERATIONS_TABLES = {"hospital_resources", "waitlist_entries", "financial_disputes"}
WAITLIST_ALLOWED = {"waiting": {"scheduled", "removed"}, "scheduled": set(), "removed": set()}
DISPUTE_ALLOWED = {
    "open": {"investigating", "resolved"},
    "investigating": {"resolved"},
    "resolved": set(),
}


def replay_tables(
    seed: int, n: int = N_WRITES
) -> Iterator[tuple[Write, dict[str, dict[Any, dict[str, Any]]]]]:
    """Yield each write with every table's rows (by id) after applying it, as a server would.

    A PATCH or DELETE of an operations table must name a row that exists.
    """
    scenario = HospitalScenario(seed)
    server = FakeServer()
    tables: dict[str, dict[Any, dict[str, Any]]] = {}
    for i in range(n):
        write = scenario.next_write(T0 + timedelta(seconds=i))
        rows = tables.setdefault(write.table, {})
        if write.method == "POST":
            created = server.rows_for(write)
            rows.update({row["id"]: row for row in created})
            scenario.apply_result(write, created)
        else:
            key = write.match["id"]
            if write.table in OPERATIONS_TABLES:
                assert key in rows, f"{write.method} of a missing {write.table} row {key}"
            if write.method == "PATCH":
                assert isinstance(write.body, dict)
                rows[key] = {**rows.get(key, {}), **write.body}
            else:
                rows.pop(key, None)
        yield write, tables


def test_third_write_inserts_every_hospitals_resources(writes: list[Write]) -> None:
    third = writes[2]
    assert (third.method, third.table, third.returning) == ("POST", "hospital_resources", True)
    assert [row["hospital_id"] for row in third.rows()] == list(range(1, 7))
    assert [w for w in writes if w.table == "hospital_resources"][1:] == [
        w for w in writes[3:] if w.table == "hospital_resources"
    ]
    assert all(w.method == "PATCH" for w in writes[3:] if w.table == "hospital_resources")


def test_resources_stay_within_totals_and_sometimes_run_near_capacity() -> None:
    updates: Counter[int] = Counter()
    occupancy: list[float] = []
    for write, tables in replay_tables(seed=0):
        if write.table != "hospital_resources":
            continue
        rows = tables["hospital_resources"]
        if write.method == "PATCH":
            assert isinstance(write.body, dict)
            assert set(write.body) == {
                "beds_available",
                "icu_beds_available",
                "ambulances_available",
                "updated_at",
            }
            updates[rows[write.match["id"]]["hospital_id"]] += 1
        for row in rows.values():
            for name in ("beds", "icu_beds", "ambulances"):
                assert 0 <= row[f"{name}_available"] <= row[f"{name}_total"], row
            occupancy.append(1 - row["beds_available"] / row["beds_total"])
    assert sorted(row["hospital_id"] for row in rows.values()) == list(range(1, 7))
    assert set(updates) == set(range(1, 7))
    assert min(updates.values()) >= 20
    assert 0.74 <= sum(occupancy) / len(occupancy) <= 0.9
    near = sum(value >= 0.9 for value in occupancy) / len(occupancy)
    assert 0 < near < 0.2, "near capacity should happen now and then, not always"


def test_waitlist_entries_follow_the_graph_and_settle_around_75_waiting() -> None:
    history: dict[int, list[str]] = {}
    joined_at: dict[int, int] = {}
    waits: dict[int, list[int]] = {1: [], 2: [], 3: []}  # writes waited, by priority
    deleted: set[int] = set()
    waiting_counts: list[int] = []
    for i, (write, tables) in enumerate(replay_tables(seed=42, n=20_000)):
        rows = tables.get("waitlist_entries", {})
        if write.table == "waitlist_entries":
            key = write.match.get("id")
            if write.method == "POST":
                (key,) = [k for k in rows if k not in history]
                row = rows[key]
                assert row["status"] == "waiting"
                assert row["hospital_id"] in range(1, 7)
                assert row["priority"] in (1, 2, 3)
                assert row["patient_id"].startswith("P-")
                history[key], joined_at[key] = ["waiting"], i
            elif write.method == "PATCH":
                assert isinstance(write.body, dict)
                assert write.body["status"] in WAITLIST_ALLOWED[history[key][-1]]
                history[key].append(write.body["status"])
                waits[rows[key]["priority"]].append(i - joined_at[key])
            else:
                assert history[key][-1] != "waiting", "deleted a waiting entry"
                deleted.add(key)
        waiting_counts.append(sum(row["status"] == "waiting" for row in rows.values()))
    settled = waiting_counts[5_000:]
    assert max(waiting_counts) <= 120
    assert 60 <= sum(settled) / len(settled) <= 90
    assert deleted, "finished entries are never deleted"
    assert len(rows) - waiting_counts[-1] <= 201
    finals = Counter(h[-1] for h in history.values() if len(h) > 1)
    assert finals["scheduled"] > finals["removed"] > 0
    # Urgent entries leave the list first.
    mean_wait = {p: sum(w) / len(w) for p, w in waits.items()}
    assert mean_wait[1] < mean_wait[2] < mean_wait[3]


def test_disputes_follow_the_graph_name_patients_and_about_9_stay_unresolved() -> None:
    history: dict[int, list[str]] = {}
    unresolved_counts: list[int] = []
    for write, tables in replay_tables(seed=7, n=20_000):
        rows = tables.get("financial_disputes", {})
        if write.table == "financial_disputes":
            if write.method == "POST":
                assert isinstance(write.body, dict)
                body = write.body
                assert body["status"] == "open"
                profile = tables["profiles"].get(body["profile_id"])
                assert profile is not None, "dispute of a profile that does not exist"
                assert profile["role"] == "patient"
                assert 5 <= body["amount_eur"] <= 20_000
                assert round(body["amount_eur"], 2) == body["amount_eur"]
                (key,) = [k for k in rows if k not in history]
                history[key] = ["open"]
            elif write.method == "PATCH":
                assert isinstance(write.body, dict)
                key = write.match["id"]
                assert write.body["status"] in DISPUTE_ALLOWED[history[key][-1]]
                history[key].append(write.body["status"])
            else:
                assert history[write.match["id"]][-1] == "resolved"
        unresolved_counts.append(sum(r["status"] != "resolved" for r in rows.values()))
    paths = Counter(tuple(h) for h in history.values() if h[-1] == "resolved")
    assert paths[("open", "investigating", "resolved")] > paths[("open", "resolved")] > 0
    settled = unresolved_counts[5_000:]
    assert max(unresolved_counts) <= 25
    assert 5 <= sum(settled) / len(settled) <= 14


# ---------------------------------------------------------------- schema


def test_writes_only_use_columns_of_the_migration(writes: list[Write]) -> None:
    schema = load_schema(MIGRATIONS_DIR)
    assert schema.tables, "migration has no tables"
    seen_tables = set()
    for write in writes:
        assert write.table in schema.tables, write.table
        table = schema.tables[write.table]
        columns = {column.name: column for column in table.columns}
        seen_tables.add(write.table)
        assert set(write.match) <= set(columns), (write.table, write.match)
        if write.method == "POST":
            assert not write.match
            required = {
                c.name
                for c in table.columns
                if not c.nullable and c.default is None and not c.identity
            }
            for row in write.rows():
                assert set(row) <= set(columns), (write.table, set(row) - set(columns))
                assert required <= set(row), (write.table, required - set(row))
        elif write.method == "PATCH":
            assert write.match, f"unfiltered PATCH of {write.table}"
            assert isinstance(write.body, dict)
            assert write.body
            assert set(write.body) <= set(columns), (write.table, set(write.body) - set(columns))
        else:
            assert write.method == "DELETE"
            assert write.match, f"unfiltered DELETE of {write.table}"
            assert write.body is None
        for row in [*write.rows(), write.match]:
            for name, value in row.items():
                try:
                    coerce(columns[name], value)
                except CastError as exc:
                    pytest.fail(f"{write.table}.{name} = {value!r}: {exc}")
    assert seen_tables == set(schema.tables)


def test_timestamps_come_from_the_given_clock() -> None:
    timestamp_columns = {"created_at", "updated_at", "recorded_at"}
    for write, now in drive(seed=2, n=1_000):
        rows = [*write.rows()]
        for row in rows:
            for name in timestamp_columns & set(row):
                assert row[name] == now.isoformat()


def test_clock_in_another_timezone_is_written_as_utc() -> None:
    scenario = HospitalScenario(0)
    lisbon_summer = datetime(2025, 7, 1, 14, 0, tzinfo=timezone(timedelta(hours=1)))
    write = scenario.next_write(lisbon_summer)
    assert write.rows()[0]["created_at"] == "2025-07-01T13:00:00+00:00"


def test_naive_clock_is_rejected() -> None:
    with pytest.raises(ValueError, match="timezone"):
        HospitalScenario(0).next_write(datetime(2025, 1, 1))


# ---------------------------------------------------------------- small pieces


def test_apply_result_ignores_rows_it_cannot_use() -> None:
    scenario = HospitalScenario(0)
    written = []
    for i in range(300):
        write = scenario.next_write(T0 + timedelta(seconds=i))
        written.append(write)
        if write.returning:
            scenario.apply_result(write, [{"id": True}, {"id": "7"}, {}])
    assert scenario.open_emergencies == {}
    # Nothing with a server-assigned id was learned, so nothing of that kind is updated.
    assert not [w for w in written if w.method != "POST" and w.table in IDENTITY_TABLES]


def test_apply_result_twice_does_not_duplicate() -> None:
    scenario = HospitalScenario(0)
    scenario.next_write(T0)
    scenario.next_write(T0)
    write = Write("POST", "emergency_requests", body={"status": "pending"}, returning=True)
    scenario.apply_result(write, [{"id": 5}])
    scenario.apply_result(write, [{"id": 5}])
    assert scenario.open_emergencies == {5: "pending"}


def test_query_params_are_postgrest_filters() -> None:
    write = Write("PATCH", "t", body={}, match={"id": 7, "flag": True, "gone": None})
    assert write.query_params() == {"id": "eq.7", "flag": "eq.true", "gone": "is.null"}


def test_city_rejects_an_inverted_box() -> None:
    with pytest.raises(ValueError, match="bounding box"):
        City("Bad", 1.0, 0.0, 0.0, 1.0, ("A",))
    with pytest.raises(ValueError, match="district"):
        City("Bad", 0.0, 1.0, 0.0, 1.0, ())


def test_lisbon_box() -> None:
    assert LISBON.lat_min == pytest.approx(38.70)
    assert LISBON.lat_max == pytest.approx(38.79)
    assert LISBON.lon_min == pytest.approx(-9.22)
    assert LISBON.lon_max == pytest.approx(-9.10)
    assert {"Alvalade", "Belém", "Arroios", "Lumiar"} <= set(LISBON.districts)


def test_migrations_dir_holds_the_hospital_and_operations_migrations() -> None:
    assert (MIGRATIONS_DIR / "0001_hospital.sql").is_file()
    schema = load_schema(MIGRATIONS_DIR / "0002_operations.sql")
    assert schema.warnings == []
    assert set(schema.tables) == OPERATIONS_TABLES
    for table in schema.tables.values():
        assert table.published, table.name
        assert table.primary_key == ("id",)
        assert table.column("updated_at") is not None  # the default config's resync column


# ---------------------------------------------------------------- pacing


def test_pacing_keeps_schedule_when_on_time() -> None:
    assert _next_due_s(10.0, 10.01, 0.05, max_lag_s=0.5) == pytest.approx(10.05)


def test_pacing_catches_up_a_short_stall() -> None:
    # 0.3 s late: the next write is already due, so it goes out without waiting.
    assert _next_due_s(10.0, 10.35, 0.05, max_lag_s=0.5) == pytest.approx(10.05)


def test_pacing_drops_a_long_backlog() -> None:
    assert _next_due_s(10.0, 15.0, 0.05, max_lag_s=0.5) == pytest.approx(15.0)


# ---------------------------------------------------------------- runner (in-process transport)


KEY = "sb-secret-key-do-not-log"


class RestStub:
    """In-process stand-in for ``/rest/v1``: assigns ids and answers like PostgREST."""

    def __init__(self, stop_after: int, fail_every: int = 0) -> None:
        self.stop_after = stop_after
        self.fail_every = fail_every
        self.requests: list[httpx.Request] = []
        self.next_id = 100
        self.on_limit: Any = None
        self.assigned: list[list[int]] = []
        self.threads: set[str] = set()

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        self.assigned.append([])
        self.threads.add(threading.current_thread().name)
        if len(self.requests) == self.stop_after and self.on_limit is not None:
            self.on_limit()
        n = len(self.requests)
        if self.fail_every and n % self.fail_every == 0:
            if n % (2 * self.fail_every) == 0:
                raise httpx.ConnectError("connection refused", request=request)
            body = {"code": "23505", "message": "duplicate key", "details": None, "hint": None}
            return httpx.Response(409, json=body)
        if request.method == "POST":
            payload = json.loads(request.content)
            rows = payload if isinstance(payload, list) else [payload]
            out = []
            for row in rows:
                if "id" not in row:
                    self.next_id += 1
                    self.assigned[-1].append(self.next_id)
                    row = {**row, "id": self.next_id}
                out.append(row)
            return httpx.Response(201, json=out)
        return httpx.Response(204)


def stubbed(stub: RestStub, seed: int = 0, **options: Any) -> Simulator:
    """A simulator of the hospital scenario writing to ``stub`` as fast as it can."""
    options.setdefault("rate_per_s", 1e6)
    transport = httpx.MockTransport(stub)
    return Simulator(
        "http://rest.invalid/", KEY, HospitalScenario(seed), transport=transport, **options
    )


def test_run_sends_postgrest_requests_with_keys() -> None:
    stub = RestStub(stop_after=400)
    sim = stubbed(stub, seed=1)
    stub.on_limit = sim.stop
    sim.run()
    assert len(stub.requests) == 400
    assert sim.writes_ok == 400
    assert sim.writes_failed == 0
    assert sim.last_error is None
    created: set[int] = set()
    for request, assigned in zip(stub.requests, stub.assigned, strict=True):
        created.update(assigned)
        assert request.headers["apikey"] == KEY
        assert request.headers["authorization"] == f"Bearer {KEY}"
        assert request.url.path.startswith("/rest/v1/")
        if request.method == "POST":
            assert request.headers["prefer"] == "return=representation"
            assert not request.url.params
        else:
            assert request.headers["prefer"] == "return=minimal"
            assert request.url.params["id"].startswith("eq.")
            target = request.url.params["id"][3:]
            table = request.url.path.removeprefix("/rest/v1/")
            if table in IDENTITY_TABLES:
                assert int(target) in created, "id was not learned from a representation"
    patched = [r for r in stub.requests if r.method == "PATCH" and "emergency" in r.url.path]
    assert patched, "no emergency was ever updated: ids not fed back"


def test_run_counts_failures_and_keeps_going(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="rtdata.simulate")
    stub = RestStub(stop_after=60, fail_every=5)
    sim = stubbed(stub)
    stub.on_limit = sim.stop
    sim.run()
    assert len(stub.requests) == 60
    assert sim.writes_failed == 12
    assert sim.writes_ok == 48
    assert sim.last_error is not None
    assert "ConnectError" in sim.last_error or "duplicate key" in sim.last_error
    assert "duplicate key" in caplog.text
    assert KEY not in caplog.text
    assert KEY not in (sim.last_error or "")


def test_zero_duration_sends_nothing() -> None:
    stub = RestStub(stop_after=0)
    sim = stubbed(stub, duration_s=0)
    sim.run()
    assert stub.requests == []
    assert sim.writes_ok == sim.writes_failed == 0


def test_start_runs_in_a_named_daemon_thread_and_stop_is_idempotent() -> None:
    reached = threading.Event()
    stub = RestStub(stop_after=25)
    stub.on_limit = reached.set
    sim = stubbed(stub)
    sim.start()
    sim.start()  # already running: no second thread
    assert reached.wait(timeout=30), "the simulator thread did not send writes"
    assert sim.running
    sim.stop()
    sim.stop()
    assert not sim.running
    assert stub.threads == {"rtdata-simulator"}
    assert sim.writes_ok >= 25


def test_stop_before_start_is_harmless() -> None:
    sim = Simulator("http://rest.invalid", KEY, HospitalScenario(0))
    sim.stop()
    assert not sim.running


@pytest.mark.parametrize(
    "kwargs",
    [
        {"rate_per_s": 0.0},
        {"rate_per_s": -1.0},
        {"rate_per_s": float("inf")},
        {"duration_s": -1.0},
        {"timeout_s": 0.0},
    ],
)
def test_simulator_rejects_bad_settings(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="must be"):
        Simulator("http://rest.invalid", KEY, HospitalScenario(0), **kwargs)


class Scripted:
    """A write source that sends ``writes`` in turn, then nothing new (the last again)."""

    def __init__(self, *writes: Write) -> None:
        self.writes = list(writes)
        self.sent = 0

    def next_write(self, now: datetime) -> Write:
        write = self.writes[min(self.sent, len(self.writes) - 1)]
        self.sent += 1
        return write

    def apply_result(self, write: Write, rows: Any) -> None:
        pass


def test_auth_users_are_made_first_and_the_row_is_upserted() -> None:
    ada = AuthUser("0b5a3c1e-7d2f-4e8a-9c6b-1f2e3d4c5b6a", "ada@example.test", {"full_name": "Ada"})
    bob = AuthUser("1c6b4d2f-8e3a-4f9b-8d7c-2a3f4e5d6c7b", "bob@example.test")
    sign_up = Write(
        "POST",
        "profiles",
        body=[{"id": ada.id, "role": "admin"}, {"id": bob.id, "role": "user"}],
        auth_users=(ada, bob),
        on_conflict="id",
    )
    answers = {
        # Bob was made by an earlier run; a later user's refusal fails the whole write.
        bob.email: httpx.Response(422, json={"code": 422, "error_code": "email_exists"}),
        "eve@example.test": httpx.Response(500, json={"msg": "Database error creating new user"}),
    }
    requests: list[httpx.Request] = []

    def handle(request: httpx.Request) -> httpx.Response:
        requests.append(request)
        if len(requests) == 4:
            sim.stop()  # from the simulator's own thread: only signals
        if request.url.path == "/auth/v1/admin/users":
            email = json.loads(request.content)["email"]
            return answers.get(email, httpx.Response(200, json={"id": "made"}))
        return httpx.Response(201, json=[])

    refused = Write(
        "POST", "profiles", body={"id": "x"}, auth_users=(AuthUser("x", "eve@example.test"),)
    )
    source = Scripted(sign_up, refused)
    sim = Simulator(
        "http://api.invalid", KEY, source, rate_per_s=1e6, transport=httpx.MockTransport(handle)
    )
    sim.run()
    paths = [(r.method, r.url.path) for r in requests]
    assert paths == [
        ("POST", "/auth/v1/admin/users"),
        ("POST", "/auth/v1/admin/users"),
        ("POST", "/rest/v1/profiles"),
        ("POST", "/auth/v1/admin/users"),  # eve refused: her row is never sent
    ]
    made = json.loads(requests[0].content)
    assert made == {
        "id": ada.id,
        "email": ada.email,
        "email_confirm": True,
        "user_metadata": {"full_name": "Ada"},
    }
    assert requests[0].headers["authorization"] == f"Bearer {KEY}"
    upsert = requests[2]
    assert upsert.url.params["on_conflict"] == "id"
    assert upsert.headers["prefer"] == "return=minimal,resolution=merge-duplicates"
    assert (sim.writes_ok, sim.writes_failed) == (1, 1)
    assert sim.last_error is not None
    assert "making user x" in sim.last_error
