"""The marketplace pack: its simulator is seeded and writes only what its migrations define,
keeps their keys and references, follows its lifecycles, brings its bursts, quiet spells and
the city nobody covers, stays bounded; its roster types in open chats; its ``rtdata.toml``
names only what the migrations define; its README lists every statement the server ignores."""

from __future__ import annotations

import itertools
import json
import re
from collections import Counter, defaultdict
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import Any

import pytest

from rtdata.config import load_config
from rtdata.introspect import schema_from_migrations
from rtdata.layout import Label, WidgetType
from rtdata.scenarios import get_scenario
from rtdata.scenarios.marketplace import roster, state_machines
from rtdata.scenarios.marketplace.bookings import MAX_FINISHED, MAX_OPEN
from rtdata.scenarios.marketplace.fleet import MAX_SURGES, MAX_TECHNICIANS
from rtdata.scenarios.marketplace.lifecycle import OPEN
from rtdata.scenarios.marketplace.people import ADMINS, MAX_CUSTOMERS
from rtdata.scenarios.marketplace.phases import (
    CYCLE_S,
    PHASE_STARTS_S,
    Phase,
    cycle_at,
    incident_city,
    phase_at,
)
from rtdata.scenarios.marketplace.places import CATEGORIES, CITIES
from rtdata.scenarios.marketplace.presence import MAX_TYPING, TYPING_CHANNEL, TypingRoster
from rtdata.scenarios.marketplace.scenario import BACKLOG, MarketplaceScenario
from rtdata.server.schema import load_schema
from rtdata.server.values import coerce
from rtdata.simulate import Write
from rtdata.simulate.dry import DryRun
from rtdata.simulate.machine import check, histories
from tests.unit.pack_runs import Run, play, writes

PACK = get_scenario("marketplace")
T0 = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
STEP_S = 0.1  # 10 writes a second, the demo's default rate
CYCLES = 4
WRITES = int(CYCLES * CYCLE_S / STEP_S)
SLA_S = 30.0  # the booking board's pending and bidding SLAs (rtdata.toml)


@cache
def long_run() -> Run:
    return play(MarketplaceScenario(3), WRITES, T0, STEP_S)


def _writes(seed: int, n: int) -> list[Write]:
    return writes(MarketplaceScenario(seed), n, T0, STEP_S)


# ---------------------------------------------------------------- seeded, pure, schema-true


def test_the_same_seed_gives_the_same_writes_and_another_seed_others() -> None:
    assert _writes(5, 2000) == _writes(5, 2000)
    assert _writes(5, 2000) != _writes(6, 2000)


def test_a_naive_time_is_refused() -> None:
    with pytest.raises(ValueError, match="timezone"):
        MarketplaceScenario(0).next_write(datetime(2026, 1, 1))
    with pytest.raises(ValueError, match="timezone"):
        roster(0).next_change(datetime(2026, 1, 1))


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


_REFERENCES = {  # (table, column) -> referenced table, as the migrations declare them
    (table.name, fk.columns[0]): fk.table
    for table in load_schema(PACK.migrations).tables.values()
    for fk in table.foreign_keys
}


def test_every_row_refers_to_live_rows_and_no_delete_leaves_an_orphan() -> None:
    live: dict[str, set[Any]] = defaultdict(set)
    for change in long_run().changes():
        if change.record is None:
            live[change.table].discard(change.old["id"])
            continue
        live[change.table].add(change.record["id"])
        for (table, column), target in _REFERENCES.items():
            value = change.record.get(column)
            if table == change.table and value is not None:
                assert value in live[target], (change.table, column, value)
    rows = long_run().dry.rows
    for (table, column), target in _REFERENCES.items():
        keys = {row["id"] for row in rows[target].values()}
        for row in rows.get(table, {}).values():
            assert row.get(column) is None or row[column] in keys, (table, column)


