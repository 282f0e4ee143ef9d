"""The CRM pack: a CRM with a helpdesk (``README.md`` beside this file).

Its ``migrations/`` define the tables; :func:`scenario` is the pure write source the REST
simulator drives (:mod:`~rtdata.scenarios.crm.scenario`, with the helpdesk in
:mod:`~rtdata.scenarios.crm.desk` and the customer book in :mod:`~rtdata.scenarios.crm.sales`)
and :func:`state_machines` the ticket lifecycle it follows. The pack has no roster: the app
tracks no presence (the seed lists it as a future enhancement).
"""

from __future__ import annotations

from rtdata.scenarios.crm.scenario import CrmScenario
from rtdata.scenarios.crm.tickets import TICKET_TRANSITIONS
from rtdata.simulate.machine import StateMachine

__all__ = ["CrmScenario", "scenario", "state_machines"]


def scenario(seed: int) -> CrmScenario:
    """Return the CRM-with-ticketing scenario seeded with ``seed``."""
    return CrmScenario(seed)


def state_machines() -> tuple[StateMachine, ...]:
    """The lifecycle :func:`scenario` drives: tickets from ``open`` to ``closed``, taken by an
    agent and resolved on the way (waiting on the customer and reopening are optional)."""
    return (
        StateMachine(
            "tickets",
            "status",
            TICKET_TRANSITIONS,
            initial=("open",),
            must_pass={
                "resolved": ("open", "assigned"),
                "closed": ("open", "assigned", "resolved"),
            },
        ),
    )
