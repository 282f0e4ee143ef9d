"""Fuzz: the Realtime frame decoders (``rtdata.protocol``), the server's and the collector's.

Any text or bytes decode to a message or raise :class:`rtdata.protocol.ProtocolError`, never
another exception; every message the encoders write decodes back to itself. (JSON of any shape,
and where the error points, are in :mod:`tests.fuzz.test_frame_decoding`.)
"""

from __future__ import annotations

from typing import Any

import hypothesis.strategies as st
from hypothesis import HealthCheck, given, settings

from rtdata.protocol import (
    BinaryPayload,
    Message,
    ProtocolError,
    UserBroadcastPayload,
    decode,
    decode_v2,
    encode,
    encode_v2,
)

FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

json_scalars = st.none() | st.booleans() | st.integers(-(2**53), 2**53) | st.text(max_size=20)
json_values = st.recursive(
    json_scalars | st.floats(allow_nan=False, allow_infinity=False),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
payloads = st.dictionaries(st.text(max_size=10), json_values, max_size=5)
names = st.text(min_size=1, max_size=40)
refs = st.none() | st.text(max_size=12)


def _decodes_or_refuses(decoder: Any, frame: str | bytes) -> None:
    try:
        message = decoder(frame)
    except ProtocolError as exc:
        message = exc
    if isinstance(message, ProtocolError):
        assert str(message)  # names the problem
    else:
        assert isinstance(message, Message)
        assert isinstance(message.topic, str)
        assert isinstance(message.event, str)
        assert isinstance(message.payload, dict)


@FAST
@given(st.text(max_size=200) | st.binary(max_size=200))
def test_any_v1_frame_decodes_or_is_refused_with_a_protocol_error(frame: str | bytes) -> None:
    _decodes_or_refuses(decode, frame)


@FAST
@given(st.text(max_size=200) | st.binary(max_size=300))
def test_any_v2_frame_decodes_or_is_refused_with_a_protocol_error(frame: str | bytes) -> None:
    _decodes_or_refuses(decode_v2, frame)


@FAST
@given(
    st.binary(max_size=8).flatmap(
        lambda head: st.tuples(
            st.sampled_from([0, 1, 2, 3, 4, 5, 255]), st.just(head), st.binary(max_size=64)
        )
    )
)
def test_truncated_and_garbled_binary_frames_are_refused_or_decoded(
    parts: tuple[int, bytes, bytes],
) -> None:
    kind, head, tail = parts
    _decodes_or_refuses(decode_v2, bytes([kind]) + head + tail)


@FAST
@given(names, names, payloads, refs, refs)
def test_v1_messages_round_trip(
    topic: str, event: str, payload: dict[str, Any], ref: str | None, join_ref: str | None
) -> None:
    message = Message(topic, event, payload, ref, join_ref)
    assert decode(encode(message, from_server=False)) == message


@FAST
@given(names, names, payloads, refs, refs)
def test_v2_text_messages_round_trip(
    topic: str, event: str, payload: dict[str, Any], ref: str | None, join_ref: str | None
) -> None:
    # realtime-js writes "" for a missing ref; the decoder reads "" back as None.
    message = Message(topic, event, payload, ref or None, join_ref or None)
    assert decode_v2(encode_v2(message, from_server=False)) == message


@FAST
@given(
    st.text(min_size=1, max_size=60).filter(lambda t: len(t.encode()) <= 255),
    st.text(min_size=1, max_size=60).filter(lambda t: len(t.encode()) <= 255),
    st.binary(max_size=200),
)
def test_v2_binary_pushes_round_trip(topic: str, event: str, data: bytes) -> None:
    message = Message(topic, event, BinaryPayload(data=data), "1", "1")
    decoded = decode_v2(encode_v2(message, from_server=False))
    assert (decoded.topic, decoded.event) == (topic, event)
    assert decoded.payload["data"] == data


@FAST
@given(st.text(min_size=1, max_size=60).filter(lambda t: len(t.encode()) <= 255), payloads)
def test_v2_user_broadcasts_round_trip(topic: str, body: dict[str, Any]) -> None:
    payload = UserBroadcastPayload(type="broadcast", event="e", payload=body)
    message = Message(topic, "broadcast", payload, None, None)
    decoded = decode_v2(encode_v2(message))
    assert decoded.topic == topic
    assert decoded.payload.get("event") == "e"
