"""The vsn 2.0.0 codec: text arrays, binary user broadcasts, and what it refuses.

Byte vectors come from the two real peers, so a change that drifts from them fails here:

* SERVER: supabase/realtime ``test/realtime_web/socket/v2_serializer_test.exs`` (module
  attributes ``@client_push``, ``@client_*_user_broadcast_push*``, ``@broadcast``,
  ``@*_user_broadcast*``), written there as Elixir binaries.
* JS: supabase/supabase-js ``packages/core/realtime-js/test/serializer.test.ts`` (``describe
  ('binary')``), written there as JavaScript strings.
* JS-2.99.3: bytes printed by the installed realtime-js 2.99.3 ``Serializer.encode`` (the
  version pinned in ``tests/js/package.json``) for ``channel.send`` of a ``ping`` broadcast.
"""

from __future__ import annotations

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from rtdata import protocol
from rtdata.protocol import (
    BinaryKind,
    BinaryPayload,
    Message,
    ProtocolError,
    UserBroadcastPayload,
    decode_v2,
    encode_v2,
    user_broadcast,
)

REPLAYED = b'{"replayed":true}'

# SERVER @client_push: kind 0, join_ref "12", ref "123", topic "topic", event "event", data efg.
SERVER_CLIENT_PUSH = bytes([0, 2, 3, 5, 5]) + b"12" + b"123" + b"topic" + b"event" + b"efg"
# SERVER @client_binary_user_broadcast_push: kind 3, no metadata, encoding 0 (binary).
SERVER_BINARY_USER_PUSH = (
    bytes([3, 2, 3, 5, 10, 0, 0]) + b"12" + b"123" + b"topic" + b"user_event" + b"efg"
)
# SERVER @client_json_user_broadcast_push: kind 3, no metadata, encoding 1 (JSON).
SERVER_JSON_USER_PUSH = (
    bytes([3, 2, 3, 5, 10, 0, 1]) + b"12" + b"123" + b"topic" + b"user_event" + b'{"a":"b"}'
)
# SERVER @client_binary_user_broadcast_push_with_metadata: 14 bytes of metadata.
SERVER_BINARY_USER_PUSH_META = (
    bytes([3, 2, 3, 5, 10, 14, 0])
    + b"12"
    + b"123"
    + b"topic"
    + b"user_event"
    + b'{"store":true}'
    + b"efg"
)
# SERVER @broadcast: kind 2, topic "topic", event "event", data efg.
SERVER_BROADCAST = bytes([2, 5, 5]) + b"topic" + b"event" + b"efg"
# SERVER @binary_user_broadcast / @binary_user_broadcast_no_metadata (kind 4, encoding 0).
SERVER_BINARY_USER_BROADCAST = bytes([4, 5, 10, 17, 0]) + b"topicuser_event" + REPLAYED + b"efg"
SERVER_BINARY_USER_BROADCAST_NO_META = bytes([4, 5, 10, 0, 0]) + b"topicuser_event" + b"efg"
# SERVER @json_user_broadcast / @json_user_broadcast_no_metadata (kind 4, encoding 1).
SERVER_JSON_USER_BROADCAST = bytes([4, 5, 10, 17, 1]) + b"topicuser_event" + REPLAYED + b'{"a":"b"}'
SERVER_JSON_USER_BROADCAST_NO_META = bytes([4, 5, 10, 0, 1]) + b"topicuser_event" + b'{"a":"b"}'
# SERVER @v2_msg_json / @v2_fastlane_json.
SERVER_TEXT = '[null,null,"t","e",{"m":1}]'

# JS 'encodes user broadcast push with JSON payload no metadata'.
JS_JSON_PUSH = b'\x03\x02\x01\x03\x0a\x00\x01101topuser-event{"a":"b"}'
# JS 'encodes user broadcast push with JSON payload with allowed metadata'.
JS_JSON_PUSH_META = b'\x03\x02\x01\x03\x0a\x0f\x01101topuser-event{"extra":"bit"}{"a":"b"}'
# JS 'encodes user broadcast push with JSON payload no refs'.
JS_JSON_PUSH_NO_REFS = b'\x03\x00\x00\x03\x0a\x00\x01topuser-event{"a":"b"}'
# JS 'encodes user broadcast push with Binary payload' and '... no refs'.
JS_BINARY_PUSH = b"\x03\x02\x01\x03\x0a\x00\x00101topuser-event\x01\x04"
JS_BINARY_PUSH_NO_REFS = b"\x03\x00\x00\x03\x0a\x00\x00topuser-event\x01\x04"
# JS 'decodes user broadcast with ...' (kind 4).
JS_JSON_BROADCAST = b'\x04\x03\x0a\x00\x01topuser-event{"a":"b"}'
JS_JSON_BROADCAST_META = b'\x04\x03\x0a\x11\x01topuser-event{"replayed":true}{"a":"b"}'
JS_BINARY_BROADCAST = b"\x04\x03\x0a\x00\x00topuser-event\x01\x04"
JS_BINARY_BROADCAST_META = b'\x04\x03\x0a\x11\x00topuser-event{"replayed":true}\x01\x04'

