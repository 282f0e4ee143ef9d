"""Names, e-mail addresses, phone numbers and ids the admin pack's simulator draws, from a
random generator it passes in (no global random state)."""

from __future__ import annotations

import random
import unicodedata
import uuid
from typing import Final

__all__ = ["address", "email", "new_uuid", "person_name", "phone"]

_FIRST_NAMES: Final = (
    "Aoife",
    "Ciara",
    "Niamh",
    "Siobhan",
    "Orla",
    "Grace",
    "Hannah",
    "Emma",
    "Chloe",
    "Ruth",
    "Liam",
    "Cian",
    "Darragh",
    "Eoin",
    "Padraig",
    "Conor",
    "James",
    "Oliver",
    "Tomas",
    "Fionn",
)
_SURNAMES: Final = (
    "Murphy",
    "Kelly",
    "O'Sullivan",
    "Walsh",
    "Byrne",
    "Ryan",
    "O'Brien",
    "Doyle",
    "McCarthy",
    "Gallagher",
    "Kennedy",
    "Lynch",
    "Quinn",
    "Brennan",
    "Nolan",
    "Dunne",
)
_STREETS: Final = (
    "Patrick Street",
    "Oliver Plunkett Street",
    "Grand Parade",
    "South Mall",
    "Washington Street",
    "MacCurtain Street",
    "Douglas Road",
    "Blackrock Road",
    "Western Road",
    "Summerhill North",
    "Sunday's Well Road",
    "Ballyhooly Road",
)


def person_name(rng: random.Random) -> str:
    """Return a first name and a surname drawn with ``rng``."""
    return f"{rng.choice(_FIRST_NAMES)} {rng.choice(_SURNAMES)}"


def email(name: str, serial: int, domain: str) -> str:
    """Return an e-mail address for ``name``, unique by ``serial``: ``aoife.murphy7@domain``."""
    plain = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    local = ".".join("".join(ch for ch in part if ch.isalnum()) for part in plain.lower().split())
    return f"{local}{serial}@{domain}"


def phone(rng: random.Random) -> str:
    """Return an Irish mobile number drawn with ``rng``: ``+353 87 123 4567``."""
    return f"+353 8{rng.choice('3567')} {rng.randint(100, 999)} {rng.randint(1000, 9999)}"


def address(rng: random.Random) -> str:
    """Return a street address in Cork drawn with ``rng``."""
    return f"{rng.randint(1, 120)} {rng.choice(_STREETS)}, Cork"


def new_uuid(rng: random.Random) -> str:
    """Return a version-4 UUID as text, drawn with ``rng``."""
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))
