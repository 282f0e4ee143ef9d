"""Seeded admin-app scenario that produces REST writes one at a time, with no I/O.

The app is a clinic's admin console (the Lee Valley clinic in Cork): staff admit patients and
edit their records, patients' forms are submitted, reviewed and approved or rejected, and
admins manage who may do what by changing account roles. :class:`AdminScenario` mixes the
three tables' writes (:mod:`~rtdata.scenarios.admin.accounts`,
:mod:`~rtdata.scenarios.admin.patients`, :mod:`~rtdata.scenarios.admin.submissions`) by the
phase of the clinic's cycle (:mod:`~rtdata.scenarios.admin.phases`), which brings the intake
rush, the review backlog, the role-escalation incident and the quiet spell.

Nothing here reads a clock, a socket or global random state: time comes in as ``now`` (the
first call's ``now`` starts the phase clock) and all randomness comes from one
:class:`random.Random` seeded at construction, so the same seed, the same times and the same
:meth:`~AdminScenario.apply_result` inputs give the same writes. ``PATCH`` and ``DELETE``
change the tracked state when they are produced; rows with server-assigned ids (patients,
submissions) are tracked once :meth:`~AdminScenario.apply_result` reports them.
"""

from __future__ import annotations

import random
from collections import deque
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Final

from rtdata.scenarios.admin.accounts import ACCOUNT_ACTIONS, Account, Accounts
from rtdata.scenarios.admin.patients import MIN_PATIENTS, Patients
from rtdata.scenarios.admin.phases import CYCLE_S, ROWS_PER_POST, WORK, Phase, phase_at
from rtdata.scenarios.admin.submissions import MAX_OPEN, PACKET, Submissions
from rtdata.simulate.write import Write

__all__ = ["MAX_PACKET_PATIENTS", "AdminScenario"]

MAX_PACKET_PATIENTS: Final = 6
"""Most patients whose intake packets one bulk ``POST`` carries."""


class AdminScenario:
    """Seeded generator of the admin app's writes, one at a time.

    The first write inserts the core team and the first users. After that, each write is, in
    this order of precedence: a due step of the role-escalation incident or its clean-up; a
    delete that keeps a table within its bound; the intake packets of newly admitted patients
    (one bulk ``POST``); else a weighted draw of admissions, single forms, reviews, decisions,
    patient edits and account changes, weighted by the phase's work.

    Args:
        seed: Seed of the scenario's private random generator.
    """

    def __init__(self, seed: int) -> None:
        """Create a scenario; no write is produced until :meth:`next_write` is called."""
        self._rng = random.Random(seed)
        self._accounts = Accounts(self._rng)
        self._team = self._accounts.team
        self._patients = Patients(self._rng)
        self._forms = Submissions(self._rng, [a.id for a in self._team])
        self._started: datetime | None = None
        self._opened = False
        self._packets: deque[int] = deque()  # admitted patients whose packet is not sent

    @property
    def team(self) -> tuple[Account, ...]:
        """The core team (admins first): who reviews, edits and signs in to the console."""
        return self._team

    @property
    def accounts(self) -> Accounts:
        """The accounts part of the scenario (tests use it to ask for a role change)."""
        return self._accounts

    @property
    def submissions(self) -> Submissions:
        """The form-submissions part of the scenario (its reviewers' approval rates)."""
        return self._forms

    def phase(self, now: datetime) -> Phase:
        """The phase ``now`` falls in (the first cycle starts at the first write)."""
        return phase_at(self._elapsed_s(now))

    def next_write(self, now: datetime) -> Write:
        """Return the next write to send.

        Args:
            now: Current time, timezone-aware; stamped into the rows' times as ISO 8601 UTC
                text, and the clock of the phases.

        Raises:
            ValueError: ``now`` has no timezone.
        """
        if now.tzinfo is None:
            raise ValueError("now must be timezone-aware")
        if self._started is None:
            self._started = now
        ts = now.astimezone(UTC).isoformat()
        if not self._opened:
            self._opened = True
            return self._accounts.opening_write(ts)
        elapsed_s = self._elapsed_s(now)
        phase = phase_at(elapsed_s)
        self._accounts.plan(int(elapsed_s // CYCLE_S), phase, elapsed_s)
        due = self._accounts.due_write(elapsed_s, ts)
        if due is not None:
            return due
        pruned = self._forced_prune()
        if pruned is not None:
            return pruned
        if self._packets:
            count = min(len(self._packets), MAX_PACKET_PATIENTS)
            patients = [self._packets.popleft() for _ in range(count)]
            return self._forms.packet(patients, self._member(), ts)
        return self._weighted_write(phase, ts)

    def apply_result(self, write: Write, rows: Sequence[Mapping[str, Any]]) -> None:
        """Learn server-assigned ids from the representation of a successful write.

        Only ``POST`` writes with ``returning`` set carry news; rows without an integer ``id``
        and ids already known are ignored, so feeding a result twice is safe.
        """
        if write.method != "POST" or not write.returning:
            return
        if write.table == "patients":
            self._packets.extend(self._patients.apply_result(rows))
        elif write.table == "form_submissions":
            self._forms.apply_result(rows)

    # ------------------------------------------------------------ choice

    def _elapsed_s(self, now: datetime) -> float:
        return 0.0 if self._started is None else (now - self._started).total_seconds()

    def _forced_prune(self) -> Write | None:
        pruned = self._forms.forced_prune() or self._accounts.forced_prune()
        if pruned is not None:
            return pruned
        busy = self._forms.open_patients() | set(self._packets)
        patient_id = self._patients.oldest_without(busy)
        if patient_id is None:
            return None
        return self._forms.forget_patient(patient_id) or self._patients.discharge(patient_id)

    def _weighted_write(self, phase: Phase, ts: str) -> Write:
        work = WORK[phase]
        known = len(self._patients.ids)
        room = self._forms.open_count + len(PACKET) * len(self._packets) < MAX_OPEN
        admit = work["admit"] * (2.0 if known < MIN_PATIENTS else 0.4) if room else 0.0
        options: list[tuple[str, float]] = [
            ("admit", admit),
            *(
                (name, weight if known else 0.0)
                for name, weight in self._forms.options(work["submit"], work["review"])
            ),
            ("edit", 3.0 * work["edit"] if known else 0.0),
            *self._accounts.options(work["accounts"]),
        ]
        names = [name for name, _ in options]
        weights = [weight for _, weight in options]
        action = self._rng.choices(names, weights)[0]
        if action in ACCOUNT_ACTIONS:
            return self._accounts.write(action, ts)
        if action == "admit":
            low, high = ROWS_PER_POST[phase]
            return self._patients.admit(self._rng.randint(low, high), self._member(), ts)
        if action == "submit":
            return self._forms.single(self._patients.ids, self._member(), ts)
        if action == "review":
            return self._forms.review(ts)
        if action == "decide":
            return self._forms.decide(ts)
        return self._patients.edit(self._member(), ts)

    def _member(self) -> str:
        """A core-team member's id, to stamp as the author of a write."""
        return self._rng.choice(self._team).id
