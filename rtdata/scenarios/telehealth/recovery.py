"""Each clinic's recovery programme: patients enrolled before or just after their joint
replacement, their recovery status, their care plan, and their discharge. Pure: time comes in as
seconds since the scenario started, randomness from the scenario's generator.

A patient is enrolled ``pre_op`` (surgery booked) or ``post_op`` (enrolled from the ward) with a
lead clinician, and is reviewed every so often (:data:`DWELL_S`): ``pre_op`` -> ``post_op`` ->
``recovering``, with spells ``at_risk`` that end in ``recovering`` again or ``readmitted``, until
``discharged``. A patient with an unresolved alert is not discharged. From surgery on, the patient
has a care plan (:mod:`~rtdata.scenarios.telehealth.plans`): ``draft``, ``active`` a few seconds
later (it then moves through the rehab phases), and ``completed`` at discharge or ``cancelled`` at
readmission. Each clinic keeps
:data:`PATIENTS_PER_CLINIC` patients in the programme; finished ones stay visible a while
(:data:`MAX_FINISHED_PER_CLINIC`) before their rows are deleted and a new patient takes the slot.

As in the hospital pack, a ``PATCH`` changes the tracked state when it is produced, and a care plan
is only updated once :meth:`Programme.apply_result` has reported its server-assigned id.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from types import MappingProxyType
from typing import Any, Final

from rtdata.scenarios.telehealth.clinics import (
    CLINICS,
    PROCEDURES,
    Provider,
    person_name,
    uuid_from,
)
from rtdata.scenarios.telehealth.plans import CarePlan, new_plan, plan_patch
from rtdata.scenarios.telehealth.readings import Baseline, baseline
from rtdata.simulate.write import Write

__all__ = [
    "ACTIVE_STATUSES",
    "DWELL_S",
    "MAX_FINISHED_PER_CLINIC",
    "PATIENTS_PER_CLINIC",
    "RECOVERY_TRANSITIONS",
    "Patient",
    "Programme",
]

PATIENTS_PER_CLINIC: Final = 8
"""Patients in the programme (not discharged or readmitted) at each clinic."""

MAX_FINISHED_PER_CLINIC: Final = 5
"""Discharged or readmitted patients a clinic keeps before the oldest one's rows are deleted."""

ACTIVE_STATUSES: Final = ("pre_op", "post_op", "recovering", "at_risk")
"""Statuses of a patient in the programme."""

RECOVERY_TRANSITIONS: Final[Mapping[str, tuple[str, ...]]] = MappingProxyType(
    {
        "pre_op": ("post_op",),
        "post_op": ("recovering", "at_risk"),
        "recovering": ("at_risk", "discharged"),
        "at_risk": ("recovering", "readmitted"),
        "readmitted": (),
        "discharged": (),
    }
)
"""Recovery status graph: status -> statuses a patient may move to next."""

DWELL_S: Final[Mapping[str, tuple[float, float]]] = MappingProxyType(
    {
        "pre_op": (30.0, 100.0),
        "post_op": (60.0, 160.0),
        "recovering": (70.0, 200.0),
        "at_risk": (40.0, 100.0),
    }
)
"""Seconds until a patient's next review, by status (a compressed post-operative day)."""

_RISK: Final[Mapping[str, tuple[int, int]]] = {
    "pre_op": (10, 25),
    "post_op": (30, 50),
    "recovering": (10, 35),
    "at_risk": (60, 90),
    "discharged": (5, 15),
    "readmitted": (90, 100),
}


@dataclass(slots=True)
class Patient:
    """One patient in (or just out of) a clinic's programme.

    Attributes:
        id: ``patients.id``.
        clinic: Index of the clinic.
        procedure: One of the ``tjv_procedure`` labels.
        lead_id: The lead clinician (``patient_status.provider_id``), notified of alerts.
        usual: The patient's usual readings.
        status: Recovery status now.
        post_op_day: Days since surgery (``None`` before it).
        next_s: When the patient is next reviewed, in seconds since the start.
        finished_s: When the patient was discharged or readmitted, else ``None``.
    """

    id: str
    clinic: int
    procedure: str
    lead_id: str
    usual: Baseline
    status: str
    post_op_day: int | None
    next_s: float
    finished_s: float | None = None
    plan: CarePlan | None = None


Step = tuple[list[Write], str | None]
"""Writes to send in order, and the id of a patient whose rows they delete (or ``None``)."""


