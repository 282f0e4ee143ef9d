"""Realtime channels of the local server: joins, postgres_changes, broadcast, presence, tokens.

:class:`RealtimeHub` is I/O-free. A websocket handler decodes each frame (vsn 1.0.0 or 2.0.0)
into a :class:`rtdata.protocol.Message` for its connection's :class:`Session`, and the session
answers through a :class:`Transport` that encodes for that connection. All methods run on the
server's event loop thread. Behaviour follows the Realtime server (supabase/realtime) as
:mod:`rtdata.protocol` describes it.
"""

from __future__ import annotations

import logging
import random
import time
import uuid
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, Protocol

import jwt
import orjson

from rtdata import protocol
from rtdata.filters import Condition, FilterError, check_conditions, matches, parse_filter
from rtdata.protocol import Message
from rtdata.server.auth import AuthError, TokenExpiredError, decode_token
from rtdata.server.grants import Privilege
from rtdata.server.limits import (
    JOIN_RATE_WINDOW_S,
    MAX_CHANNELS_PER_SOCKET,
    MAX_FILTER_BYTES,
    MAX_JOINS_PER_S,
)
from rtdata.server.policies import visible
from rtdata.server.presence import Presence
from rtdata.server.schema import Schema, TableSchema
from rtdata.server.store import Change, TableStore
from rtdata.server.values import CastError, coerce, coerce_literal, comparable, json_bytes

__all__ = [
    "DEFAULT_MAX_RECORD_BYTES",
    "Binding",
    "ClaimCasts",
    "RealtimeHub",
    "Session",
    "Transport",
    "join_payload_problem",
]

log = logging.getLogger(__name__)

DEFAULT_MAX_RECORD_BYTES: Final = 1_048_576
"""Records larger than this (as JSON) are trimmed, as Supabase's ``max_record_bytes``."""

_TRIMMED_VALUE_BYTES: Final = 64  # a trimmed record keeps only values this small
_EVENTS: Final = {"*", "INSERT", "UPDATE", "DELETE"}


class Transport(Protocol):
    """How a session sends to its connection; implementations encode for their serializer."""

    def push(self, message: Message) -> None:
        """Queue one message."""

    def push_change(self, topic: str, ids: list[int], data_json: bytes) -> None:
        """Queue one postgres_changes push whose ``data`` is already JSON."""


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


@dataclass(slots=True, eq=False)
class _Member:
    """One joined channel of one session."""

    session: Session
    topic: str
    join_ref: str | None
    claims: dict[str, Any]
    token: str | None
    bindings: list[Binding] = field(default_factory=list)
    broadcast_self: bool = False
    broadcast_ack: bool = False
    presence_key: str = ""
    presence_enabled: bool = False
    private: bool = False

    @property
    def owner(self) -> int:
        return id(self)

    def system(self, extension: str, text: str, status: str) -> Message:
        """Build a ``system`` push for this channel."""
        return protocol.system_message(
            self.topic, extension=extension, message=text, status=status, join_ref=self.join_ref
        )


