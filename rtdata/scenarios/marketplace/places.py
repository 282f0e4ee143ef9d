"""Where the marketplace works: five Ruhr cities, their streets, and the trades it sells.

Pure data and two pure helpers: :func:`point_in` draws a point inside a city with a given
:class:`random.Random`, :func:`step_towards` moves a point part of the way to another. The
cities' boxes lie inside the approximate city shapes shipped in ``assets/ruhr_cities.geojson``
(not official boundaries), so every simulated location falls on its city's shape on the map.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

__all__ = [
    "BUDGET_EUR",
    "CATEGORIES",
    "CITIES",
    "JOBS",
    "City",
    "point_in",
    "step_towards",
]


@dataclass(frozen=True, slots=True)
class City:
    """A city the marketplace serves.

    Attributes:
        id: Fixed id (``cities.id``), 1..5 from west to east.
        name: City name.
        lat: Latitude of the centre, degrees.
        lon: Longitude of the centre, degrees.
        box: ``(lat_min, lat_max, lon_min, lon_max)`` in degrees, inside the city's shape:
            where bookings and technicians are placed.
        streets: Street names used in addresses.
    """

    id: int
    name: str
    lat: float
    lon: float
    box: tuple[float, float, float, float]
    streets: tuple[str, ...]


CITIES: Final = (
    City(
        1,
        "Duisburg",
        51.4344,
        6.7623,
        (51.37, 51.52, 6.68, 6.79),
        (
            "Königstraße",
            "Sonnenwall",
            "Düsseldorfer Straße",
            "Mülheimer Straße",
            "Kaiser-Wilhelm-Straße",
        ),
    ),
    City(
        2,
        "Mülheim an der Ruhr",
        51.4275,
        6.8825,
        (51.40, 51.45, 6.845, 6.91),
        ("Schloßstraße", "Leineweberstraße", "Aktienstraße", "Duisburger Straße"),
    ),
    City(
        3,
        "Essen",
        51.4556,
        7.0116,
        (51.39, 51.50, 6.96, 7.09),
        (
            "Rüttenscheider Straße",
            "Kettwiger Straße",
            "Altendorfer Straße",
            "Huttropstraße",
            "Frohnhauser Straße",
        ),
    ),
    City(
        4,
        "Bochum",
        51.4818,
        7.2162,
        (51.44, 51.51, 7.15, 7.30),
        ("Kortumstraße", "Herner Straße", "Wittener Straße", "Castroper Straße"),
    ),
    City(
        5,
        "Dortmund",
        51.5136,
        7.4653,
        (51.46, 51.56, 7.37, 7.58),
        ("Westenhellweg", "Rheinische Straße", "Hohe Straße", "Kaiserstraße", "Märkische Straße"),
    ),
)
"""The five cities, west to east (the ids of the ``cities`` rows the first write inserts)."""

CATEGORIES: Final = (
    "plumbing",
    "electrical",
    "hvac",
    "appliance_repair",
    "locksmith",
    "carpentry",
)
"""The trades (the ``service_category`` enum of ``0001_reference.sql``), in declaration order."""

JOBS: Final[Mapping[str, tuple[str, ...]]] = {
    "plumbing": ("Leaking kitchen tap", "Blocked shower drain", "Toilet keeps running"),
    "electrical": ("Fuse keeps tripping", "Install ceiling light", "Dead sockets in hallway"),
    "hvac": ("Boiler shows error F28", "Radiators stay cold", "Service the gas heating"),
    "appliance_repair": ("Washing machine will not drain", "Fridge not cooling", "Oven door hinge"),
    "locksmith": ("Locked out of flat", "Change cylinder lock", "Key broke in the lock"),
    "carpentry": ("Assemble wardrobe", "Door sticks in frame", "Fit kitchen shelves"),
}
"""What customers ask for, per trade (a booking's ``description``)."""

BUDGET_EUR: Final[Mapping[str, tuple[int, int]]] = {
    "plumbing": (80, 260),
    "electrical": (70, 240),
    "hvac": (120, 380),
    "appliance_repair": (60, 220),
    "locksmith": (60, 180),
    "carpentry": (50, 300),
}
"""Fewest and most EUR a customer budgets for a job, per trade."""


def point_in(city: City, rng: random.Random) -> tuple[float, float]:
    """A point drawn uniformly from ``city``'s box, rounded to 5 decimals (about 1 m)."""
    lat_min, lat_max, lon_min, lon_max = city.box
    return round(rng.uniform(lat_min, lat_max), 5), round(rng.uniform(lon_min, lon_max), 5)


def step_towards(
    start: tuple[float, float], goal: tuple[float, float], fraction: float
) -> tuple[float, float]:
    """The point ``fraction`` (0 to 1) of the way from ``start`` to ``goal``, rounded to 5
    decimals; both points in degrees (a straight line is close enough within a city)."""
    share = min(max(fraction, 0.0), 1.0)
    return (
        round(start[0] + (goal[0] - start[0]) * share, 5),
        round(start[1] + (goal[1] - start[1]) * share, 5),
    )
