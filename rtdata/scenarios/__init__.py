"""Scenario packs: each one an app's schema, simulator and dashboard config, in one folder.

A pack is a folder ``rtdata/scenarios/<name>/`` holding

* ``migrations/``: the SQL files that define its tables (the local server serves them);
* ``rtdata.toml``: the dashboard's config for it (pages, widgets, channels);
* ``assets/``: files its config names, such as GeoJSON shapes;
* ``README.md``: what it models;
* its Python package, whose ``scenario(seed)`` returns the pure
  :class:`~rtdata.simulate.WriteSource` the REST simulator drives and whose optional
  ``roster(seed)`` returns the :class:`~rtdata.simulate.presence.Roster` of people who sign in
  and out on the presence channel.

:data:`SCENARIOS` lists the packs by name; :func:`get_scenario` looks one up. The generic layers
(:mod:`rtdata.simulate`, :mod:`rtdata.server`, the views) know no pack. Importing this module is
cheap: it loads no pack, simulator, server or Streamlit; a pack's code is imported when its
scenario or simulator is first built.
"""

from __future__ import annotations

import difflib
import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Final, cast

if TYPE_CHECKING:
    import httpx

    from rtdata.simulate import Simulator, WriteSource
    from rtdata.simulate.presence import Roster

__all__ = [
    "DEFAULT_SCENARIO",
    "PACKS_DIR",
    "SCENARIOS",
    "Scenario",
    "UnknownScenarioError",
    "get_scenario",
]

PACKS_DIR: Final = Path(__file__).resolve().parent
"""The folder every pack's folder sits in."""


@dataclass(frozen=True, slots=True)
class Scenario:
    """One scenario pack: where its files are and how to build its simulator.

    Attributes:
        name: Short name, as ``rtdata demo --scenario`` takes it.
        summary: One line saying what the pack models.
        folder: The pack's folder.
        module: Dotted name of the pack's Python package, which defines ``scenario(seed)`` and
            may define ``roster(seed)``; imported on first use.
    """

    name: str
    summary: str
    folder: Path
    module: str

    @property
    def migrations(self) -> Path:
        """The pack's ``migrations/`` folder of SQL files."""
        return self.folder / "migrations"

    @property
    def config_path(self) -> Path:
        """The pack's ``rtdata.toml``; returned whether or not the file exists."""
        return self.folder / "rtdata.toml"

    @property
    def assets(self) -> Path:
        """The pack's ``assets/`` folder (files its config names, such as GeoJSON)."""
        return self.folder / "assets"

    def scenario(self, seed: int = 0) -> WriteSource:
        """Return a new pure scenario of the pack seeded with ``seed`` (imports the pack)."""
        build = cast("Callable[[int], WriteSource]", self._hook("scenario"))
        return build(seed)

    def roster(self, seed: int = 0) -> Roster | None:
        """Return the pack's presence roster seeded with ``seed``, or ``None`` if it has none."""
        build = cast("Callable[[int], Roster] | None", self._hook("roster", required=False))
        return None if build is None else build(seed)

    def simulator(
        self,
        url: str,
        key: str,
        *,
        rate_per_s: float = 20.0,
        duration_s: float | None = None,
        seed: int = 0,
        presence: bool = False,
        timeout_s: float = 10.0,
        transport: httpx.BaseTransport | None = None,
    ) -> Simulator:
        """Return a stopped :class:`~rtdata.simulate.Simulator` driving :meth:`scenario`.

        Args:
            url: Project URL, for example ``http://127.0.0.1:54321``.
            key: API key the writes (and presence sockets) use; never logged.
            rate_per_s: Target writes per second; positive and finite.
            duration_s: Stop after this many seconds; ``None`` runs until stopped.
            seed: Seed of the scenario and of the roster.
            presence: Also sign the pack's people (:meth:`roster`) in and out on the
                presence channel while running; a pack without a roster signs nobody in.
            timeout_s: Timeout of each request.
            transport: httpx transport to use instead of the network (tests).

        Raises:
            ValueError: ``rate_per_s``, ``duration_s`` or ``timeout_s`` is out of range.
        """
        from rtdata.simulate import Simulator
        from rtdata.simulate.presence import PresenceSimulator

        roster = self.roster(seed) if presence else None
        return Simulator(
            url,
            key,
            self.scenario(seed),
            rate_per_s=rate_per_s,
            duration_s=duration_s,
            timeout_s=timeout_s,
            transport=transport,
            presence=None if roster is None else PresenceSimulator(url, key, roster),
        )

    def _hook(self, name: str, *, required: bool = True) -> object:
        hook = getattr(importlib.import_module(self.module), name, None)
        if hook is None and required:
            raise AttributeError(f"scenario pack {self.module} defines no {name}()")
        return hook


def _pack(name: str, summary: str) -> Scenario:
    return Scenario(name, summary, PACKS_DIR / name, f"{__name__}.{name}")


SCENARIOS: Final[Mapping[str, Scenario]] = MappingProxyType(
    {
        pack.name: pack
        for pack in (
            _pack(
                "hospital",
                "A Lisbon hospital network: emergencies through dispatch, vital signs,"
                " verifications, beds and ambulances, waiting lists, disputes, staff presence",
            ),
            _pack(
                "crm",
                "A CRM with a helpdesk: tickets worked by agent teams against SLAs (with a"
                " breach wave), comments, attachments, customers, acquisitions, interactions",
            ),
            _pack(
                "admin",
                "A clinic's admin console: patient forms through review to a decision, patient"
                " record edits, account role changes and a role-escalation incident, team presence",
            ),
            _pack(
                "telehealth",
                "A multi-tenant telehealth platform for knee and hip replacement recovery:"
                " three clinics' wearable readings, patient alerts and their acknowledgement,"
                " recovery statuses, care plans, messages, gateway health, care-team presence",
            ),
            _pack(
                "marketplace",
                "A field-service marketplace in five Ruhr cities: bookings bid on by technicians,"
                " accepted, driven to, worked, paid and reviewed; a city nobody covers; chat typing",
            ),
        )
    }
)
"""Every scenario pack, by name (read-only)."""

DEFAULT_SCENARIO: Final = "hospital"
"""The pack ``rtdata demo``, ``serve``, ``simulate`` and the embedded stack use by default."""


class UnknownScenarioError(ValueError):
    """A scenario name that names no pack; the message suggests the closest known name.

    Attributes:
        name: The name asked for.
        suggestion: The closest known name, or ``None`` if none is close.
    """

    def __init__(self, name: str, suggestion: str | None) -> None:
        """Build the message from ``name``, ``suggestion`` and the known names."""
        self.name = name
        self.suggestion = suggestion
        hint = f"; did you mean {suggestion!r}?" if suggestion else ""
        super().__init__(f"unknown scenario {name!r}{hint} (known: {', '.join(sorted(SCENARIOS))})")


def get_scenario(name: str) -> Scenario:
    """Return the pack called ``name``.

    Raises:
        UnknownScenarioError: No pack has that name (the message names the closest one).
    """
    try:
        return SCENARIOS[name]
    except KeyError:
        close = difflib.get_close_matches(name.strip().lower(), list(SCENARIOS), n=1)
        raise UnknownScenarioError(name, close[0] if close else None) from None
