"""The clinic's accounts (``profiles``): sign-ups, profile updates and role changes, with who
made each change, and the role-escalation incident.

Every account has a role: ``user`` (signed up, no clinical access), ``staff`` (reviews forms,
edits patients) or ``admin`` (also manages roles). A role moves one step at a time
(:data:`ROLE_TRANSITIONS`): ``user`` -> ``staff`` -> ``admin`` and back down; each change
stamps ``role_changed_by`` (the admin who made it) and ``role_changed_at``.

The core team (:data:`CORE_ADMINS` admins and :data:`CORE_STAFF` staff) is drawn first from
the generator, so a roster can rebuild it from the seed; its roles never change and it does
every review and patient edit. Other accounts sign up as users; admins promote some to staff,
now and then one to admin, and take the roles back; at the start of each cycle an admin
gives :data:`ONBOARDED` signed-up users staff access (the day's new hires).

The incident: once per cycle, when the ``escalation`` phase starts, one core admin makes
:data:`ESCALATED` users admin (each through ``staff``) a few seconds apart, which an admin must
notice; when the ``quiet`` phase starts another core admin takes each back down to ``user``.
The onboarding, the incident and its clean-up run on a schedule of their own
(:meth:`Accounts.plan`, :meth:`Accounts.due_write`), not on the weighted draw.

Like every part of the pack's simulator, nothing here reads a clock or global random state:
``PATCH`` and ``DELETE`` change the tracked state when they are produced.
"""

from __future__ import annotations

import random
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Final

from rtdata.scenarios.admin.names import email, new_uuid, person_name, phone
from rtdata.scenarios.admin.phases import Phase
from rtdata.simulate.write import AuthUser, Write

__all__ = [
    "ACCOUNT_ACTIONS",
    "CORE_ADMINS",
    "CORE_STAFF",
    "DEPARTMENTS",
    "ESCALATED",
    "MAX_USERS",
    "ONBOARDED",
    "ROLES",
    "ROLE_TRANSITIONS",
    "Account",
    "Accounts",
]

ROLES: Final = ("user", "staff", "admin")
"""The ``app_role`` enum, lowest first."""

ROLE_TRANSITIONS: Final[Mapping[str, tuple[str, ...]]] = MappingProxyType(
    {"user": ("staff",), "staff": ("admin", "user"), "admin": ("staff",)}
)
"""Role -> the roles an account may be given next (one step up or down)."""

CORE_ADMINS: Final = 3
"""Admins of the core team."""

CORE_STAFF: Final = 9
"""Staff of the core team."""

FIRST_USERS: Final = 10
"""Users signed up before the first write (inserted with the core team)."""

MIN_USERS: Final = 12
"""Below this many non-core users, sign-ups are strongly preferred (the incident needs some)."""

MAX_USERS: Final = 30
"""Non-core users kept before the oldest is deleted (an account removed)."""

ESCALATED: Final = 5
"""Users the escalation incident makes admin."""

ONBOARDED: Final = 2
"""Signed-up users an admin gives staff access at the start of each cycle."""

ESCALATION_STEP_S: Final = 7.0
"""Seconds between two accounts of the escalation (each goes to staff, then 3 s later admin)."""

DEPARTMENTS: Final = ("front desk", "nursing", "records", "billing", "pharmacy")
"""What ``profiles.department`` holds."""

ACCOUNT_ACTIONS: Final = frozenset(
    {"signup", "promote", "offboard", "grant_admin", "revoke_admin", "profile_update"}
)
"""Names :meth:`Accounts.options` offers and :meth:`Accounts.write` accepts."""

_DOMAIN: Final = "leevalleyclinic.ie"
_ORDINARY_ADMINS_MAX: Final = 4  # no ordinary grant while this many admins hold the role


@dataclass(slots=True)
class Account:
    """One profile as the simulator knows it.

    Attributes:
        id: The profile's id (the auth user's id).
        full_name: Display name.
        role: Current role, one of :data:`ROLES`.
        email: Sign-in address.
        department: One of :data:`DEPARTMENTS`, or ``None`` for a user.
        core: Whether the account is on the core team (its role never changes).
    """

    id: str
    full_name: str
    email: str
    role: str
    department: str | None
    core: bool


@dataclass(frozen=True, slots=True)
class _Step:
    due_s: float
    account_id: str
    role: str
    by: str


