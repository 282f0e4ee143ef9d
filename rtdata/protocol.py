"""Sans-I/O codec for the Phoenix/Supabase Realtime wire protocol (serializer vsn 1.0.0).

This module imports no socket, event loop, thread or clock: text in, :class:`Message` out, and
back. The local server and the tests use it; the collector relies on the official client for the
wire and uses only the helpers that describe payloads.

Wire facts (see ``shared/reference/realtime-protocol.md``):

* vsn 1.0.0 frames are JSON objects with ``topic``, ``event``, ``payload``, ``ref`` and
  ``join_ref``. Clients send all five keys; the server sends only ``topic``, ``event``,
  ``payload`` and ``ref`` (``ref`` is ``null`` for pushes).
* Channel topics are ``realtime:<name>``; heartbeats use the ``phoenix`` topic.
"""

from __future__ import annotations

import zlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final

import orjson

__all__ = [
    "PHOENIX_TOPIC",
    "TOPIC_PREFIX",
    "VSN",
    "Message",
    "ProtocolError",
    "binding_id",
    "channel_name",
    "close_frame",
    "decode",
    "encode",
    "format_commit_timestamp",
    "heartbeat_reply",
    "postgres_changes_frame",
    "reply",
    "system_message",
]

VSN: Final = "1.0.0"
"""The serializer version this codec speaks (the one realtime-py hard-codes)."""

PHOENIX_TOPIC: Final = "phoenix"
"""Topic of socket-level messages such as heartbeats."""

TOPIC_PREFIX: Final = "realtime:"
"""Prefix every channel topic carries on the wire."""

_CLIENT_KEYS: Final = ("topic", "event", "payload", "ref", "join_ref")


class ProtocolError(ValueError):
    """A frame that is not a valid vsn 1.0.0 message; the text says what is wrong with it."""


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
    topic, event, payload = obj.get("topic"), obj.get("event"), obj.get("payload", {})
    if not isinstance(topic, str) or not topic:
        raise ProtocolError("frame field 'topic' must be a non-empty string")
    if not isinstance(event, str) or not event:
        raise ProtocolError("frame field 'event' must be a non-empty string")
    if payload is None:
        payload = {}
    if not isinstance(payload, dict):
        raise ProtocolError(
            f"frame field 'payload' must be an object, got {type(payload).__name__}"
        )
    ref, join_ref = obj.get("ref"), obj.get("join_ref")
    return Message(topic, event, payload, _ref(ref, "ref"), _ref(join_ref, "join_ref"))


def _ref(value: object, name: str) -> str | None:
    # Phoenix refs are strings; some clients send integers, which Phoenix also accepts.
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    raise ProtocolError(f"frame field {name!r} must be a string or null")


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


def reply(topic: str, ref: str | None, status: str, response: Mapping[str, Any]) -> Message:
    """Build a ``phx_reply`` to the request with reference ``ref``.

    Args:
        topic: Topic of the request being answered.
        ref: The request's ``ref`` (may be ``None``, as realtime-py sends for heartbeats).
        status: ``"ok"`` or ``"error"``.
        response: The reply body, for example ``{"postgres_changes": [...]}`` or
            ``{"reason": "..."}``.
    """
    return Message(topic, "phx_reply", {"status": status, "response": dict(response)}, ref)


def heartbeat_reply(ref: str | None) -> Message:
    """Build the reply to a heartbeat: ``phx_reply`` ok with an empty response."""
    return reply(PHOENIX_TOPIC, ref, "ok", {})


def close_frame(topic: str, join_ref: str | None) -> Message:
    """Build the ``phx_close`` Phoenix sends when a channel stops; ``ref`` is the join ref."""
    return Message(topic, "phx_close", {}, join_ref)


def system_message(topic: str, *, extension: str, message: str, status: str) -> Message:
    """Build a ``system`` push such as ``Subscribed to PostgreSQL``.

    Args:
        topic: The channel topic; the payload's ``channel`` is its sub-topic.
        extension: ``"postgres_changes"`` or ``"system"``.
        message: Human-readable text.
        status: ``"ok"`` or ``"error"``.
    """
    payload = {
        "channel": channel_name(topic),
        "extension": extension,
        "message": message,
        "status": status,
    }
    return Message(topic, "system", payload, None)


def postgres_changes_frame(topic: str, ids: list[int], data: Mapping[str, Any]) -> Message:
    """Build one ``postgres_changes`` push carrying the ids of the channel's matching bindings."""
    return Message(topic, "postgres_changes", {"ids": ids, "data": data}, None)


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
