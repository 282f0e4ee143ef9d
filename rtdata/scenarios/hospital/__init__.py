"""The hospital pack: a Lisbon ambulance and hospital network (``README.md`` beside this file).

Its ``migrations/`` define the tables; :func:`scenario` is the pure write source the REST
simulator drives (:mod:`~rtdata.scenarios.hospital.network` and
:mod:`~rtdata.scenarios.hospital.operations`) and :func:`roster` the staff who sign in and out
on the presence channel (:mod:`~rtdata.scenarios.hospital.staff`).
"""

from __future__ import annotations

from rtdata.scenarios.hospital.network import EMERGENCY_TRANSITIONS, LISBON, City, HospitalScenario
from rtdata.scenarios.hospital.operations import DISPUTE_TRANSITIONS, WAITLIST_TRANSITIONS
from rtdata.scenarios.hospital.staff import StaffRoster
from rtdata.simulate.machine import StateMachine

__all__ = [
    "LISBON",
    "City",
    "HospitalScenario",
    "StaffRoster",
    "roster",
    "scenario",
    "state_machines",
]


def scenario(seed: int) -> HospitalScenario:
    """Return the hospital-network scenario in Lisbon seeded with ``seed``."""
    return HospitalScenario(seed)


def roster(seed: int) -> StaffRoster:
    """Return a roster of 24 staff spread over the scenario's hospitals, seeded with ``seed``."""
    return StaffRoster(seed, HospitalScenario(seed).hospital_ids, size=24)


def state_machines() -> tuple[StateMachine, ...]:
    """The lifecycles :func:`scenario` drives: emergencies through dispatch, verification
    requests to a decision, waiting-list entries and financial disputes."""
    return (
        StateMachine(
            "emergency_requests",
            "status",
            EMERGENCY_TRANSITIONS,
            initial=("pending",),
            must_pass={"completed": ("pending", "accepted", "en_route", "on_scene")},
        ),
        StateMachine(
            "verification_requests",
            "status",
            {"pending": ("approved", "rejected"), "approved": (), "rejected": ()},
            initial=("pending",),
        ),
        StateMachine("waitlist_entries", "status", WAITLIST_TRANSITIONS, initial=("waiting",)),
        StateMachine(
            "financial_disputes",
            "status",
            DISPUTE_TRANSITIONS,
            initial=("open",),
            must_pass={"resolved": ("open",)},
        ),
    )
