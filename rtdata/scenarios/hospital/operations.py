"""Hospital operations of the scenario: free beds and ambulances, waiting lists, disputed bills.

:class:`Operations` writes three tables of migration ``0002_operations.sql``:

* ``hospital_resources``: one row per hospital with beds, ICU beds and ambulances, available
  against total. Each update moves one hospital's occupancy towards its usual level plus a surge
  that comes and goes, so a hospital now and then runs near capacity.
* ``waitlist_entries``: patients waiting for a specialty at their hospital; an entry moves from
  ``waiting`` to ``scheduled`` (urgent entries first) or ``removed``, once.
* ``financial_disputes``: patients disputing an amount; ``open`` -> ``investigating`` ->
  ``resolved``, or ``open`` -> ``resolved`` directly.

It is driven by :class:`~rtdata.scenarios.hospital.network.HospitalScenario`, which owns the
random generator, sends the opening write, mixes :meth:`Operations.options` into its weighted
choice and feeds server representations back. The hospital scenario's rules hold here too: nothing
reads a clock or global random state, ``PATCH`` and ``DELETE`` change the tracked state when they
are produced, and rows with server-assigned ids are tracked once :meth:`Operations.apply_result`
reports them (so with no results, nothing is ever updated).
"""

from __future__ import annotations

import random
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from rtdata.simulate.write import Write

__all__ = [
    "ACTIONS",
    "DISPUTE_TRANSITIONS",
    "MAX_FINISHED_WAITLIST",
    "MAX_OPEN_DISPUTES",
    "MAX_RESOLVED_DISPUTES",
    "MAX_WAITING",
    "MIN_WAITING",
    "SPECIALTIES",
    "WAITLIST_TRANSITIONS",
    "Operations",
]

MIN_WAITING: Final = 30
"""Below this many waiting entries, new ones are strongly preferred."""

MAX_WAITING: Final = 120
"""No entry joins the waiting list while this many are waiting."""

MAX_FINISHED_WAITLIST: Final = 200
"""Scheduled or removed waiting-list entries kept before the oldest is deleted."""

MAX_OPEN_DISPUTES: Final = 25
"""No dispute is opened while this many are open or under investigation."""

MAX_RESOLVED_DISPUTES: Final = 100
"""Resolved disputes kept before the oldest is deleted."""

SPECIALTIES: Final = (
    "cardiology",
    "dermatology",
    "general_surgery",
    "neurology",
    "oncology",
    "ophthalmology",
    "orthopaedics",
    "paediatrics",
)
"""Specialties a patient waits for."""

WAITLIST_TRANSITIONS: Final[Mapping[str, tuple[str, ...]]] = {
    "waiting": ("scheduled", "removed"),
    "scheduled": (),
    "removed": (),
}
"""Waiting-list status graph: status -> statuses it may move to next."""

DISPUTE_TRANSITIONS: Final[Mapping[str, tuple[str, ...]]] = {
    "open": ("investigating", "resolved"),
    "investigating": ("resolved",),
    "resolved": (),
}
"""Financial dispute status graph: status -> statuses it may move to next."""

ACTIONS: Final = frozenset(
    {"resources", "waitlist_add", "waitlist_decide", "dispute_open", "dispute_advance"}
)
"""Names :meth:`Operations.options` offers and :meth:`Operations.write` accepts."""