def test_the_checks_of_the_migrations_hold() -> None:
    for change in long_run().changes():
        row = change.record
        if row is None:
            continue
        if change.table == "bookings" and row["status"] not in ("pending", "bidding", "cancelled"):
            assert row["technician_id"]
            assert row["accepted_bid_id"]
            assert row["accepted_at"]
        if change.table == "bookings" and row["status"] == "completed":
            assert row["completed_at"]
        if change.table == "bookings" and row["status"] == "cancelled":
            assert row["cancelled_at"]
            assert row["cancel_reason"]
        if change.table == "payments":
            assert row["status"] != "failed" or row["failure_reason"]
            assert row["amount"] == pytest.approx(row["platform_fee"] + row["technician_payout"])
        if change.table == "reviews":
            assert 1 <= row["rating"] <= 5
        if change.table == "technicians" and row["is_verified"]:
            assert row["verified_at"]
    refs = [w.body["provider_ref"] for w in _posts("payments")]  # type: ignore[index]
    assert len(refs) == len(set(refs))  # provider_ref is unique


def _posts(table: str) -> Iterator[Write]:
    for step in long_run().steps:
        if step.write.table == table and step.write.method == "POST":
            yield step.write


def test_messages_notifications_and_payments_are_only_inserted_and_deleted() -> None:
    appended = ("messages", "notifications", "payments", "reviews")
    methods = {(s.write.table, s.write.method) for s in long_run().steps}
    assert {(t, "PATCH") for t in appended} & methods == set()
    assert {(t, "POST") for t in appended} <= methods


# ---------------------------------------------------------------- lifecycles


def test_the_state_machines_hold_over_four_cycles() -> None:
    changes = list(long_run().changes())
    machines = state_machines()
    assert [m.table for m in machines] == ["bookings", "bids", "technicians"]
    assert check(machines, changes) == []
    bookings, bids, technicians = (histories(m, changes) for m in machines)
    finals = Counter(h[-1] for h in bookings.values())
    assert finals["completed"] > 150
    assert finals["cancelled"] > 10
    for history in bookings.values():
        if history[-1] == "completed":
            assert history == [
                "pending",
                "bidding",
                "accepted",
                "en_route",
                "in_progress",
                "completed",
            ]
    assert {h[-1] for h in bids.values()} >= {"accepted", "rejected", "withdrawn"}
    moves = Counter(m for h in technicians.values() for m in itertools.pairwise(h))
    assert set(moves) == {
        ("offline", "available"),
        ("available", "offline"),
        ("available", "on_job"),
        ("on_job", "available"),
    }


def test_an_accepted_booking_has_its_one_accepted_bid_at_its_price() -> None:
    bids: dict[int, dict[str, Any]] = {}
    for change in long_run().changes():
        row = change.record
        if change.table == "bids" and row is not None:
            bids[row["id"]] = row
        if change.table == "bookings" and row is not None and row["status"] == "accepted":
            bid = bids[row["accepted_bid_id"]]
            assert bid["booking_id"] == row["id"]
            assert bid["technician_id"] == row["technician_id"]
            assert bid["amount"] == row["price"]
            assert bid["status"] == "accepted"
            others = [b for b in bids.values() if b["booking_id"] == row["id"] and b is not bid]
            assert all(b["status"] in ("rejected", "withdrawn") for b in others)


def test_a_technician_is_on_a_job_exactly_while_driving_or_working() -> None:
    status: dict[str, str] = {}
    active: dict[str, set[int]] = defaultdict(set)
    for step in long_run().steps:
        for change in step.changes:
            row = change.record
            if change.table == "technicians" and row is not None:
                status[row["id"]] = row["status"]
            elif change.table == "bookings" and row is not None and row.get("technician_id"):
                jobs = active[row["technician_id"]]
                (jobs.add if row["status"] in ("en_route", "in_progress") else jobs.discard)(
                    row["id"]
                )
        if step.write.table == "bookings":
            continue  # the technician's own change is the next write
        for tech, jobs in active.items():
            assert (status[tech] == "on_job") == bool(jobs), tech