# JS-2.99.3: channel.send({type: "broadcast", event: "ping", payload: {n: 1}}) on a joined
# channel with join_ref "1", ref "2"; and the same with an ArrayBuffer payload of efg.
JS_PING_JSON = bytes.fromhex("0301010e04000131327265616c74696d653a726f6f6d3170696e677b226e223a317d")
JS_PING_BINARY = bytes.fromhex("0301010e04000031327265616c74696d653a726f6f6d3170696e67656667")


def _user(event: str, payload: object, meta: dict[str, object] | None = None) -> dict[str, object]:
    body: dict[str, object] = {"type": "broadcast", "event": event, "payload": payload}
    if meta is not None:
        body["meta"] = meta
    return body


# --- text frames ----------------------------------------------------------------------------


def test_decode_text_frame_from_server_test() -> None:
    assert decode_v2(SERVER_TEXT) == Message("t", "e", {"m": 1}, None, None)


def test_encode_text_fanout_frame_matches_server_fastlane() -> None:
    assert encode_v2(Message("t", "e", {"m": 1})) == SERVER_TEXT


def test_decode_realtime_js_join_frame() -> None:
    frame = (
        '["1","1","realtime:room1","phx_join",{"config":{"broadcast":{"ack":true,"self":true},'
        '"presence":{"key":"","enabled":false},"postgres_changes":[],"private":false},'
        '"access_token":"k"}]'
    )
    message = decode_v2(frame)
    assert (message.topic, message.event, message.ref, message.join_ref) == (
        "realtime:room1",
        "phx_join",
        "1",
        "1",
    )
    assert message.payload["config"]["broadcast"] == {"ack": True, "self": True}


def test_text_frames_keep_join_ref_both_ways() -> None:
    # V2 server frames carry join_ref (replies echo it), unlike V1's four-key objects.
    ok = protocol.reply("realtime:room1", "2", "ok", {})
    ok = Message(ok.topic, ok.event, ok.payload, ok.ref, "1")
    text = encode_v2(ok)
    assert orjson.loads(text) == [
        "1",
        "2",
        "realtime:room1",
        "phx_reply",
        {"status": "ok", "response": {}},
    ]
    assert decode_v2(text) == ok


@pytest.mark.parametrize(
    "message",
    [
        Message("phoenix", "heartbeat", {}, "3", None),
        Message("realtime:r", "presence", {"type": "presence", "event": "track"}, "4", "1"),
        protocol.system_message(
            "realtime:r", extension="postgres_changes", message="Subscribed", status="ok"
        ),
        protocol.postgres_changes_frame("realtime:r", [7], {"type": "INSERT", "record": {"a": 1}}),
        Message("realtime:r", "broadcast", _user("ping", {"n": 1}), None, None),
    ],
)
def test_text_round_trip(message: Message) -> None:
    text = encode_v2(message)
    assert isinstance(text, str)
    assert decode_v2(text) == message
    assert encode_v2(decode_v2(text)) == text


def test_decode_text_integer_refs_and_null_payload() -> None:
    assert decode_v2('[1,2,"t","e",null]') == Message("t", "e", {}, "2", "1")


@pytest.mark.parametrize(
    ("frame", "problem"),
    [
        ("not json", "not valid JSON"),
        ('{"topic":"t","event":"e","payload":{},"ref":null}', "must be a JSON array, got dict"),
        ('"just a string"', "must be a JSON array, got str"),
        ('[null,null,"t","e"]', "must have 5 items"),
        ('[null,null,"t","e",{},"extra"]', "got 6"),
        ("[]", "got 0"),
        ('[null,null,1,"e",{}]', "'topic'"),
        ('[null,null,"","e",{}]', "'topic'"),
        ('[null,null,"t",null,{}]', "'event'"),
        ('[null,null,"t","e",[1]]', "'payload' must be an object, got list"),
        ('[null,null,"t","e","x"]', "'payload' must be an object, got str"),
        ('[null,true,"t","e",{}]', "'ref'"),
        ('[{},null,"t","e",{}]', "'join_ref'"),
    ],
)
def test_decode_text_rejects_malformed(frame: str, problem: str) -> None:
    with pytest.raises(ProtocolError, match=problem):
        decode_v2(frame)


# --- binary frames from clients -------------------------------------------------------------