class Accounts:
    """Seeded writes of ``profiles``, one at a time (see the module docstring).

    Args:
        rng: The scenario's random generator (shared, so one seed drives everything); the core
            team is drawn from it at once.
    """

    def __init__(self, rng: random.Random) -> None:
        """Draw the core team and the first users; nothing is written yet."""
        self._rng = rng
        self._serial = 0
        self._accounts: dict[str, Account] = {}
        for role, count in (("admin", CORE_ADMINS), ("staff", CORE_STAFF)):
            for _ in range(count):
                self._add(role, core=True)
        for _ in range(FIRST_USERS):
            self._add("user", core=False)
        self._steps: deque[_Step] = deque()
        self._held: set[str] = set()  # accounts the incident (or its clean-up) owns
        self._escalated: list[str] = []  # made admin, not yet taken back
        self._culprit: str | None = None
        self._planned: set[tuple[int, Phase]] = set()

    @property
    def team(self) -> tuple[Account, ...]:
        """The core team, admins first (a copy of each account)."""
        return tuple(_copy(a) for a in self._accounts.values() if a.core)

    def opening_write(self, ts: str) -> Write:
        """Return the insert of the core team and the first users."""
        return self._sign_up(list(self._accounts.values()), ts)

    # ------------------------------------------------------------ the incident

    def plan(self, cycle: int, phase: Phase, elapsed_s: float) -> None:
        """Schedule the phase's steps once per cycle: the onboarding when ``phase`` is
        ``steady``, the incident when it is ``escalation`` and its clean-up when it is
        ``quiet``; ``elapsed_s`` is the time now since the first write."""
        if (cycle, phase) in self._planned:
            return
        self._planned.add((cycle, phase))
        admins = [a.id for a in self._accounts.values() if a.core and a.role == "admin"]
        if phase is Phase.STEADY:
            # The day's new hires: an admin gives two signed-up users staff access.
            hires = [a.id for a in self._spare("user")][:ONBOARDED]
            by = self._rng.choice(admins)
            for i, hire in enumerate(hires):
                self._steps.append(_Step(elapsed_s + 3.0 + 5.0 * i, hire, "staff", by))
            self._held.update(hires)
        elif phase is Phase.ESCALATION:
            users = [
                a.id
                for a in self._accounts.values()
                if not a.core and a.role == "user" and a.id not in self._held
            ]
            targets = self._rng.sample(users, min(ESCALATED, len(users)))
            actor = self._rng.choice(admins)
            self._culprit = actor
            for i, target in enumerate(targets):
                start_s = elapsed_s + 2.0 + ESCALATION_STEP_S * i
                self._steps.append(_Step(start_s, target, "staff", actor))
                self._steps.append(_Step(start_s + 3.0, target, "admin", actor))
            self._held.update(targets)
            self._escalated.extend(targets)
        elif phase is Phase.QUIET and self._escalated:
            fixer = self._rng.choice([a for a in admins if a != self._culprit] or admins)
            for i, target in enumerate(self._escalated):
                start_s = elapsed_s + 3.0 + 5.0 * i
                self._steps.append(_Step(start_s, target, "staff", fixer))
                self._steps.append(_Step(start_s + 2.0, target, "user", fixer))
            self._escalated = []

    def due_write(self, elapsed_s: float, ts: str) -> Write | None:
        """Return the next step of the incident or its clean-up that is due, or ``None``.

        A step whose move is no longer one step from the account's role (the account was
        deleted, or is already there) is dropped.
        """
        while self._steps and self._steps[0].due_s <= elapsed_s:
            step = self._steps.popleft()
            account = self._accounts.get(step.account_id)
            if account is None or step.role not in ROLE_TRANSITIONS[account.role]:
                continue
            write = self._change_role(account, step.role, step.by, ts)
            pending = any(s.account_id == account.id for s in self._steps)
            if not pending and account.id not in self._escalated:
                self._held.discard(account.id)
            return write
        return None

    # ------------------------------------------------------------ ordinary work

    def forced_prune(self) -> Write | None:
        """Return the delete of the oldest spare user beyond :data:`MAX_USERS`, or ``None``."""
        spare = self._spare("user")
        if len(spare) <= MAX_USERS:
            return None
        account = spare[0]
        del self._accounts[account.id]
        return Write("DELETE", "profiles", match={"id": account.id})

    def options(self, scale: float) -> list[tuple[str, float]]:
        """Return ``(action, weight)`` pairs for the scenario's draw, each weight times
        ``scale`` (the phase's ``accounts`` work)."""
        users = len(self._spare("user"))
        staff = len(self._spare("staff"))
        admins = sum(a.role == "admin" for a in self._accounts.values())
        weights = {
            "signup": 2.0 if users < MIN_USERS else 0.2,
            "promote": 0.06 if users > MIN_USERS // 2 else 0.0,
            "offboard": 0.01 * staff,
            "grant_admin": 0.015 if staff and admins < _ORDINARY_ADMINS_MAX else 0.0,
            "revoke_admin": 0.03 * len(self._spare("admin")),
            "profile_update": 0.6,
        }
        return [(name, weight * scale) for name, weight in weights.items()]

    def write(self, action: str, ts: str) -> Write:
        """Return the write of ``action``, one of :data:`ACCOUNT_ACTIONS` offered with a
        positive weight.

        Raises:
            ValueError: ``action`` is not one of :data:`ACCOUNT_ACTIONS`.
        """
        if action == "signup":
            return self._sign_up([self._add("user", core=False)], ts)
        if action == "profile_update":
            return self._profile_update(ts)
        moves = {
            "promote": ("user", "staff"),
            "offboard": ("staff", "user"),
            "grant_admin": ("staff", "admin"),
            "revoke_admin": ("admin", "staff"),
        }
        if action not in moves:
            raise ValueError(f"unknown accounts action {action!r}")
        old, new = moves[action]
        spare = self._spare(old)
        # Promotions go to anyone; demotions to the longest-standing account of the role.
        account = self._rng.choice(spare) if action == "promote" else spare[0]
        by = self._rng.choice([a.id for a in self.team if a.role == "admin"])
        return self._change_role(account, new, by, ts)

    # ------------------------------------------------------------ helpers

    def _add(self, role: str, *, core: bool) -> Account:
        self._serial += 1
        department = self._rng.choice(DEPARTMENTS) if role != "user" else None
        taken = {a.full_name for a in self._accounts.values()}
        name = person_name(self._rng)
        while name in taken:  # one name per live account: the feeds name people
            name = person_name(self._rng)
        address = email(name, self._serial, _DOMAIN)
        account = Account(new_uuid(self._rng), name, address, role, department, core)
        self._accounts[account.id] = account
        return account

    def _sign_up(self, accounts: list[Account], ts: str) -> Write:
        """The sign-up of ``accounts``: each auth user first (the app's trigger makes its
        profile from ``full_name``), then the rest of the ``profiles`` row (an upsert)."""
        return Write(
            "POST",
            "profiles",
            body=[self._row(a, ts) for a in accounts],
            returning=True,
            auth_users=tuple(AuthUser(a.id, a.email, {"full_name": a.full_name}) for a in accounts),
            on_conflict="id",
        )

    def _row(self, account: Account, ts: str) -> dict[str, Any]:
        return {
            "id": account.id,
            "email": account.email,
            "full_name": account.full_name,
            "role": account.role,
            "department": account.department,
            "phone": None,
            "created_at": ts,
            "updated_at": ts,
        }

    def _spare(self, role: str) -> list[Account]:
        """Non-core accounts with ``role`` that the incident does not hold, oldest first."""
        return [
            a
            for a in self._accounts.values()
            if not a.core and a.role == role and a.id not in self._held
        ]

    def _change_role(self, account: Account, role: str, by: str, ts: str) -> Write:
        if role not in ROLE_TRANSITIONS[account.role]:
            raise ValueError(f"{account.role} -> {role} is not one step")
        account.role = role
        body: dict[str, Any] = {
            "role": role,
            "role_changed_by": by,
            "role_changed_at": ts,
            "updated_at": ts,
        }
        if role != "user" and account.department is None:
            account.department = self._rng.choice(DEPARTMENTS)
            body["department"] = account.department
        return Write("PATCH", "profiles", body=body, match={"id": account.id})

    def _profile_update(self, ts: str) -> Write:
        account = self._rng.choice(list(self._accounts.values()))
        body: dict[str, Any] = {"updated_at": ts}
        if account.role != "user" and self._rng.random() < 0.3:
            account.department = self._rng.choice(DEPARTMENTS)
            body["department"] = account.department
        else:
            body["phone"] = phone(self._rng)
        return Write("PATCH", "profiles", body=body, match={"id": account.id})


def _copy(account: Account) -> Account:
    return Account(
        account.id, account.full_name, account.email, account.role, account.department, account.core
    )
