"""Sans-I/O codec for the Phoenix/Supabase Realtime wire protocol (serializers 1.0.0 and 2.0.0).

This module imports no socket, event loop, thread or clock: frames in, :class:`Message` out, and
back. The local server and the tests use it; the collector relies on the official client for the
wire and uses only the helpers that describe payloads.

Wire facts for vsn 1.0.0, from Supabase's Realtime Protocol guide
(https://supabase.com/docs/guides/realtime/protocol) and Phoenix's V1 JSON serializer:

* Frames are JSON objects with ``topic``, ``event``, ``payload``, ``ref`` and ``join_ref``.
  Clients send all five keys; the server sends only ``topic``, ``event``, ``payload`` and
  ``ref`` (``ref`` is ``null`` for pushes).
* Channel topics are ``realtime:<name>``; heartbeats use the ``phoenix`` topic.

Wire facts for vsn 2.0.0, read from the server's ``lib/realtime_web/socket/v2_serializer.ex``
and its test ``test/realtime_web/socket/v2_serializer_test.exs`` (supabase/realtime), and from
realtime-js ``src/lib/serializer.ts`` and ``test/serializer.test.ts`` (supabase/supabase-js,
``packages/core/realtime-js/``; installed copy ``tests/js/node_modules/@supabase/realtime-js``):

* Text frames are JSON arrays ``[join_ref, ref, topic, event, payload]`` both ways. Unlike V1,
  server frames carry ``join_ref``: replies and channel pushes echo it, fan-out broadcasts send
  ``[null, null, topic, event, payload]``. (The server ignores array elements past the fifth; this
  codec rejects them, since no client sends them.)
* Binary frames start with a kind byte, then one length byte per header field (so each field is
  at most 255 bytes), then the fields, then the payload bytes to the end of the frame:

  - 0 push, client to server: ``join_ref, ref, topic, event`` sizes, then opaque data.
  - 1 reply and 2 broadcast are server kinds for opaque binary payloads; Realtime itself never
    produces them for SDK clients, and realtime-js cannot decode them.
  - 3 user broadcast push, client to server: ``join_ref, ref, topic, user_event, metadata``
    sizes and an encoding byte (0 binary, 1 JSON), then the fields and the user payload.
    ``metadata`` is an optional JSON object (realtime-js fills it only from keys it is told to
    allow); the server reads ``persist`` from it and does not forward it.
  - 4 user broadcast, server to client: ``topic, user_event, metadata`` sizes and the encoding
    byte, then the fields and the user payload. ``metadata`` is JSON such as
    ``{"id": ..., "replayed": true}``, or absent (size 0).
* realtime-js (vsn 2.0.0 is its default) sends every websocket ``channel.send({type:
  "broadcast", event, payload})`` as kind 3, with encoding 1 and ``JSON.stringify(payload)`` unless
  the payload is an ``ArrayBuffer``; everything else goes out as a text array. It decodes kind 4
  into ``{type: "broadcast", event, payload, meta?}`` and no other binary kind.
* The server re-broadcasts a kind-3 push as kind 4 with the same encoding and payload bytes and
  no metadata (``lib/realtime_web/channels/realtime_channel/broadcast_handler.ex`` builds a
  ``UserBroadcast``). HTTP broadcasts (``lib/realtime/tenants/single_broadcast.ex``: JSON or
  octet-stream) and database broadcasts (``lib/realtime/tenants/replication_connection.ex``,
  metadata ``{"id": ...}``) go out as kind 4 too. A broadcast pushed as a text array goes out
  as the text array ``[null, null, topic, "broadcast", payload]``. V1 subscribers get a user
  broadcast as ``{"type": "broadcast", "event", "payload", "meta"?}``, and not at all when it
  is binary (``lib/realtime_web/socket/user_broadcast.ex``,
  ``lib/realtime_web/channels/realtime_channel/message_dispatcher.ex``).
  Replies, presence, system and postgres_changes frames are always text.
* Two quirks: the server reads any encoding byte other than 0 as JSON while realtime-js reads any
  other than 1 as binary, so this codec accepts only 0 and 1; and realtime-js measures header
  fields in UTF-16 code units and writes each as one byte, so only ASCII refs, topics and
  events survive its encoder intact.
"""

