"""Patient alerts: raised by the rules, acknowledged by a clinician, then resolved; escalated when
nobody acknowledges them in time. Pure: time comes in as seconds since the scenario started.

Each alert gets an acknowledgement deadline from its severity (:data:`SLA_S`), stored as
``ack_due_at``, and a planned acknowledgement time drawn around it: most are acknowledged well
within the deadline, a few late. An alert still ``raised`` at its deadline is escalated
(``escalation_level`` 1: the clinic's on-call clinician is paged), and again at twice the
deadline (level 2: the clinical lead). While a clinic's team is offline
(:func:`~rtdata.scenarios.telehealth.phases.incident_active`), none of its alerts is
acknowledged or resolved: they are planned for after the team is back.

As in the hospital pack, a ``PATCH`` changes the tracked state when it is produced, and an alert
is only updated once :meth:`AlertDesk.apply_result` has reported its server-assigned id.
"""

from __future__ import annotations

import random
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from types import MappingProxyType
from typing import Any, Final

from rtdata.scenarios.telehealth.clinics import CLINICS, Provider
from rtdata.scenarios.telehealth.phases import incident_active, incident_ends_s
from rtdata.scenarios.telehealth.readings import Finding
from rtdata.simulate.write import Write

__all__ = [
    "ALERT_TRANSITIONS",
    "MAX_RESOLVED_ALERTS",
    "MAX_UNRESOLVED_PER_CLINIC",
    "PRIORITY",
    "SLA_S",
    "AlertDesk",
]

SLA_S: Final[Mapping[str, float]] = MappingProxyType(
    {"critical": 30.0, "high": 60.0, "medium": 90.0, "low": 180.0}
)
"""Seconds from raising an alert to its acknowledgement deadline (``ack_due_at``), by severity."""

PRIORITY: Final[Mapping[str, int]] = MappingProxyType(
    {"critical": 1, "high": 2, "medium": 3, "low": 4}
)
"""``priority`` of an alert by severity: 1 is the most urgent."""

ALERT_TRANSITIONS: Final[Mapping[str, tuple[str, ...]]] = MappingProxyType(
    {"raised": ("acknowledged",), "acknowledged": ("resolved",), "resolved": ()}
)
"""Alert status graph: status -> statuses it may move to next."""

MAX_UNRESOLVED_PER_CLINIC: Final = 45
"""No alert is raised for a clinic that has this many unresolved ones."""

MAX_RESOLVED_ALERTS: Final = 150
"""Resolved alerts kept before the oldest is deleted."""

# Seconds from raising to acknowledging, by severity, for a team that is online.
_ACK_DELAY_S: Final[Mapping[str, tuple[float, float]]] = {
    "critical": (3.0, 15.0),
    "high": (5.0, 30.0),
    "medium": (10.0, 60.0),
    "low": (15.0, 120.0),
}
_LATE_PROBABILITY: Final = 0.05  # acknowledged past the deadline, 1.2 to 2 times it
_RESOLVE_DELAY_S: Final = (10.0, 90.0)
_BACK_ONLINE_DELAY_S: Final = (5.0, 40.0)  # after an incident, the backlog is worked through


@dataclass(slots=True)
class _Alert:
    clinic: int
    patient_id: str
    alert_type: str
    severity: str
    raised_s: float
    ack_s: float
    status: str = "raised"
    escalation: int = 0
    resolve_s: float = float("inf")