class Programme:
    """The patients of every clinic and their care plans.

    Args:
        rng: The scenario's random generator.
        team: Every clinic's care team.
    """

    def __init__(self, rng: random.Random, team: Sequence[Provider]) -> None:
        """Create a programme with no patient; :meth:`opening` enrols the first ones."""
        self._rng = rng
        self._team = team
        self.patients: dict[str, Patient] = {}
        """Every patient with rows, by id, in enrolment order."""

    def active(self, clinic: int | None = None) -> list[Patient]:
        """Patients in the programme (of ``clinic``, or of all), in enrolment order."""
        return [
            p
            for p in self.patients.values()
            if p.finished_s is None and (clinic is None or p.clinic == clinic)
        ]

    def opening(self, elapsed_s: float, now: datetime) -> list[Write]:
        """Enrol :data:`PATIENTS_PER_CLINIC` patients at every clinic, some already after
        surgery, reviewed soon so the statuses spread: their patients, care assignments,
        statuses and care plans as one bulk insert per table."""
        enrolled = [
            self._enrol(clinic, elapsed_s, now, early=True)
            for _ in range(PATIENTS_PER_CLINIC)
            for clinic in range(len(CLINICS))
        ]
        merged: dict[str, list[dict[str, Any]]] = {}
        for writes in enrolled:
            for write in writes:
                merged.setdefault(write.table, []).extend(write.rows())
        return [
            Write("POST", table, body=rows, returning=table == "care_plans")
            for table, rows in merged.items()
        ]

    def apply_result(self, rows: Sequence[Mapping[str, Any]]) -> None:
        """Learn the ids of inserted care plans; rows it cannot match are ignored."""
        for row in rows:
            plan_id, patient = row.get("id"), self.patients.get(str(row.get("patient_id")))
            plan = None if patient is None else patient.plan
            if isinstance(plan_id, int) and not isinstance(plan_id, bool) and plan is not None:
                plan.id = plan.id if plan.id is not None else plan_id

    def due(
        self, elapsed_s: float, now: datetime, has_unresolved: Callable[[str], bool]
    ) -> Step | None:
        """The next thing due: a care plan to activate, a patient to review, a finished patient
        to delete (when the clinic keeps too many), or a patient to enrol; ``None`` if nothing
        is due."""
        for patient in self.patients.values():
            plan = patient.plan
            if (
                plan
                and plan.status == "draft"
                and plan.id is not None
                and elapsed_s >= plan.activate_s
            ):
                return [plan_patch(plan, now, status="active")], None
        for patient in self.patients.values():
            if patient.finished_s is None and elapsed_s >= patient.next_s:
                return self._review(patient, elapsed_s, now, has_unresolved), None
        for clinic in range(len(CLINICS)):
            finished = [
                p for p in self.patients.values() if p.clinic == clinic and p.finished_s is not None
            ]
            purgeable = [p for p in finished if not has_unresolved(p.id)]
            if len(finished) > MAX_FINISHED_PER_CLINIC and purgeable:
                return self._purge(purgeable[0]), purgeable[0].id
            if len(self.active(clinic)) < PATIENTS_PER_CLINIC:
                return self._enrol(clinic, elapsed_s, now, early=False), None
        return None

    def plan_update(self, now: datetime) -> Write | None:
        """Move a random active care plan to its next rehab phase (new version, new goals), or
        ``None`` when no active plan has a next phase."""
        movable = [
            p
            for p in self.patients.values()
            if p.plan
            and p.plan.status == "active"
            and p.plan.id is not None
            and not p.plan.last_phase
        ]
        if not movable:
            return None
        plan = self._rng.choice(movable).plan
        assert plan is not None
        return plan_patch(plan, now)

    # ------------------------------------------------------------ internals

    def _lead(self, clinic: int) -> str:
        leads = [
            p.id
            for p in self._team
            if p.clinic == clinic and p.role in ("surgeon", "physiotherapist")
        ]
        return self._rng.choice(leads)

    def _enrol(self, clinic: int, elapsed_s: float, now: datetime, *, early: bool) -> list[Write]:
        rng = self._rng
        after_surgery = rng.random() < (0.6 if early else 0.3)
        status = "post_op" if after_surgery else "pre_op"
        days = -rng.randint(0, 2) if after_surgery else rng.randint(1, 3)
        low, high = (3.0, 45.0) if early else DWELL_S[status]
        patient = Patient(
            id=uuid_from(rng),
            clinic=clinic,
            procedure=rng.choices(PROCEDURES, (50, 35, 10, 5))[0],
            lead_id=self._lead(clinic),
            usual=baseline(rng),
            status=status,
            post_op_day=0 if after_surgery else None,
            next_s=elapsed_s + rng.uniform(low, high),
        )
        self.patients[patient.id] = patient
        ts, tenant_id = now.isoformat(), CLINICS[clinic].id
        team = [p for p in self._team if p.clinic == clinic and p.role != "care_coordinator"]
        assigned = [
            patient.lead_id,
            *rng.sample([p.id for p in team if p.id != patient.lead_id], 2),
        ]
        writes = [
            Write(
                "POST",
                "patients",
                body={
                    "id": patient.id,
                    "tenant_id": tenant_id,
                    "user_id": uuid_from(rng),
                    "full_name": person_name(rng),
                    "procedure": patient.procedure,
                    "surgery_date": (now + timedelta(days=days)).date().isoformat(),
                    "created_at": ts,
                    "updated_at": ts,
                },
            ),
            Write(
                "POST",
                "care_assignments",
                body=[
                    {
                        "provider_id": provider_id,
                        "patient_id": patient.id,
                        "tenant_id": tenant_id,
                        "is_active": True,
                        "permissions": ["read", "write"] if i < 2 else ["read"],
                        "created_at": ts,
                    }
                    for i, provider_id in enumerate(assigned)
                ],
            ),
            Write(
                "POST",
                "patient_status",
                body={
                    "patient_id": patient.id,
                    "tenant_id": tenant_id,
                    "provider_id": patient.lead_id,
                    "status": status,
                    "post_op_day": patient.post_op_day,
                    "risk_score": rng.randint(*_RISK[status]),
                    "created_at": ts,
                    "updated_at": ts,
                },
            ),
        ]
        if after_surgery:
            writes.append(self._new_plan(patient, elapsed_s, now))
        return writes

    def _review(
        self,
        patient: Patient,
        elapsed_s: float,
        now: datetime,
        has_unresolved: Callable[[str], bool],
    ) -> list[Write]:
        rng, old = self._rng, patient.status
        if old == "pre_op":
            new = "post_op"
        elif old == "post_op":
            new = rng.choices(("recovering", "at_risk"), (85, 15))[0]
        elif old == "recovering":
            ready = not has_unresolved(patient.id)
            new = rng.choices(
                ("discharged", "at_risk", "recovering"), (60 if ready else 0, 15, 25)
            )[0]
        else:
            new = rng.choices(("recovering", "readmitted"), (85, 15))[0]
        patient.status = new
        patient.post_op_day = 0 if old == "pre_op" else (patient.post_op_day or 0) + 1
        writes = [
            Write(
                "PATCH",
                "patient_status",
                body={
                    "status": new,
                    "post_op_day": patient.post_op_day,
                    "risk_score": rng.randint(*_RISK[new]),
                    "updated_at": now.isoformat(),
                },
                match={"patient_id": patient.id},
            )
        ]
        if new in ("discharged", "readmitted"):
            patient.finished_s = elapsed_s
            plan = patient.plan
            if plan is not None and plan.id is not None and plan.status in ("draft", "active"):
                closed = (
                    "completed" if new == "discharged" and plan.status == "active" else "cancelled"
                )
                writes.append(plan_patch(plan, now, status=closed))
        else:
            patient.next_s = elapsed_s + rng.uniform(*DWELL_S[new])
            if new == "post_op":
                writes.append(self._new_plan(patient, elapsed_s, now))
        return writes

    def _new_plan(self, patient: Patient, elapsed_s: float, now: datetime) -> Write:
        physios = [
            p.id for p in self._team if p.clinic == patient.clinic and p.role == "physiotherapist"
        ]
        physio_id = self._rng.choice(physios)
        patient.plan, write = new_plan(
            self._rng, patient.clinic, patient.id, patient.procedure, physio_id, elapsed_s, now
        )
        return write

    def _purge(self, patient: Patient) -> list[Write]:
        del self.patients[patient.id]
        by_patient = {"patient_id": patient.id}
        tables = ("vital_signs", "patient_alerts", "messages", "care_plans", "patient_status")
        return [
            *(Write("DELETE", table, match=by_patient) for table in tables),
            Write("DELETE", "care_assignments", match=by_patient),
            Write("DELETE", "patients", match={"id": patient.id}),
        ]
