"""The telehealth pack's reference data: its clinics (tenants), their care teams, and the enum
values its migrations declare.

Clinics have fixed ids, because their realtime channels are named after them
(``tenant:<id>:announcements``, ``tenant:<id>:events``, ``tenant:<id>:collaboration``) and the
pack's ``rtdata.toml`` must list every channel by name. The care team is drawn from its own
generator seeded with the scenario's seed, so the write source and the presence roster built
from the same seed agree on who works where without sharing state.
"""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass
from typing import Final

__all__ = [
    "ALERT_SEVERITIES",
    "ALERT_STATUSES",
    "ALERT_TYPES",
    "APP_ROLES",
    "CARE_PLAN_STATUSES",
    "CARE_ROLES",
    "CLINICS",
    "PROCEDURES",
    "PROVIDERS_PER_CLINIC",
    "RECOVERY_STATUSES",
    "REHAB_PHASES",
    "Clinic",
    "Provider",
    "care_team",
    "person_name",
    "uuid_from",
]

# The enum labels of the migrations, in declaration order (a test compares them).
APP_ROLES: Final = ("patient", "caregiver", "provider", "admin")
CARE_ROLES: Final = ("surgeon", "physiotherapist", "nurse", "care_coordinator")
PROCEDURES: Final = ("total_knee", "total_hip", "partial_knee", "revision_hip")
RECOVERY_STATUSES: Final = (
    "pre_op",
    "post_op",
    "recovering",
    "at_risk",
    "readmitted",
    "discharged",
)
ALERT_TYPES: Final = (
    "tachycardia",
    "bradycardia",
    "hypoxia",
    "hypertension",
    "fever",
    "pain_spike",
    "missed_check_in",
    "wound_concern",
    "fall_detected",
)
ALERT_SEVERITIES: Final = ("low", "medium", "high", "critical")
ALERT_STATUSES: Final = ("raised", "acknowledged", "resolved")
REHAB_PHASES: Final = ("acute", "early_mobility", "strengthening", "return_to_activity")
CARE_PLAN_STATUSES: Final = ("draft", "active", "completed", "cancelled")

PROVIDERS_PER_CLINIC: Final = 6
"""Care team size of each clinic: one surgeon, two physiotherapists, two nurses, a coordinator."""

_TEAM_ROLES: Final = (
    "surgeon",
    "physiotherapist",
    "physiotherapist",
    "nurse",
    "nurse",
    "care_coordinator",
)


@dataclass(frozen=True, slots=True)
class Clinic:
    """One tenant of the platform: an orthopaedic practice running a joint-replacement recovery
    programme.

    Attributes:
        id: The tenant's uuid (fixed: channels are named after it).
        name: Display name.
        slug: Short unique name.
        timezone: IANA time zone of the clinic.
    """

    id: str
    name: str
    slug: str
    timezone: str

    def channel(self, purpose: str) -> str:
        """The clinic's realtime channel for ``purpose`` (``announcements``, ``events`` or
        ``collaboration``), as the design document names them: ``tenant:<id>:<purpose>``."""
        return f"tenant:{self.id}:{purpose}"


CLINICS: Final = (
    Clinic("3f6c1a52-8d0e-4b7a-9c21-5e4d2b7a9f10", "Lakeside Orthopaedics", "lakeside", "UTC"),
    Clinic("8a2d7e94-1b3c-4f65-a8d0-c7e91f4b2d33", "Northgate Joint Clinic", "northgate", "UTC"),
    Clinic("c51e9b07-6f2a-4d18-b3e4-0a9d8c6f1e55", "Riverside Rehab Clinic", "riverside", "UTC"),
)
"""The clinics, in the order of their rows and channels."""


@dataclass(frozen=True, slots=True)
class Provider:
    """One clinician of a clinic's care team.

    Attributes:
        id: ``providers.id`` (uuid text); also their presence key.
        clinic: Index of their clinic in :data:`CLINICS`.
        full_name: Display name.
        role: One of :data:`CARE_ROLES`.
    """

    id: str
    clinic: int
    full_name: str
    role: str

    @property
    def tenant_id(self) -> str:
        """Their clinic's id."""
        return CLINICS[self.clinic].id


_FIRST_NAMES: Final = (
    "Amara",
    "Chloe",
    "Elena",
    "Fatima",
    "Grace",
    "Hana",
    "Ingrid",
    "Leila",
    "Maya",
    "Nadia",
    "Olivia",
    "Priya",
    "Aiden",
    "Ben",
    "Carlos",
    "David",
    "Ethan",
    "Felix",
    "Hugo",
    "Kenji",
    "Liam",
    "Omar",
    "Ravi",
    "Samuel",
)
_SURNAMES: Final = (
    "Adeyemi",
    "Bennett",
    "Chen",
    "Dubois",
    "Evans",
    "Fischer",
    "Garcia",
    "Hughes",
    "Ivanova",
    "Khan",
    "Larsen",
    "Murphy",
    "Nakamura",
    "Okafor",
    "Patel",
    "Quinn",
    "Rossi",
    "Schmidt",
    "Tanaka",
    "Walsh",
)


def person_name(rng: random.Random) -> str:
    """A first name and surname drawn with ``rng``."""
    return f"{rng.choice(_FIRST_NAMES)} {rng.choice(_SURNAMES)}"


def uuid_from(rng: random.Random) -> str:
    """A version-4 uuid drawn with ``rng``, as text."""
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def care_team(seed: int) -> tuple[Provider, ...]:
    """Every clinic's care team, :data:`PROVIDERS_PER_CLINIC` each, clinic by clinic; the same
    seed gives the same team (drawn from a generator of its own)."""
    rng = random.Random(f"care-team-{seed}")
    return tuple(
        Provider(uuid_from(rng), clinic, person_name(rng), role)
        for clinic in range(len(CLINICS))
        for role in _TEAM_ROLES
    )