from __future__ import annotations

import zlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import IntEnum
from typing import Any, Final, cast

import orjson

__all__ = [
    "PHOENIX_TOPIC",
    "TOPIC_PREFIX",
    "VSN",
    "VSN_2",
    "BinaryKind",
    "BinaryPayload",
    "Message",
    "ProtocolError",
    "UserBroadcastPayload",
    "binding_id",
    "channel_name",
    "close_frame",
    "decode",
    "decode_v2",
    "encode",
    "encode_v2",
    "format_commit_timestamp",
    "heartbeat_reply",
    "postgres_changes_frame",
    "reply",
    "system_message",
    "user_broadcast",
]

VSN: Final = "1.0.0"
"""The serializer version realtime-py hard-codes; :func:`decode` and :func:`encode` speak it."""

VSN_2: Final = "2.0.0"
"""The serializer version realtime-js defaults to; :func:`decode_v2` and :func:`encode_v2`."""

PHOENIX_TOPIC: Final = "phoenix"
"""Topic of socket-level messages such as heartbeats."""

TOPIC_PREFIX: Final = "realtime:"
"""Prefix every channel topic carries on the wire."""

_CLIENT_KEYS: Final = ("topic", "event", "payload", "ref", "join_ref")


class ProtocolError(ValueError):
    """A frame that is not a valid message for its serializer; the text says what is wrong.

    Attributes:
        topic: The frame's topic when it could still be read (a non-empty string where the
            serializer puts it), else ``None``: the place to answer the frame.
        ref: The frame's ``ref`` when it could still be read, else ``None``.
        join_ref: The frame's ``join_ref`` when it could still be read, else ``None``.
    """

    def __init__(
        self,
        text: str,
        *,
        topic: str | None = None,
        ref: str | None = None,
        join_ref: str | None = None,
    ) -> None:
        super().__init__(text)
        self.topic, self.ref, self.join_ref = topic, ref, join_ref


@dataclass(frozen=True, slots=True)
class Message:
    """One Phoenix message.

    Attributes:
        topic: Channel topic, for example ``realtime:room1``, or ``phoenix``.
        event: Event name, for example ``phx_join`` or ``postgres_changes``.
        payload: JSON object carried by the message.
        ref: Request reference; ``None`` for server pushes.
        join_ref: Reference of the join this message belongs to, when the client knows it.
    """

    topic: str
    event: str
    payload: Mapping[str, Any] = field(default_factory=dict)
    ref: str | None = None
    join_ref: str | None = None


def decode(frame: str | bytes) -> Message:
    """Decode one vsn 1.0.0 text frame.

    Args:
        frame: The websocket text frame (``str`` or UTF-8 ``bytes``).

    Returns:
        The decoded message.

    Raises:
        ProtocolError: The frame is not JSON, not an object, or a field has the wrong type.
    """
    try:
        obj = orjson.loads(frame)
    except orjson.JSONDecodeError as exc:
        raise ProtocolError(f"frame is not valid JSON: {exc}") from None
    if not isinstance(obj, dict):
        raise ProtocolError(f"frame must be a JSON object, got {type(obj).__name__}")
    return _message(
        obj.get("topic"),
        obj.get("event"),
        obj.get("payload", {}),
        obj.get("ref"),
        obj.get("join_ref"),
        names=("field 'topic'", "field 'event'", "field 'payload'"),
    )


def _message(
    topic: object,
    event: object,
    payload: object,
    ref: object,
    join_ref: object,
    *,
    names: tuple[str, str, str],
) -> Message:
    # Checks the five parts of a text frame; a ProtocolError carries what could be read of the
    # topic and refs, so the server can answer the frame where its sender listens.
    where = {
        "topic": topic if isinstance(topic, str) and topic else None,
        "ref": _readable_ref(ref),
        "join_ref": _readable_ref(join_ref),
    }
    topic_name, event_name, payload_name = names
    if where["topic"] is None:
        raise ProtocolError(f"frame {topic_name} must be a non-empty string", **where)
    if not isinstance(event, str) or not event:
        raise ProtocolError(f"frame {event_name} must be a non-empty string", **where)
    if payload is None:
        payload = {}
    if not isinstance(payload, dict):
        raise ProtocolError(
            f"frame {payload_name} must be an object, got {type(payload).__name__}", **where
        )
    for value, name in ((ref, "ref"), (join_ref, "join_ref")):
        if value is not None and _readable_ref(value) is None:
            raise ProtocolError(f"frame field {name!r} must be a string or null", **where)
    assert isinstance(topic, str)
    return Message(topic, event, payload, where["ref"], where["join_ref"])


