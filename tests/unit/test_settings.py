"""Settings from the environment and .streamlit/secrets.toml; secrets never shown."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from rtdata.settings import Settings, SettingsError

SECRET = "eyJ-very-secret-key"


def test_no_url_means_the_embedded_default(tmp_path: Path) -> None:
    settings = Settings.from_env({}, tmp_path / "missing.toml")
    assert settings.embedded
    assert settings.tables is None  # discovered from the server once it runs
    assert dict(settings.table_keys) == {}
    assert settings.config.discovers


def test_environment_wins_over_secrets_file(tmp_path: Path) -> None:
    secrets = tmp_path / "secrets.toml"
    secrets.write_text('SUPABASE_URL = "https://file.supabase.co"\nSUPABASE_KEY = "file-key"\n')
    settings = Settings.from_env({"SUPABASE_URL": "https://env.supabase.co/"}, secrets)
    assert settings.url == "https://env.supabase.co"
    assert settings.key == "file-key"
    assert not settings.embedded


def test_secrets_file_supabase_section(tmp_path: Path) -> None:
    secrets = tmp_path / "secrets.toml"
    secrets.write_text('[supabase]\nurl = "https://x.supabase.co"\nkey = "k"\n')
    settings = Settings.from_env({}, secrets)
    assert (settings.url, settings.key) == ("https://x.supabase.co", "k")


def test_key_never_appears_in_repr_or_errors(tmp_path: Path) -> None:
    settings = Settings(url="https://x.supabase.co", key=SECRET)
    assert SECRET not in repr(settings)
    assert SECRET not in str(settings)
    with pytest.raises(SettingsError) as info:
        Settings(url="ftp://x", key=SECRET)
    assert SECRET not in str(info.value)


@pytest.mark.parametrize(
    ("kwargs", "problem"),
    [
        ({"url": "x.supabase.co", "key": "k"}, "must start with http"),
        ({"url": "https://x.supabase.co"}, "SUPABASE_KEY is missing"),
        ({"tables": {"bad name": ("id",)}}, "not a valid identifier"),
        ({"tables": {"t": ()}}, "primary-key"),
        ({"tables": {}}, "names no table"),
    ],
)
def test_bad_settings_name_the_problem(kwargs: dict[str, object], problem: str) -> None:
    with pytest.raises(SettingsError, match=problem):
        Settings(**kwargs)  # type: ignore[arg-type]


def test_bad_secrets_file_names_the_file(tmp_path: Path) -> None:
    secrets = tmp_path / "secrets.toml"
    secrets.write_text("SUPABASE_URL = \n")
    with pytest.raises(SettingsError, match=r"secrets\.toml: not valid TOML"):
        Settings.from_env({}, secrets)


def test_rtdata_tables_override(tmp_path: Path) -> None:
    settings = Settings.from_env({"RTDATA_TABLES": "orders, items:order_id+line"}, tmp_path / "x")
    assert dict(settings.tables) == {"orders": ("id",), "items": ("order_id", "line")}


def test_rtdata_history_turns_the_history_on_in_a_folder_or_off(tmp_path: Path) -> None:
    on = Settings.from_env({"RTDATA_HISTORY": str(tmp_path / "h")}, tmp_path / "x")
    assert (on.config.history.enabled, on.config.history.path) == (True, str(tmp_path / "h"))
    config = tmp_path / "rtdata.toml"
    config.write_text('[history]\nenabled = true\npath = "kept"\nrotate_s = 60\n')
    off = Settings.from_env({"RTDATA_CONFIG": str(config), "RTDATA_HISTORY": "off"}, tmp_path / "x")
    assert (off.config.history.enabled, off.config.history.path) == (False, "kept")
    assert off.config.history.rotate_s == 60  # the file's other history settings stay
    unset = Settings.from_env({"RTDATA_CONFIG": str(config)}, tmp_path / "x")
    assert unset.config.history.enabled
    with pytest.raises(SettingsError, match="RTDATA_HISTORY must be a folder or 'off'"):
        Settings.from_env({"RTDATA_HISTORY": " "}, tmp_path / "x")


def test_a_copy_of_discovering_settings_keeps_discovering() -> None:
    settings = Settings(url="https://x.supabase.co", key=SECRET)
    copy = dataclasses.replace(settings, connect_timeout_s=5.0)
    assert copy.config.discovers
    assert dict(copy.table_keys) == {}
    following = Settings(tables={"orders": ("id",)})
    assert dict(dataclasses.replace(following, key=None).table_keys) == {"orders": ("id",)}
