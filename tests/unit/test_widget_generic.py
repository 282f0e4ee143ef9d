"""The generic layers know no scenario: no pack's words in the widgets, views, config, layout,
default pages, settings, UI glue or dashboard pages, nor in the widgets' tests."""

from __future__ import annotations

import pathlib

import pytest

import rtdata.views.widgets

WIDGETS = pathlib.Path(rtdata.views.widgets.__file__).parent
PACKAGE = WIDGETS.parents[1]
TESTS = pathlib.Path(__file__).parent
SCENARIO_WORDS = ("emergenc", "hospital", "vital", "patient")
GENERIC_MODULES = ("config.py", "layout.py", "default_pages.py", "settings.py", "ui.py")


def _files() -> list[pathlib.Path]:
    return [
        *WIDGETS.glob("*.py"),
        *(WIDGETS.parent).glob("*.py"),
        *(PACKAGE / "dashboard").rglob("*.py"),
        *(PACKAGE / name for name in GENERIC_MODULES),
        *TESTS.glob("test_widget_*.py"),
        TESTS / "frames.py",
        TESTS / "widget_data.py",
    ]


@pytest.mark.parametrize("path", _files(), ids=lambda p: p.name)
def test_no_scenario_word(path: pathlib.Path) -> None:
    text = path.read_text().lower()
    if path.name == pathlib.Path(__file__).name:
        return
    found = [word for word in SCENARIO_WORDS if word in text]
    assert not found, f"{path.name} names a scenario: {found}"


def test_every_widget_module_is_checked() -> None:
    names = {p.name for p in _files()}
    assert {"tiles.py", "lifecycle.py", "queue.py", "breakdown.py"} <= names
    assert {"feed.py", "series.py", "map.py", "roster.py"} <= names
    assert {"layout.py", "config.py", "render.py", "app.py", "events.py"} <= names