def _readable_ref(value: object) -> str | None:
    # Phoenix refs are strings; some clients send integers, which Phoenix also accepts.
    if isinstance(value, str):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return None


def encode(message: Message, *, from_server: bool = True) -> str:
    """Encode a message as a vsn 1.0.0 text frame.

    Args:
        message: The message to encode.
        from_server: When true (the default) the frame has only ``topic``, ``event``,
            ``payload`` and ``ref``, as Phoenix's V1 serializer writes them; when false it
            also carries ``join_ref``, as clients send it.

    Returns:
        The JSON text of the frame.
    """
    obj: dict[str, Any] = {
        "topic": message.topic,
        "event": message.event,
        "payload": message.payload,
        "ref": message.ref,
    }
    if not from_server:
        obj["join_ref"] = message.join_ref
    return orjson.dumps(obj).decode()


def channel_name(topic: str) -> str:
    """Return the sub-topic of a channel topic: ``realtime:room1`` gives ``room1``."""
    return topic[len(TOPIC_PREFIX) :] if topic.startswith(TOPIC_PREFIX) else topic


def reply(
    topic: str,
    ref: str | None,
    status: str,
    response: Mapping[str, Any],
    *,
    join_ref: str | None = None,
) -> Message:
    """Build a ``phx_reply`` to the request with reference ``ref``.

    Args:
        topic: Topic of the request being answered.
        ref: The request's ``ref`` (may be ``None``, as realtime-py sends for heartbeats).
        status: ``"ok"`` or ``"error"``.
        response: The reply body, for example ``{"postgres_changes": [...]}`` or
            ``{"reason": "..."}``.
        join_ref: The request's ``join_ref``; vsn 2.0.0 echoes it, vsn 1.0.0 never sends it.
    """
    body = {"status": status, "response": dict(response)}
    return Message(topic, "phx_reply", body, ref, join_ref)


def heartbeat_reply(ref: str | None) -> Message:
    """Build the reply to a heartbeat: ``phx_reply`` ok with an empty response."""
    return reply(PHOENIX_TOPIC, ref, "ok", {})


def close_frame(topic: str, join_ref: str | None) -> Message:
    """Build the ``phx_close`` Phoenix sends when a channel stops; ``ref`` is the join ref."""
    return Message(topic, "phx_close", {}, join_ref, join_ref)


def postgres_changes_frame(topic: str, ids: list[int], data: Mapping[str, Any]) -> Message:
    """Build one ``postgres_changes`` push carrying the ids of the channel's matching bindings."""
    return Message(topic, "postgres_changes", {"ids": ids, "data": data}, None)


def system_message(
    topic: str, *, extension: str, message: str, status: str, join_ref: str | None = None
) -> Message:
    """Build a ``system`` push such as ``Subscribed to PostgreSQL``.

    Args:
        topic: The channel topic; the payload's ``channel`` is its sub-topic.
        extension: ``"postgres_changes"`` or ``"system"``.
        message: Human-readable text.
        status: ``"ok"`` or ``"error"``.
        join_ref: The channel's join ref (sent by vsn 2.0.0 only).
    """
    payload = {
        "channel": channel_name(topic),
        "extension": extension,
        "message": message,
        "status": status,
    }
    return Message(topic, "system", payload, None, join_ref)


def binding_id(binding: Mapping[str, Any]) -> int:
    """Return the stable, non-zero id the server gives a postgres_changes binding.

    Identical bindings get identical ids, and ids are below 2**27 like the server's
    ``:erlang.phash2``. Zero is never returned, because realtime-py ignores falsy ids.
    """
    canonical = orjson.dumps(dict(binding), option=orjson.OPT_SORT_KEYS)
    value = zlib.crc32(canonical) % (2**27)
    return value or 1


