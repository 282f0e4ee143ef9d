"""Hostile frames through the sans-I/O decoders: whatever arrives, the result is a message or a
:class:`rtdata.protocol.ProtocolError` that keeps what could be read of the topic and refs (so
the server can answer on them), and join payloads of any types are judged, never crash."""

from __future__ import annotations

import contextlib
from typing import Any

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from rtdata import protocol
from rtdata.protocol import ProtocolError
from rtdata.server.realtime import join_payload_problem

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53), 2**53) | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=8,
)
fields = st.one_of(st.just("realtime:room"), st.just("phx_join"), st.just("7"), json_values)


def _check(frame: str | bytes, decode: Any, topic: object, ref: object) -> None:
    problem: ProtocolError | None = None
    try:
        message = decode(frame)
    except ProtocolError as exc:
        problem = exc
    if problem is None:
        assert message.topic == topic
        return
    assert problem.topic == (topic if isinstance(topic, str) and topic else None)
    if isinstance(ref, str):
        assert problem.ref == ref


@given(st.dictionaries(st.sampled_from(["topic", "event", "payload", "ref", "join_ref"]), fields))
def test_v1_decoder_answers_any_object_with_a_message_or_a_located_error(
    obj: dict[str, Any],
) -> None:
    _check(orjson.dumps(obj), protocol.decode, obj.get("topic"), obj.get("ref"))


@given(st.lists(fields, min_size=5, max_size=5))
def test_v2_decoder_answers_any_five_items_with_a_message_or_a_located_error(
    items: list[Any],
) -> None:
    _check(orjson.dumps(items).decode(), protocol.decode_v2, items[2], items[1])


@given(st.binary(max_size=64))
def test_decoders_answer_any_bytes_with_a_message_or_a_protocol_error(data: bytes) -> None:
    for decode in (protocol.decode, protocol.decode_v2):
        with contextlib.suppress(ProtocolError):
            decode(data)


@given(json_values)
def test_join_payloads_of_any_types_are_judged_without_raising(config: Any) -> None:
    problem = join_payload_problem({"config": config})
    assert problem is None or problem.startswith("config")


@pytest.mark.parametrize(
    ("config", "problem"),
    [
        (None, None),
        ({}, None),
        (
            {
                "broadcast": {"ack": "true", "self": False},
                "presence": {"key": "", "enabled": True},
                "private": "false",
                "postgres_changes": [{"event": "*", "schema": "public", "filter": "id=eq.1"}],
            },
            None,
        ),
        ({"broadcast": None, "presence": None, "postgres_changes": None}, None),
        ([1], "config must be an object, got array"),
        ({"private": 1}, "config.private must be a boolean, got number"),
        ({"broadcast": "x"}, "config.broadcast must be an object, got string"),
        ({"presence": {"key": 5}}, "config.presence.key must be a string, got number"),
        ({"postgres_changes": {}}, "config.postgres_changes must be a list, got object"),
        ({"postgres_changes": [None]}, "config.postgres_changes[0] must be an object, got null"),
        (
            {"postgres_changes": [{"event": "*"}, {"filter": 5}]},
            "config.postgres_changes[1].filter must be a string, got number",
        ),
    ],
)
def test_join_payload_problem_names_the_field_and_its_type(
    config: Any, problem: str | None
) -> None:
    assert join_payload_problem({"config": config}) == problem
