"""The hospital pack: a Lisbon ambulance and hospital network (``README.md`` beside this file).

Its ``migrations/`` define the tables; :func:`scenario` is the pure write source the REST
simulator drives (:mod:`~rtdata.scenarios.hospital.network` and
:mod:`~rtdata.scenarios.hospital.operations`) and :func:`roster` the staff who sign in and out
on the presence channel (:mod:`~rtdata.scenarios.hospital.staff`).
"""

from __future__ import annotations

from rtdata.scenarios.hospital.network import LISBON, City, HospitalScenario
from rtdata.scenarios.hospital.staff import StaffRoster

__all__ = ["LISBON", "City", "HospitalScenario", "StaffRoster", "roster", "scenario"]


def scenario(seed: int) -> HospitalScenario:
    """Return the hospital-network scenario in Lisbon seeded with ``seed``."""
    return HospitalScenario(seed)


def roster(seed: int) -> StaffRoster:
    """Return a roster of 24 staff spread over the scenario's hospitals, seeded with ``seed``."""
    return StaffRoster(seed, HospitalScenario(seed).hospital_ids, size=24)
