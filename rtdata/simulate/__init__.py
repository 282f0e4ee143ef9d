"""The simulator shells: they send a scenario's writes over REST and sign its people in and out.

A scenario is data and code of a pack (:mod:`rtdata.scenarios`); nothing here knows one.
:class:`Simulator` sends the :class:`Write` values of any :class:`WriteSource` to a
PostgREST-shaped API (and its :class:`Broadcast` values to Realtime's HTTP broadcast endpoint)
at a steady rate; :class:`rtdata.simulate.presence.PresenceSimulator` carries
out a :class:`~rtdata.simulate.presence.Roster`'s presence changes with the official realtime
client. :meth:`rtdata.scenarios.Scenario.simulator` puts the two together for a pack.
"""

from __future__ import annotations

from rtdata.simulate.runner import Simulator
from rtdata.simulate.write import AuthUser, Broadcast, Method, Write, WriteSource

__all__ = ["AuthUser", "Broadcast", "Method", "Simulator", "Write", "WriteSource"]
