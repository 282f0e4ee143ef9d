"""Seeded hospital-network scenario that produces REST writes one at a time, with no I/O.

The scenario models a small city ambulance service: hospitals, staff and patient profiles,
document verification, emergency requests that move through a dispatch lifecycle, a stream of
vital-sign readings, and the operations tables of :mod:`rtdata.scenarios.hospital.operations`
(resources, waiting lists, financial disputes). Every write is a :class:`Write` value; the
caller sends it and feeds the server's representation back with
:meth:`HospitalScenario.apply_result` so the scenario learns identity ids assigned by the server.

Nothing here reads a clock, a socket or global random state: time comes in as ``now`` and all
randomness comes from one :class:`random.Random` seeded at construction, so the same seed and the
same sequence of :meth:`~HospitalScenario.apply_result` inputs give the same writes.

State changes for ``PATCH`` and ``DELETE`` are applied when the write is produced, not when the
server confirms it: a failed update is simply superseded by the next one, and the scenario never
stalls waiting for a confirmation that will not come. Rows whose ids the client chooses
(hospitals, profiles) are also tracked at once; rows with server-assigned ids (verification
requests, emergencies, vital signs and the operations tables) are tracked only once
:meth:`~HospitalScenario.apply_result` reports them.
"""

from __future__ import annotations

import math
import random
import uuid
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

from rtdata.scenarios.hospital.operations import ACTIONS, Operations
from rtdata.simulate.write import Method, Write

__all__ = [
    "EMERGENCY_TRANSITIONS",
    "LISBON",
    "MAX_DECIDED_VERIFICATIONS",
    "MAX_FINISHED_EMERGENCIES",
    "MAX_OPEN_EMERGENCIES",
    "MAX_SETTLED_PROFILES",
    "MAX_VITAL_SIGNS",
    "MIN_OPEN_EMERGENCIES",
    "City",
    "HospitalScenario",
    "Method",
    "Write",
    "is_abnormal_vitals",
    "person_name",
]

MIN_OPEN_EMERGENCIES: Final = 20
"""Below this many open emergencies, new ones are strongly preferred over everything else."""

MAX_OPEN_EMERGENCIES: Final = 60
"""No new emergency is created while this many are open (not completed or cancelled)."""

MAX_FINISHED_EMERGENCIES: Final = 200
"""Completed or cancelled emergencies kept before the oldest is deleted."""

MAX_VITAL_SIGNS: Final = 300
"""Vital-sign rows kept before the oldest is deleted."""

MAX_DECIDED_VERIFICATIONS: Final = 200
"""Approved or rejected verification requests kept before the oldest is deleted."""

MAX_SETTLED_PROFILES: Final = 300
"""Non-staff profiles with nothing pending kept before the oldest is deleted."""

EMERGENCY_TRANSITIONS: Final[Mapping[str, tuple[str, ...]]] = {
    "pending": ("accepted", "cancelled"),
    "accepted": ("en_route", "cancelled"),
    "en_route": ("on_scene",),
    "on_scene": ("completed",),
    "completed": (),
    "cancelled": (),
}
"""Emergency status graph: status -> statuses it may move to next."""

_FINISHED: Final = frozenset({"completed", "cancelled"})

# Probability that an emergency in this status is cancelled instead of moving forward.
_CANCEL_PROBABILITY: Final[Mapping[str, float]] = {"pending": 0.08, "accepted": 0.05}

_ABNORMAL_RATE: Final = 0.05
_FILE_VERIFICATION_PROBABILITY: Final = 0.7
_APPROVE_PROBABILITY: Final = 0.8
_PATIENT_POOL_SIZE: Final = 40

