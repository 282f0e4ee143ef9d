"""The clinic's form submissions (``form_submissions``): submitted, reviewed, then approved or
rejected, each step by a named reviewer at a stamped time.

A new patient's intake packet (:data:`PACKET`: one form of each of its types) is submitted in
one bulk ``POST`` as soon as the patient's id is known; single forms (:data:`FORM_TYPES`)
arrive for known patients. A submission moves along :data:`SUBMISSION_TRANSITIONS`:
``pending`` -> ``reviewed`` (``reviewer_id``, ``reviewed_at``) -> ``approved`` or ``rejected``
(``decided_at``, ``review_notes``), decided by the same reviewer, whose own approval rate
(:attr:`Submissions.approval_rates`) decides which. Reviewers mostly take the oldest pending
form. Decided forms beyond :data:`MAX_DECIDED` are deleted, oldest first; single forms stop
while :data:`MAX_OPEN` are pending or reviewed (the scenario stops admitting patients whose
packets would pass it).

Submission ids are assigned by the server: a form is only reviewed once
:meth:`Submissions.apply_result` has reported its id. Nothing here reads a clock or global
random state.
"""

from __future__ import annotations

import random
from collections import deque
from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import Any, Final

from rtdata.simulate.write import Write

__all__ = [
    "FORM_TYPES",
    "MAX_DECIDED",
    "MAX_OPEN",
    "PACKET",
    "STATUSES",
    "SUBMISSION_TRANSITIONS",
    "Submissions",
]

FORM_TYPES: Final = (
    "intake",
    "consent",
    "questionnaire",
    "records_release",
    "referral",
    "adverse_event",
)
"""The ``form_type`` enum."""

PACKET: Final = ("intake", "consent", "questionnaire")
"""The forms a new patient's intake packet holds, submitted together."""

STATUSES: Final = ("pending", "reviewed", "approved", "rejected")
"""The ``submission_status`` enum, in lifecycle order."""

SUBMISSION_TRANSITIONS: Final[Mapping[str, tuple[str, ...]]] = MappingProxyType(
    {"pending": ("reviewed",), "reviewed": ("approved", "rejected"), "approved": (), "rejected": ()}
)
"""Submission status -> the statuses it may move to next."""

MAX_OPEN: Final = 150
"""No single form is submitted, nor patient admitted, while this many are pending or reviewed."""

MAX_DECIDED: Final = 120
"""Approved or rejected forms kept before the oldest is deleted."""

_SINGLE_WEIGHTS: Final = (0, 1, 2, 3, 4, 1)  # per FORM_TYPES; intake comes in packets only
_OLDEST_FIRST: Final = 0.75  # share of reviews and decisions that take the oldest form
_REJECTION_NOTES: Final = (
    "signature missing",
    "wrong patient attached",
    "incomplete answers",
    "scan illegible",
    "consent expired",
)
_APPROVAL_NOTES: Final = (None, None, None, "checked against chart")
_ANSWERS: Final = {"intake": (12, 30), "questionnaire": (20, 45), "consent": (2, 4)}


