"""rtdata: a live operations dashboard and analysis toolkit for Supabase Realtime.

The public API is re-exported here; everything else is internal.
"""

from rtdata.api import connect
from rtdata.buffer import EventBuffer
from rtdata.collector import Collector, CollectorStatus, ConnectionState
from rtdata.embedded import EmbeddedStack
from rtdata.events import Event
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
    "Settings",
    "SettingsError",
    "connect",
]

__version__ = "0.1.0"