def format_commit_timestamp(epoch_ns: int) -> str:
    """Format a commit time as Supabase does: UTC, millisecond precision, ``Z`` suffix.

    Args:
        epoch_ns: Commit time in nanoseconds since the Unix epoch.
    """
    seconds, rem_ns = divmod(epoch_ns, 1_000_000_000)
    stamp = datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%S")
    return f"{stamp}.{rem_ns // 1_000_000:03d}Z"


# --- serializer vsn 2.0.0 -------------------------------------------------------------------

_MAX_FIELD_BYTES: Final = 255
_JSON_ENCODING: Final = 1
_BINARY_ENCODING: Final = 0


class BinaryKind(IntEnum):
    """The kind byte that starts a vsn 2.0.0 binary frame (the server's ``@push`` and so on)."""

    PUSH = 0
    REPLY = 1
    BROADCAST = 2
    USER_BROADCAST_PUSH = 3
    USER_BROADCAST = 4


class UserBroadcastPayload(dict[str, Any]):
    """A broadcast payload that vsn 2.0.0 carries in a binary frame (kinds 3 and 4).

    It is a plain dict with the keys realtime-js hands its callbacks: ``type`` (``"broadcast"``),
    ``event`` (the user event), ``payload`` and, when the frame has metadata, ``meta``. A
    ``bytes`` ``payload`` travels with the binary encoding, any other value as JSON. Only the type
    differs from the dict a text frame gives, so :func:`encode_v2` knows to use binary framing and
    :func:`encode` still writes the V1 JSON form when the payload is JSON.
    """


class BinaryPayload(dict[str, Any]):
    """Opaque bytes of a binary push (kind 0) or broadcast (kind 2), under the key ``data``."""

    def __init__(self, data: bytes) -> None:
        """Wrap ``data``.

        Args:
            data: The bytes that follow the frame header.
        """
        super().__init__(data=bytes(data))

    @property
    def data(self) -> bytes:
        """The wrapped bytes."""
        return cast(bytes, self["data"])


def user_broadcast(
    topic: str, event: str, payload: Any, *, meta: Mapping[str, Any] | None = None
) -> Message:
    """Build a user broadcast push, which :func:`encode_v2` writes as a kind-4 binary frame.

    Args:
        topic: The channel topic, for example ``realtime:room1``.
        event: The user event, for example ``ping``.
        payload: ``bytes`` for the binary encoding, otherwise any JSON value.
        meta: Optional metadata such as ``{"id": ..., "replayed": True}``; the real server
            sends none when it re-broadcasts a client push. Empty metadata is left out.
    """
    body = UserBroadcastPayload(type="broadcast", event=event, payload=payload)
    if meta:
        body["meta"] = dict(meta)
    return Message(topic, "broadcast", body, None, None)


def decode_v2(frame: str | bytes) -> Message:
    """Decode one vsn 2.0.0 frame: ``str`` is a text frame, ``bytes`` a binary one.

    Binary kinds 3 and 4 give a :class:`UserBroadcastPayload` under event ``broadcast``; kinds 0
    and 2 give a :class:`BinaryPayload`. Empty ``join_ref`` or ``ref`` fields (realtime-js writes
    ``""`` for a missing one) become ``None``.

    Args:
        frame: The websocket frame.

    Returns:
        The decoded message.

    Raises:
        ProtocolError: Not a JSON array of five items with the right types, or a binary frame
            that is truncated, has an unknown kind or encoding byte, or has bad text or JSON.
    """
    if isinstance(frame, str):
        return _decode_v2_text(frame)
    seen: dict[str, str] = {}
    try:
        return _decode_v2_binary(bytes(frame), seen)
    except ProtocolError as exc:
        if "topic" not in seen or exc.topic is not None:
            raise
        # Answer a broken binary frame on its topic once the header got that far.
        raise ProtocolError(str(exc), **seen) from None