class AlertDesk:
    """The alerts of every clinic, from raising to resolution.

    Args:
        rng: The scenario's random generator.
        team: Every clinic's care team (acknowledgements are signed by one of them).
    """

    def __init__(self, rng: random.Random, team: Sequence[Provider]) -> None:
        """Create a desk with no alert."""
        self._rng = rng
        self._clinicians = {
            clinic: [p.id for p in team if p.clinic == clinic and p.role != "care_coordinator"]
            for clinic in range(len(CLINICS))
        }
        # Sent, id not known yet: (patient_id, alert_type) -> alert.
        self._unconfirmed: dict[tuple[str, str], _Alert] = {}
        self._live: dict[int, _Alert] = {}  # unresolved, by id, oldest first
        self._resolved: deque[tuple[int, str]] = deque()  # (id, patient_id), oldest first
        self.paged: dict[int, int] = {}
        """Escalations to level 2 so far, by clinic."""

    def unresolved(self, clinic: int | None = None) -> int:
        """Unresolved alerts (of ``clinic``, or of all), sent ones without an id included."""
        alerts = [*self._live.values(), *self._unconfirmed.values()]
        return sum(1 for a in alerts if clinic is None or a.clinic == clinic)

    def unacknowledged(self, clinic: int) -> int:
        """Alerts of ``clinic`` still ``raised``."""
        alerts = [*self._live.values(), *self._unconfirmed.values()]
        return sum(1 for a in alerts if a.clinic == clinic and a.status == "raised")

    def has_unresolved(self, patient_id: str) -> bool:
        """Whether the patient has an alert not resolved yet."""
        alerts = [*self._live.values(), *self._unconfirmed.values()]
        return any(a.patient_id == patient_id for a in alerts)

    @property
    def resolved(self) -> int:
        """Resolved alerts kept."""
        return len(self._resolved)

    def raise_alert(
        self,
        clinic: int,
        patient_id: str,
        lead_id: str,
        finding: Finding,
        elapsed_s: float,
        now: datetime,
    ) -> Write | None:
        """The insert of a new alert, or ``None`` when the patient already has an unresolved
        alert of that type (the rules deduplicate) or the clinic has
        :data:`MAX_UNRESOLVED_PER_CLINIC`."""
        key = (patient_id, finding.alert_type)
        duplicate = key in self._unconfirmed or any(
            (a.patient_id, a.alert_type) == key for a in self._live.values()
        )
        if duplicate or self.unresolved(clinic) >= MAX_UNRESOLVED_PER_CLINIC:
            return None
        sla_s = SLA_S[finding.severity]
        low, high = _ACK_DELAY_S[finding.severity]
        delay_s = self._rng.uniform(low, high)
        if self._rng.random() < _LATE_PROBABILITY:
            delay_s = sla_s * self._rng.uniform(1.2, 2.0)
        self._unconfirmed[key] = _Alert(
            clinic, patient_id, finding.alert_type, finding.severity, elapsed_s, elapsed_s + delay_s
        )
        ts = now.isoformat()
        body = {
            "tenant_id": CLINICS[clinic].id,
            "patient_id": patient_id,
            "provider_id": lead_id,
            "alert_type": finding.alert_type,
            "severity": finding.severity,
            "priority": PRIORITY[finding.severity],
            "status": "raised",
            "message": finding.message,
            "raised_at": ts,
            "ack_due_at": (now + timedelta(seconds=sla_s)).isoformat(),
            "escalation_level": 0,
            "updated_at": ts,
        }
        return Write("POST", "patient_alerts", body=body, returning=True)

    def apply_result(self, rows: Sequence[Mapping[str, Any]]) -> None:
        """Learn the ids of inserted alerts; rows it cannot match are ignored."""
        for row in rows:
            alert_id = row.get("id")
            key = (str(row.get("patient_id")), str(row.get("alert_type")))
            if isinstance(alert_id, int) and not isinstance(alert_id, bool):
                alert = self._unconfirmed.pop(key, None)
                if alert is not None and alert_id not in self._live:
                    self._live[alert_id] = alert

    def due(self, elapsed_s: float, now: datetime) -> Write | None:
        """The next escalation, acknowledgement or resolution that is due, oldest alert first,
        or ``None``."""
        for alert_id, alert in self._live.items():
            if incident_active(alert.clinic, elapsed_s):
                self._postpone(alert, incident_ends_s(elapsed_s))
            if alert.status == "raised":
                write = self._raised_due(alert_id, alert, elapsed_s, now)
            else:
                write = self._resolve_due(alert_id, alert, elapsed_s, now)
            if write is not None:
                return write
        return None

    def _postpone(self, alert: _Alert, back_s: float) -> None:
        # Drawn once per incident: an alert planned before the team is back moves after it.
        if alert.status == "raised" and alert.ack_s < back_s:
            alert.ack_s = back_s + self._rng.uniform(*_BACK_ONLINE_DELAY_S)
        elif alert.status == "acknowledged" and alert.resolve_s < back_s:
            alert.resolve_s = back_s + self._rng.uniform(*_BACK_ONLINE_DELAY_S)

    def _raised_due(
        self, alert_id: int, alert: _Alert, elapsed_s: float, now: datetime
    ) -> Write | None:
        ts = now.isoformat()
        overdue_s = elapsed_s - alert.raised_s
        level = min(2, int(overdue_s // SLA_S[alert.severity]))
        if elapsed_s >= alert.ack_s:
            alert.status = "acknowledged"
            alert.resolve_s = elapsed_s + self._rng.uniform(*_RESOLVE_DELAY_S)
            body = {
                "status": "acknowledged",
                "acknowledged_at": ts,
                "acknowledged_by": self._rng.choice(self._clinicians[alert.clinic]),
                "updated_at": ts,
            }
            return Write("PATCH", "patient_alerts", body=body, match={"id": alert_id})
        if level > alert.escalation:
            alert.escalation = level
            if level == 2:
                self.paged[alert.clinic] = self.paged.get(alert.clinic, 0) + 1
            paged: dict[str, Any] = {"escalation_level": level, "updated_at": ts}
            return Write("PATCH", "patient_alerts", body=paged, match={"id": alert_id})
        return None

    def _resolve_due(
        self, alert_id: int, alert: _Alert, elapsed_s: float, now: datetime
    ) -> Write | None:
        if elapsed_s < alert.resolve_s:
            return None
        del self._live[alert_id]
        self._resolved.append((alert_id, alert.patient_id))
        ts = now.isoformat()
        body = {"status": "resolved", "resolved_at": ts, "updated_at": ts}
        return Write("PATCH", "patient_alerts", body=body, match={"id": alert_id})

    def forced_prune(self) -> Write | None:
        """The delete of the oldest resolved alert when more than :data:`MAX_RESOLVED_ALERTS`
        are kept, else ``None``."""
        if len(self._resolved) <= MAX_RESOLVED_ALERTS:
            return None
        alert_id, _ = self._resolved.popleft()
        return Write("DELETE", "patient_alerts", match={"id": alert_id})

    def forget_patient(self, patient_id: str) -> None:
        """Stop tracking a patient's alerts (their rows are being deleted)."""
        self._resolved = deque(r for r in self._resolved if r[1] != patient_id)
        for alert_id in [i for i, a in self._live.items() if a.patient_id == patient_id]:
            del self._live[alert_id]
        for key in [k for k in self._unconfirmed if k[0] == patient_id]:
            del self._unconfirmed[key]