# ---------------------------------------------------------------- phases and incidents


def test_the_phase_clock_and_the_incident_cities() -> None:
    assert [phase_at(s) for s in (0, 59.9, 60, 120, 200, 240, 299.9, 300, -5)] == [
        Phase.STEADY,
        Phase.STEADY,
        Phase.RUSH,
        Phase.NO_COVER,
        Phase.RECOVERY,
        Phase.QUIET,
        Phase.QUIET,
        Phase.STEADY,
        Phase.STEADY,
    ]
    assert list(PHASE_STARTS_S) == list(Phase)
    assert [incident_city(c).name for c in range(5)] == [
        "Duisburg",
        "Bochum",
        "Dortmund",
        "Mülheim an der Ruhr",
        "Essen",
    ]
    assert cycle_at(299.9) == 0
    assert cycle_at(300) == 1


def _waits() -> dict[tuple[int, Phase, int], float]:
    """The longest wait for a first bid (in ``pending``), per (cycle, phase, city)."""
    waiting: dict[str, tuple[float, int]] = {}
    worst: dict[tuple[int, Phase, int], float] = defaultdict(float)
    for step in long_run().steps:
        for change in step.changes:
            if change.table != "bookings":
                continue
            if change.op == "INSERT":
                waiting[change.key] = (step.elapsed_s, change.record["city_id"])  # type: ignore[index]
            elif change.record is None or change.record["status"] != "pending":
                waiting.pop(change.key, None)
        slot = (cycle_at(step.elapsed_s), phase_at(step.elapsed_s))
        for since_s, city in waiting.values():
            worst[*slot, city] = max(worst[*slot, city], step.elapsed_s - since_s)
    return worst


def test_the_uncovered_city_waits_for_a_bid_past_its_sla_and_the_others_do_not() -> None:
    worst = _waits()
    for cycle in range(CYCLES):
        closed = incident_city(cycle).id
        assert worst[cycle, Phase.NO_COVER, closed] > 1.5 * SLA_S
        for city in CITIES:
            if city.id != closed:
                assert worst[cycle, Phase.NO_COVER, city.id] < SLA_S
            for phase in (Phase.STEADY, Phase.RUSH):
                assert worst[cycle, phase, city.id] < SLA_S, (cycle, phase, city.name)


def test_the_uncovered_city_has_no_technician_online_and_no_bid() -> None:
    run = long_run()
    online: dict[str, bool] = {}
    city_of = {t.id: t.city_id for t in run.scenario.fleet.technicians.values()}
    booking_city: dict[int, int] = {}
    cancelled = Counter()
    for step in run.steps:
        cycle, phase = cycle_at(step.elapsed_s), phase_at(step.elapsed_s)
        closed = incident_city(cycle).id
        into_s = step.elapsed_s % CYCLE_S - PHASE_STARTS_S[Phase.NO_COVER]
        for change in step.changes:
            row = change.record
            if row is None:
                continue
            if change.table == "technicians":
                online[row["id"]] = row["status"] != "offline"
                city_of[row["id"]] = row["city_id"]
            elif change.table == "bookings":
                booking_city[row["id"]] = row["city_id"]
                if (
                    row["status"] == "cancelled"
                    and row["cancel_reason"] == "No technician available"
                ):
                    cancelled[row["city_id"]] += 1
            elif change.table == "bids" and change.op == "INSERT" and phase is Phase.NO_COVER:
                assert booking_city[row["booking_id"]] != closed
        if phase is Phase.NO_COVER and into_s > 25:  # those with a job finish it first
            assert not [t for t, on in online.items() if on and city_of[t] == closed]
    assert cancelled.most_common(1)[0][0] in {incident_city(c).id for c in range(CYCLES)}