class Session:
    """One websocket connection's protocol state.

    Args:
        hub: The hub this connection belongs to.
        transport: Where replies and pushes go.
        token: The API key the socket was opened with (used when a join carries none).
    """

    def __init__(self, hub: RealtimeHub, transport: Transport, token: str | None) -> None:
        self.hub = hub
        self.transport = transport
        self.token = token
        self.channels: dict[str, _Member] = {}

    def handle(self, message: Message) -> None:
        """Handle one decoded message; bad input is answered and counted, never raised.

        A message for a topic this socket has not joined (``phoenix`` included, except a
        heartbeat) gets Phoenix's ``unmatched topic`` error. Should handling fail all the same,
        the failure stays on its channel, as a crashed channel process does in Phoenix: a join
        is refused with ``UnknownErrorOnChannel``, a joined channel is dropped with
        ``phx_error``; the socket and its other channels live on.
        """
        try:
            self._dispatch(message)
        except Exception:
            log.exception("realtime: handling a %r message failed", message.event)
            self.hub.note_bad_input("handler failure", message.event)
            member = self.channels.get(message.topic)
            if message.event == "phx_join" or member is None:
                reason = {"reason": "UnknownErrorOnChannel: Unknown Error on Channel"}
                self.transport.push(_reply_to(message, "error", reason))
                return
            self.hub.leave(member, notify=False)
            self.transport.push(
                Message(member.topic, "phx_error", {}, member.join_ref, member.join_ref)
            )

    def refuse_frame(self, problem: protocol.ProtocolError) -> None:
        """Answer a frame that could not be decoded: a ``phx_reply`` error naming the problem,
        on the frame's topic and ref when they could be read, else on topic ``phoenix``."""
        self.hub.note_bad_input("malformed frame", str(problem))
        topic = problem.topic or protocol.PHOENIX_TOPIC
        reason = {"reason": f"InvalidMessage: {problem}"}
        self.transport.push(
            protocol.reply(topic, problem.ref, "error", reason, join_ref=problem.join_ref)
        )

    def _dispatch(self, message: Message) -> None:
        if message.topic == protocol.PHOENIX_TOPIC and message.event == "heartbeat":
            self.transport.push(protocol.heartbeat_reply(message.ref))
            return
        if message.event == "phx_join" and message.topic.startswith(protocol.TOPIC_PREFIX):
            self.hub.join(self, message)
            return
        member = self.channels.get(message.topic)
        if member is None:
            reply = _reply_to(message, "error", {"reason": "unmatched topic"})
            self.transport.push(reply)
            return
        handler = _HANDLERS.get(message.event)
        if handler is None:
            self.hub.note_bad_input("unknown event", message.event)
            reason = {"reason": f"unknown event {message.event!r}"}
            self.transport.push(_reply_to(message, "error", reason))
            return
        handler(self.hub, member, message)

    def close(self) -> None:
        """Forget every channel of this connection (the socket is gone)."""
        for member in list(self.channels.values()):
            self.hub.leave(member, notify=False)


class SchemaSource(Protocol):
    """Where the hub learns which tables exist and stream: a :class:`TableStore`, or the
    Postgres backend (:class:`rtdata.server.postgres.backend.PostgresBackend`)."""

    @property
    def schema(self) -> Schema:
        """The tables, with their columns, keys and publication."""
        ...


