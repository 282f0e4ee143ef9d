"""The CRM pack's reference data: SLA policies, teams, agents, products, and the words its
simulated people write (names, ticket titles, comments, files).

Everything here is a constant or a pure function of a :class:`random.Random`; the first writes
of :class:`~rtdata.scenarios.crm.scenario.CrmScenario` insert the reference rows with these
fixed ids.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

__all__ = [
    "PRIORITY_WEIGHTS",
    "PRODUCTS",
    "SLA_POLICIES",
    "SYSTEM_AUTHOR",
    "TEAMS",
    "Agent",
    "Product",
    "SlaPolicy",
    "attachment_file",
    "comment_text",
    "company_name",
    "make_agents",
    "person_name",
    "ticket_title",
]


@dataclass(frozen=True, slots=True)
class SlaPolicy:
    """The SLA of one ticket priority (a row of ``sla_policies``).

    Attributes:
        priority: 1 (urgent) to 4 (low).
        name: What the desk calls the priority.
        first_response_s: Most seconds from filing to an agent taking the ticket.
        resolution_s: Most seconds from filing to resolution.
    """

    priority: int
    name: str
    first_response_s: int
    resolution_s: int


SLA_POLICIES: Final = (
    SlaPolicy(1, "urgent", 30, 120),
    SlaPolicy(2, "high", 60, 240),
    SlaPolicy(3, "normal", 120, 480),
    SlaPolicy(4, "low", 240, 720),
)
"""The desk's SLAs, at demo speed: seconds where a real desk has hours, so a ten-minute demo
shows whole lifecycles, met and breached."""

PRIORITY_WEIGHTS: Final = (10, 25, 45, 20)
"""How often a new ticket has priority 1 .. 4."""

TEAMS: Final[Mapping[int, str]] = {1: "Frontline", 2: "Billing", 3: "Technical"}
"""Support teams by id."""

SYSTEM_AUTHOR: Final = "00000000-0000-0000-0000-000000000000"
"""``author_id`` of the comments the desk itself writes (auto-close notices)."""


@dataclass(frozen=True, slots=True)
class Agent:
    """A staff member (a row of ``agents``).

    Attributes:
        id: Their auth user id.
        full_name: Their name.
        email: Their work address.
        team_id: Their team.
        role: ``agent``, ``lead`` or ``admin``; admins take no tickets.
    """

    id: str
    full_name: str
    email: str
    team_id: int
    role: str


@dataclass(frozen=True, slots=True)
class Product:
    """A product of the catalogue (a row of ``products``).

    Attributes:
        id: Fixed id.
        name: Product name.
        description: One line.
        price: Price per unit, EUR.
        weight: How often customers acquire it, relative to the others.
    """

    id: int
    name: str
    description: str
    price: float
    weight: float


PRODUCTS: Final = (
    Product(1, "Starter plan", "Monthly plan for up to 3 seats", 29.0, 30),
    Product(2, "Team plan", "Monthly plan for up to 25 seats", 99.0, 25),
    Product(3, "Business plan", "Monthly plan with SSO and audit log", 249.0, 15),
    Product(4, "Enterprise plan", "Yearly plan with a dedicated manager", 1900.0, 4),
    Product(5, "Onboarding package", "Five guided setup sessions", 450.0, 8),
    Product(6, "Premium support", "24/7 phone line and a 1-hour SLA", 149.0, 10),
    Product(7, "Data migration", "Import from another CRM, done for you", 800.0, 4),
    Product(8, "Extra storage 100 GB", "Attachments and exports beyond the plan", 12.0, 20),
)
"""The catalogue the customers buy from."""

_FIRST_NAMES: Final = (
    "Alice", "Ben", "Chloé", "David", "Emma", "Farid", "Grace", "Hugo", "Ines", "Jonas",
    "Kira", "Liam", "Maya", "Noah", "Olga", "Paul", "Rosa", "Samir", "Tess", "Victor",
)  # fmt: skip
_SURNAMES: Final = (
    "Adams", "Berger", "Costa", "Dubois", "Eriksen", "Fischer", "García", "Hansen", "Ivanova",
    "Jensen", "Kowalski", "Lambert", "Meyer", "Novak", "Olsen", "Petit", "Rossi", "Schmidt",
)  # fmt: skip
_COMPANY_WORDS: Final = (
    "Acme", "Bluefin", "Cobalt", "Delta", "Evergreen", "Fjord", "Granite", "Harbor", "Iris",
    "Juniper", "Kestrel", "Lumen", "Meridian", "Northwind", "Orchard", "Pioneer", "Quartz",
)  # fmt: skip
_COMPANY_KINDS: Final = ("Logistics", "Foods", "Studio", "Labs", "Retail", "Health", "Legal")

_TITLES: Final[Mapping[int, tuple[str, ...]]] = {
    1: (
        "How do I add a seat to the {product}?",
        "Change the account owner",
        "Export all contacts to CSV",
        "Where do I find last month's report?",
        "Invite link expired",
        "Set up email forwarding to the helpdesk",
    ),
    2: (
        "Charged twice for the {product}",
        "Invoice shows the wrong VAT number",
        "Refund for the cancelled {product}",
        "Upgrade to the {product} mid-cycle",
        "Card expired, renewal failed",
    ),
    3: (
        "Cannot log in after password reset",
        "Sync with the mailbox is stuck",
        "API returns 500 on contact export",
        "Attachments fail to upload",
        "Calendar invites arrive twice",
        "SSO login loops back to the start page",
    ),
}
_OUTAGE_TITLES: Final = (
    "Payment failed: card declined at checkout",
    "Renewal charge failed for the {product}",
    "Checkout page times out",
)

_FILES: Final = (
    ("screenshot.png", "image/png", 80_000, 2_500_000),
    ("invoice.pdf", "application/pdf", 40_000, 400_000),
    ("error-log.txt", "text/plain", 2_000, 90_000),
    ("export.csv", "text/csv", 10_000, 5_000_000),
    ("recording.mp4", "video/mp4", 2_000_000, 40_000_000),
)


def person_name(rng: random.Random) -> str:
    """Return a first name and surname drawn with ``rng``."""
    return f"{rng.choice(_FIRST_NAMES)} {rng.choice(_SURNAMES)}"


def company_name(rng: random.Random) -> str:
    """Return a company name drawn with ``rng``."""
    return f"{rng.choice(_COMPANY_WORDS)} {rng.choice(_COMPANY_KINDS)}"


def make_agents(rng: random.Random) -> tuple[Agent, ...]:
    """Return the desk's staff: per team four agents and a lead, and one admin."""
    staff = [(team_id, "lead") for team_id in TEAMS]
    staff += [(team_id, "agent") for team_id in TEAMS for _ in range(4)]
    staff.append((1, "admin"))
    agents: list[Agent] = []
    for team_id, role in staff:
        name = person_name(rng)
        handle = name.lower().replace(" ", ".").replace("é", "e").replace("í", "i")
        agent_id = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        email = f"{handle}.{len(agents) + 1}@helpdesk.example"
        agents.append(Agent(agent_id, name, email, team_id, role))
    return tuple(agents)


