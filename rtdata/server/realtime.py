"""Realtime channels of the local server: joins, bindings and postgres_changes fan-out.

:class:`RealtimeHub` is I/O-free: a websocket handler feeds each connection's text frames to
its :class:`Session` and ships whatever the session's ``send`` callback receives. All methods
run on the server's event loop thread.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson

from rtdata import protocol
from rtdata.filters import Condition, FilterError, matches, parse_filter
from rtdata.protocol import Message, ProtocolError
from rtdata.server.schema import CastError, TableSchema, coerce, comparable
from rtdata.server.store import Change, TableStore

__all__ = ["Binding", "RealtimeHub", "Session"]

log = logging.getLogger(__name__)

_EVENTS = {"*", "INSERT", "UPDATE", "DELETE"}


@dataclass(frozen=True, slots=True)
class Binding:
    """One postgres_changes binding of a joined channel.

    Attributes:
        id: The id echoed in the join reply and listed in matching frames' ``ids``.
        event: ``"*"``, ``"INSERT"``, ``"UPDATE"`` or ``"DELETE"``.
        schema: Postgres schema.
        table: Table name, or ``"*"`` for every published table of the schema.
        conditions: Parsed filter, ANDed.
    """

    id: int
    event: str
    schema: str
    table: str
    conditions: tuple[Condition, ...] = ()

    def wants(self, change: Change) -> bool:
        """Tell whether a change of this type and table is covered, before any filter."""
        return (
            (self.event == "*" or self.event == change.type)
            and self.schema == change.table.schema
            and (self.table == "*" or self.table == change.table.name)
        )


@dataclass(slots=True)
class _Membership:
    session: Session
    topic: str
    join_ref: str | None
    bindings: list[Binding] = field(default_factory=list)


class Session:
    """One websocket connection's protocol state.

    Args:
        hub: The hub this connection belongs to.
        send: Called with each outgoing text frame; must not block.
    """

    def __init__(self, hub: RealtimeHub, send: Callable[[str], None]) -> None:
        self.hub = hub
        self.send = send
        self.channels: dict[str, _Membership] = {}

    def receive(self, frame: str | bytes) -> None:
        """Handle one incoming text frame; bad frames are logged and answered, never raised."""
        try:
            message = protocol.decode(frame)
        except ProtocolError as exc:
            self.hub.note_bad_input("malformed frame", str(exc))
            return
        if message.topic == protocol.PHOENIX_TOPIC:
            if message.event == "heartbeat":
                self._push(protocol.heartbeat_reply(message.ref))
            return
        if message.event == "phx_join":
            self._join(message)
            return
        membership = self.channels.get(message.topic)
        if membership is None:
            self._push(
                protocol.reply(message.topic, message.ref, "error", {"reason": "unmatched topic"})
            )
            return
        if message.event == "phx_leave":
            self._push(protocol.reply(message.topic, message.ref, "ok", {}))
            self._leave(message.topic)
        elif message.event == "access_token":
            pass  # accepted silently, as the server does for a valid token
        else:
            self.hub.note_bad_input("unknown event", message.event)
            self._push(
                protocol.reply(
                    message.topic,
                    message.ref,
                    "error",
                    {"reason": f"unknown event {message.event!r}"},
                )
            )

    def close(self) -> None:
        """Forget every channel of this connection (the socket is gone)."""
        for topic in list(self.channels):
            self._leave(topic, notify=False)

    def _push(self, message: Message) -> None:
        self.send(protocol.encode(message))

    def _join(self, message: Message) -> None:
        topic = message.topic
        if not topic.startswith(protocol.TOPIC_PREFIX) or topic == protocol.TOPIC_PREFIX:
            reason = "TopicNameRequired: You must provide a topic name"
            self._push(protocol.reply(topic, message.ref, "error", {"reason": reason}))
            return
        if topic in self.channels:  # a re-join replaces the old channel, as Phoenix does
            self._leave(topic)
        config = message.payload.get("config") or {}
        raw_bindings = config.get("postgres_changes") or [] if isinstance(config, Mapping) else []
        if not isinstance(raw_bindings, list) or not all(
            isinstance(b, Mapping) for b in raw_bindings
        ):
            reason = "UnableToSubscribe: postgres_changes must be a list of objects"
            self._push(protocol.reply(topic, message.ref, "error", {"reason": reason}))
            return
        membership = _Membership(self, topic, message.join_ref)
        echoed, errors = [], []
        for raw in raw_bindings:
            binding_id = protocol.binding_id(raw)
            echoed.append({**raw, "id": binding_id})
            try:
                membership.bindings.append(self.hub.make_binding(binding_id, raw))
            except ValueError as exc:
                errors.append(str(exc))
        self.channels[topic] = membership
        self.hub.add_member(membership)
        self._push(protocol.reply(topic, message.ref, "ok", {"postgres_changes": echoed}))
        if errors:
            text = "Unable to subscribe to changes with given parameters. " + "; ".join(errors)
            self._push(
                protocol.system_message(
                    topic, extension="postgres_changes", message=text, status="error"
                )
            )
        elif membership.bindings:
            self._push(
                protocol.system_message(
                    topic,
                    extension="postgres_changes",
                    message="Subscribed to PostgreSQL",
                    status="ok",
                )
            )

    def _leave(self, topic: str, *, notify: bool = True) -> None:
        membership = self.channels.pop(topic, None)
        if membership is None:
            return
        self.hub.remove_member(membership)
        if notify:
            self._push(protocol.close_frame(topic, membership.join_ref))


class RealtimeHub:
    """Every session and channel of one server, fed by a :class:`TableStore`'s changes.

    Args:
        store: The tables whose changes stream.
    """

    def __init__(self, store: TableStore) -> None:
        self.store = store
        self._members: list[_Membership] = []
        self._bad_input_seen: set[str] = set()
        self.bad_input: dict[str, int] = {}
        """Count of rejected inputs by kind (malformed frame, unknown event, ...)."""
        store.subscribe(self._on_changes)

    def connect(self, send: Callable[[str], None]) -> Session:
        """Return the session of a new connection whose frames go to ``send``."""
        return Session(self, send)

    def add_member(self, membership: _Membership) -> None:
        """Register a joined channel for fan-out."""
        self._members.append(membership)

    def remove_member(self, membership: _Membership) -> None:
        """Stop fan-out to a channel that left or whose socket closed."""
        self._members = [m for m in self._members if m is not membership]

    def note_bad_input(self, kind: str, detail: str) -> None:
        """Count a rejected input and log it the first time its kind is seen."""
        self.bad_input[kind] = self.bad_input.get(kind, 0) + 1
        if kind not in self._bad_input_seen:
            self._bad_input_seen.add(kind)
            log.warning(
                "realtime: rejected %s: %s (further ones are counted, not logged)", kind, detail
            )

    def make_binding(self, binding_id: int, raw: Mapping[str, Any]) -> Binding:
        """Validate one binding from a join config.

        Raises:
            ValueError: Unknown event, schema, table or column, a bad filter or an uncastable value.
        """
        event = str(raw.get("event", "*")).upper()
        if event not in _EVENTS:
            event = "*"  # the server treats anything else as every event
        schema = str(raw.get("schema") or "public")
        table = str(raw.get("table") or "*")
        if table != "*":
            known = self.store.schema.tables.get(table)
            if known is None or known.schema != schema or not known.published:
                raise ValueError(f"table {schema}.{table} is not in publication supabase_realtime")
        try:
            conditions = parse_filter(raw.get("filter"))
        except FilterError as exc:
            raise ValueError(str(exc)) from None
        if conditions:
            if table == "*":
                raise ValueError("a filter needs a table")
            self._check_conditions(self.store.schema.tables[table], conditions)
        return Binding(binding_id, event, schema, table, conditions)

    @staticmethod
    def _check_conditions(table: TableSchema, conditions: tuple[Condition, ...]) -> None:
        for cond in conditions:
            column = table.column(cond.column)
            if column is None:
                raise ValueError(f"column {cond.column!r} does not exist in {table.name}")
            values = cond.value if isinstance(cond.value, tuple) else (cond.value,)
            for value in values:
                try:
                    coerce(column, value)
                except CastError as exc:
                    raise ValueError(f"filter on {cond.column}: {exc}") from None

    def _on_changes(self, changes: list[Change]) -> None:
        members = self._members
        if not members:
            return
        for change in changes:
            if not change.table.published:
                continue
            data_json: bytes | None = None
            for membership in members:
                ids = [
                    b.id for b in membership.bindings if b.wants(change) and self._passes(b, change)
                ]
                if not ids:
                    continue
                if data_json is None:  # encode the change once, for every channel it reaches
                    data_json = orjson.dumps(self.change_data(change))
                membership.session.send(_postgres_changes_text(membership.topic, ids, data_json))

    @staticmethod
    def _passes(binding: Binding, change: Change) -> bool:
        if not binding.conditions:
            return True
        table = change.table
        # DELETE filters see only the old identity: the key, or every column when FULL.
        row = change.record if change.record is not None else _old_identity(change)
        columns = {c.name: c for c in table.columns}

        def cast(column: str, text: str) -> Any:
            return coerce(columns[column], text)

        def order(column: str, value: Any) -> Any:
            return comparable(columns[column], value)

        return row is not None and matches(binding.conditions, row, cast, order)

    @staticmethod
    def change_data(change: Change) -> dict[str, Any]:
        """Return the ``data`` object of a postgres_changes frame for ``change``."""
        table = change.table
        data: dict[str, Any] = {
            "schema": table.schema,
            "table": table.name,
            "commit_timestamp": protocol.format_commit_timestamp(change.commit_ns),
            "type": change.type,
            "columns": [{"name": c.name, "type": c.type} for c in table.columns],
        }
        if change.record is not None:
            data["record"] = change.record
        if change.old_record is not None:
            data["old_record"] = _old_identity(change)
        data["errors"] = None
        return data


def _old_identity(change: Change) -> dict[str, Any] | None:
    old = change.old_record
    if old is None or change.table.replica_identity_full:
        return old
    return {k: old[k] for k in change.table.primary_key if k in old}


def _postgres_changes_text(topic: str, ids: list[int], data_json: bytes) -> str:
    return (
        b'{"topic":'
        + orjson.dumps(topic)
        + b',"event":"postgres_changes","payload":{"ids":'
        + orjson.dumps(ids)
        + b',"data":'
        + data_json
        + b'},"ref":null}'
    ).decode()