def _per_phase(measure: Any) -> dict[Phase, float]:
    totals: dict[Phase, list[float]] = defaultdict(list)
    for step in long_run().steps:
        totals[phase_at(step.elapsed_s)].append(measure(step))
    return {phase: sum(v) / len(v) for phase, v in totals.items()}


def test_the_rush_is_a_burst_of_bulk_posts_and_the_evening_is_quiet() -> None:
    rows = _per_phase(lambda s: len(s.changes))
    requested = _per_phase(
        lambda s: len(s.changes) if s.write.table == "bookings" and s.write.method == "POST" else 0
    )
    assert requested[Phase.RUSH] > 3 * requested[Phase.QUIET]
    assert rows[Phase.RUSH] > 1.15 * rows[Phase.QUIET]
    sizes: dict[Phase, set[int]] = defaultdict(set)
    for step in long_run().steps:
        if step.write.table == "bookings" and step.write.method == "POST" and step.elapsed_s > 1:
            sizes[phase_at(step.elapsed_s)].add(len(step.write.rows()))
    assert max(sizes[Phase.RUSH]) >= 4
    assert sizes[Phase.QUIET] == {1}
    first = next(_posts("bookings"))
    assert len(first.rows()) == BACKLOG  # the overnight requests, at once
    surges = [w for w in _posts("notifications") if w.rows()[0]["kind"] == "high_demand"]
    assert surges
    assert all(
        phase_at((s.at - T0).total_seconds()) is Phase.RUSH
        for s in long_run().steps
        if s.write in surges
    )


def test_the_live_set_stays_bounded() -> None:
    scenario = MarketplaceScenario(11)
    dry = DryRun(scenario)
    most: Counter[str] = Counter()
    for i, _ in enumerate(dry.run(36_000, T0, STEP_S)):  # an hour at 10 writes a second
        if i % 500 == 0:
            for table, rows in dry.rows.items():
                most[table] = max(most[table], len(rows))
    bookings = MAX_OPEN + MAX_FINISHED + BACKLOG
    assert most["bookings"] <= bookings
    assert most["technicians"] <= MAX_TECHNICIANS + 6
    assert most["profiles"] <= ADMINS + MAX_CUSTOMERS + MAX_TECHNICIANS + 10
    assert most["bids"] <= 4 * bookings
    assert most["payments"] <= 3 * bookings
    assert most["reviews"] <= bookings
    assert most["messages"] <= 12 * bookings
    assert most["notifications"] <= 12 * bookings + MAX_SURGES * MAX_TECHNICIANS
    assert len(dry.rows["cities"]) == len(CITIES)


# ---------------------------------------------------------------- presence


def test_the_roster_types_in_open_chats_on_the_typing_channel() -> None:
    typist = roster(3)
    assert isinstance(typist, TypingRoster)
    seen: Counter[str] = Counter()
    for i in range(400):
        now = T0 + timedelta(seconds=3 * i)
        change = typist.next_change(now)
        assert change.channel == TYPING_CHANNEL
        chats = {(c.booking_id, c.key): c for c in typist._scenario.chats()}
        if change.kind != "leave":
            assert set(change.meta) == {
                "user",
                "role",
                "city_id",
                "booking_id",
                "typing",
                "online_at",
            }
            assert change.meta["typing"] is True
            chat = chats[change.meta["booking_id"], change.key]
            assert (change.meta["user"], change.meta["role"]) == (chat.name, chat.role)
        assert len(typist.typing) <= MAX_TYPING
        if i > 20:
            seen[str(len(typist.typing))] += 1
            roles = {chats[b, k].role for k, b in typist.typing.items() if (b, k) in chats}
            seen.update(roles)
    assert seen["0"] < 20  # someone is nearly always typing
    assert seen["customer"]
    assert seen["technician"]


def test_the_roster_is_seeded() -> None:
    def keys(seed: int) -> list[tuple[str, str]]:
        typist = roster(seed)
        return [
            (c.kind, c.key)
            for c in (typist.next_change(T0 + timedelta(seconds=3 * i)) for i in range(100))
        ]

    assert keys(4) == keys(4)
    assert keys(4) != keys(5)


