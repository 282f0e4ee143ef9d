"""The rtdata command in process: argument parsing and errors before anything listens."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from rtdata import scenarios
from rtdata.cli import demo_config, demo_env, main
from rtdata.scenarios import DEFAULT_SCENARIO, SCENARIOS, Scenario, get_scenario


def test_serve_reports_a_broken_schema_clearly(
    tmp_path: object, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = os.path.join(str(tmp_path), "nope")
    assert main(["serve", "--port", "0", "--schema", missing]) == 2
    assert "no such migration file or folder" in capsys.readouterr().err


def test_unknown_command_exits_2() -> None:
    with pytest.raises(SystemExit) as info:
        main(["fly"])
    assert info.value.code == 2


def test_demo_records_history_by_default_and_its_dashboard_does_not_record_it_again() -> None:
    from rtdata.cli import _parser

    assert _parser().parse_args(["demo"]).history == Path("rtdata-history")
    assert _parser().parse_args(["demo", "--history", "h"]).history == Path("h")
    assert _parser().parse_args(["demo", "--no-history"]).history is None
    with pytest.raises(SystemExit):
        _parser().parse_args(["demo", "--history", "h", "--no-history"])
    assert demo_env("http://127.0.0.1:1", "service-key") == {
        "SUPABASE_URL": "http://127.0.0.1:1",
        "SUPABASE_KEY": "service-key",
        "RTDATA_HISTORY": "off",
    }


# ---------------------------------------------------------------- scenario packs


@pytest.mark.parametrize("command", ["demo", "serve", "simulate"])
def test_scenario_defaults_to_the_default_pack_and_takes_a_name(command: str) -> None:
    from rtdata.cli import _parser

    assert _parser().parse_args([command]).scenario is get_scenario(DEFAULT_SCENARIO)
    named = _parser().parse_args([command, "--scenario", "hospital"]).scenario
    assert named is get_scenario("hospital")


@pytest.mark.parametrize("command", ["demo", "serve", "simulate"])
def test_an_unknown_scenario_is_a_usage_error_with_a_hint(
    command: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as info:
        main([command, "--scenario", "hospitl"])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert "unknown scenario 'hospitl'; did you mean 'hospital'?" in err


def test_demo_lists_every_pack_with_its_summary_and_starts_nothing(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["demo", "--list-scenarios"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == len(SCENARIOS)
    for line, (name, pack) in zip(lines, sorted(SCENARIOS.items()), strict=True):
        assert line.split()[0] == name
        assert line.endswith(pack.summary)


def test_serve_serves_the_named_packs_migrations(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # A pack whose migrations folder is missing: serve fails on its path, before listening.
    broken = Scenario("broken", "no tables", tmp_path / "broken", "broken")
    monkeypatch.setattr(scenarios, "SCENARIOS", {**SCENARIOS, "broken": broken})
    assert main(["serve", "--port", "0", "--scenario", "broken"]) == 2
    err = capsys.readouterr().err
    assert "no such migration file or folder" in err
    assert str(broken.migrations) in err


def _pack_with_config(tmp_path: Path) -> Scenario:
    folder = tmp_path / "pack"
    folder.mkdir()
    (folder / "rtdata.toml").write_text("")
    return Scenario("pack", "a pack with a config", folder, "pack")


def test_demo_uses_the_packs_config_when_the_user_has_none(tmp_path: Path) -> None:
    pack = _pack_with_config(tmp_path)
    cwd = tmp_path / "work"
    cwd.mkdir()
    assert demo_config(pack, {}, cwd) == pack.config_path
    assert demo_config(pack, {"RTDATA_CONFIG": ""}, cwd) == pack.config_path  # empty is unset
    assert demo_env("http://127.0.0.1:1", "k", pack.config_path)["RTDATA_CONFIG"] == str(
        pack.config_path
    )
    assert "RTDATA_CONFIG" not in demo_env("http://127.0.0.1:1", "k")


def test_demo_leaves_a_users_config_alone(tmp_path: Path) -> None:
    pack = _pack_with_config(tmp_path)
    cwd = tmp_path / "work"
    cwd.mkdir()
    assert demo_config(pack, {"RTDATA_CONFIG": "mine.toml"}, cwd) is None
    (cwd / "rtdata.toml").write_text("")
    assert demo_config(pack, {}, cwd) is None


def test_demo_uses_no_config_of_a_pack_that_has_none(tmp_path: Path) -> None:
    pack = Scenario("bare", "no config", tmp_path, "bare")
    assert not pack.config_path.exists()
    assert demo_config(pack, {}, tmp_path / "elsewhere") is None
