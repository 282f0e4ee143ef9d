"""The optional fast decode path: it accepts exactly the postgres_changes frames realtime-py's
models accept, gives callbacks the same payload, and leaves every other frame to realtime-py."""

from __future__ import annotations

import asyncio
import copy
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError
from realtime.message import PostgresChangesMessage, ServerMessageAdapter

from rtdata.fastpath import attach, change_frame

CHANGE: dict[str, Any] = {
    "topic": "realtime:rtdata-tables",
    "event": "postgres_changes",
    "payload": {
        "ids": [7, 9],
        "data": {
            "schema": "public",
            "table": "emergency_requests",
            "commit_timestamp": "2026-11-23T02:00:00.123456Z",
            "type": "UPDATE",
            "columns": [{"name": "id", "type": "int8"}, {"name": "status", "type": "text"}],
            "errors": None,
            "record": {"id": 1, "status": "accepted"},
            "old_record": {"id": 1},
        },
    },
    "ref": None,
}


def official(text: str) -> dict[str, Any] | None:
    """What realtime-py gives a postgres_changes callback for ``text``, or None."""
    try:
        message = ServerMessageAdapter.validate_json(text)
    except ValidationError:
        return None
    if not isinstance(message, PostgresChangesMessage):
        return None
    payload = dict(message.payload)
    payload["data"] = {k: getattr(v, "value", v) for k, v in payload["data"].items()}
    return payload


def ours(text: str) -> dict[str, Any] | None:
    found = change_frame(text)
    return None if found is None else found[1]


# A mutation replaces or removes one field somewhere in a valid frame.
_PATHS = [
    ("ref",),
    ("topic",),
    ("event",),
    ("payload",),
    ("payload", "ids"),
    ("payload", "data"),
    ("payload", "data", "schema"),
    ("payload", "data", "table"),
    ("payload", "data", "commit_timestamp"),
    ("payload", "data", "type"),
    ("payload", "data", "columns"),
    ("payload", "data", "errors"),
    ("payload", "data", "record"),
    ("payload", "data", "old_record"),
]
_VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-5, 5),
    st.sampled_from(["", "INSERT", "DELETE", "*", "x", "realtime:x", "postgres_changes", "1"]),
    st.lists(st.integers(0, 3), max_size=3),
    st.lists(st.sampled_from(["e", 1]), max_size=2),
    st.just([{"name": "id", "type": "int8"}]),
    st.just([{"name": 1}]),
    st.dictionaries(st.sampled_from(["id", "a"]), st.integers(0, 3), max_size=2),
)


@settings(max_examples=400, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(_PATHS), st.one_of(st.just(...), _VALUES)), max_size=3))
def test_any_mutated_frame_is_accepted_only_if_the_official_models_accept_it(
    mutations: list[tuple[tuple[str, ...], Any]],
) -> None:
    frame = copy.deepcopy(CHANGE)
    for path, value in mutations:
        parent: Any = frame
        for key in path[:-1]:
            parent = parent.get(key) if isinstance(parent, dict) else None
        if not isinstance(parent, dict):
            continue
        if value is ...:
            parent.pop(path[-1], None)
        else:
            parent[path[-1]] = value
    text = orjson.dumps(frame).decode()
    mine = ours(text)
    if mine is not None:  # falling back to realtime-py is always safe; accepting must be exact
        assert mine == official(text)


def test_other_frames_and_garbage_go_to_the_official_client() -> None:
    broadcast = {"topic": "realtime:x", "event": "broadcast", "ref": None,
                 "payload": {"event": "postgres_changes", "payload": {}, "type": "broadcast"}}  # fmt: skip
    for text in [
        '{"event": "postgres_changes"',
        "postgres_changes",
        orjson.dumps(broadcast).decode(),
    ]:
        assert change_frame(text) is None


class _Socket:
    """A websocket that replays frames, for the recv wrapper."""

    def __init__(self, frames: list[str | bytes]) -> None:
        self.frames = frames

    async def recv(self) -> str | bytes:
        return self.frames.pop(0)


def test_attach_serves_changes_and_hands_on_the_rest() -> None:
    seen: list[Any] = []
    errors: list[Exception] = []

    def boom(_payload: Any) -> None:
        raise RuntimeError("callback failed")

    change = orjson.dumps(CHANGE).decode()
    unknown = change.replace("realtime:rtdata-tables", "realtime:elsewhere")
    heartbeat = (
        '{"topic":"phoenix","event":"phx_reply","payload":{"status":"ok","response":{}},"ref":"1"}'
    )
    ws = _Socket([change, change, b"\x01binary", unknown, heartbeat])
    callbacks: dict[str, list[Any]] = {"realtime:rtdata-tables": [seen.append]}
    attach(ws, callbacks.get, errors.append)

    async def read(n: int) -> list[Any]:
        return [await ws.recv() for _ in range(n)]

    assert asyncio.run(read(3)) == [b"\x01binary", unknown, heartbeat]
    assert seen == [CHANGE["payload"], CHANGE["payload"]]
    assert errors == []

    ws.frames = [change, heartbeat]
    callbacks["realtime:rtdata-tables"] = [boom, seen.append]
    assert asyncio.run(read(1)) == [heartbeat]
    assert [str(e) for e in errors] == ["callback failed"]


@pytest.mark.parametrize("kind", ["INSERT", "UPDATE", "DELETE"])
def test_every_op_decodes(kind: str) -> None:
    frame = copy.deepcopy(CHANGE)
    frame["payload"]["data"]["type"] = kind
    text = orjson.dumps(frame).decode()
    assert ours(text) == official(text) is not None