class RealtimeHub:
    """Every session and channel of one server, fed by a :class:`TableStore`'s changes or by a
    backend calling :meth:`publish`.

    Args:
        store: The tables whose changes stream. A :class:`TableStore`'s changes are followed
            here; any other source publishes its own through :meth:`publish`.
        jwt_secret: Secret that tokens must be signed with.
        clock_s: Wall clock in seconds (a parameter for tests).
        max_record_bytes: Records larger than this are trimmed with Supabase's 413 error.
    """

    def __init__(
        self,
        store: SchemaSource,
        jwt_secret: str,
        *,
        clock_s: Callable[[], float] = time.time,
        max_record_bytes: int = DEFAULT_MAX_RECORD_BYTES,
    ) -> None:
        self.store = store
        self.jwt_secret = jwt_secret
        self.clock_s = clock_s
        self.max_record_bytes = max_record_bytes
        self._topics: dict[str, list[_Member]] = {}
        self._presence: dict[str, Presence] = {}
        self._bad_input_seen: set[str] = set()
        self.bad_input: dict[str, int] = {}
        """Count of rejected inputs by kind (malformed frame, unknown event, ...)."""
        self._join_times_s: deque[float] = deque()
        """When each join counted by the join rate limit arrived (``clock_s``), oldest first."""
        self.reject_joins = False
        """Fault: refuse every new join."""
        self.drop_fraction = 0.0
        """Fault: fraction of postgres_changes frames dropped."""
        self._rng = random.Random(0)
        if isinstance(store, TableStore):
            store.subscribe(self._on_changes)

    # ------------------------------------------------------------ sessions

    def connect(self, transport: Transport, token: str | None) -> Session:
        """Return the session of a new connection opened with API key ``token``."""
        return Session(self, transport, token)

    def members(self) -> list[_Member]:
        """Every joined channel of every session."""
        return [m for members in self._topics.values() for m in members]

    def note_bad_input(self, kind: str, detail: str) -> None:
        """Count a rejected input and log it the first time its kind is seen."""
        self.bad_input[kind] = self.bad_input.get(kind, 0) + 1
        if kind not in self._bad_input_seen:
            self._bad_input_seen.add(kind)
            log.warning(
                "realtime: rejected %s: %s (further ones are counted, not logged)", kind, detail
            )

    # ------------------------------------------------------------ join / leave

    def _take_join(self) -> bool:
        """Count a join against :data:`MAX_JOINS_PER_S`, or say it is over the limit."""
        now_s = self.clock_s()
        times = self._join_times_s
        while times and times[0] <= now_s - JOIN_RATE_WINDOW_S:
            times.popleft()
        if len(times) >= MAX_JOINS_PER_S * JOIN_RATE_WINDOW_S:
            return False
        times.append(now_s)
        return True

    def join(self, session: Session, message: Message) -> None:
        """Handle ``phx_join``: authorise, validate bindings, reply, then push system/presence."""
        topic = message.topic

        def refuse(reason: str) -> None:
            session.transport.push(_reply_to(message, "error", {"reason": reason}))

        if topic == protocol.TOPIC_PREFIX:
            refuse("TopicNameRequired: You must provide a topic name")
            return
        if self.reject_joins:
            refuse("UnableToConnectToProject: joins are being rejected (fault injection)")
            return
        if not self._take_join():
            self.note_bad_input("too many joins per second", topic)
            refuse("ClientJoinRateLimitReached: Too many joins per second")
            return
        if topic not in session.channels and len(session.channels) >= MAX_CHANNELS_PER_SOCKET:
            self.note_bad_input("too many channels", topic)
            refuse("ChannelRateLimitReached: Too many channels")
            return
        payload = message.payload
        problem = join_payload_problem(payload)
        if problem is not None:
            self.note_bad_input("invalid join payload", problem)
            refuse(f"InvalidJoinPayload: {problem}")
            return
        config = payload.get("config") or {}
        token = payload.get("access_token") or payload.get("user_token") or session.token
        if not isinstance(token, str) or token.startswith("sb_"):
            token = session.token
        try:
            claims = decode_token(token, self.jwt_secret)
        except AuthError as exc:
            refuse(f"InvalidJWTToken: {self._token_problem(exc, token)}")
            return
        private = _truthy(config.get("private"))
        if private and claims.get("role") not in ("authenticated", "service_role"):
            sub_topic = protocol.channel_name(topic)
            refuse(
                f"Unauthorized: You do not have permissions to read from this Channel topic: {sub_topic}"
            )
            return
        raw_bindings = config.get("postgres_changes") or []
        if topic in session.channels:  # a re-join replaces the old channel, as Phoenix does
            self.leave(session.channels[topic])
        broadcast = config.get("broadcast") if isinstance(config.get("broadcast"), Mapping) else {}
        presence = config.get("presence") if isinstance(config.get("presence"), Mapping) else {}
        assert isinstance(broadcast, Mapping)
        assert isinstance(presence, Mapping)
        member = _Member(
            session,
            topic,
            message.join_ref,
            claims,
            token,
            broadcast_self=_truthy(broadcast.get("self")),
            broadcast_ack=_truthy(broadcast.get("ack")),
            presence_key=str(presence.get("key") or "") or str(uuid.uuid1()),
            presence_enabled=_truthy(presence.get("enabled")),
            private=private,
        )
        echoed, errors = [], []
        for raw in raw_bindings:
            binding_id = protocol.binding_id(raw)
            echoed.append({**raw, "id": binding_id})
            try:
                member.bindings.append(self._make_binding(binding_id, raw))
            except ValueError as exc:
                errors.append(str(exc))
        session.channels[topic] = member
        self._topics.setdefault(topic, []).append(member)
        push = session.transport.push
        push(_reply_to(message, "ok", {"postgres_changes": echoed}))
        if errors:
            text = "Unable to subscribe to changes with given parameters. " + "; ".join(errors)
            push(member.system("postgres_changes", text, "error"))
        elif member.bindings:
            push(member.system("postgres_changes", "Subscribed to PostgreSQL", "ok"))
        if member.presence_enabled:
            state = self._presence.get(topic, Presence()).state()
            push(Message(topic, "presence_state", state, None, member.join_ref))

    def leave(self, member: _Member, *, notify: bool = True, reason: str | None = None) -> None:
        """Remove a joined channel; with ``notify`` push ``phx_close`` (after a system error
        carrying ``reason``, when given)."""
        session, topic = member.session, member.topic
        if session.channels.get(topic) is member:
            del session.channels[topic]
        members = self._topics.get(topic, [])
        if member in members:
            members.remove(member)
        if not members:
            self._topics.pop(topic, None)
        presence = self._presence.get(topic)
        if presence is not None:
            self._fan_out_diff(topic, presence.untrack_owner(member.owner))
        if notify:
            if reason is not None:
                session.transport.push(member.system("system", reason, "error"))
            session.transport.push(protocol.close_frame(topic, member.join_ref))

    # ------------------------------------------------------------ tokens

    def tick(self) -> None:
        """Close channels whose token expired (the server's periodic token check)."""
        now = self.clock_s()
        for member in self.members():
            exp = member.claims.get("exp")
            if isinstance(exp, int | float) and exp <= now:
                self.leave(member, reason=f"Token has expired {int(now - exp)} seconds ago")

    def expire_tokens(self) -> None:
        """Fault: treat every channel's token as expired now."""
        for member in self.members():
            self.leave(member, reason="Token has expired 0 seconds ago")

    def drop_changes(self, fraction: float, seed: int = 0) -> None:
        """Fault: drop ``fraction`` of postgres_changes frames, chosen by a ``seed``-ed RNG."""
        self.drop_fraction = fraction
        self._rng = random.Random(seed)

    def _token_problem(self, exc: AuthError, token: str | None) -> str:
        if isinstance(exc, TokenExpiredError) and token:
            try:
                exp = jwt.decode(token, options={"verify_signature": False}).get("exp", 0)
                return f"Token has expired {int(self.clock_s() - exp)} seconds ago"
            except jwt.InvalidTokenError:
                pass
        return str(exc)

    def _access_token(self, member: _Member, message: Message) -> None:
        token = message.payload.get("access_token")
        if not isinstance(token, str) or token.startswith("sb_") or token == member.token:
            return  # the server ignores null, sb_ keys and the same token
        try:
            claims = decode_token(token, self.jwt_secret)
        except AuthError as exc:
            self.leave(member, reason=self._token_problem(exc, token))
            return
        member.claims, member.token = claims, token

    # ------------------------------------------------------------ broadcast

    def _broadcast(self, member: _Member, message: Message) -> None:
        payload = message.payload
        if isinstance(payload, protocol.UserBroadcastPayload):
            # A binary (kind 3) push is relayed as a kind 4 broadcast without metadata.
            relay: Mapping[str, Any] = protocol.UserBroadcastPayload(
                type="broadcast", event=payload.get("event"), payload=payload.get("payload")
            )
        else:
            relay = dict(payload)
        self.broadcast(member.topic, relay, sender=member)
        if member.broadcast_ack:
            member.session.transport.push(_reply_to(message, "ok", {}))

    def broadcast(
        self, topic: str, payload: Mapping[str, Any], sender: _Member | None = None
    ) -> int:
        """Push a ``broadcast`` to the members of ``topic`` (the sender only with ``self``);
        return how many received it. A :class:`rtdata.protocol.UserBroadcastPayload` reaches
        vsn 2.0.0 sockets as a binary frame; the payload object is shared, never copied."""
        frame = Message(topic, "broadcast", payload, None)
        sent = 0
        for other in list(self._topics.get(topic, [])):
            if other is sender and not other.broadcast_self:
                continue
            other.session.transport.push(frame)
            sent += 1
        return sent

    # ------------------------------------------------------------ presence

    def _presence_event(self, member: _Member, message: Message) -> None:
        event = message.payload.get("event")
        body = message.payload.get("payload", {})
        transport, topic = member.session.transport, member.topic
        if event == "track":
            if not isinstance(body, Mapping):
                reason = {"reason": "Presence track payload must be a map"}
                transport.push(_reply_to(message, "error", reason))
                return
            member.presence_enabled = True  # a track turns presence on for the channel
            diff = self._presence.setdefault(topic, Presence()).track(
                member.presence_key, member.owner, body
            )
        elif event == "untrack":
            presence = self._presence.get(topic)
            diff = presence.untrack(member.presence_key, member.owner) if presence else None
        else:
            self.note_bad_input("unknown presence event", str(event))
            transport.push(_reply_to(message, "error", {}))
            return
        transport.push(_reply_to(message, "ok", {}))
        self._fan_out_diff(topic, diff)

    def _fan_out_diff(self, topic: str, diff: Mapping[str, Any] | None) -> None:
        if diff is None:
            return
        frame = Message(topic, "presence_diff", dict(diff), None)
        for member in self._topics.get(topic, []):
            if member.presence_enabled:
                member.session.transport.push(frame)

    # ------------------------------------------------------------ postgres_changes

    def _make_binding(self, binding_id: int, raw: Mapping[str, Any]) -> Binding:
        event = str(raw.get("event", "*")).upper()
        if event not in _EVENTS:
            event = "*"  # the server treats anything else as every event
        schema = str(raw.get("schema") or "public")
        table = str(raw.get("table") or "*")
        if table != "*":
            known = self.store.schema.tables.get(table)
            if known is None or known.schema != schema or not known.published:
                raise ValueError(f"table {schema}.{table} is not in publication supabase_realtime")
        text = raw.get("filter")
        if text is not None and not isinstance(text, str):
            raise ValueError("filter must be a string")
        if text and len(text.encode("utf-8", "surrogatepass")) > MAX_FILTER_BYTES:
            raise ValueError(f"filter is longer than {MAX_FILTER_BYTES} bytes (MAX_FILTER_BYTES)")
        try:
            conditions = parse_filter(text)
        except FilterError as exc:
            raise ValueError(str(exc)) from None
        if conditions:
            if table == "*":
                raise ValueError("a filter needs a table")
            _check_conditions(self.store.schema.tables[table], conditions)
        return Binding(binding_id, event, schema, table, conditions)

    def _on_changes(self, changes: list[Change]) -> None:
        # The memory backend's changes: read policies are evaluated here, in Python.
        def may_read(claims: Mapping[str, Any], index: int) -> bool:
            change = changes[index]
            table = change.table
            # Realtime refuses a role without SELECT on the table ("Error 401: Unauthorized").
            if not table.allows(str(claims.get("role", "anon")), Privilege.SELECT):
                return False
            if change.record is None:
                return True  # DELETE bypasses RLS
            casts = ClaimCasts(table)
            return visible(
                table.policies, table.rls_enabled, "select", claims, change.record, casts.claim
            )

        self.publish(changes, may_read)

    def subscribed_claims(self, changes: Sequence[Change]) -> list[dict[str, Any]]:
        """Return the distinct JWT claims of the channels with a binding that wants one of
        ``changes``, in join order: whoever the backend must check the changes for (the
        SELECT privilege on the table for every change, and row-level security for inserts
        and updates of tables with RLS on); empty when nobody wants them."""
        checked = [c for c in changes if c.table.published]
        seen: dict[bytes, dict[str, Any]] = {}
        for members in self._topics.values():
            for member in members:
                if any(b.wants(c) for b in member.bindings for c in checked):
                    key = orjson.dumps(member.claims, option=orjson.OPT_SORT_KEYS)
                    seen.setdefault(key, member.claims)
        return list(seen.values())

    def publish(
        self, changes: Sequence[Change], may_read: Callable[[Mapping[str, Any], int], bool]
    ) -> None:
        """Send each published change to the channels whose bindings and filters want it and
        whose claims may read it.

        Args:
            changes: Committed changes, in commit order.
            may_read: ``may_read(claims, index)``: whether the holder of ``claims`` may see
                ``changes[index]`` (row-level security, decided by the backend).
        """
        if not self._topics:
            return
        for index, change in enumerate(changes):
            if not change.table.published or change.type not in change.table.published_actions:
                continue
            data_json: bytes | None = None
            casts = ClaimCasts(change.table)
            for members in self._topics.values():
                for member in members:
                    ids = [
                        b.id
                        for b in member.bindings
                        if b.wants(change) and _passes(b, change, casts)
                    ]
                    if not ids or not may_read(member.claims, index):
                        continue
                    if self.drop_fraction and self._rng.random() < self.drop_fraction:
                        continue
                    if data_json is None:  # encode the change once for every channel
                        data_json = json_bytes(self.change_data(change))
                    member.session.transport.push_change(member.topic, ids, data_json)

    def change_data(self, change: Change) -> dict[str, Any]:
        """Return the ``data`` object of a postgres_changes frame for ``change``."""
        table = change.table
        data: dict[str, Any] = {
            "schema": table.schema,
            "table": table.name,
            "commit_timestamp": protocol.format_commit_timestamp(change.commit_ns),
            "type": change.type,
            "columns": [{"name": c.name, "type": c.type} for c in table.columns],
        }
        errors: list[str] = []
        if change.record is not None:
            data["record"] = self._fit(change.record, errors)
        if change.old_record is not None:
            data["old_record"] = self._fit(_old_identity(change), errors)
        data["errors"] = errors or None
        return data

    def _fit(self, record: dict[str, Any], errors: list[str]) -> dict[str, Any]:
        if len(json_bytes(record)) <= self.max_record_bytes:
            return record
        if not errors:
            errors.append("Error 413: Payload Too Large")
        return {k: v for k, v in record.items() if len(json_bytes(v)) <= _TRIMMED_VALUE_BYTES}


