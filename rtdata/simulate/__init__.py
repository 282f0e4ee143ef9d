"""Scenario simulator: a seeded hospital-network scenario and the shell that writes it over REST.

:class:`HospitalScenario` is pure (no I/O, no clock reads) and produces :class:`Write` values;
:class:`Simulator` sends them to a PostgREST-shaped API at a steady rate. The scenario's schema is
the migration in :data:`MIGRATIONS_DIR`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Final

from rtdata.simulate.hospital import LISBON, City, HospitalScenario, Write
from rtdata.simulate.runner import Simulator

__all__ = ["LISBON", "MIGRATIONS_DIR", "City", "HospitalScenario", "Simulator", "Write"]

MIGRATIONS_DIR: Final[Path] = Path(__file__).resolve().parent / "migrations"
"""Folder of the SQL migrations that define the tables the scenario writes to."""
