"""Seeded telehealth scenario that produces REST writes and broadcasts one at a time, with no I/O.

The scenario models a multi-tenant recovery platform for joint-replacement patients: three
clinics (:data:`~rtdata.scenarios.telehealth.clinics.CLINICS`), each with a care team and a
programme of patients (:mod:`~rtdata.scenarios.telehealth.recovery`) whose phones upload
wearable readings (``vital_signs``), from which alert rules raise ``patient_alerts`` that
clinicians acknowledge and resolve (:mod:`~rtdata.scenarios.telehealth.alerts`); patients,
caregivers and clinicians exchange ``messages``; the realtime gateway samples its health per
clinic (:mod:`~rtdata.scenarios.telehealth.gateway`); and each clinic gets ``announcement`` and
``health_event`` broadcasts on its own channels (:mod:`~rtdata.scenarios.telehealth.comms`).
The phase clock (:mod:`~rtdata.scenarios.telehealth.phases`) makes check-in bursts, quiet spells
and one clinic's incident.

Nothing here reads a clock, a socket or global random state: time comes in as ``now`` and all
randomness comes from one :class:`random.Random` seeded at construction (the care team from its
own, see :func:`~rtdata.scenarios.telehealth.clinics.care_team`), so the same seed, the same
clock and the same :meth:`~TelehealthScenario.apply_result` inputs give the same writes.
"""

from __future__ import annotations

import random
from collections import deque
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Final

from rtdata.scenarios.telehealth import comms
from rtdata.scenarios.telehealth.alerts import AlertDesk
from rtdata.scenarios.telehealth.clinics import CLINICS, Provider, care_team, uuid_from
from rtdata.scenarios.telehealth.gateway import Gateway
from rtdata.scenarios.telehealth.phases import (
    INCIDENT_CLINIC,
    cycle_of,
    incident_active,
    phase_at,
)
from rtdata.scenarios.telehealth.readings import other_finding, reading
from rtdata.scenarios.telehealth.recovery import Patient, Programme
from rtdata.simulate.write import Broadcast, Write

__all__ = ["DUE_SHARE", "MAX_MESSAGES", "MAX_READINGS", "READING_SPACING_S", "TelehealthScenario"]

MAX_READINGS: Final = 4000
"""Readings (``vital_signs`` rows) kept before the oldest upload is deleted."""

MAX_MESSAGES: Final = 200
"""Messages kept before the oldest is deleted (the retention job; messages are never edited)."""

READING_SPACING_S: Final = 4.0
"""Seconds between two readings of one upload: a phone syncs what it held since the last one."""

DUE_SHARE: Final = 0.6
"""Largest share of the writes spent on due work (samples, alert and patient updates)."""

_PAGE_AFTER_WAITING: Final = 5  # unacknowledged alerts of the offline clinic before ops post
_SENDERS: Final = (("patient", 50), ("caregiver", 15), ("provider", 35))


ANNOUNCE_EVERY_S: Final = 20.0
"""Longest a clinic's announcement channel stays silent: operations post a notice then."""