def test_decode_client_push_kind_0() -> None:
    message = decode_v2(SERVER_CLIENT_PUSH)
    assert message == Message("topic", "event", {"data": b"efg"}, "123", "12")
    assert isinstance(message.payload, BinaryPayload)
    assert message.payload.data == b"efg"


@pytest.mark.parametrize(
    ("frame", "body", "ref", "join_ref"),
    [
        (SERVER_BINARY_USER_PUSH, _user("user_event", b"efg"), "123", "12"),
        (SERVER_JSON_USER_PUSH, _user("user_event", {"a": "b"}), "123", "12"),
        (SERVER_BINARY_USER_PUSH_META, _user("user_event", b"efg", {"store": True}), "123", "12"),
        (JS_JSON_PUSH, _user("user-event", {"a": "b"}), "1", "10"),
        (JS_JSON_PUSH_META, _user("user-event", {"a": "b"}, {"extra": "bit"}), "1", "10"),
        (JS_JSON_PUSH_NO_REFS, _user("user-event", {"a": "b"}), None, None),
        (JS_BINARY_PUSH, _user("user-event", b"\x01\x04"), "1", "10"),
        (JS_BINARY_PUSH_NO_REFS, _user("user-event", b"\x01\x04"), None, None),
        (JS_PING_JSON, _user("ping", {"n": 1}), "2", "1"),
        (JS_PING_BINARY, _user("ping", b"efg"), "2", "1"),
    ],
)
def test_decode_user_broadcast_push_kind_3(
    frame: bytes, body: dict[str, object], ref: str | None, join_ref: str | None
) -> None:
    message = decode_v2(frame)
    assert isinstance(message.payload, UserBroadcastPayload)
    assert message.event == "broadcast"
    assert dict(message.payload) == body
    assert (message.ref, message.join_ref) == (ref, join_ref)


@pytest.mark.parametrize(
    "frame",
    [JS_JSON_PUSH, JS_JSON_PUSH_META, JS_BINARY_PUSH, JS_PING_JSON, JS_PING_BINARY],
)
def test_encode_as_client_reproduces_realtime_js_bytes(frame: bytes) -> None:
    assert encode_v2(decode_v2(frame), from_server=False) == frame


def test_encode_as_client_push_kind_0_round_trip() -> None:
    message = Message("topic", "event", BinaryPayload(b"efg"), "123", "12")
    assert encode_v2(message, from_server=False) == SERVER_CLIENT_PUSH


# --- binary frames from the server ----------------------------------------------------------


@pytest.mark.parametrize(
    ("message", "frame"),
    [
        (
            user_broadcast("topic", "user_event", b"efg", meta={"replayed": True}),
            SERVER_BINARY_USER_BROADCAST,
        ),
        (user_broadcast("topic", "user_event", b"efg"), SERVER_BINARY_USER_BROADCAST_NO_META),
        (
            user_broadcast("topic", "user_event", {"a": "b"}, meta={"replayed": True}),
            SERVER_JSON_USER_BROADCAST,
        ),
        (user_broadcast("topic", "user_event", {"a": "b"}), SERVER_JSON_USER_BROADCAST_NO_META),
        (Message("topic", "event", BinaryPayload(b"efg")), SERVER_BROADCAST),
    ],
)
def test_encode_server_binary_frames_byte_exact(message: Message, frame: bytes) -> None:
    assert encode_v2(message) == frame
    assert decode_v2(frame) == message


@pytest.mark.parametrize(
    ("frame", "body"),
    [
        (JS_JSON_BROADCAST, _user("user-event", {"a": "b"})),
        (JS_JSON_BROADCAST_META, _user("user-event", {"a": "b"}, {"replayed": True})),
        (JS_BINARY_BROADCAST, _user("user-event", b"\x01\x04")),
        (JS_BINARY_BROADCAST_META, _user("user-event", b"\x01\x04", {"replayed": True})),
    ],
)
def test_user_broadcast_kind_4_as_realtime_js_reads_it(
    frame: bytes, body: dict[str, object]
) -> None:
    message = decode_v2(frame)
    assert message == Message("top", "broadcast", body, None, None)
    assert encode_v2(message) == frame


def test_relayed_client_push_becomes_kind_4_without_metadata() -> None:
    # broadcast_handler.ex re-broadcasts a kind-3 push as a UserBroadcast with no metadata.
    push = decode_v2(JS_PING_JSON)
    relay = user_broadcast(push.topic, push.payload["event"], push.payload["payload"])
    frame = encode_v2(relay)
    assert frame == bytes([4, 14, 4, 0, 1]) + b"realtime:room1" + b"ping" + b'{"n":1}'
    assert decode_v2(frame).payload == {"type": "broadcast", "event": "ping", "payload": {"n": 1}}