_ROLES: Final = ("patient", "nurse", "doctor", "dispatcher", "admin")
_ROLE_WEIGHTS: Final = (60, 15, 12, 8, 5)
_PRIORITY_WEIGHTS: Final = (10, 20, 35, 22, 13)  # priorities 1 (critical) .. 5 (minor)
_DOCUMENT_TYPES: Final = ("license", "id_card", "insurance")
_REJECTION_NOTES: Final = (
    "document expired",
    "name does not match profile",
    "scan illegible",
    "licence number not found",
)
_APPROVAL_NOTES: Final = (None, None, "documents verified", "checked against registry")
_EMERGENCY_TYPES: Final = (
    "cardiac",
    "trauma",
    "respiratory",
    "stroke",
    "fall",
    "burn",
    "overdose",
    "allergic_reaction",
    "seizure",
    "obstetric",
)
_FIRST_NAMES: Final = (
    "Ana",
    "Beatriz",
    "Carla",
    "Daniela",
    "Inês",
    "Joana",
    "Leonor",
    "Maria",
    "Marta",
    "Sofia",
    "António",
    "Bruno",
    "Diogo",
    "Francisco",
    "João",
    "José",
    "Miguel",
    "Pedro",
    "Rui",
    "Tiago",
)
_SURNAMES: Final = (
    "Silva",
    "Santos",
    "Ferreira",
    "Pereira",
    "Oliveira",
    "Costa",
    "Rodrigues",
    "Martins",
    "Sousa",
    "Fernandes",
    "Gonçalves",
    "Gomes",
    "Lopes",
    "Marques",
    "Almeida",
    "Ribeiro",
)
_STREETS: Final = (
    "Rua Augusta",
    "Rua da Prata",
    "Rua do Ouro",
    "Rua Garrett",
    "Avenida da Liberdade",
    "Avenida Almirante Reis",
    "Avenida de Roma",
    "Avenida da República",
    "Avenida de Berna",
    "Rua Morais Soares",
    "Rua de São Bento",
    "Rua da Junqueira",
    "Calçada da Ajuda",
    "Estrada de Benfica",
    "Rua de Campolide",
    "Rua Actor Taborda",
    "Travessa do Carmo",
    "Largo do Rato",
    "Rua Castilho",
    "Avenida dos Estados Unidos da América",
)


@dataclass(frozen=True, slots=True)
class City:
    """A city the scenario places hospitals and emergencies in.

    Attributes:
        name: City name.
        lat_min: Southern edge of the bounding box, degrees.
        lat_max: Northern edge of the bounding box, degrees.
        lon_min: Western edge of the bounding box, degrees.
        lon_max: Eastern edge of the bounding box, degrees.
        districts: District names used in addresses; at least one.
    """

    name: str
    lat_min: float
    lat_max: float
    lon_min: float
    lon_max: float
    districts: tuple[str, ...]

    def __post_init__(self) -> None:
        """Reject an empty or inverted bounding box and an empty district list."""
        if not self.lat_min < self.lat_max or not self.lon_min < self.lon_max:
            raise ValueError(f"{self.name}: bounding box is empty or inverted")
        if not self.districts:
            raise ValueError(f"{self.name}: at least one district is needed")

    def contains(self, lat: float, lon: float) -> bool:
        """Return whether a point lies inside the bounding box, edges included."""
        return self.lat_min <= lat <= self.lat_max and self.lon_min <= lon <= self.lon_max


LISBON: Final = City(
    name="Lisbon",
    lat_min=38.70,
    lat_max=38.79,
    lon_min=-9.22,
    lon_max=-9.10,
    districts=(
        "Ajuda",
        "Alcântara",
        "Alvalade",
        "Areeiro",
        "Arroios",
        "Avenidas Novas",
        "Beato",
        "Belém",
        "Benfica",
        "Campo de Ourique",
        "Campolide",
        "Carnide",
        "Estrela",
        "Lumiar",
        "Marvila",
        "Misericórdia",
        "Olivais",
        "Parque das Nações",
        "Penha de França",
        "Santa Clara",
        "Santa Maria Maior",
        "Santo António",
        "São Domingos de Benfica",
        "São Vicente",
    ),
)
"""Lisbon, with its 24 freguesias as districts."""

# (name, district, lat, lon) of real Lisbon hospitals, approximate coordinates.
_LISBON_HOSPITALS: Final = (
    ("Hospital de Santa Maria", "Alvalade", 38.7496, -9.1604),
    ("Hospital de São José", "Arroios", 38.7178, -9.1378),
    ("Hospital Dona Estefânia", "Arroios", 38.7296, -9.1398),
    ("Hospital Pulido Valente", "Lumiar", 38.7676, -9.1570),
    ("Hospital de São Francisco Xavier", "Belém", 38.7073, -9.2196),
    ("Hospital Curry Cabral", "Avenidas Novas", 38.7405, -9.1497),
)