def _decode_v2_text(frame: str) -> Message:
    try:
        obj = orjson.loads(frame)
    except orjson.JSONDecodeError as exc:
        raise ProtocolError(f"frame is not valid JSON: {exc}") from None
    if not isinstance(obj, list):
        raise ProtocolError(f"vsn 2.0.0 text frame must be a JSON array, got {type(obj).__name__}")
    if len(obj) != 5:
        raise ProtocolError(
            f"vsn 2.0.0 text frame must have 5 items [join_ref, ref, topic, event, payload], "
            f"got {len(obj)}"
        )
    join_ref, ref, topic, event, payload = obj
    return _message(
        topic,
        event,
        payload,
        ref,
        join_ref,
        names=("item 3 'topic'", "item 4 'event'", "item 5 'payload'"),
    )


class _Reader:
    """Walks a binary frame's header; every read checks the frame is long enough."""

    def __init__(self, frame: bytes, kind: BinaryKind, seen: dict[str, str]) -> None:
        self.frame, self.kind, self.pos, self.seen = frame, kind, 1, seen

    def take(self, size: int, what: str) -> bytes:
        if self.pos + size > len(self.frame):
            raise ProtocolError(
                f"truncated binary frame (kind {self.kind.value} {self.kind.name.lower()}): "
                f"{what} needs {size} bytes at offset {self.pos}, frame has {len(self.frame)}"
            )
        chunk = self.frame[self.pos : self.pos + size]
        self.pos += size
        return chunk

    def sizes(self, *names: str) -> list[int]:
        return list(self.take(len(names), "header sizes " + ", ".join(names)))

    def text(self, size: int, what: str, *, required: bool = False) -> str:
        try:
            value = self.take(size, what).decode()
        except UnicodeDecodeError:
            raise ProtocolError(f"binary frame field {what!r} is not valid UTF-8") from None
        if required and not value:
            raise ProtocolError(f"binary frame field {what!r} must not be empty")
        if value and what in ("topic", "ref", "join_ref"):
            self.seen[what] = value
        return value

    def rest(self) -> bytes:
        return self.frame[self.pos :]


def _decode_v2_binary(frame: bytes, seen: dict[str, str]) -> Message:
    if not frame:
        raise ProtocolError("empty binary frame")
    try:
        kind = BinaryKind(frame[0])
    except ValueError:
        raise ProtocolError(
            f"unknown binary frame kind {frame[0]}; expected 0 (push), 2 (broadcast), "
            "3 (user broadcast push) or 4 (user broadcast)"
        ) from None
    reader = _Reader(frame, kind, seen)
    join_ref = ref = None
    if kind is BinaryKind.PUSH:
        jr_size, ref_size, topic_size, event_size = reader.sizes(
            "join_ref", "ref", "topic", "event"
        )
        join_ref = reader.text(jr_size, "join_ref") or None
        ref = reader.text(ref_size, "ref") or None
        topic = reader.text(topic_size, "topic", required=True)
        event = reader.text(event_size, "event", required=True)
        return Message(topic, event, BinaryPayload(reader.rest()), ref, join_ref)
    if kind is BinaryKind.BROADCAST:
        topic_size, event_size = reader.sizes("topic", "event")
        topic = reader.text(topic_size, "topic", required=True)
        event = reader.text(event_size, "event", required=True)
        return Message(topic, event, BinaryPayload(reader.rest()))
    if kind is BinaryKind.USER_BROADCAST_PUSH:
        header = ("join_ref", "ref", "topic", "user_event", "metadata", "encoding")
        jr_size, ref_size, topic_size, event_size, meta_size, encoding = reader.sizes(*header)
        join_ref = reader.text(jr_size, "join_ref") or None
        ref = reader.text(ref_size, "ref") or None
    elif kind is BinaryKind.USER_BROADCAST:
        topic_size, event_size, meta_size, encoding = reader.sizes(
            "topic", "user_event", "metadata", "encoding"
        )
    else:
        raise ProtocolError(
            "binary frame kind 1 (reply) is not supported: Realtime never sends binary replies"
        )
    topic = reader.text(topic_size, "topic", required=True)
    if encoding not in (_BINARY_ENCODING, _JSON_ENCODING):
        raise ProtocolError(
            f"unknown user payload encoding {encoding}; expected 0 (binary) or 1 (JSON)"
        )
    body = UserBroadcastPayload(type="broadcast", event=reader.text(event_size, "user_event"))
    raw_meta = reader.take(meta_size, "metadata")
    raw_payload = reader.rest()
    body["payload"] = raw_payload if encoding == _BINARY_ENCODING else _json(raw_payload, "payload")
    if raw_meta:
        meta = _json(raw_meta, "metadata")
        if not isinstance(meta, dict):
            raise ProtocolError(
                f"binary frame metadata must be a JSON object, got {type(meta).__name__}"
            )
        body["meta"] = meta
    return Message(topic, "broadcast", body, ref, join_ref)


