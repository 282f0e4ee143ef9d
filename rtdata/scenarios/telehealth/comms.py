"""What people say on the platform: patient-team messages, clinic announcements and health
events; pure, randomness from the caller's generator.

Announcements go to a clinic's ``tenant:<id>:announcements`` channel as ``announcement``
broadcasts; health events (the design document's ``HealthEvent``: ``id``, ``patientId``,
``eventType``, ``payload``, ``timestamp``, ``version``) go to its ``tenant:<id>:events`` channel
as ``health_event`` broadcasts, one channel per clinic instead of one per patient, so the
channel names are known in advance.
"""

from __future__ import annotations

import random
from datetime import datetime
from typing import Any, Final

from rtdata.scenarios.telehealth.clinics import CLINICS, uuid_from
from rtdata.simulate.write import Broadcast

__all__ = [
    "ANNOUNCEMENT",
    "ANNOUNCEMENTS",
    "EVENTS",
    "HEALTH_EVENT",
    "announcement",
    "health_event",
    "message_body",
]

ANNOUNCEMENTS: Final = "announcements"
"""Purpose of a clinic's announcement channel (``tenant:<id>:announcements``)."""

EVENTS: Final = "events"
"""Purpose of a clinic's health-event channel (``tenant:<id>:events``)."""

ANNOUNCEMENT: Final = "announcement"
"""Broadcast event name of an announcement."""

HEALTH_EVENT: Final = "health_event"
"""Broadcast event name of a health event."""

_PATIENT_LINES: Final = (
    "Knee is stiff this morning, is that normal?",
    "Swelling went down after icing for 20 minutes",
    "Can I shower with the dressing on?",
    "Managed the stairs with one crutch today",
    "Missed my afternoon exercises, will do them tonight",
    "The incision feels warm around the top",
    "Slept better without the extra pillow under the knee",
    "Walked to the end of the street and back",
)
_CAREGIVER_LINES: Final = (
    "Pain was 7/10 overnight, the tablets helped by morning",
    "We uploaded the wound photo you asked for",
    "Is it fine to drive her to the follow-up next week?",
    "He forgot the evening blood thinner, took it an hour late",
)
_PROVIDER_LINES: Final = (
    "Keep icing 20 minutes every 2 hours and elevate the leg",
    "Please upload a photo of the incision when you can",
    "Great progress: flexion is up 10 degrees this week",
    "Let's add heel slides and quad sets to today's plan",
    "That is expected in week one; call us if it gets red or hot",
    "Your physio video visit is moved to 3 pm",
)
_ANNOUNCEMENTS: Final = (
    ("Shift handover", "Evening telehealth team takes over the monitoring queue at 19:00"),
    ("Physio classes", "Group video physio for knee patients moves to 10:30"),
    ("Protocol update", "Post-op day 3 wound photos are now reviewed by nurses"),
    ("Device recall", "Replace wearable straps from batch 23-07 at the next visit"),
    ("Reminder", "Document every missed check-in call in the care plan"),
)
_EXERCISES: Final = (
    "heel slides",
    "quad sets",
    "straight leg raises",
    "ankle pumps",
    "sit to stand",
)
_MEDICATIONS: Final = ("apixaban 2.5 mg", "paracetamol 1 g", "celecoxib 200 mg", "tramadol 50 mg")


def message_body(rng: random.Random, sender_role: str) -> str:
    """A message a ``patient``, ``caregiver`` or ``provider`` would send."""
    lines = {"patient": _PATIENT_LINES, "caregiver": _CAREGIVER_LINES}.get(
        sender_role, _PROVIDER_LINES
    )
    return rng.choice(lines)


def announcement(
    rng: random.Random,
    clinic: int,
    now: datetime,
    *,
    title: str | None = None,
    body: str | None = None,
    urgent: bool = False,
) -> Broadcast:
    """An ``announcement`` broadcast to ``clinic``'s channel: one of the usual notices, or the
    given ``title`` and ``body``, with the clinic's ``tenant_id``."""
    if title is None or body is None:
        title, body = rng.choice(_ANNOUNCEMENTS)
    payload = {
        "id": uuid_from(rng),
        "tenant_id": CLINICS[clinic].id,
        "title": title,
        "body": body,
        "priority": "urgent" if urgent else "info",
        "sent_at": now.isoformat(),
    }
    return Broadcast(CLINICS[clinic].channel(ANNOUNCEMENTS), ANNOUNCEMENT, payload)


def health_event(
    rng: random.Random, clinic: int, patient_id: str, now: datetime, version: int
) -> Broadcast:
    """A ``health_event`` broadcast to ``clinic``'s channel about one patient."""
    kind = rng.choices(
        ("ExerciseCompleted", "MedicationTaken", "CheckInSubmitted", "StepsSynced"),
        (40, 25, 20, 15),
    )[0]
    detail: dict[str, Any]
    if kind == "ExerciseCompleted":
        detail = {"exercise": rng.choice(_EXERCISES), "sets": 3, "reps": rng.choice((10, 12, 15))}
    elif kind == "MedicationTaken":
        detail = {"medication": rng.choice(_MEDICATIONS), "on_time": rng.random() < 0.9}
    elif kind == "CheckInSubmitted":
        detail = {"pain": rng.randint(1, 7), "swelling": rng.choice(("none", "mild", "moderate"))}
    else:
        detail = {"steps": rng.randint(300, 4500)}
    payload = {
        "id": uuid_from(rng),
        "patientId": patient_id,
        "eventType": kind,
        "payload": detail,
        "timestamp": now.isoformat(),
        "version": version,
    }
    return Broadcast(CLINICS[clinic].channel(EVENTS), HEALTH_EVENT, payload)
