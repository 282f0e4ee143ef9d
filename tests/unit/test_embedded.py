"""The embedded default's settings: the pack's ``rtdata.toml`` unless the user has a config of
their own, always pointed at the embedded server with its service key (no socket opened)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from rtdata.config import Config, HistoryConfig, load_config
from rtdata.embedded import EmbeddedStack
from rtdata.layout import Page
from rtdata.scenarios import Scenario
from rtdata.settings import Settings


@pytest.fixture
def stack() -> EmbeddedStack:
    return EmbeddedStack()  # not started: settings() needs no server running


def _points_at(settings: Settings, stack: EmbeddedStack) -> None:
    assert settings.url == stack.url
    assert settings.key == stack.server.service_key
    assert not settings.embedded


def test_default_settings_take_the_packs_channels_pages_and_labels(stack: EmbeddedStack) -> None:
    pack = load_config(stack.scenario.config_path, env={})
    settings = stack.settings()
    _points_at(settings, stack)
    config = settings.config
    assert config.channels == pack.channels
    assert config.pages == pack.pages
    assert config.labels == pack.labels
    assert config.source == str(stack.scenario.config_path)  # relative paths: the pack's
    assert dict(settings.table_keys) == pack.tables()
    assert "online" in config.presence_channels()
    assert stack.settings(Settings()) == settings


def test_the_base_history_setting_is_kept_with_the_packs_config(
    stack: EmbeddedStack, tmp_path: Path
) -> None:
    history = HistoryConfig(enabled=True, path=str(tmp_path / "history"))
    base = Settings(config=dataclasses.replace(Config(), history=history))
    settings = stack.settings(base)
    assert settings.config.history == history
    assert settings.config.pages == load_config(stack.scenario.config_path, env={}).pages


def test_a_config_read_from_the_users_file_is_kept(stack: EmbeddedStack, tmp_path: Path) -> None:
    path = tmp_path / "rtdata.toml"
    path.write_text("[buffer]\nmax_rows = 10\n", encoding="utf-8")  # no channels, no pages
    mine = load_config(path, env={})
    settings = stack.settings(Settings(config=mine))
    _points_at(settings, stack)
    assert settings.config == mine
    assert settings.config.discovers  # it follows every table the server exposes


def test_a_config_with_channels_or_pages_is_kept(stack: EmbeddedStack) -> None:
    named = Settings(tables={"emergency_requests": ("id",)})
    settings = stack.settings(named)
    _points_at(settings, stack)
    assert settings.config == named.config
    assert dict(settings.table_keys) == {"emergency_requests": ("id",)}
    paged = Settings(config=Config(pages=(Page("mine", "Mine"),)))
    assert stack.settings(paged).config == paged.config


def test_a_pack_without_an_rtdata_toml_leaves_the_base_as_it_is(
    stack: EmbeddedStack, tmp_path: Path
) -> None:
    stack.scenario = Scenario("bare", "a pack with migrations only", tmp_path, "bare")
    settings = stack.settings()
    _points_at(settings, stack)
    assert settings.config == Config()
