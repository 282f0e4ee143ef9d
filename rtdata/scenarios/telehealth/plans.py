"""Care plans: a patient's home rehab after joint replacement, as rows of ``care_plans``; pure.

A plan is written as a ``draft`` at surgery, ``active`` a few seconds later (the physiotherapist
signs it off), then moves through the rehab phases (:data:`REHAB_PHASES`), each with its own
exercise count and flexion (knee) or range-of-motion (hip) goal, and a new ``version`` at every
change; it ends ``completed`` at discharge or ``cancelled`` at readmission (or when the patient
leaves before it was signed off). :class:`~rtdata.scenarios.telehealth.recovery.Programme`
decides when; this module says what is written.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from types import MappingProxyType
from typing import Any, Final

from rtdata.scenarios.telehealth.clinics import CLINICS, REHAB_PHASES
from rtdata.simulate.write import Write

__all__ = ["ACTIVATION_S", "CARE_PLAN_TRANSITIONS", "CarePlan", "new_plan", "plan_patch"]

CARE_PLAN_TRANSITIONS: Final[Mapping[str, tuple[str, ...]]] = MappingProxyType(
    {
        "draft": ("active", "cancelled"),
        "active": ("completed", "cancelled"),
        "completed": (),
        "cancelled": (),
    }
)
"""Care plan status graph: status -> statuses a plan may move to next."""

ACTIVATION_S: Final = (4.0, 15.0)
"""Fewest and most seconds from a draft to its activation."""

_PROCEDURE_NAMES: Final = {
    "total_knee": "Total knee arthroplasty",
    "total_hip": "Total hip arthroplasty",
    "partial_knee": "Partial knee arthroplasty",
    "revision_hip": "Revision hip arthroplasty",
}
# Flexion (knee) or range-of-motion (hip) goal per rehab phase, degrees.
_FLEXION_DEG: Final = {"knee": (90, 105, 115, 120), "hip": (70, 85, 95, 100)}
_EXERCISES_PER_DAY: Final = (3, 4, 3, 2)


@dataclass(slots=True)
class CarePlan:
    """What the scenario knows of a patient's plan.

    Attributes:
        joint: ``knee`` or ``hip``: which goals the phases set.
        activate_s: When the draft is activated, in seconds since the start.
        status: One of :data:`CARE_PLAN_TRANSITIONS`' statuses.
        id: The server-assigned id, once known; ``None`` before.
        phase: Index of the rehab phase in :data:`REHAB_PHASES`.
        version: The plan's version, one more at every change.
    """

    joint: str
    activate_s: float
    status: str = "draft"
    id: int | None = None
    phase: int = 0
    version: int = 1

    @property
    def last_phase(self) -> bool:
        """Whether the plan is in the last rehab phase."""
        return self.phase >= len(REHAB_PHASES) - 1


def new_plan(
    rng: random.Random,
    clinic: int,
    patient_id: str,
    procedure: str,
    physio_id: str,
    elapsed_s: float,
    now: datetime,
) -> tuple[CarePlan, Write]:
    """A draft plan for a patient just out of surgery, and its insert."""
    joint = "knee" if "knee" in procedure else "hip"
    plan = CarePlan(joint, elapsed_s + rng.uniform(*ACTIVATION_S))
    ts = now.isoformat()
    body = {
        "tenant_id": CLINICS[clinic].id,
        "patient_id": patient_id,
        "provider_id": physio_id,
        "title": f"{_PROCEDURE_NAMES[procedure]}: home rehab",
        "phase": REHAB_PHASES[0],
        "status": "draft",
        "exercises_per_day": _EXERCISES_PER_DAY[0],
        "flexion_target_deg": _FLEXION_DEG[joint][0],
        "version": 1,
        "created_at": ts,
        "updated_at": ts,
    }
    return plan, Write("POST", "care_plans", body=body, returning=True)


def plan_patch(plan: CarePlan, now: datetime, *, status: str | None = None) -> Write:
    """The update of a plan whose id is known: to ``status``, or (``None``) to the next rehab
    phase with its goals; either way a new version. Applied to ``plan`` at once.

    Raises:
        ValueError: The plan's id is not known, or it has no next phase.
    """
    if plan.id is None:
        raise ValueError("a care plan is updated only once its id is known")
    if status is None and plan.last_phase:
        raise ValueError("the care plan is in its last phase")
    plan.version += 1
    body: dict[str, Any] = {"version": plan.version, "updated_at": now.isoformat()}
    if status is None:
        plan.phase += 1
        body["phase"] = REHAB_PHASES[plan.phase]
        body["exercises_per_day"] = _EXERCISES_PER_DAY[plan.phase]
        body["flexion_target_deg"] = _FLEXION_DEG[plan.joint][plan.phase]
    else:
        plan.status = status
        body["status"] = status
    return Write("PATCH", "care_plans", body=body, match={"id": plan.id})