def is_abnormal_vitals(row: Mapping[str, Any]) -> bool:
    """Return whether a vital-signs row holds a reading the scenario counts as abnormal.

    Abnormal means heart rate above 130 or below 45 bpm, SpO2 below 90 %, systolic pressure
    above 180 mmHg, or temperature above 39.5 °C. Missing values count as normal.
    """
    heart_rate = row.get("heart_rate")
    spo2 = row.get("spo2")
    systolic = row.get("systolic")
    temperature = row.get("temperature")
    return (
        (heart_rate is not None and not 45 <= heart_rate <= 130)
        or (spo2 is not None and spo2 < 90)
        or (systolic is not None and systolic > 180)
        or (temperature is not None and temperature > 39.5)
    )


@dataclass(frozen=True, slots=True)
class _Hospital:
    id: int
    name: str
    district: str
    lat: float
    lon: float


@dataclass(frozen=True, slots=True)
class _Patient:
    patient_id: str
    hospital_id: int
    heart_rate: int
    systolic: int
    diastolic: int
    spo2: int
    temperature: float


class HospitalScenario:
    """Seeded generator of hospital-network writes, one at a time.

    The first write inserts the hospitals (fixed ids 1..N), the second a handful of verified
    staff profiles, the third every hospital's resources; after that each write is drawn from a
    weighted mix of new profiles, verification requests and decisions, new emergencies and their
    status changes, vital-sign readings, operations changes, and deletes that keep the tables
    bounded. Follow-up writes (a profile marked
    verified after its request is approved) come right after the write that caused them.

    Args:
        seed: Seed of the scenario's private random generator.
        city: City that bounds every generated location.
    """

    def __init__(self, seed: int, *, city: City = LISBON) -> None:
        """Create a scenario; no write is produced until :meth:`next_write` is called."""
        self._rng = random.Random(seed)
        self._city = city
        self._hospitals = self._make_hospitals()
        self._patients = self._make_patients()
        self._seeded_hospitals = False
        self._seeded_staff = False
        # Profiles whose verification was approved and that still need ``verified = true``.
        self._to_verify: deque[str] = deque()
        # Profiles that will file a verification request, oldest first.
        self._to_file: deque[str] = deque()
        # Pending verification request id -> profile id.
        self._pending_verifications: dict[int, str] = {}
        self._decided_verifications: deque[int] = deque()
        self._settled_profiles: deque[str] = deque()
        # Open emergency id -> current status.
        self._open: dict[int, str] = {}
        self._finished: deque[int] = deque()
        self._vitals: deque[int] = deque()
        patients = [(p.patient_id, p.hospital_id) for p in self._patients]
        self._operations = Operations(self._rng, [h.id for h in self._hospitals], patients)

    @property
    def city(self) -> City:
        """City the scenario generates locations in."""
        return self._city

    @property
    def hospital_ids(self) -> tuple[int, ...]:
        """Ids of the scenario's hospitals (fixed, 1..N)."""
        return tuple(h.id for h in self._hospitals)

    @property
    def open_emergencies(self) -> dict[int, str]:
        """Open emergencies the scenario knows of, as id -> status (a copy)."""
        return dict(self._open)

    def next_write(self, now: datetime) -> Write:
        """Return the next write to send.

        Args:
            now: Current time, timezone-aware; stamped into ``created_at``, ``updated_at`` and
                ``recorded_at`` as ISO 8601 UTC text.

        Raises:
            ValueError: ``now`` has no timezone.
        """
        if now.tzinfo is None:
            raise ValueError("now must be timezone-aware")
        ts = now.astimezone(UTC).isoformat()
        if not self._seeded_hospitals:
            self._seeded_hospitals = True
            return self._hospitals_write(ts)
        if not self._seeded_staff:
            self._seeded_staff = True
            return self._staff_write(ts)
        opening = self._operations.opening_write(ts)
        if opening is not None:
            return opening
        if self._to_verify:
            return Write(
                "PATCH",
                "profiles",
                body={"verified": True, "updated_at": ts},
                match={"id": self._to_verify.popleft()},
            )
        forced = self._forced_prune()
        if forced is not None:
            return forced
        return self._weighted_write(ts)

    def apply_result(self, write: Write, rows: Sequence[Mapping[str, Any]]) -> None:
        """Learn server-assigned ids from the representation of a successful write.

        Only ``POST`` writes with ``returning`` set carry news; anything else, rows without an
        integer ``id``, and ids already known are ignored, so feeding a result twice is safe.

        Args:
            write: The write, as returned by :meth:`next_write`.
            rows: The rows the server answered with (``Prefer: return=representation``).
        """
        if write.method != "POST" or not write.returning:
            return
        self._operations.apply_result(write, rows)
        sent = write.rows()
        for index, row in enumerate(rows):
            row_id = row.get("id")
            if not isinstance(row_id, int) or isinstance(row_id, bool):
                continue
            if write.table == "emergency_requests":
                if row_id not in self._open and row_id not in self._finished:
                    self._open[row_id] = "pending"
            elif write.table == "vital_signs":
                if row_id not in self._vitals:
                    self._vitals.append(row_id)
            elif write.table == "verification_requests":
                profile_id = row.get("profile_id")
                if profile_id is None and index < len(sent):
                    profile_id = sent[index].get("profile_id")
                if isinstance(profile_id, str) and row_id not in self._pending_verifications:
                    self._pending_verifications[row_id] = profile_id

    # ------------------------------------------------------------ setup

    def _make_hospitals(self) -> tuple[_Hospital, ...]:
        if self._city == LISBON:
            return tuple(
                _Hospital(i, name, district, lat, lon)
                for i, (name, district, lat, lon) in enumerate(_LISBON_HOSPITALS, start=1)
            )
        out = []
        for i in range(1, 7):
            lat, lon = self._point()
            district = self._rng.choice(self._city.districts)
            out.append(_Hospital(i, f"{self._city.name} Hospital {district}", district, lat, lon))
        return tuple(out)

    def _make_patients(self) -> tuple[_Patient, ...]:
        numbers = self._rng.sample(range(1, 10_000), _PATIENT_POOL_SIZE)
        return tuple(
            _Patient(
                patient_id=f"P-{n:04d}",
                hospital_id=self._rng.choice(self._hospitals).id,
                heart_rate=self._rng.randint(62, 92),
                systolic=self._rng.randint(108, 138),
                diastolic=self._rng.randint(66, 86),
                spo2=self._rng.randint(95, 99),
                temperature=round(self._rng.uniform(36.3, 37.0), 1),
            )
            for n in sorted(numbers)
        )

    def _hospitals_write(self, ts: str) -> Write:
        body = [
            {
                "id": h.id,
                "name": h.name,
                "district": h.district,
                "lat": h.lat,
                "lon": h.lon,
                "created_at": ts,
            }
            for h in self._hospitals
        ]
        return Write("POST", "hospitals", body=body, returning=True)

    def _staff_write(self, ts: str) -> Write:
        staff: list[tuple[str, int]] = [("doctor", h.id) for h in self._hospitals]
        staff += [("dispatcher", self._hospitals[0].id), ("admin", self._hospitals[0].id)]
        body = [
            self._profile_row(role, hospital_id, verified=True, ts=ts)
            for role, hospital_id in staff
        ]
        return Write("POST", "profiles", body=body, returning=True)

    # ------------------------------------------------------------ choice

    def _forced_prune(self) -> Write | None:
        if len(self._finished) > MAX_FINISHED_EMERGENCIES:
            return self._delete_finished_emergency()
        if len(self._vitals) > MAX_VITAL_SIGNS:
            return self._delete_vital_signs()
        if len(self._decided_verifications) > MAX_DECIDED_VERIFICATIONS:
            return self._delete_verification()
        if len(self._settled_profiles) > MAX_SETTLED_PROFILES:
            return self._delete_profile()
        return self._operations.forced_prune()

    def _weighted_write(self, ts: str) -> Write:
        open_count = len(self._open)
        if open_count < MIN_OPEN_EMERGENCIES:
            create_weight = 40.0
        elif open_count >= MAX_OPEN_EMERGENCIES:
            create_weight = 0.0
        else:
            # Falls from 8 to 0 across the band; with ~4 status changes per emergency the mix
            # settles around 40 open emergencies.
            span = MAX_OPEN_EMERGENCIES - MIN_OPEN_EMERGENCIES
            create_weight = 8.0 * (MAX_OPEN_EMERGENCIES - open_count) / span
        options: list[tuple[str, float]] = [
            ("emergency", create_weight),
            ("advance", 15.0 if self._open else 0.0),
            ("vitals", 10.0),
            ("profile", 2.0),
            ("file", 3.0 if self._to_file else 0.0),
            ("decide", min(3.0, 0.15 * len(self._pending_verifications))),
            ("prune_emergency", 0.5 if len(self._finished) > 20 else 0.0),
            ("prune_vitals", 0.5 if len(self._vitals) > 50 else 0.0),
            *self._operations.options(),
        ]
        names = [name for name, _ in options]
        weights = [weight for _, weight in options]
        action = self._rng.choices(names, weights)[0]
        if action in ACTIONS:
            return self._operations.write(action, ts)
        if action == "emergency":
            return self._new_emergency(ts)
        if action == "advance":
            return self._advance_emergency(ts)
        if action == "profile":
            return self._new_profile(ts)
        if action == "file":
            return self._file_verification(ts)
        if action == "decide":
            return self._decide_verification(ts)
        if action == "prune_emergency":
            return self._delete_finished_emergency()
        if action == "prune_vitals":
            return self._delete_vital_signs()
        return self._new_vital_signs(ts)

    # ------------------------------------------------------------ profiles

    def _profile_row(
        self, role: str, hospital_id: int, *, verified: bool, ts: str
    ) -> dict[str, Any]:
        profile_id = uuid.UUID(int=self._rng.getrandbits(128), version=4)
        return {
            "id": str(profile_id),
            "full_name": self._person_name(),
            "role": role,
            "hospital_id": hospital_id,
            "verified": verified,
            "created_at": ts,
            "updated_at": ts,
        }

    def _new_profile(self, ts: str) -> Write:
        role = self._rng.choices(_ROLES, _ROLE_WEIGHTS)[0]
        row = self._profile_row(role, self._rng.choice(self._hospitals).id, verified=False, ts=ts)
        if self._rng.random() < _FILE_VERIFICATION_PROBABILITY:
            self._to_file.append(row["id"])
        else:
            self._settled_profiles.append(row["id"])
        return Write("POST", "profiles", body=row, returning=True)

    def _file_verification(self, ts: str) -> Write:
        profile_id = self._to_file.popleft()
        body = {
            "profile_id": profile_id,
            "document_type": self._rng.choice(_DOCUMENT_TYPES),
            "status": "pending",
            "created_at": ts,
            "updated_at": ts,
        }
        return Write("POST", "verification_requests", body=body, returning=True)

    def _decide_verification(self, ts: str) -> Write:
        request_id = self._rng.choice(list(self._pending_verifications))
        profile_id = self._pending_verifications.pop(request_id)
        approved = self._rng.random() < _APPROVE_PROBABILITY
        note = self._rng.choice(_APPROVAL_NOTES if approved else _REJECTION_NOTES)
        self._decided_verifications.append(request_id)
        self._settled_profiles.append(profile_id)
        if approved:
            self._to_verify.append(profile_id)
        body = {
            "status": "approved" if approved else "rejected",
            "reviewer_note": note,
            "updated_at": ts,
        }
        return Write("PATCH", "verification_requests", body=body, match={"id": request_id})

    def _delete_verification(self) -> Write:
        request_id = self._decided_verifications.popleft()
        return Write("DELETE", "verification_requests", match={"id": request_id})

    def _delete_profile(self) -> Write:
        profile_id = self._settled_profiles.popleft()
        self._operations.forget_profile(profile_id)
        return Write("DELETE", "profiles", match={"id": profile_id})

    # ------------------------------------------------------------ emergencies

    def _new_emergency(self, ts: str) -> Write:
        lat, lon = self._point()
        body = {
            "hospital_id": self._nearest_hospital(lat, lon).id,
            "patient_name": self._person_name(),
            "emergency_type": self._rng.choice(_EMERGENCY_TYPES),
            "priority": self._rng.choices(range(1, 6), _PRIORITY_WEIGHTS)[0],
            "status": "pending",
            "lat": lat,
            "lon": lon,
            "pickup_address": self._address(),
            "created_at": ts,
            "updated_at": ts,
        }
        return Write("POST", "emergency_requests", body=body, returning=True)

    def _advance_emergency(self, ts: str) -> Write:
        emergency_id = self._rng.choice(list(self._open))
        status = self._open[emergency_id]
        forward = EMERGENCY_TRANSITIONS[status][0]
        cancel = _CANCEL_PROBABILITY.get(status, 0.0)
        new_status = "cancelled" if self._rng.random() < cancel else forward
        if new_status in _FINISHED:
            del self._open[emergency_id]
            self._finished.append(emergency_id)
        else:
            self._open[emergency_id] = new_status
        return Write(
            "PATCH",
            "emergency_requests",
            body={"status": new_status, "updated_at": ts},
            match={"id": emergency_id},
        )

    def _delete_finished_emergency(self) -> Write:
        emergency_id = self._finished.popleft()
        return Write("DELETE", "emergency_requests", match={"id": emergency_id})

    # ------------------------------------------------------------ vital signs

    def _new_vital_signs(self, ts: str) -> Write:
        rng = self._rng
        patient = rng.choice(self._patients)
        heart_rate = _clamp(patient.heart_rate + round(rng.gauss(0, 5)), 50, 120)
        systolic = _clamp(patient.systolic + round(rng.gauss(0, 6)), 95, 165)
        diastolic = _clamp(patient.diastolic + round(rng.gauss(0, 4)), 55, 100)
        spo2 = _clamp(patient.spo2 + round(rng.gauss(0, 1)), 92, 100)
        temperature = min(max(round(patient.temperature + rng.gauss(0, 0.2), 1), 35.5), 38.5)
        if rng.random() < _ABNORMAL_RATE:
            kind = rng.choice(("tachycardia", "bradycardia", "hypoxia", "hypertension", "fever"))
            if kind == "tachycardia":
                heart_rate = rng.randint(131, 175)
            elif kind == "bradycardia":
                heart_rate = rng.randint(32, 44)
            elif kind == "hypoxia":
                spo2 = rng.randint(78, 89)
            elif kind == "hypertension":
                systolic = rng.randint(181, 220)
                diastolic = rng.randint(100, 125)
            else:
                temperature = round(rng.uniform(39.6, 41.2), 1)
        body = {
            "patient_id": patient.patient_id,
            "hospital_id": patient.hospital_id,
            "heart_rate": heart_rate,
            "systolic": systolic,
            "diastolic": diastolic,
            "spo2": spo2,
            "temperature": temperature,
            "recorded_at": ts,
        }
        return Write("POST", "vital_signs", body=body, returning=True)

    def _delete_vital_signs(self) -> Write:
        vitals_id = self._vitals.popleft()
        return Write("DELETE", "vital_signs", match={"id": vitals_id})

    # ------------------------------------------------------------ helpers

    def _point(self) -> tuple[float, float]:
        city = self._city
        lat = round(self._rng.uniform(city.lat_min, city.lat_max), 6)
        lon = round(self._rng.uniform(city.lon_min, city.lon_max), 6)
        # Rounding can step past an edge that has more than six decimals; pull it back.
        return min(max(lat, city.lat_min), city.lat_max), min(max(lon, city.lon_min), city.lon_max)

    def _nearest_hospital(self, lat: float, lon: float) -> _Hospital:
        scale = math.cos(math.radians(lat))
        return min(
            self._hospitals,
            key=lambda h: (h.lat - lat) ** 2 + ((h.lon - lon) * scale) ** 2,
        )

    def _person_name(self) -> str:
        return person_name(self._rng)

    def _address(self) -> str:
        street = self._rng.choice(_STREETS)
        number = self._rng.randint(1, 250)
        return f"{street} {number}, {self._rng.choice(self._city.districts)}"


def person_name(rng: random.Random) -> str:
    """Return a Portuguese first name and surname drawn with ``rng``."""
    return f"{rng.choice(_FIRST_NAMES)} {rng.choice(_SURNAMES)}"


def _clamp(value: int, low: int, high: int) -> int:
    return min(max(value, low), high)
