"""What a scenario produces and the simulator sends: a REST :class:`Write`, or a
:class:`Broadcast` over Realtime's HTTP broadcast endpoint; and :class:`WriteSource`, what a
scenario must offer for :class:`~rtdata.simulate.Simulator` to drive it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, Protocol

__all__ = ["AuthUser", "Broadcast", "Method", "Write", "WriteSource"]

Method = Literal["POST", "PATCH", "DELETE"]
"""HTTP methods a :class:`Write` may use."""


@dataclass(frozen=True, slots=True)
class AuthUser:
    """A user made through the Auth admin API (``POST /auth/v1/admin/users``, service role),
    as an app's seed script or back office makes one: confirmed, without a password.

    On a database with the app's ``auth.users`` triggers, making the user makes its profile
    row too; the :class:`Write` that carries it then upserts the rest of that row.

    Attributes:
        id: The user's id (a UUID as text), which the app's rows reference.
        email: Sign-in address.
        user_metadata: ``raw_user_meta_data`` (what a sign-up form sends as ``data``).
    """

    id: str
    email: str
    user_metadata: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Write:
    """One REST write against ``/rest/v1/<table>``.

    Attributes:
        method: ``POST`` inserts ``body``; ``PATCH`` updates the rows ``match`` selects with
            ``body``; ``DELETE`` removes the rows ``match`` selects.
        table: Table name.
        body: A JSON object or an array of objects for ``POST``, an object for ``PATCH``,
            ``None`` for ``DELETE``.
        match: Column -> value equality filters (``?column=eq.value``); empty for ``POST``.
        returning: Whether the server should answer with the written rows
            (``Prefer: return=representation``); those rows go back to the scenario's
            ``apply_result``.
        auth_users: Users to make first, through the Auth admin API; one that exists already
            is left as it is. A failure to make one fails the write, which is then not sent.
        on_conflict: For ``POST``: upsert, merging into the row whose ``on_conflict`` column
            matches (``Prefer: resolution=merge-duplicates``), for example a profile that
            an ``auth.users`` trigger made from ``auth_users``.
    """

    method: Method
    table: str
    body: dict[str, Any] | list[dict[str, Any]] | None = None
    match: dict[str, Any] = field(default_factory=dict)
    returning: bool = False
    auth_users: tuple[AuthUser, ...] = ()
    on_conflict: str | None = None

    def query_params(self) -> dict[str, str]:
        """Return ``match`` as PostgREST query parameters, for example ``{"id": "eq.7"}``,
        and ``on_conflict`` as ``{"on_conflict": "id"}``.

        A ``None`` value becomes ``is.null``, booleans become ``eq.true`` / ``eq.false``.
        """
        params = {column: _filter_text(value) for column, value in self.match.items()}
        if self.on_conflict is not None:
            params["on_conflict"] = self.on_conflict
        return params

    def prefer(self) -> str:
        """Return the ``Prefer`` header: the representation asked for and, for an upsert,
        the merge."""
        parts = ["return=representation" if self.returning else "return=minimal"]
        if self.on_conflict is not None:
            parts.append("resolution=merge-duplicates")
        return ",".join(parts)

    def rows(self) -> list[dict[str, Any]]:
        """Return the body as a list of row objects (empty for ``DELETE``)."""
        if self.body is None:
            return []
        return list(self.body) if isinstance(self.body, list) else [self.body]


@dataclass(frozen=True, slots=True)
class Broadcast:
    """One broadcast message, sent as the app's server would: ``POST
    /realtime/v1/api/broadcast``, which every socket joined to the topic receives.

    Attributes:
        topic: Channel name, without ``realtime:``.
        event: The broadcast's event name (what a subscriber filters on).
        payload: The message, a JSON object.
        private: Send to the private channel of that name (the key must be allowed to).
    """

    topic: str
    event: str
    payload: dict[str, Any]
    private: bool = False


def _filter_text(value: Any) -> str:
    if value is None:
        return "is.null"
    if isinstance(value, bool):
        return "eq.true" if value else "eq.false"
    return f"eq.{value}"


class WriteSource(Protocol):
    """A seeded scenario that produces writes one at a time and learns from their results.

    Scenario packs (:mod:`rtdata.scenarios`) provide one; :class:`~rtdata.simulate.Simulator`
    sends its writes and feeds the server's representations back.
    """

    def next_write(self, now: datetime) -> Write | Broadcast:
        """Return the next write (or broadcast) to send; ``now`` is timezone-aware."""
        ...

    def apply_result(self, write: Write, rows: Sequence[Mapping[str, Any]]) -> None:
        """Learn from the rows the server answered a ``returning`` write with."""
        ...