class ClaimCasts:
    """Per-table casts: filter text and JWT claim values to column types, values to orderables."""

    def __init__(self, table: TableSchema) -> None:
        self.columns = {c.name: c for c in table.columns}

    def filter(self, column: str, text: str) -> Any:
        return coerce_literal(self.columns[column], text)

    def order(self, column: str, value: Any) -> Any:
        return comparable(self.columns[column], value)

    def claim(self, column: str, value: Any) -> Any:
        try:
            return coerce(self.columns[column], value)
        except CastError:
            raise ValueError(f"claim does not cast to {column}") from None


def _passes(binding: Binding, change: Change, casts: ClaimCasts) -> bool:
    if not binding.conditions:
        return True
    # DELETE filters see only the old identity: the key, or every column when FULL.
    row = change.record if change.record is not None else _old_identity(change)
    return row is not None and matches(binding.conditions, row, casts.filter, casts.order)


def _check_conditions(table: TableSchema, conditions: tuple[Condition, ...]) -> None:
    casts = ClaimCasts(table)
    try:
        check_conditions(conditions, {c.name: c.type for c in table.columns}, casts.filter)
    except FilterError as exc:
        raise ValueError(str(exc)) from None
    except CastError as exc:
        raise ValueError(f"filter on {table.name}: {exc}") from None