_WAITLIST_PRIORITIES: Final = (1, 2, 3)  # 1 urgent, 2 soon, 3 routine
_WAITLIST_PRIORITY_WEIGHTS: Final = (15, 35, 50)
_SCHEDULE_WEIGHT_BY_PRIORITY: Final[Mapping[int, float]] = {1: 6.0, 2: 3.0, 3: 1.0}
_REMOVE_PROBABILITY: Final = 0.12
_RESOLVE_AT_ONCE_PROBABILITY: Final = 0.3
_DISPUTE_REASONS: Final = (
    "billing_error",
    "duplicate_charge",
    "insurance_denied",
    "service_not_received",
    "price_disagreement",
)
_PATIENT_PROFILES_KEPT: Final = 50
_BASE_OCCUPANCY: Final = (0.74, 0.88)  # range of a hospital's usual bed occupancy, 0..1
# A surge (occupancy above or below the usual) decays by 5 % and gets N(0, 0.013) noise per
# update: about ±0.04 typically, so a busy hospital now and then goes past 90 %.
_SURGE_DECAY: Final = 0.95
_SURGE_NOISE: Final = 0.013
_ICU_SLACK: Final = 0.08  # ICUs run this much emptier than the wards (occupancy, 0..1)
_AMBULANCE_USE: Final = 0.55  # share of ambulances out on a call, on average


@dataclass(slots=True)
class _Capacity:
    hospital_id: int
    beds_total: int
    icu_beds_total: int
    ambulances_total: int
    beds_available: int
    icu_beds_available: int
    ambulances_available: int
    base_occupancy: float  # 0..1, the hospital's usual bed occupancy (ICU: _ICU_SLACK less)
    surge: float  # current departure from base_occupancy

    def row(self) -> dict[str, Any]:
        return {
            "hospital_id": self.hospital_id,
            "beds_total": self.beds_total,
            "beds_available": self.beds_available,
            "icu_beds_total": self.icu_beds_total,
            "icu_beds_available": self.icu_beds_available,
            "ambulances_total": self.ambulances_total,
            "ambulances_available": self.ambulances_available,
        }


