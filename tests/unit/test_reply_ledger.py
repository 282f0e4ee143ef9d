"""``rtdata.trace.ReplyLedger``: a reply that answers no request of its socket is noticed."""

from __future__ import annotations

import orjson
import pytest

from rtdata import protocol
from rtdata.protocol import Message
from rtdata.trace import ReplyLedger

OK = {"status": "ok", "response": {}}


def _frames(vsn: str, message: Message, *, from_server: bool) -> str:
    if vsn == "1.0.0":
        return protocol.encode(message, from_server=from_server)
    frame = protocol.encode_v2(message, from_server=from_server)
    assert isinstance(frame, str)
    return frame


@pytest.mark.parametrize("vsn", ["1.0.0", "2.0.0"])
def test_a_reply_is_expected_once_and_an_unknown_ref_is_not(vsn: str) -> None:
    ledger = ReplyLedger()
    join = Message("realtime:room", "phx_join", {"config": {}}, "1", "1")
    ledger.sent(_frames(vsn, join, from_server=False))
    reply = _frames(vsn, Message("realtime:room", "phx_reply", OK, "1", "1"), from_server=True)
    assert not ledger.unexpected(reply)
    assert ledger.unexpected(reply)  # the same reply again
    stranger = Message("realtime:room", "phx_reply", OK, "77", "1")
    assert ledger.unexpected(_frames(vsn, stranger, from_server=True))


def test_frames_that_are_not_readable_replies_are_left_to_other_checks() -> None:
    ledger = ReplyLedger()
    change = Message("realtime:room", "postgres_changes", {"ids": [1], "data": {}})
    assert not ledger.unexpected(protocol.encode(change))
    assert not ledger.unexpected('{"event": "phx_reply", not json')
    no_response = orjson.dumps(
        {"topic": "realtime:room", "event": "phx_reply", "payload": {"status": "ok"}, "ref": "9"}
    ).decode()
    assert not ledger.unexpected(no_response)  # realtime-py cannot read it: malformed
    push = Message("realtime:room", "phx_reply", OK)  # no ref: answers nothing, asks nothing
    assert not ledger.unexpected(protocol.encode(push))
    assert not ledger.unexpected(b"\x01phx_reply")


def test_the_oldest_pending_ref_is_forgotten_past_the_bound() -> None:
    ledger = ReplyLedger(max_pending=2)
    for ref in ("1", "2", "3"):
        ledger.sent(protocol.encode(Message("phoenix", "heartbeat", {}, ref), from_server=False))
    replies = {
        ref: protocol.encode(Message("phoenix", "phx_reply", OK, ref)) for ref in ("1", "2", "3")
    }
    assert ledger.unexpected(replies["1"])  # forgotten
    assert not ledger.unexpected(replies["2"])
    assert not ledger.unexpected(replies["3"])
