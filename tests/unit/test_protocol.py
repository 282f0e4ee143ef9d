"""The sans-I/O codec: frames in, messages out, and back."""

from __future__ import annotations

import orjson
import pytest

from rtdata import protocol
from rtdata.protocol import Message, ProtocolError


def test_decode_client_join_frame() -> None:
    frame = (
        '{"event":"phx_join","topic":"realtime:room1","ref":"1","join_ref":"1",'
        '"payload":{"config":{"postgres_changes":[{"event":"*","schema":"public"}]}}}'
    )
    message = protocol.decode(frame)
    assert message.topic == "realtime:room1"
    assert message.event == "phx_join"
    assert message.ref == "1"
    assert message.join_ref == "1"
    assert message.payload["config"]["postgres_changes"][0]["event"] == "*"


def test_decode_accepts_null_refs_and_integer_refs() -> None:
    assert (
        protocol.decode('{"topic":"phoenix","event":"heartbeat","payload":{},"ref":null}').ref
        is None
    )
    assert protocol.decode('{"topic":"t","event":"e","payload":{},"ref":7}').ref == "7"


@pytest.mark.parametrize(
    ("frame", "problem"),
    [
        ("not json", "not valid JSON"),
        ("[1,2]", "must be a JSON object"),
        ('{"event":"x","payload":{}}', "'topic'"),
        ('{"topic":"t","payload":{}}', "'event'"),
        ('{"topic":"t","event":"e","payload":[1]}', "'payload' must be an object"),
        ('{"topic":"t","event":"e","payload":{},"ref":true}', "'ref'"),
    ],
)
def test_decode_rejects_malformed_frames_naming_the_problem(frame: str, problem: str) -> None:
    with pytest.raises(ProtocolError, match=problem):
        protocol.decode(frame)


def test_server_frames_omit_join_ref_and_client_frames_carry_it() -> None:
    message = Message("realtime:a", "phx_reply", {"status": "ok"}, "3", "1")
    assert orjson.loads(protocol.encode(message)) == {
        "topic": "realtime:a",
        "event": "phx_reply",
        "payload": {"status": "ok"},
        "ref": "3",
    }
    assert orjson.loads(protocol.encode(message, from_server=False))["join_ref"] == "1"


def test_encode_then_decode_round_trips() -> None:
    message = Message("realtime:x", "broadcast", {"a": [1, {"b": None}]}, None, "2")
    assert protocol.decode(protocol.encode(message, from_server=False)) == message


def test_binding_ids_are_stable_nonzero_and_below_2_pow_27() -> None:
    a = {"event": "*", "schema": "public", "table": "t"}
    b = {"table": "t", "schema": "public", "event": "*"}
    c = {"event": "INSERT", "schema": "public", "table": "t"}
    assert protocol.binding_id(a) == protocol.binding_id(b)
    assert protocol.binding_id(a) != protocol.binding_id(c)
    for binding in (a, c, {}, {"x": 1}):
        assert 0 < protocol.binding_id(binding) < 2**27


def test_commit_timestamp_has_millisecond_precision_and_z() -> None:
    # 2024-05-01T10:00:00.123456789Z
    ns = 1714557600_123456789
    assert protocol.format_commit_timestamp(ns) == "2024-05-01T10:00:00.123Z"


def test_system_message_channel_is_the_sub_topic() -> None:
    message = protocol.system_message(
        "realtime:room1",
        extension="postgres_changes",
        message="Subscribed to PostgreSQL",
        status="ok",
    )
    assert message.payload["channel"] == "room1"
    assert message.ref is None


def test_close_frame_ref_is_the_join_ref() -> None:
    assert protocol.close_frame("realtime:a", "5").ref == "5"
