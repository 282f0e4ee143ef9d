"""rtdata: a live operations dashboard and analysis toolkit for Supabase Realtime.

The public API is re-exported here; everything else is internal. The names are imported on
first use (PEP 562), so ``import rtdata`` stays cheap: it loads neither the local server
(aiohttp), the SQL parser (sqlglot), the simulator nor Streamlit until a name needs them.
"""

# Everything here but the public names is private: tests/test_api.py checks that dir(rtdata)
# shows nothing else.
import importlib as _importlib
import typing as _typing

if _typing.TYPE_CHECKING:
    from rtdata.api import connect
    from rtdata.buffer import EventBuffer
    from rtdata.collector import Collector, CollectorStatus, ConnectionState
    from rtdata.embedded import EmbeddedStack
    from rtdata.events import Event
    from rtdata.recorder import Recorder
    from rtdata.server import LocalServer
    from rtdata.settings import Settings, SettingsError

__all__ = [
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
]

__version__ = "0.1.0"

_HOMES: _typing.Final = {
    "Collector": "rtdata.collector",
    "CollectorStatus": "rtdata.collector",
    "ConnectionState": "rtdata.collector",
    "EmbeddedStack": "rtdata.embedded",
    "Event": "rtdata.events",
    "EventBuffer": "rtdata.buffer",
    "LocalServer": "rtdata.server",
    "Recorder": "rtdata.recorder",
    "Settings": "rtdata.settings",
    "SettingsError": "rtdata.settings",
    "connect": "rtdata.api",
}
"""Public name -> the module that defines it."""


def __getattr__(name: str) -> _typing.Any:
    """Import a public name from its module on first use (PEP 562) and keep it here.

    Raises:
        AttributeError: ``name`` is not public (``from rtdata import ui`` then imports the
            submodule, as for any package).
    """
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'rtdata' has no attribute {name!r}")
    value = getattr(_importlib.import_module(home), name)
    globals()[name] = value  # later lookups find it without calling this again
    return value


def __dir__() -> list[str]:
    """List the module's attributes with the public names not imported yet."""
    return sorted({*globals(), *__all__})