def _old_identity(change: Change) -> dict[str, Any]:
    old = change.old_record or {}
    table = change.table
    # With RLS on, Supabase cuts a DELETE's old_record to the key even under FULL.
    full = table.replica_identity_full and not (table.rls_enabled and change.type == "DELETE")
    return dict(old) if full else {k: old[k] for k in table.primary_key if k in old}


_FLAGS: Final = {"true", "false"}
_JOIN_SHAPE: Final[dict[str, dict[str, str]]] = {
    "broadcast": {"ack": "flag", "self": "flag", "replication_ready": "flag", "replay": "object"},
    "presence": {"enabled": "flag", "key": "string"},
}
_BINDING_SHAPE: Final = {
    "event": "string",
    "schema": "string",
    "table": "string",
    "filter": "string",
    "select": "string",
}


def join_payload_problem(payload: Mapping[str, Any]) -> str | None:
    """Return what is wrong with the types of a ``phx_join`` payload, or ``None`` when they
    are right.

    The checks follow the shapes Realtime's join payload schemas cast to (``config``,
    ``broadcast``, ``presence``, ``postgres_changes``): objects where objects go, booleans
    (or the strings ``"true"``/``"false"``) for flags, strings for keys and binding fields;
    ``null`` stands for a missing value everywhere. Keys not listed are ignored, as Realtime
    ignores them. Filter grammar is checked later, per binding.
    """
    config = payload.get("config")
    if config is None:
        return None
    if not isinstance(config, Mapping):
        return f"config must be an object, got {_json_type(config)}"
    if not _fits("flag", config.get("private")):
        return f"config.private must be a boolean, got {_json_type(config.get('private'))}"
    for section, fields in _JOIN_SHAPE.items():
        value = config.get(section)
        if value is None:
            continue
        if not isinstance(value, Mapping):
            return f"config.{section} must be an object, got {_json_type(value)}"
        for name, kind in fields.items():
            if not _fits(kind, value.get(name)):
                return f"config.{section}.{name} must be a {_KINDS[kind]}, got {_json_type(value.get(name))}"
    bindings = config.get("postgres_changes")
    if bindings is None:
        return None
    if not isinstance(bindings, list):
        return f"config.postgres_changes must be a list, got {_json_type(bindings)}"
    for index, binding in enumerate(bindings):
        where = f"config.postgres_changes[{index}]"
        if not isinstance(binding, Mapping):
            return f"{where} must be an object, got {_json_type(binding)}"
        for name, kind in _BINDING_SHAPE.items():
            if not _fits(kind, binding.get(name)):
                return (
                    f"{where}.{name} must be a {_KINDS[kind]}, got {_json_type(binding.get(name))}"
                )
    return None


