"""The clinic's patient records (``patients``): admitted, edited by staff, archived when old.

A patient is inserted by a staff member (``created_by``; ``updated_by`` stays null until the
first edit), in bulk during the intake rush. Staff then edit the record: a new phone number,
a move, an allergy found, each stamping ``updated_by`` and ``updated_at``. Beyond
:data:`MAX_PATIENTS` the oldest record with no form under review is deleted (archived to
another system), so the table stays bounded.

Patient ids are assigned by the server: a record is only edited once
:meth:`Patients.apply_result` has reported its id. As everywhere in the pack, nothing here
reads a clock or global random state.
"""

from __future__ import annotations

import random
from collections.abc import Collection, Mapping, Sequence
from datetime import date, timedelta
from typing import Any, Final

from rtdata.scenarios.admin.names import address, person_name, phone
from rtdata.simulate.write import Write

__all__ = ["ALLERGIES", "MAX_PATIENTS", "MIN_PATIENTS", "Patients"]

MIN_PATIENTS: Final = 25
"""Below this many known patients, admissions are strongly preferred."""

MAX_PATIENTS: Final = 60
"""Patients kept before the oldest without forms under review is deleted."""

ALLERGIES: Final = (
    "none known",
    "penicillin",
    "latex",
    "peanuts",
    "sulfonamides",
    "aspirin",
    "shellfish",
    "iodine contrast",
)
"""What ``patients.allergies`` holds (the edits add to it)."""

_BORN_FROM: Final = date(1935, 1, 1)
_BORN_DAYS: Final = 365 * 85


class Patients:
    """Seeded writes of ``patients``, one at a time (see the module docstring).

    Args:
        rng: The scenario's random generator (shared, so one seed drives everything).
    """

    def __init__(self, rng: random.Random) -> None:
        """Create the records' state; no random number is drawn until a write."""
        self._rng = rng
        self._serial = 0
        # Known patient id -> allergies, oldest admission first.
        self._known: dict[int, str] = {}

    @property
    def ids(self) -> tuple[int, ...]:
        """Ids of the patients the server reported, oldest admission first."""
        return tuple(self._known)

    def admit(self, count: int, by: str, ts: str) -> Write:
        """Return the insert of ``count`` new patients, entered by the account ``by``."""
        rows = []
        for _ in range(count):
            self._serial += 1
            rows.append(
                {
                    "mrn": f"LVC-{104_000 + self._serial * 7}",
                    "full_name": person_name(self._rng),
                    "date_of_birth": (
                        _BORN_FROM + timedelta(days=self._rng.randrange(_BORN_DAYS))
                    ).isoformat(),
                    "phone": phone(self._rng),
                    "address": address(self._rng),
                    "allergies": self._rng.choices(ALLERGIES, (12, 3, 1, 1, 1, 1, 1, 1))[0],
                    "created_by": by,
                    "created_at": ts,
                    "updated_at": ts,
                }
            )
        return Write("POST", "patients", body=rows, returning=True)

    def apply_result(self, rows: Sequence[Mapping[str, Any]]) -> list[int]:
        """Learn the ids of admitted patients; return the ones not known before, in order."""
        learned = []
        for row in rows:
            row_id = row.get("id")
            if not isinstance(row_id, int) or isinstance(row_id, bool) or row_id in self._known:
                continue
            self._known[row_id] = str(row.get("allergies") or "none known")
            learned.append(row_id)
        return learned

    def edit(self, by: str, ts: str) -> Write:
        """Return an edit of a known patient by the account ``by``."""
        rng = self._rng
        patient_id = rng.choice(list(self._known))
        body: dict[str, Any] = {"updated_by": by, "updated_at": ts}
        kind = rng.choices(("phone", "moved", "allergy"), (5, 3, 2))[0]
        if kind == "phone":
            body["phone"] = phone(rng)
        elif kind == "moved":
            body["address"] = address(rng)
            body["phone"] = phone(rng)
        else:
            found = rng.choice(ALLERGIES[1:])
            known = self._known[patient_id]
            if known == "none known":
                allergies = found
            elif found in known.split(", "):
                allergies = known
            else:
                allergies = f"{known}, {found}"
            self._known[patient_id] = allergies
            body["allergies"] = allergies
        return Write("PATCH", "patients", body=body, match={"id": patient_id})

    def oldest_without(self, busy: Collection[int]) -> int | None:
        """Return the oldest known patient beyond :data:`MAX_PATIENTS` not in ``busy``, or
        ``None`` when within the bound (or every older one is busy)."""
        if len(self._known) <= MAX_PATIENTS:
            return None
        return next((p for p in self._known if p not in busy), None)

    def discharge(self, patient_id: int) -> Write:
        """Return the delete of ``patient_id`` and forget it."""
        del self._known[patient_id]
        return Write("DELETE", "patients", match={"id": patient_id})
