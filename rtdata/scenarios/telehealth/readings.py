"""Readings of a recovering patient's wearable and check-ins, and the findings the alert rules
raise from them; pure, randomness from the caller's generator.

Each patient has a baseline; a reading wanders around it, shifted by where the patient is in
their recovery (pain and heart rate run high just after surgery, and higher still when at
risk), and is now and then out of range: then :func:`reading` also returns the
:class:`Finding` the app's alert rules would raise, with a severity that follows how far out
the value is. :data:`BANDS` are the normal ranges the rules (and the pack's series) use.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Final

__all__ = [
    "ABNORMAL_RATE",
    "BANDS",
    "Baseline",
    "Finding",
    "baseline",
    "other_finding",
    "reading",
]

BANDS: Final[Mapping[str, tuple[float, float]]] = MappingProxyType(
    {
        "heart_rate": (50, 110),
        "systolic": (90, 160),
        "diastolic": (55, 100),
        "spo2": (92, 100),
        "temperature": (35.8, 38.0),
        "pain_score": (0, 7),
    }
)
"""Normal range of each reading column, inclusive (beats per minute, mmHg, percent, degrees
Celsius, pain out of 10)."""

ABNORMAL_RATE: Final[Mapping[str, float]] = MappingProxyType(
    {"pre_op": 0.005, "post_op": 0.025, "recovering": 0.008, "at_risk": 0.08}
)
"""Probability that a reading is out of range, by the patient's recovery status."""

# Shift of heart rate (bpm), temperature (°C) and the pain range, by recovery status.
_SHIFT: Final[Mapping[str, tuple[int, float, tuple[int, int]]]] = {
    "pre_op": (0, 0.0, (2, 4)),
    "post_op": (8, 0.4, (4, 6)),
    "recovering": (2, 0.1, (1, 4)),
    "at_risk": (14, 0.7, (5, 7)),
}


@dataclass(frozen=True, slots=True)
class Baseline:
    """A patient's usual readings.

    Attributes:
        heart_rate: Beats per minute at rest.
        systolic: mmHg.
        diastolic: mmHg.
        spo2: Percent.
        temperature: Degrees Celsius.
    """

    heart_rate: int
    systolic: int
    diastolic: int
    spo2: int
    temperature: float


@dataclass(frozen=True, slots=True)
class Finding:
    """What an alert rule raises.

    Attributes:
        alert_type: One of the ``alert_type`` enum labels.
        severity: ``low``, ``medium``, ``high`` or ``critical``.
        message: What the provider reads.
    """

    alert_type: str
    severity: str
    message: str


def baseline(rng: random.Random) -> Baseline:
    """A new patient's usual readings."""
    return Baseline(
        heart_rate=rng.randint(60, 84),
        systolic=rng.randint(112, 138),
        diastolic=rng.randint(68, 85),
        spo2=rng.randint(95, 99),
        temperature=round(rng.uniform(36.4, 36.9), 1),
    )


def _clamp(value: float, band: str) -> float:
    low, high = BANDS[band]
    return min(max(value, low), high)


def reading(
    rng: random.Random, usual: Baseline, status: str
) -> tuple[dict[str, Any], Finding | None]:
    """One reading of a patient whose usual readings are ``usual`` and whose recovery status is
    ``status`` (``pre_op``, ``post_op``, ``recovering`` or ``at_risk``).

    Returns:
        The reading's columns (``heart_rate``, ``systolic``, ``diastolic``, ``spo2``,
        ``temperature``, ``pain_score``), inside :data:`BANDS` unless a finding is returned
        too; the finding when one value is out of range (at :data:`ABNORMAL_RATE`).
    """
    heart_shift, heat, (pain_low, pain_high) = _SHIFT.get(status, _SHIFT["recovering"])
    values: dict[str, Any] = {
        "heart_rate": int(
            _clamp(usual.heart_rate + heart_shift + round(rng.gauss(0, 5)), "heart_rate")
        ),
        "systolic": int(_clamp(usual.systolic + round(rng.gauss(0, 6)), "systolic")),
        "diastolic": int(_clamp(usual.diastolic + round(rng.gauss(0, 4)), "diastolic")),
        "spo2": int(_clamp(usual.spo2 + round(rng.gauss(0, 1)), "spo2")),
        "temperature": round(
            _clamp(usual.temperature + heat + rng.gauss(0, 0.15), "temperature"), 1
        ),
        "pain_score": rng.randint(pain_low, pain_high),
    }
    if rng.random() >= ABNORMAL_RATE.get(status, 0.02):
        return values, None
    return values, _abnormal(rng, values)


def _abnormal(rng: random.Random, values: dict[str, Any]) -> Finding:
    kind = rng.choices(
        ("tachycardia", "bradycardia", "hypoxia", "hypertension", "fever", "pain_spike"),
        (25, 8, 20, 12, 20, 15),
    )[0]
    if kind == "tachycardia":
        severity = rng.choices(("medium", "high", "critical"), (50, 35, 15))[0]
        low, high = {"medium": (111, 129), "high": (130, 149), "critical": (150, 175)}[severity]
        values["heart_rate"] = rng.randint(low, high)
        return Finding(kind, severity, f"Heart rate {values['heart_rate']} bpm")
    if kind == "bradycardia":
        severity = rng.choices(("medium", "high"), (65, 35))[0]
        low, high = {"medium": (42, 49), "high": (34, 41)}[severity]
        values["heart_rate"] = rng.randint(low, high)
        return Finding(kind, severity, f"Heart rate {values['heart_rate']} bpm")
    if kind == "hypoxia":
        severity = rng.choices(("medium", "high", "critical"), (45, 35, 20))[0]
        low, high = {"medium": (90, 91), "high": (86, 89), "critical": (78, 85)}[severity]
        values["spo2"] = rng.randint(low, high)
        return Finding(kind, severity, f"SpO2 {values['spo2']} %")
    if kind == "hypertension":
        severity = rng.choices(("medium", "high"), (60, 40))[0]
        low, high = {"medium": (161, 179), "high": (180, 205)}[severity]
        values["systolic"] = rng.randint(low, high)
        values["diastolic"] = rng.randint(95, 118)
        return Finding(
            kind, severity, f"Blood pressure {values['systolic']}/{values['diastolic']} mmHg"
        )
    if kind == "fever":
        severity = rng.choices(("medium", "high"), (60, 40))[0]
        hot = {"medium": (38.1, 38.9), "high": (39.0, 40.2)}[severity]
        values["temperature"] = round(rng.uniform(*hot), 1)
        return Finding(kind, severity, f"Temperature {values['temperature']} °C after surgery")
    severity = rng.choices(("low", "medium", "high"), (30, 45, 25))[0]
    values["pain_score"] = {"low": 8, "medium": 9, "high": 10}[severity]
    return Finding("pain_spike", severity, f"Pain {values['pain_score']}/10 at check-in")


def other_finding(rng: random.Random) -> Finding:
    """A finding that comes from the app rather than a reading: a missed check-in, a wound
    photo the triage model flagged, or a fall the wearable detected."""
    kind = rng.choices(("missed_check_in", "wound_concern", "fall_detected"), (55, 35, 10))[0]
    if kind == "missed_check_in":
        return Finding(kind, "low", "No check-in or exercise log since yesterday")
    if kind == "wound_concern":
        severity = rng.choices(("medium", "high"), (60, 40))[0]
        sign = rng.choice(("redness", "swelling", "drainage", "warmth"))
        return Finding(kind, severity, f"Incision photo flagged: {sign}")
    return Finding(kind, "critical", "Wearable detected a fall; no response to the call")