_KINDS: Final = {"flag": "boolean", "string": "string", "object": "object"}


def _fits(kind: str, value: object) -> bool:
    if value is None:
        return True
    if kind == "flag":
        return isinstance(value, bool) or (isinstance(value, str) and value.lower() in _FLAGS)
    if kind == "string":
        return isinstance(value, str)
    return isinstance(value, Mapping)


def _json_type(value: object) -> str:
    """Name ``value``'s JSON type as a client would: object, array, string, number, ..."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def _reply_to(message: Message, status: str, response: Mapping[str, Any]) -> Message:
    """Build the reply to ``message`` (same topic and ref; join ref for vsn 2.0.0)."""
    return protocol.reply(message.topic, message.ref, status, response, join_ref=message.join_ref)


def _truthy(value: Any) -> bool:
    # The server validates join config with Ecto, which also accepts "true"/"false" strings.
    return value is True or (isinstance(value, str) and value.lower() == "true")


def _leave(hub: RealtimeHub, member: _Member, message: Message) -> None:
    member.session.transport.push(_reply_to(message, "ok", {}))
    hub.leave(member)


_HANDLERS: Final[dict[str, Callable[[RealtimeHub, _Member, Message], None]]] = {
    "phx_leave": _leave,
    "access_token": RealtimeHub._access_token,
    "broadcast": RealtimeHub._broadcast,
    "presence": RealtimeHub._presence_event,
}