class TelehealthScenario:
    """Seeded generator of the telehealth platform's writes and broadcasts, one at a time.

    The first writes insert the clinics (fixed ids), their care teams and their first patients
    with assignments, statuses and care plans, then announce the day on every clinic's channel.
    After that, each write is (for at most :data:`DUE_SHARE` of them) the next due one (a
    gateway sample every five seconds, an alert escalation, acknowledgement or resolution, a
    patient review, care plan activation, discharge clean-up or enrolment), else a delete that
    keeps a table bounded, or one drawn from a mix weighted by the phase: a reading upload (an alert follows an out-of-range reading), a
    message, a health event, an announcement, an alert from the app, a care plan update.

    Args:
        seed: Seed of the scenario's private random generator and of its care team.
    """

    def __init__(self, seed: int) -> None:
        """Create a scenario; nothing is written until :meth:`next_write` is called."""
        self._rng = random.Random(seed)
        self.team: tuple[Provider, ...] = care_team(seed)
        """Every clinic's care team."""
        self.programme = Programme(self._rng, self.team)
        """The patients and their care plans."""
        self.desk = AlertDesk(self._rng, self.team)
        """The alerts."""
        self.gateway = Gateway(self._rng)
        """The realtime gateway's samples."""
        self._start: datetime | None = None
        self._queue: deque[Write | Broadcast] = deque()  # follow-ups, sent next
        self._backlog: deque[Write] = deque()  # a purge's deletes, sent as due work
        self._uploads: deque[tuple[str, str, int]] = deque()  # (batch_id, patient_id, rows)
        self._readings = 0  # rows of the uploads kept
        self._messages: deque[tuple[int, str]] = deque()  # (id, patient_id), oldest first
        self._next_event_clinic = 0
        self._versions: dict[str, int] = {}
        self._told: set[tuple[int, str]] = set()  # (cycle, "down" | "back") announced
        # clinic -> when operations last posted to it (the day's notices go out at the start)
        self._announced_s: dict[int, float] = dict.fromkeys(range(len(CLINICS)), 0.0)

    @property
    def readings(self) -> int:
        """Readings kept (rows of ``vital_signs``)."""
        return self._readings

    @property
    def messages(self) -> int:
        """Messages kept."""
        return len(self._messages)

    def elapsed_s(self, now: datetime) -> float:
        """Seconds from the first write to ``now`` (0 before the first write)."""
        return 0.0 if self._start is None else (now - self._start).total_seconds()

    def next_write(self, now: datetime) -> Write | Broadcast:
        """Return the next write or broadcast to send.

        Args:
            now: Current time, timezone-aware; stamped into the rows as ISO 8601 UTC text.

        Raises:
            ValueError: ``now`` has no timezone.
        """
        if now.tzinfo is None:
            raise ValueError("now must be timezone-aware")
        now = now.astimezone(UTC)
        if self._start is None:
            self._start = now
            self._queue.extend(self._opening(now))
        elapsed_s = self.elapsed_s(now)
        # Due work takes at most DUE_SHARE of the writes: at a low rate it runs late rather
        # than crowd out the readings (nothing due piles up: each item is due once).
        if not self._queue and self._rng.random() < DUE_SHARE:
            if self._backlog:
                return self._backlog.popleft()
            self._queue.extend(self._due(elapsed_s, now))
        if not self._queue:
            self._queue.extend(self._forced_prune())
        if not self._queue:
            self._queue.extend(self._weighted(elapsed_s, now))
        return self._queue.popleft()

    def apply_result(self, write: Write, rows: Sequence[Mapping[str, Any]]) -> None:
        """Learn server-assigned ids from the representation of a successful insert.

        Only ``POST`` writes with ``returning`` set carry news; rows without an integer ``id``
        and ids already known are ignored, so feeding a result twice is safe.
        """
        if write.method != "POST" or not write.returning:
            return
        if write.table == "patient_alerts":
            self.desk.apply_result(rows)
        elif write.table == "care_plans":
            self.programme.apply_result(rows)
        elif write.table == "messages":
            known = {message_id for message_id, _ in self._messages}
            for row in rows:
                message_id = row.get("id")
                fresh = message_id not in known
                if isinstance(message_id, int) and not isinstance(message_id, bool) and fresh:
                    self._messages.append((message_id, str(row.get("patient_id"))))

    # ------------------------------------------------------------ order of writes

    def _opening(self, now: datetime) -> list[Write | Broadcast]:
        ts = now.isoformat()
        clinics = [
            {"id": c.id, "name": c.name, "slug": c.slug, "timezone": c.timezone, "created_at": ts}
            for c in CLINICS
        ]
        providers = [
            {
                "id": p.id,
                "tenant_id": p.tenant_id,
                "user_id": uuid_from(self._rng),
                "full_name": p.full_name,
                "role": p.role,
                "created_at": ts,
                "updated_at": ts,
            }
            for p in self.team
        ]
        day = [
            comms.announcement(
                self._rng,
                clinic,
                now,
                title="Monitoring live",
                body="Remote monitoring of today's knee and hip patients has started",
            )
            for clinic in range(len(CLINICS))
        ]
        return [
            Write("POST", "tenants", body=clinics),
            Write("POST", "providers", body=providers),
            *self.programme.opening(0.0, now),
            *day,
        ]

    def _due(self, elapsed_s: float, now: datetime) -> list[Write | Broadcast]:
        active = [len(self.programme.active(c)) for c in range(len(CLINICS))]
        waiting = [self.desk.unacknowledged(c) for c in range(len(CLINICS))]
        sample = self.gateway.sample(elapsed_s, now, active, waiting)
        if sample is not None:
            return [sample]
        told = self._incident_notice(elapsed_s, now, waiting[INCIDENT_CLINIC])
        if told is not None:
            return [told]
        alert = self.desk.due(elapsed_s, now)
        if alert is not None:
            return [alert]
        step = self.programme.due(elapsed_s, now, self.desk.has_unresolved)
        if step is None:
            return []
        writes, purged = step
        if purged is None:  # an enrolment's rows are written in order, before anything else
            return list(writes)
        self.desk.forget_patient(purged)
        self._uploads = deque(u for u in self._uploads if u[1] != purged)
        self._readings = sum(rows for _, _, rows in self._uploads)
        self._messages = deque(m for m in self._messages if m[1] != purged)
        self._versions.pop(purged, None)
        # Nothing is written for a patient being deleted: the deletes may wait their turn.
        self._backlog.extend(writes[1:])
        return [writes[0]]

    def _incident_notice(self, elapsed_s: float, now: datetime, waiting: int) -> Broadcast | None:
        # Operations post to the clinic's channel once its alerts pile up, and when it is back.
        cycle = cycle_of(elapsed_s)
        if incident_active(INCIDENT_CLINIC, elapsed_s):
            if waiting >= _PAGE_AFTER_WAITING and (cycle, "down") not in self._told:
                self._told.add((cycle, "down"))
                return comms.announcement(
                    self._rng,
                    INCIDENT_CLINIC,
                    now,
                    title="Escalation",
                    body=f"{waiting} alerts unacknowledged; the on-call clinician is being paged",
                    urgent=True,
                )
        elif (cycle, "down") in self._told and (cycle, "back") not in self._told:
            self._told.add((cycle, "back"))
            return comms.announcement(
                self._rng,
                INCIDENT_CLINIC,
                now,
                title="Care team back online",
                body="Notifications are delivered again; the alert backlog is being worked",
            )
        return None

    def _forced_prune(self) -> list[Write]:
        for prune in (self.desk.forced_prune, self.gateway.forced_prune):
            pruned = prune()  # each pops what it deletes: called only until one does
            if pruned is not None:
                return [pruned]
        if self.readings > MAX_READINGS:
            batch_id, _, rows = self._uploads.popleft()
            self._readings -= rows
            return [Write("DELETE", "vital_signs", match={"batch_id": batch_id})]
        if len(self._messages) > MAX_MESSAGES:
            message_id, _ = self._messages.popleft()
            return [Write("DELETE", "messages", match={"id": message_id})]
        return []

    def _weighted(self, elapsed_s: float, now: datetime) -> list[Write | Broadcast]:
        # Operations post to a clinic silent for ANNOUNCE_EVERY_S: a board opened at any time
        # hears from its clinic within that (a broadcast sent before it joined is gone).
        quiet = min(self._announced_s, key=self._announced_s.__getitem__)
        if elapsed_s - self._announced_s[quiet] >= ANNOUNCE_EVERY_S:
            self._announced_s[quiet] = elapsed_s
            return [comms.announcement(self._rng, quiet, now)]
        chatter = phase_at(elapsed_s).chatter
        options = {
            "upload": 50.0,
            "message": 6.0 * chatter,
            "event": 7.0 * chatter,
            "announce": 1.5,
            "app_alert": 1.2,
            "plan": 2.5,
        }
        action = self._rng.choices(list(options), list(options.values()))[0]
        patients = self.programme.active()
        if action == "announce" or not patients:
            clinic = self._rng.randrange(len(CLINICS))
            self._announced_s[clinic] = elapsed_s
            return [comms.announcement(self._rng, clinic, now)]
        if action == "event":
            return [self._health_event(now)]
        patient = self._rng.choice(patients)
        if action == "message":
            return [self._message(patient, now)]
        if action == "app_alert":
            found = other_finding(self._rng)
            alert = self.desk.raise_alert(
                patient.clinic, patient.id, patient.lead_id, found, elapsed_s, now
            )
            if alert is not None:
                return [alert]
        elif action == "plan":
            update = self.programme.plan_update(now)
            if update is not None:
                return [update]
        return self._upload(patient, elapsed_s, now)

    # ------------------------------------------------------------ writes

    def _upload(self, patient: Patient, elapsed_s: float, now: datetime) -> list[Write | Broadcast]:
        low, high = phase_at(elapsed_s).readings
        count = self._rng.randint(low, high)
        batch_id = uuid_from(self._rng)
        tenant_id, ts = CLINICS[patient.clinic].id, now.isoformat()
        rows, findings = [], []
        for i in range(count):
            values, finding = reading(self._rng, patient.usual, patient.status)
            back_s = (count - 1 - i) * READING_SPACING_S
            recorded = datetime.fromtimestamp(now.timestamp() - back_s, UTC)
            rows.append(
                {
                    "tenant_id": tenant_id,
                    "patient_id": patient.id,
                    "batch_id": batch_id,
                    **values,
                    "recorded_at": recorded.isoformat(),
                    "updated_at": ts,
                }
            )
            if finding is not None:
                findings.append(finding)
        self._uploads.append((batch_id, patient.id, count))
        self._readings += count
        writes: list[Write | Broadcast] = [Write("POST", "vital_signs", body=rows)]
        if findings:  # the rules raise one alert per upload, for its first finding
            alert = self.desk.raise_alert(
                patient.clinic, patient.id, patient.lead_id, findings[0], elapsed_s, now
            )
            if alert is not None:
                writes.append(alert)
        return writes

    def _message(self, patient: Patient, now: datetime) -> Write:
        names = [name for name, _ in _SENDERS]
        role = self._rng.choices(names, [weight for _, weight in _SENDERS])[0]
        clinicians = [p.id for p in self.team if p.clinic == patient.clinic]
        sender = {
            "patient": patient.id,
            "caregiver": uuid_from(self._rng),
            "provider": self._rng.choice(clinicians),
        }[role]
        body = {
            "tenant_id": CLINICS[patient.clinic].id,
            "patient_id": patient.id,
            "sender_id": sender,
            "sender_role": role,
            "body": comms.message_body(self._rng, role),
            "created_at": now.isoformat(),
        }
        return Write("POST", "messages", body=body, returning=True)

    def _health_event(self, now: datetime) -> Broadcast:
        # Clinics take turns, so every clinic's channel hears one within seconds.
        clinic = self._next_event_clinic
        self._next_event_clinic = (clinic + 1) % len(CLINICS)
        patients = self.programme.active(clinic) or self.programme.active()
        patient_id = self._rng.choice(patients).id
        version = self._versions.get(patient_id, 0) + 1
        self._versions[patient_id] = version
        return comms.health_event(self._rng, clinic, patient_id, now, version)
