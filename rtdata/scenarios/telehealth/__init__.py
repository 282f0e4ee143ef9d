"""The telehealth pack: a multi-tenant recovery platform for knee and hip replacement patients
(``README.md`` beside this file).

Its ``migrations/`` define the tables; :func:`scenario` is the pure write source the REST
simulator drives (:mod:`~rtdata.scenarios.telehealth.scenario`), :func:`roster` the clinicians
who sign in and out on their clinic's collaboration channel
(:mod:`~rtdata.scenarios.telehealth.team`), and :func:`state_machines` the lifecycles the
simulator drives.
"""

from __future__ import annotations

from rtdata.scenarios.telehealth.alerts import ALERT_TRANSITIONS
from rtdata.scenarios.telehealth.clinics import CLINICS, Clinic, care_team
from rtdata.scenarios.telehealth.plans import CARE_PLAN_TRANSITIONS
from rtdata.scenarios.telehealth.recovery import RECOVERY_TRANSITIONS
from rtdata.scenarios.telehealth.scenario import TelehealthScenario
from rtdata.scenarios.telehealth.team import CareTeamRoster
from rtdata.simulate.machine import StateMachine

__all__ = [
    "CLINICS",
    "CareTeamRoster",
    "Clinic",
    "TelehealthScenario",
    "roster",
    "scenario",
    "state_machines",
]


def scenario(seed: int) -> TelehealthScenario:
    """Return the telehealth scenario (three clinics) seeded with ``seed``."""
    return TelehealthScenario(seed)


def roster(seed: int) -> CareTeamRoster:
    """Return the roster of the three clinics' 18 clinicians, seeded with ``seed`` (the same
    team as :func:`scenario` with that seed)."""
    return CareTeamRoster(seed, care_team(seed))


def state_machines() -> tuple[StateMachine, ...]:
    """The lifecycles :func:`scenario` drives: patient alerts from raised to resolved, patients
    through their recovery, and care plans from draft to completed or cancelled."""
    return (
        StateMachine(
            "patient_alerts",
            "status",
            ALERT_TRANSITIONS,
            initial=("raised",),
            must_pass={"resolved": ("raised", "acknowledged")},
        ),
        StateMachine(
            "patient_status",
            "status",
            RECOVERY_TRANSITIONS,
            initial=("pre_op", "post_op"),
            must_pass={
                "recovering": ("post_op",),
                "discharged": ("post_op", "recovering"),
                "readmitted": ("post_op", "at_risk"),
            },
        ),
        StateMachine(
            "care_plans",
            "status",
            CARE_PLAN_TRANSITIONS,
            initial=("draft",),
            must_pass={"completed": ("draft", "active")},
        ),
    )