# ---------------------------------------------------------------- rtdata.toml, assets, README


def test_the_config_names_only_what_the_migrations_define() -> None:
    config = load_config(PACK.config_path, env={})
    schema = schema_from_migrations(PACK.migrations)
    columns = {name: tuple(table.columns) for name, table in schema.tables.items()}
    tables = load_schema(PACK.migrations).tables
    assert set(config.tables()) == set(tables)
    assert all(tables[name].published for name in config.tables())
    assert config.page_problems(list(config.tables()), columns) == []
    assert config.presence_channels() == (TYPING_CHANNEL,)
    assert config.labels["city_id"] == Label("city_id", "cities", "id", "name")
    assert config.labels["technician_id"] == Label(
        "technician_id", "technicians", "id", "display_name"
    )


def test_the_pages_and_what_is_on_them() -> None:
    config = load_config(PACK.config_path, env={})
    names = [p.name for p in config.pages]
    assert names == ["dispatch", "bookings", "technicians", "bids", "payments", "chats"]
    assert config.dashboard.wall_pages == ("dispatch", "bookings", "technicians")
    used = {w.type for p in config.pages for w in p.widgets}
    assert used == set(WidgetType) - {WidgetType.SERIES}
    (board,) = [w.spec for p in config.pages for w in p.widgets if w.type is WidgetType.LIFECYCLE]
    bookings = state_machines()[0]
    assert board.statuses == tuple(bookings.transitions)
    assert set(board.terminal) == set(bookings.terminal)
    assert dict(board.sla_s) == {"pending": SLA_S, "bidding": SLA_S}
    assert {"id", "status", "city_id"} <= set(board.columns)
    assert len(board.columns) <= 10
    assert ("pending", "accepted") in board.spans
    assert board.group_column == "city_id"
    assert set(board.statuses) - set(board.terminal) == set(OPEN)
    tiles = [
        t for p in config.pages for w in p.widgets if w.type is WidgetType.TILES for t in w.spec
    ]
    (open_tile,) = {t.filter for t in tiles if t.label == "Open bookings"}
    assert open_tile == f"status=in.({','.join(OPEN)})"


def _inside(point: tuple[float, float], ring: list[list[float]]) -> bool:
    lat, lon = point
    inside = False
    for (x1, y1), (x2, y2) in itertools.pairwise(ring):
        if (y1 > lat) != (y2 > lat) and lon < x1 + (lat - y1) * (x2 - x1) / (y2 - y1):
            inside = not inside
    return inside


def test_every_city_s_box_lies_inside_its_shape_on_the_map() -> None:
    shapes = json.loads((PACK.assets / "ruhr_cities.geojson").read_text(encoding="utf-8"))
    by_name = {f["properties"]["name"]: f["geometry"]["coordinates"][0] for f in shapes["features"]}
    assert set(by_name) == {c.name for c in CITIES}
    for city in CITIES:
        lat_min, lat_max, lon_min, lon_max = city.box
        for corner in (
            (lat_min, lon_min),
            (lat_min, lon_max),
            (lat_max, lon_min),
            (lat_max, lon_max),
        ):
            assert _inside(corner, by_name[city.name]), city.name
        others = [name for name in by_name if name != city.name]
        assert not any(_inside((city.lat, city.lon), by_name[o]) for o in others)
    assert len(CATEGORIES) == len(load_schema(PACK.migrations).enums["service_category"])


def test_the_readme_lists_every_statement_the_server_ignores() -> None:
    readme = (PACK.folder / "README.md").read_text(encoding="utf-8")
    for warning in load_schema(PACK.migrations).warnings:
        match = re.search(r"(\d{4})_\w+\.sql:(\d+)", warning)
        assert match, warning
        assert f"{match[1]}:{match[2]}" in readme, warning