def _json(raw: bytes, what: str) -> Any:
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise ProtocolError(f"binary frame {what} is not valid JSON: {exc}") from None


def encode_v2(message: Message, *, from_server: bool = True) -> str | bytes:
    """Encode a message as a vsn 2.0.0 frame, choosing text or binary as the real peers do.

    A :class:`UserBroadcastPayload` becomes a binary user broadcast: kind 4 from the server,
    kind 3 (as realtime-js writes it) when ``from_server`` is false. A :class:`BinaryPayload`
    becomes kind 2 from the server, kind 0 from a client. Any other payload becomes the text
    array ``[join_ref, ref, topic, event, payload]``; the caller sets ``join_ref`` and ``ref``
    (the server sends ``None`` for both on fan-out broadcasts).

    Args:
        message: The message to encode.
        from_server: Whether the server (the default) or a client writes the frame.

    Returns:
        ``str`` for a text frame, ``bytes`` for a binary frame.

    Raises:
        ProtocolError: A header field is longer than 255 bytes in UTF-8, or a user broadcast
            lacks a string ``event``.
    """
    payload = message.payload
    if isinstance(payload, UserBroadcastPayload):
        return _encode_user_broadcast(message, payload, from_server=from_server)
    if isinstance(payload, BinaryPayload):
        if from_server:
            fields = _sized(("topic", message.topic), ("event", message.event))
            return bytes([BinaryKind.BROADCAST, *fields[0]]) + fields[1] + payload.data
        fields = _sized(
            ("join_ref", message.join_ref or ""),
            ("ref", message.ref or ""),
            ("topic", message.topic),
            ("event", message.event),
        )
        return bytes([BinaryKind.PUSH, *fields[0]]) + fields[1] + payload.data
    frame = [message.join_ref, message.ref, message.topic, message.event, message.payload]
    return orjson.dumps(frame).decode()


def _encode_user_broadcast(
    message: Message, payload: UserBroadcastPayload, *, from_server: bool
) -> bytes:
    user_event = payload.get("event")
    if not isinstance(user_event, str):
        raise ProtocolError("a user broadcast payload needs a string 'event'")
    data = payload.get("payload")
    if isinstance(data, bytes | bytearray | memoryview):
        encoding, raw = _BINARY_ENCODING, bytes(data)
    else:
        encoding, raw = _JSON_ENCODING, orjson.dumps(data)
    meta = payload.get("meta")
    raw_meta = orjson.dumps(meta) if meta else b""
    named: list[tuple[str, str | bytes]] = [("topic", message.topic), ("user_event", user_event)]
    if from_server:
        kind = BinaryKind.USER_BROADCAST
    else:
        kind = BinaryKind.USER_BROADCAST_PUSH
        named[:0] = [("join_ref", message.join_ref or ""), ("ref", message.ref or "")]
    sizes, fields = _sized(*named, ("metadata", raw_meta))
    return bytes([kind, *sizes, encoding]) + fields + raw


def _sized(*named: tuple[str, str | bytes]) -> tuple[list[int], bytes]:
    # Each header field gets a one-byte length, as the server's byte_size!/3 enforces.
    sizes: list[int] = []
    out = bytearray()
    for name, value in named:
        raw = value.encode() if isinstance(value, str) else value
        if len(raw) > _MAX_FIELD_BYTES:
            raise ProtocolError(
                f"{name} is {len(raw)} bytes; a vsn 2.0.0 binary frame allows at most "
                f"{_MAX_FIELD_BYTES}"
            )
        sizes.append(len(raw))
        out += raw
    return sizes, bytes(out)
