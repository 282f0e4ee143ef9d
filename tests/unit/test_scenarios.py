"""The scenario pack registry: where each pack's files are, how its simulator is built, the
did-you-mean error, a light import, and generic layers that know no pack."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import FrozenInstanceError
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

import rtdata
from rtdata.scenarios import (
    DEFAULT_SCENARIO,
    PACKS_DIR,
    SCENARIOS,
    Scenario,
    UnknownScenarioError,
    get_scenario,
)
from rtdata.server.schema import load_schema

RTDATA = Path(rtdata.__file__).resolve().parent
T0 = datetime(2026, 1, 1, tzinfo=UTC)
PACK_WORDS = ("emergenc", "hospital", "vital", "patient", "staff", "lisbon")
"""Words of the hospital pack; the generic simulator shells must not contain them."""


def test_the_default_pack_is_the_hospital() -> None:
    assert DEFAULT_SCENARIO == "hospital"
    assert get_scenario(DEFAULT_SCENARIO) is SCENARIOS["hospital"]


def test_the_hospital_pack_holds_its_migrations_assets_and_readme() -> None:
    pack = get_scenario("hospital")
    assert pack.folder == PACKS_DIR / "hospital"
    assert sorted(p.name for p in pack.migrations.glob("*.sql")) == [
        "0001_hospital.sql",
        "0002_operations.sql",
    ]
    assert (pack.assets / "lisbon_districts.geojson").is_file()
    assert (pack.folder / "README.md").is_file()
    assert pack.config_path == pack.folder / "rtdata.toml"  # whether or not it exists yet
    assert "emergency_requests" in load_schema(pack.migrations).tables


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_every_pack_is_complete(name: str) -> None:
    pack = SCENARIOS[name]
    assert pack.name == name
    assert pack.summary
    assert pack.summary.strip() == pack.summary
    assert "\n" not in pack.summary
    assert pack.module == f"rtdata.scenarios.{name}"
    assert list(pack.migrations.glob("*.sql")), "a pack without tables"
    assert (pack.folder / "README.md").is_file()
    warnings = load_schema(pack.migrations).warnings
    if warnings:  # what the local server does not run is a finding, written down in the pack
        readme = (pack.folder / "README.md").read_text(encoding="utf-8").lower()
        assert "finding" in readme, f"{name}: {len(warnings)} schema warnings, no findings"
    assert (pack.folder / "__init__.py").is_file()


def test_every_pack_folder_is_registered() -> None:
    folders = {p.parent.name for p in PACKS_DIR.glob("*/__init__.py")}
    assert folders == set(SCENARIOS)


def test_a_scenario_is_frozen_and_the_registry_read_only() -> None:
    pack = get_scenario("hospital")
    with pytest.raises(FrozenInstanceError):
        pack.name = "other"  # type: ignore[misc]
    with pytest.raises(TypeError):
        SCENARIOS["other"] = pack  # type: ignore[index]


@pytest.mark.parametrize(
    ("asked", "suggested"), [("hospitl", "hospital"), ("Hospital", "hospital")]
)
def test_a_near_miss_suggests_the_closest_pack(asked: str, suggested: str) -> None:
    with pytest.raises(UnknownScenarioError) as info:
        get_scenario(asked)
    assert info.value.name == asked
    assert info.value.suggestion == suggested
    assert f"did you mean {suggested!r}?" in str(info.value)
    assert isinstance(info.value, ValueError)


def test_a_far_miss_lists_the_known_packs() -> None:
    with pytest.raises(UnknownScenarioError, match=r"unknown scenario 'zzz' \(known: ") as info:
        get_scenario("zzz")
    assert info.value.suggestion is None
    assert "did you mean" not in str(info.value)
    assert all(name in str(info.value) for name in SCENARIOS)


def test_importing_the_registry_loads_no_pack_simulator_server_or_streamlit() -> None:
    heavy = (
        "aiohttp",
        "streamlit",
        "sqlglot",
        "httpx",
        "realtime",
        "rtdata.simulate",
        "rtdata.server",
        "rtdata.scenarios.hospital",
    )
    code = (
        "import sys, rtdata.scenarios\n"
        f"heavy = {heavy!r}\n"
        "print('\\n'.join(sorted(m for m in sys.modules"
        " if any(m == h or m.startswith(h + '.') for h in heavy))))"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", code], cwd=RTDATA.parent, capture_output=True, text=True, check=True
    ).stdout.split()
    assert loaded == []


# ---------------------------------------------------------------- building the simulator


def _writes(pack: Scenario, seed: int, n: int) -> list[object]:
    scenario = pack.scenario(seed)
    return [scenario.next_write(T0 + timedelta(seconds=i)) for i in range(n)]


def test_the_scenario_is_seeded() -> None:
    pack = get_scenario("hospital")
    assert _writes(pack, 3, 50) == _writes(pack, 3, 50)
    assert _writes(pack, 3, 50) != _writes(pack, 4, 50)


def test_the_roster_has_24_staff_over_the_scenarios_hospitals() -> None:
    from rtdata.scenarios.hospital import HospitalScenario, StaffRoster

    roster = get_scenario("hospital").roster(5)
    assert isinstance(roster, StaffRoster)
    assert len(roster.members) == 24
    assert {m.hospital_id for m in roster.members} == set(HospitalScenario(5).hospital_ids)


def test_the_simulator_signs_people_in_only_when_asked() -> None:
    pack = get_scenario("hospital")
    quiet = pack.simulator("http://rest.invalid", "k", seed=2)
    assert quiet.presence is None
    busy = pack.simulator("http://rest.invalid", "k", seed=2, presence=True)
    assert busy.presence is not None
    assert [m.key for m in busy.presence.roster.members] == [  # type: ignore[attr-defined]
        m.key
        for m in pack.roster(2).members  # type: ignore[union-attr]
    ]
    assert not busy.presence.running


def test_the_simulator_writes_the_packs_tables_over_rest() -> None:
    pack = get_scenario("hospital")
    tables = set(load_schema(pack.migrations).tables)
    paths: list[str] = []

    def answer(request: httpx.Request) -> httpx.Response:
        paths.append(request.url.path)
        if len(paths) >= 30:
            simulator.stop()
        return httpx.Response(201, json=[]) if request.method == "POST" else httpx.Response(204)

    simulator = pack.simulator(
        "http://rest.invalid", "k", rate_per_s=1e6, transport=httpx.MockTransport(answer)
    )
    simulator.run()
    assert len(paths) == 30
    assert {p.removeprefix("/rest/v1/") for p in paths} <= tables


def test_a_pack_without_a_roster_signs_nobody_in(tmp_path: Path) -> None:
    module = tmp_path / "quiet_pack.py"
    module.write_text(
        "from rtdata.scenarios.hospital import HospitalScenario\n"
        "def scenario(seed):\n    return HospitalScenario(seed)\n"
    )
    sys.path.insert(0, str(tmp_path))
    try:
        pack = Scenario("quiet", "a pack with no presence", tmp_path, "quiet_pack")
        assert pack.roster(0) is None
        assert pack.simulator("http://rest.invalid", "k", presence=True).presence is None
    finally:
        sys.path.remove(str(tmp_path))
        sys.modules.pop("quiet_pack", None)


# ---------------------------------------------------------------- the server and embedded stack


def test_the_local_server_serves_the_default_pack_unless_told_otherwise(tmp_path: Path) -> None:
    from rtdata.server import LocalServer

    default = load_schema(get_scenario(DEFAULT_SCENARIO).migrations)
    # In memory, where the schema is parsed at once (on Postgres it is read once migrated).
    assert set(LocalServer(db="memory").schema.tables) == set(default.tables)
    (tmp_path / "001_items.sql").write_text("create table items (sku text primary key);\n")
    assert set(LocalServer(schema=tmp_path, db="memory").schema.tables) == {"items"}


def test_the_embedded_stack_serves_and_simulates_its_pack() -> None:
    from rtdata.embedded import EmbeddedStack

    stack = EmbeddedStack(db="memory")
    assert stack.scenario is get_scenario(DEFAULT_SCENARIO)
    assert set(stack.server.schema.tables) == set(load_schema(stack.scenario.migrations).tables)
    assert EmbeddedStack().server.backend is not None  # Postgres unless told otherwise
    with pytest.raises(UnknownScenarioError, match="did you mean 'hospital'"):
        EmbeddedStack(scenario="hospitl")


# ---------------------------------------------------------------- generic layers


@pytest.mark.parametrize(
    "path",
    sorted((RTDATA / "simulate").glob("*.py")),
    ids=lambda p: p.name,
)
def test_the_simulator_shells_know_no_pack(path: Path) -> None:
    text = path.read_text().lower()
    found = [word for word in PACK_WORDS if word in text]
    assert not found, f"{path.name} names a pack: {found}"
