"""The public API of ``rtdata``: exactly the documented names, each with a docstring."""

from __future__ import annotations

import inspect
import types

import rtdata

PUBLIC_NAMES = {
    "Collector",
    "CollectorStatus",
    "ConnectionState",
    "EmbeddedStack",
    "Event",
    "EventBuffer",
    "LocalServer",
    "Recorder",
    "Settings",
    "SettingsError",
    "connect",
}


def test_all_lists_exactly_the_documented_public_names() -> None:
    assert set(rtdata.__all__) == PUBLIC_NAMES
    assert len(rtdata.__all__) == len(PUBLIC_NAMES)


def test_every_public_name_resolves_and_has_a_docstring() -> None:
    for name in rtdata.__all__:
        value = getattr(rtdata, name)
        assert (inspect.getdoc(value) or "").strip(), f"rtdata.{name} has no docstring"


def test_nothing_public_is_exported_by_accident() -> None:
    exposed = {  # dir(), not vars(): the public names are imported on first use
        name
        for name in dir(rtdata)
        if not name.startswith("_") and not isinstance(getattr(rtdata, name), types.ModuleType)
    }
    assert exposed == PUBLIC_NAMES
