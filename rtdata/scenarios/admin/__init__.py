"""The admin pack: a clinic's admin console with patient forms and role changes (``README.md``
beside this file).

Its ``migrations/`` define the tables; :func:`scenario` is the pure write source the REST
simulator drives (:mod:`~rtdata.scenarios.admin.scenario`, over
:mod:`~rtdata.scenarios.admin.accounts`, :mod:`~rtdata.scenarios.admin.patients` and
:mod:`~rtdata.scenarios.admin.submissions`, paced by :mod:`~rtdata.scenarios.admin.phases`),
:func:`roster` the core team signing in and opening forms (:mod:`~rtdata.scenarios.admin.team`),
and :func:`state_machines` and :func:`role_machine` the lifecycles the simulator follows.
"""

from __future__ import annotations

from rtdata.scenarios.admin.accounts import ROLE_TRANSITIONS, ROLES
from rtdata.scenarios.admin.scenario import AdminScenario
from rtdata.scenarios.admin.submissions import SUBMISSION_TRANSITIONS
from rtdata.scenarios.admin.team import TeamRoster
from rtdata.simulate.machine import StateMachine

__all__ = [
    "AdminScenario",
    "TeamRoster",
    "role_machine",
    "roster",
    "scenario",
    "state_machines",
]


def scenario(seed: int) -> AdminScenario:
    """Return the clinic admin-console scenario seeded with ``seed``."""
    return AdminScenario(seed)


def roster(seed: int) -> TeamRoster:
    """Return the presence of the scenario's core team (12 people), seeded with ``seed``."""
    return TeamRoster(seed, AdminScenario(seed).team)


def state_machines() -> tuple[StateMachine, ...]:
    """The lifecycles :func:`scenario` drives: form submissions, from ``pending`` through
    ``reviewed`` to ``approved`` or ``rejected``, and account roles (:func:`role_machine`,
    which have no final value: every role may change again)."""
    return (
        StateMachine(
            "form_submissions",
            "status",
            SUBMISSION_TRANSITIONS,
            initial=("pending",),
            must_pass={"approved": ("pending", "reviewed"), "rejected": ("pending", "reviewed")},
        ),
        role_machine(),
    )


def role_machine() -> StateMachine:
    """The roles an account moves through, one step at a time: ``user`` -> ``staff`` ->
    ``admin`` and back down; an account may sign up only as a ``user``, except the core team
    the first write inserts (``staff`` and ``admin``)."""
    return StateMachine("profiles", "role", ROLE_TRANSITIONS, initial=ROLES)