class Operations:
    """Seeded writes of the operations tables, one at a time (see the module docstring).

    Args:
        rng: The scenario's random generator (shared, so one seed drives everything).
        hospital_ids: Ids of the scenario's hospitals.
        patients: ``(patient_id, hospital_id)`` of the scenario's patient pool.
    """

    def __init__(
        self, rng: random.Random, hospital_ids: Sequence[int], patients: Sequence[tuple[str, int]]
    ) -> None:
        """Create the operations state; no random number is drawn before the opening write."""
        self._rng = rng
        self._hospital_ids = tuple(hospital_ids)
        self._patients = tuple(patients)
        self._seeded = False
        self._capacity: dict[int, _Capacity] = {}
        # hospital id -> hospital_resources.id, once the server reported it.
        self._resource_ids: dict[int, int] = {}
        # Waiting entry id -> priority; finished (scheduled or removed) ids, oldest first.
        self._waiting: dict[int, int] = {}
        self._finished_entries: deque[int] = deque()
        # Open or investigating dispute id -> status; resolved ids, oldest first.
        self._disputes: dict[int, str] = {}
        self._resolved: deque[int] = deque()
        # Recent patient profiles a dispute can name; profiles the scenario deletes leave it.
        self._patient_profiles: deque[str] = deque(maxlen=_PATIENT_PROFILES_KEPT)

    def opening_write(self, ts: str) -> Write | None:
        """Return the insert of every hospital's resources the first time, then ``None``."""
        if self._seeded:
            return None
        self._seeded = True
        rng = self._rng
        for hospital_id in self._hospital_ids:
            beds = rng.randint(25, 110) * 10
            icu = max(8, round(beds * rng.uniform(0.04, 0.08)))
            ambulances = rng.randint(6, 18)
            usual = rng.uniform(*_BASE_OCCUPANCY)
            self._capacity[hospital_id] = _Capacity(
                hospital_id,
                beds,
                icu,
                ambulances,
                beds - round(beds * usual),
                icu - round(icu * (usual - _ICU_SLACK)),
                ambulances - round(ambulances * _AMBULANCE_USE),
                usual,
                0.0,
            )
        body = [{**c.row(), "updated_at": ts} for c in self._capacity.values()]
        return Write("POST", "hospital_resources", body=body, returning=True)

    def forced_prune(self) -> Write | None:
        """Return a delete that keeps a table within its bound, or ``None`` when none is due."""
        if len(self._finished_entries) > MAX_FINISHED_WAITLIST:
            entry_id = self._finished_entries.popleft()
            return Write("DELETE", "waitlist_entries", match={"id": entry_id})
        if len(self._resolved) > MAX_RESOLVED_DISPUTES:
            dispute_id = self._resolved.popleft()
            return Write("DELETE", "financial_disputes", match={"id": dispute_id})
        return None

    def options(self) -> list[tuple[str, float]]:
        """Return ``(action, weight)`` pairs for the scenario's weighted choice, from the state.

        Joining the waiting list falls from weight 4 at :data:`MIN_WAITING` to 0 at
        :data:`MAX_WAITING` against a constant 2 for leaving it, so the list settles around
        75 waiting entries. Disputes open at weight 0.8 and advance at ``0.15`` per unresolved
        one (at most 2); each needs about 1.7 advances, so about 9 stay unresolved.
        """
        waiting = len(self._waiting)
        if waiting < MIN_WAITING:
            join = 8.0
        else:
            join = max(0.0, 4.0 * (MAX_WAITING - waiting) / (MAX_WAITING - MIN_WAITING))
        can_open = self._patient_profiles and len(self._disputes) < MAX_OPEN_DISPUTES
        return [
            ("resources", 3.0 if self._resource_ids else 0.0),
            ("waitlist_add", join if self._patients else 0.0),
            ("waitlist_decide", 2.0 if self._waiting else 0.0),
            ("dispute_open", 0.8 if can_open else 0.0),
            ("dispute_advance", min(2.0, 0.15 * len(self._disputes))),
        ]

    def write(self, action: str, ts: str) -> Write:
        """Return the write of ``action``, one of :data:`ACTIONS` offered with a positive weight.

        Raises:
            ValueError: ``action`` is not one of :data:`ACTIONS`.
        """
        if action == "resources":
            return self._update_resources(ts)
        if action == "waitlist_add":
            return self._join_waitlist(ts)
        if action == "waitlist_decide":
            return self._leave_waitlist(ts)
        if action == "dispute_open":
            return self._open_dispute(ts)
        if action == "dispute_advance":
            return self._advance_dispute(ts)
        raise ValueError(f"unknown operations action {action!r}")

    def apply_result(self, write: Write, rows: Sequence[Mapping[str, Any]]) -> None:
        """Learn ids (and patient profiles) from the representation of a successful ``POST``.

        Rows without an integer ``id`` and ids already known are ignored, so feeding a result
        twice is safe.
        """
        sent = write.rows()
        for index, row in enumerate(rows):
            if write.table == "profiles":
                profile_id = row.get("id")
                if (
                    row.get("role") == "patient"
                    and isinstance(profile_id, str)
                    and profile_id not in self._patient_profiles
                ):
                    self._patient_profiles.append(profile_id)
                continue
            row_id = row.get("id")
            if not isinstance(row_id, int) or isinstance(row_id, bool):
                continue
            echoed = {**(sent[index] if index < len(sent) else {}), **row}
            if write.table == "hospital_resources":
                hospital_id = echoed.get("hospital_id")
                if hospital_id in self._capacity:
                    self._resource_ids.setdefault(hospital_id, row_id)
            elif write.table == "waitlist_entries":
                known = row_id in self._waiting or row_id in self._finished_entries
                priority = echoed.get("priority")
                if not known and isinstance(priority, int):
                    self._waiting[row_id] = priority
            elif write.table == "financial_disputes" and row_id not in self._resolved:
                self._disputes.setdefault(row_id, "open")

    def forget_profile(self, profile_id: str) -> None:
        """Stop naming ``profile_id`` in new disputes (the scenario deletes that profile)."""
        if profile_id in self._patient_profiles:
            self._patient_profiles.remove(profile_id)

    # ------------------------------------------------------------ resources

    def _update_resources(self, ts: str) -> Write:
        rng = self._rng
        hospital_id = rng.choice(sorted(self._resource_ids))
        c = self._capacity[hospital_id]
        c.surge = c.surge * _SURGE_DECAY + rng.gauss(0.0, _SURGE_NOISE)
        occupancy = min(max(c.base_occupancy + c.surge, 0.0), 1.0)
        c.beds_available = _drift(rng, c.beds_available, c.beds_total, occupancy)
        c.icu_beds_available = _drift(
            rng, c.icu_beds_available, c.icu_beds_total, occupancy - _ICU_SLACK
        )
        c.ambulances_available = _drift(
            rng, c.ambulances_available, c.ambulances_total, _AMBULANCE_USE
        )
        body = {k: v for k, v in c.row().items() if k.endswith("_available")}
        return Write(
            "PATCH",
            "hospital_resources",
            body={**body, "updated_at": ts},
            match={"id": self._resource_ids[hospital_id]},
        )

    # ------------------------------------------------------------ waiting list

    def _join_waitlist(self, ts: str) -> Write:
        rng = self._rng
        patient_id, hospital_id = rng.choice(self._patients)
        body = {
            "patient_id": patient_id,
            "hospital_id": hospital_id,
            "specialty": rng.choice(SPECIALTIES),
            "priority": rng.choices(_WAITLIST_PRIORITIES, _WAITLIST_PRIORITY_WEIGHTS)[0],
            "status": "waiting",
            "created_at": ts,
            "updated_at": ts,
        }
        return Write("POST", "waitlist_entries", body=body, returning=True)

    def _leave_waitlist(self, ts: str) -> Write:
        rng = self._rng
        ids = list(self._waiting)
        weights = [_SCHEDULE_WEIGHT_BY_PRIORITY.get(self._waiting[i], 1.0) for i in ids]
        entry_id = rng.choices(ids, weights)[0]
        del self._waiting[entry_id]
        self._finished_entries.append(entry_id)
        status = "removed" if rng.random() < _REMOVE_PROBABILITY else "scheduled"
        return Write(
            "PATCH",
            "waitlist_entries",
            body={"status": status, "updated_at": ts},
            match={"id": entry_id},
        )

    # ------------------------------------------------------------ disputes

    def _open_dispute(self, ts: str) -> Write:
        rng = self._rng
        amount_eur = round(min(max(rng.lognormvariate(5.0, 1.0), 5.0), 20_000.0), 2)
        body = {
            "profile_id": rng.choice(self._patient_profiles),
            "amount_eur": amount_eur,
            "reason": rng.choice(_DISPUTE_REASONS),
            "status": "open",
            "created_at": ts,
            "updated_at": ts,
        }
        return Write("POST", "financial_disputes", body=body, returning=True)

    def _advance_dispute(self, ts: str) -> Write:
        rng = self._rng
        dispute_id = rng.choice(list(self._disputes))
        status = self._disputes[dispute_id]
        at_once = status == "open" and rng.random() < _RESOLVE_AT_ONCE_PROBABILITY
        new_status = "resolved" if at_once or status == "investigating" else "investigating"
        if new_status == "resolved":
            del self._disputes[dispute_id]
            self._resolved.append(dispute_id)
        else:
            self._disputes[dispute_id] = new_status
        return Write(
            "PATCH",
            "financial_disputes",
            body={"status": new_status, "updated_at": ts},
            match={"id": dispute_id},
        )


def _drift(rng: random.Random, available: int, total: int, occupancy: float) -> int:
    """Move ``available`` a third of the way to ``total * (1 - occupancy)``, plus noise.

    The result stays within ``[0, total]``.
    """
    goal = total * (1.0 - occupancy)
    step = (goal - available) / 3.0 + rng.gauss(0.0, max(1.0, 0.01 * total))
    return min(max(available + round(step), 0), total)
