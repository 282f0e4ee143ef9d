"""The realtime gateway's health per clinic (``system_metrics``), sampled every
:data:`SAMPLE_INTERVAL_S` seconds and kept for :data:`MAX_SAMPLES` samples; pure, randomness from
the scenario's generator.

A sample per clinic holds the design document's ``RealtimeMetrics`` in a row: open sockets,
messages delivered per minute, p95 delivery latency, notifications queued and the failed
delivery rate. They follow the load (a check-in burst delivers more, a little slower) and the
incident: while a clinic's team is offline its sockets drop, its notifications fail and queue up,
and its alerts wait, which is what an admin looking at this table first sees.
"""

from __future__ import annotations

import random
from collections import deque
from collections.abc import Sequence
from datetime import datetime
from typing import Final

from rtdata.scenarios.telehealth.clinics import CLINICS, PROVIDERS_PER_CLINIC
from rtdata.scenarios.telehealth.phases import incident_active, phase_at
from rtdata.simulate.write import Write

__all__ = ["MAX_SAMPLES", "SAMPLE_INTERVAL_S", "Gateway"]

SAMPLE_INTERVAL_S: Final = 5.0
"""Seconds between two samples of every clinic."""

MAX_SAMPLES: Final = 60
"""Samples kept (five minutes) before the oldest is deleted."""


class Gateway:
    """Samples of every clinic's realtime health, and their retention.

    Args:
        rng: The scenario's random generator.
    """

    def __init__(self, rng: random.Random) -> None:
        """Create a gateway that samples at once."""
        self._rng = rng
        self._next_s = 0.0
        self._kept: deque[str] = deque()  # recorded_at of each sample kept, oldest first

    @property
    def kept(self) -> int:
        """Samples kept (each has a row per clinic)."""
        return len(self._kept)

    def sample(
        self, elapsed_s: float, now: datetime, patients: Sequence[int], waiting: Sequence[int]
    ) -> Write | None:
        """The insert of one sample per clinic when one is due, else ``None``.

        Args:
            elapsed_s: Seconds since the start.
            now: The time now (``recorded_at``).
            patients: Patients in the programme, by clinic.
            waiting: Alerts not acknowledged yet, by clinic.
        """
        if elapsed_s < self._next_s:
            return None
        self._next_s = elapsed_s + SAMPLE_INTERVAL_S
        rng = self._rng
        busy = phase_at(elapsed_s).chatter
        rows = []
        for index, clinic in enumerate(CLINICS):
            down = incident_active(index, elapsed_s)
            # Clinicians keep a desktop and a phone connected; patients mostly a phone.
            staff = 0 if down else 2 * round(PROVIDERS_PER_CLINIC * rng.uniform(0.5, 0.9))
            rows.append(
                {
                    "tenant_id": clinic.id,
                    "active_connections": staff + round(patients[index] * rng.uniform(1.0, 1.5)),
                    "messages_per_min": max(0, round(rng.gauss(120 * busy, 15))),
                    # Deliveries to the offline team's devices time out and retry.
                    "p95_latency_ms": round(
                        rng.gauss(95 + 45 * busy, 12) + (rng.uniform(180, 320) if down else 0), 1
                    ),
                    "queue_depth": (
                        2 * waiting[index] + rng.randint(6, 14) if down else rng.randint(0, 4)
                    ),
                    "error_rate_pct": round(
                        rng.uniform(4.0, 9.0) if down else abs(rng.gauss(0.3, 0.2)), 2
                    ),
                    "recorded_at": now.isoformat(),
                }
            )
        self._kept.append(now.isoformat())
        return Write("POST", "system_metrics", body=rows)

    def forced_prune(self) -> Write | None:
        """The delete of the oldest sample (every clinic's row of it, by their shared
        ``recorded_at``) when more than :data:`MAX_SAMPLES` are kept, else ``None``."""
        if len(self._kept) <= MAX_SAMPLES:
            return None
        return Write("DELETE", "system_metrics", match={"recorded_at": self._kept.popleft()})