def test_json_user_broadcast_still_encodes_as_v1_object() -> None:
    # What V1 subscribers get for a JSON user broadcast (user_broadcast.ex).
    text = protocol.encode(user_broadcast("realtime:r", "ping", {"n": 1}, meta={"id": "x"}))
    assert orjson.loads(text) == {
        "topic": "realtime:r",
        "event": "broadcast",
        "payload": {"type": "broadcast", "event": "ping", "payload": {"n": 1}, "meta": {"id": "x"}},
        "ref": None,
    }


def test_kinds_match_server_module_attributes() -> None:
    assert [kind.value for kind in BinaryKind] == [0, 1, 2, 3, 4]
    assert protocol.VSN_2 == "2.0.0"


@given(
    topic=st.text(min_size=1, max_size=60),
    event=st.text(max_size=60),
    data=st.binary(max_size=200)
    | st.dictionaries(st.text(max_size=8), st.integers(-(2**63), 2**63 - 1), max_size=4),
    ref=st.none() | st.text(min_size=1, max_size=10),
    from_server=st.booleans(),
)
def test_user_broadcast_round_trip(
    topic: str, event: str, data: object, ref: str | None, from_server: bool
) -> None:
    message = Message(topic, "broadcast", UserBroadcastPayload(_user(event, data)), ref, ref)
    frame = encode_v2(message, from_server=from_server)
    assert isinstance(frame, bytes)
    decoded = decode_v2(frame)
    assert isinstance(decoded.payload, UserBroadcastPayload)
    if from_server:  # kind 4 carries no refs
        message = Message(topic, "broadcast", message.payload)
    assert decoded == message


# --- malformed binary frames ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("frame", "problem"),
    [
        (b"", "empty binary frame"),
        (b"\x07abc", "unknown binary frame kind 7"),
        (b"\xff", "unknown binary frame kind 255"),
        (b"\x01\x00\x00\x01\x02tok", "kind 1 \\(reply\\) is not supported"),
        (b"\x03\x02", "truncated binary frame \\(kind 3 user_broadcast_push\\): header sizes"),
        (b"\x04\x05\x0a", "truncated binary frame \\(kind 4 user_broadcast\\)"),
        (SERVER_CLIENT_PUSH[:9], "truncated binary frame \\(kind 0 push\\): ref needs 3 bytes"),
        (SERVER_BROADCAST[:6], "truncated .* topic needs 5 bytes"),
        (SERVER_JSON_USER_BROADCAST[:20], "truncated .* metadata needs 17 bytes"),
        (JS_JSON_PUSH[:12], "truncated .* topic needs 3 bytes"),
        (b"\x04\x03\x01\x00\x02top" + b"e" + b"{}", "unknown user payload encoding 2"),
        (b"\x04\x03\x01\x00\x01top" + b"e" + b"{nope", "payload is not valid JSON"),
        (b"\x04\x03\x01\x00\x01top" + b"e", "payload is not valid JSON"),
        (b"\x04\x03\x01\x02\x01top" + b"e" + b"[]" + b"{}", "metadata must be a JSON object"),
        (b"\x04\x03\x01\x01\x01top" + b"e" + b"{" + b"{}", "metadata is not valid JSON"),
        (b"\x04\x02\x01\x00\x00\xff\xfe" + b"e", "field 'topic' is not valid UTF-8"),
        (b"\x04\x00\x01\x00\x00" + b"e", "field 'topic' must not be empty"),
        (b"\x00\x00\x00\x01\x00t", "field 'event' must not be empty"),
    ],
)
def test_decode_binary_rejects_malformed(frame: bytes, problem: str) -> None:
    with pytest.raises(ProtocolError, match=problem):
        decode_v2(frame)


@pytest.mark.parametrize(
    ("message", "problem"),
    [
        (user_broadcast("t" * 256, "e", {}), "topic is 256 bytes"),
        (user_broadcast("t", "é" * 128, {}), "user_event is 256 bytes"),
        (user_broadcast("t", "e", {}, meta={"k": "v" * 250}), "metadata is 258 bytes"),
        (
            Message("t", "broadcast", UserBroadcastPayload(_user("e", {})), "r" * 256, None),
            "ref is 256 bytes",
        ),
        (Message("t", "e" * 256, BinaryPayload(b"")), "event is 256 bytes"),
        (Message("t", "broadcast", UserBroadcastPayload(payload={})), "needs a string 'event'"),
    ],
)
def test_encode_binary_rejects_oversized_fields(message: Message, problem: str) -> None:
    with pytest.raises(ProtocolError, match=problem):
        encode_v2(message, from_server=message.ref is None)