def ticket_title(rng: random.Random, team_id: int, *, outage: bool = False) -> str:
    """Return a ticket title for ``team_id`` (a failed-payment one during the outage)."""
    template = rng.choice(_OUTAGE_TITLES if outage else _TITLES[team_id])
    return template.format(product=rng.choice(PRODUCTS).name)


def attachment_file(rng: random.Random, ticket_id: int) -> dict[str, object]:
    """Return an ``attachments`` row's file columns for a file on ticket ``ticket_id``:
    ``file_name``, ``file_url`` (a path in the project's storage), ``file_type`` (MIME) and
    ``file_size`` (bytes)."""
    name, mime, smallest, largest = rng.choice(_FILES)
    stem, dot, ext = name.rpartition(".")
    file_name = f"{stem}-{ticket_id}.{ext}" if dot else name
    return {
        "file_name": file_name,
        "file_url": f"/storage/v1/object/attachments/tickets/{ticket_id}/{file_name}",
        "file_type": mime,
        "file_size": rng.randint(smallest, largest),
    }


_COMMENTS: Final[Mapping[str, tuple[str, ...]]] = {
    "pickup": (
        "Thanks for reaching out, I'm looking into this now.",
        "Hi, I've picked this up and will update you shortly.",
        "Thanks, I can reproduce it and I'm on it.",
    ),
    "ask": (
        "Could you send a screenshot of the error?",
        "Which browser and version are you using?",
        "Can you confirm the invoice number?",
        "Could you attach the export that fails?",
    ),
    "reply": (
        "Here it is, see attached.",
        "It happens on the latest Chrome and on Firefox.",
        "The invoice number is on the attached PDF.",
        "Still happening this morning, same error.",
    ),
    "resolve": (
        "Fixed on our side, please try again.",
        "Refund issued; it shows on your statement in 3 to 5 days.",
        "Seat added to your plan, the invite is on its way.",
        "The sync has caught up, your mailbox is current again.",
    ),
    "reopen": (
        "Sorry, this is still not working for us.",
        "The problem came back after the update.",
    ),
    "close": ("Closed automatically: resolved with no reply from the customer.",),
}


def comment_text(rng: random.Random, moment: str) -> str:
    """Return the text of a comment written at ``moment`` of a ticket's life: ``pickup``,
    ``ask``, ``reply``, ``resolve``, ``reopen`` or ``close``."""
    return rng.choice(_COMMENTS[moment])
