"""The realtime join rate limit (``MAX_JOINS_PER_S`` averaged over ``JOIN_RATE_WINDOW_S``), on
the I/O-free hub with a clock the test moves."""

from __future__ import annotations

from pathlib import Path

import pytest

from rtdata.protocol import Message
from rtdata.server.auth import DEFAULT_JWT_SECRET, make_key
from rtdata.server.limits import JOIN_RATE_WINDOW_S, MAX_JOINS_PER_S
from rtdata.server.realtime import RealtimeHub, Session
from rtdata.server.schema import load_schema
from rtdata.server.store import TableStore
from tests.support import KeptPushes

BURST = MAX_JOINS_PER_S * JOIN_RATE_WINDOW_S
REFUSAL = {
    "status": "error",
    "response": {"reason": "ClientJoinRateLimitReached: Too many joins per second"},
}


class _Clock:
    """The hub's ``clock_s``: seconds that move only when the test moves them."""

    def __init__(self) -> None:
        self.now_s = 1_000.0

    def __call__(self) -> float:
        return self.now_s


class _Socket:
    """One connection to the hub: its session and what the hub sent it."""

    def __init__(self, hub: RealtimeHub, role: str = "service_role") -> None:
        self.transport = KeptPushes()
        self.session: Session = hub.connect(self.transport, make_key(role))

    def join(self, topic: str, ref: str) -> Message:
        """Send a join with no bindings; return the hub's reply to it."""
        self.session.handle(Message(topic, "phx_join", {"config": {}}, ref, ref))
        sent = reversed(self.transport.sent)
        return next(m for m in sent if m.event == "phx_reply" and m.ref == ref)


@pytest.fixture
def clock() -> _Clock:
    return _Clock()


@pytest.fixture
def hub(tmp_path: Path, clock: _Clock) -> RealtimeHub:
    sql = tmp_path / "schema.sql"
    sql.write_text("create table items (id int8 primary key);\n")
    return RealtimeHub(TableStore(load_schema(sql)), DEFAULT_JWT_SECRET, clock_s=clock)


def test_a_burst_up_to_the_window_is_taken_and_the_next_join_is_refused_on_its_topic(
    hub: RealtimeHub, clock: _Clock
) -> None:
    socket = _Socket(hub)
    for n in range(BURST):  # rejoins of one topic: each is a join, none a new channel
        clock.now_s += 0.001
        assert socket.join("realtime:room", str(n)).payload["status"] == "ok", n
    refused = socket.join("realtime:other", "over")
    assert refused.topic == "realtime:other"
    assert refused.payload == REFUSAL
    assert "realtime:room" in socket.session.channels  # the socket's channel lives on
    assert "realtime:other" not in socket.session.channels
    assert hub.bad_input["too many joins per second"] == 1


def test_joins_are_taken_again_as_the_window_moves_on_and_refusals_do_not_count(
    hub: RealtimeHub, clock: _Clock
) -> None:
    socket = _Socket(hub)
    for n in range(BURST):
        socket.join("realtime:room", str(n))
    for n in range(50):  # a client retrying in a loop stays refused, and is not counted
        assert socket.join("realtime:room", f"retry-{n}").payload == REFUSAL
    clock.now_s += JOIN_RATE_WINDOW_S  # every counted join has left the window
    assert socket.join("realtime:room", "later").payload["status"] == "ok"
    for n in range(BURST - 1):
        assert socket.join("realtime:room", f"b-{n}").payload["status"] == "ok"
    assert socket.join("realtime:room", "full").payload == REFUSAL


def test_the_limit_is_for_the_whole_server_not_per_socket(hub: RealtimeHub) -> None:
    sockets = [_Socket(hub, "anon") for _ in range(4)]
    for n in range(BURST):
        assert sockets[n % len(sockets)].join("realtime:room", str(n)).payload["status"] == "ok"
    assert sockets[0].join("realtime:room", "over").payload == REFUSAL