class Submissions:
    """Seeded writes of ``form_submissions``, one at a time (see the module docstring).

    Args:
        rng: The scenario's random generator (shared, so one seed drives everything).
        reviewers: Ids of the accounts that review forms (the core team); each draws its
            approval rate, between 0.6 and 0.95, at once.
    """

    def __init__(self, rng: random.Random, reviewers: Sequence[str]) -> None:
        """Create the state and draw each reviewer's approval rate."""
        if not reviewers:
            raise ValueError("at least one reviewer is needed")
        self._rng = rng
        self.approval_rates: Mapping[str, float] = MappingProxyType(
            {r: round(rng.uniform(0.6, 0.95), 2) for r in reviewers}
        )
        # Pending id -> patient id, and reviewed id -> (patient id, reviewer), oldest first.
        self._pending: dict[int, int] = {}
        self._reviewed: dict[int, tuple[int, str]] = {}
        self._decided: deque[tuple[int, int]] = deque()  # (id, patient id), oldest first

    @property
    def open_count(self) -> int:
        """Forms pending or reviewed that the scenario knows of."""
        return len(self._pending) + len(self._reviewed)

    @property
    def pending_count(self) -> int:
        """Pending forms the scenario knows of."""
        return len(self._pending)

    @property
    def reviewed_count(self) -> int:
        """Reviewed forms awaiting a decision."""
        return len(self._reviewed)

    def statuses(self) -> dict[int, str]:
        """Every tracked form's status, by id (a copy)."""
        out = dict.fromkeys(self._pending, "pending")
        out.update(dict.fromkeys(self._reviewed, "reviewed"))
        out.update({i: "decided" for i, _ in self._decided})
        return out

    def open_patients(self) -> set[int]:
        """Patients with a form pending or reviewed."""
        return {*self._pending.values(), *(p for p, _ in self._reviewed.values())}

    def packet(self, patient_ids: Sequence[int], by: str, ts: str) -> Write:
        """Return the bulk insert of the intake packets of ``patient_ids``, by ``by``."""
        rows = [self._row(p, form, by, ts) for p in patient_ids for form in PACKET]
        return Write("POST", "form_submissions", body=rows, returning=True)

    def single(self, patient_ids: Sequence[int], by: str, ts: str) -> Write:
        """Return the insert of one form (not intake) for one of ``patient_ids``."""
        form = self._rng.choices(FORM_TYPES, _SINGLE_WEIGHTS)[0]
        row = self._row(self._rng.choice(patient_ids), form, by, ts)
        return Write("POST", "form_submissions", body=row, returning=True)

    def apply_result(self, rows: Sequence[Mapping[str, Any]]) -> None:
        """Learn the ids of submitted forms; rows without an integer ``id`` or ``patient_id``
        and ids already known are ignored."""
        known = self.statuses()
        for row in rows:
            row_id, patient_id = _integer(row.get("id")), _integer(row.get("patient_id"))
            if row_id is not None and patient_id is not None and row_id not in known:
                self._pending[row_id] = patient_id

    def options(self, submit: float, review: float) -> list[tuple[str, float]]:
        """Return ``(action, weight)`` pairs for the scenario's draw: ``submit`` and ``review``
        scale the phase's work. Reviews and decisions grow with the forms waiting for them."""
        can_submit = self.open_count < MAX_OPEN
        return [
            ("submit", 0.6 * submit if can_submit else 0.0),
            ("review", review * min(5.0, 0.15 * len(self._pending))),
            ("decide", review * min(5.0, 0.25 * len(self._reviewed))),
        ]

    def review(self, ts: str) -> Write:
        """Return a pending form moved to ``reviewed`` by one of the reviewers."""
        form_id = self._pick(list(self._pending))
        patient_id = self._pending.pop(form_id)
        reviewer = self._rng.choice(list(self.approval_rates))
        self._reviewed[form_id] = (patient_id, reviewer)
        body = {
            "status": "reviewed",
            "reviewer_id": reviewer,
            "reviewed_at": ts,
            "updated_at": ts,
        }
        return Write("PATCH", "form_submissions", body=body, match={"id": form_id})

    def decide(self, ts: str) -> Write:
        """Return a reviewed form approved or rejected by its reviewer."""
        form_id = self._pick(list(self._reviewed))
        patient_id, reviewer = self._reviewed.pop(form_id)
        approved = self._rng.random() < self.approval_rates[reviewer]
        notes = self._rng.choice(_APPROVAL_NOTES if approved else _REJECTION_NOTES)
        self._decided.append((form_id, patient_id))
        body = {
            "status": "approved" if approved else "rejected",
            "review_notes": notes,
            "decided_at": ts,
            "updated_at": ts,
        }
        return Write("PATCH", "form_submissions", body=body, match={"id": form_id})

    def forced_prune(self) -> Write | None:
        """Return the delete of the oldest decided form beyond :data:`MAX_DECIDED`, or
        ``None``."""
        if len(self._decided) <= MAX_DECIDED:
            return None
        form_id, _ = self._decided.popleft()
        return Write("DELETE", "form_submissions", match={"id": form_id})

    def forget_patient(self, patient_id: int) -> Write | None:
        """Return the delete of every decided form of ``patient_id`` (as the patient's delete
        would cascade), or ``None`` when it has none; its open forms must be none."""
        if patient_id in self.open_patients():
            raise ValueError(f"patient {patient_id} still has forms under review")
        mine = [entry for entry in self._decided if entry[1] == patient_id]
        if not mine:
            return None
        for entry in mine:
            self._decided.remove(entry)
        return Write("DELETE", "form_submissions", match={"patient_id": patient_id})

    def _pick(self, oldest_first: list[int]) -> int:
        if self._rng.random() < _OLDEST_FIRST:
            return oldest_first[0]
        return self._rng.choice(oldest_first)

    def _row(self, patient_id: int, form: str, by: str, ts: str) -> dict[str, Any]:
        return {
            "form_type": form,
            "patient_id": patient_id,
            "submitted_by": by,
            "status": "pending",
            "data": self._data(form),
            "submitted_at": ts,
            "updated_at": ts,
        }

    def _data(self, form: str) -> dict[str, Any]:
        """The form's answers, summarised the same way for every type: how many questions
        were answered and how many files came with it."""
        low, high = _ANSWERS.get(form, (4, 12))
        return {"answers": self._rng.randint(low, high), "files": self._rng.randint(0, 3)}


def _integer(value: object) -> int | None:
    """``value`` when it is an integer (not a bool), else ``None``."""
    return value if isinstance(value, int) and not isinstance(value, bool) else None
