"""The realtime join rate limit (``MAX_JOINS_PER_S`` averaged over ``JOIN_RATE_WINDOW_S``), on
the I/O-free hub with a clock the test moves."""

from __future__ import annotations

from pathlib import Path

from rtdata.protocol import Message
from rtdata.server.auth import DEFAULT_JWT_SECRET, make_key
from rtdata.server.limits import JOIN_RATE_WINDOW_S, MAX_JOINS_PER_S
from rtdata.server.realtime import RealtimeHub, Session
from rtdata.server.schema import load_schema
from rtdata.server.store import TableStore

BURST = MAX_JOINS_PER_S * JOIN_RATE_WINDOW_S
REFUSAL = {
    "status": "error",
    "response": {"reason": "ClientJoinRateLimitReached: Too many joins per second"},
}


class _Pushes:
    """A transport that keeps what the hub sends."""

    def __init__(self) -> None:
        self.sent: list[Message] = []

    def push(self, message: Message) -> None:
        self.sent.append(message)

    def push_change(self, topic: str, ids: list[int], data_json: bytes) -> None:
        raise AssertionError("no change is written")


class _Clock:
    def __init__(self) -> None:
        self.now_s = 1_000.0

    def __call__(self) -> float:
        return self.now_s


def _hub(tmp_path: Path, clock: _Clock) -> RealtimeHub:
    sql = tmp_path / "schema.sql"
    sql.write_text("create table items (id int8 primary key);\n")
    return RealtimeHub(TableStore(load_schema(sql)), DEFAULT_JWT_SECRET, clock_s=clock)


def _join(session: Session, transport: _Pushes, topic: str, ref: str) -> Message:
    """Send a join with no bindings; return the hub's reply to it."""
    session.handle(Message(topic, "phx_join", {"config": {}}, ref, ref))
    return next(m for m in reversed(transport.sent) if m.event == "phx_reply" and m.ref == ref)


def test_a_burst_up_to_the_window_is_taken_and_the_next_join_is_refused_on_its_topic(
    tmp_path: Path,
) -> None:
    clock = _Clock()
    hub = _hub(tmp_path, clock)
    transport = _Pushes()
    session = hub.connect(transport, make_key("service_role"))
    for n in range(BURST):  # rejoins of one topic: each is a join, none a new channel
        clock.now_s += 0.001
        assert _join(session, transport, "realtime:room", str(n)).payload["status"] == "ok", n
    refused = _join(session, transport, "realtime:other", "over")
    assert refused.topic == "realtime:other"
    assert refused.payload == REFUSAL
    assert "realtime:room" in session.channels  # the socket's channel lives on
    assert "realtime:other" not in session.channels
    assert hub.bad_input["too many joins per second"] == 1


def test_joins_are_taken_again_as_the_window_moves_on_and_refusals_do_not_count(
    tmp_path: Path,
) -> None:
    clock = _Clock()
    hub = _hub(tmp_path, clock)
    transport = _Pushes()
    session = hub.connect(transport, make_key("service_role"))
    for n in range(BURST):
        _join(session, transport, "realtime:room", str(n))
    for n in range(50):  # a client retrying in a loop stays refused, and is not counted
        assert _join(session, transport, "realtime:room", f"retry-{n}").payload == REFUSAL
    clock.now_s += JOIN_RATE_WINDOW_S  # every counted join has left the window
    assert _join(session, transport, "realtime:room", "later").payload["status"] == "ok"
    for n in range(BURST - 1):
        assert _join(session, transport, "realtime:room", f"b-{n}").payload["status"] == "ok"
    assert _join(session, transport, "realtime:room", "full").payload == REFUSAL


def test_the_limit_is_for_the_whole_server_not_per_socket(tmp_path: Path) -> None:
    clock = _Clock()
    hub = _hub(tmp_path, clock)
    transports = [_Pushes() for _ in range(4)]
    sessions = [(t, hub.connect(t, make_key("anon"))) for t in transports]
    for n in range(BURST):
        transport, session = sessions[n % len(sessions)]
        assert _join(session, transport, "realtime:room", str(n)).payload["status"] == "ok"
    transport, session = sessions[0]
    assert _join(session, transport, "realtime:room", "over").payload == REFUSAL
