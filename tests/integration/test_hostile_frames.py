"""Hostile realtime frames and HTTP headers (issue #17, item 4 and the realtime/HTTP limits of
item 6), sent on real sockets to the local server with both serializers.

Every malformed frame gets an answer (a ``phx_reply`` error naming the problem, on the frame's
topic and ref when they can be read, else on topic ``phoenix``) or a documented close, and the
socket and its other channels live on. The store plays no part here, but ``shared_server``
runs each test on both backends all the same.
"""

from __future__ import annotations

import asyncio
import base64
import os
import struct
from typing import Any

import aiohttp
import httpx
import pytest

from rtdata import protocol
from rtdata.server import LocalServer
from rtdata.server.limits import (
    JOIN_RATE_WINDOW_S,
    MAX_CHANNELS_PER_SOCKET,
    MAX_HEADER_FIELD_BYTES,
    MAX_JOINS_PER_S,
)
from rtdata.server.masking import UNMASKED_CLOSE_MESSAGE
from tests.support import timeout_s

VSNS = ("1.0.0", "2.0.0")


class Raw:
    """A raw websocket client of either serializer that sends exactly the bytes it is given."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse, vsn: str) -> None:
        self.ws, self.vsn = ws, vsn

    async def send(
        self, topic: str, event: str, payload: dict[str, Any], ref: str | None = None
    ) -> None:
        message = protocol.Message(topic, event, payload, ref, ref)
        if self.vsn == "1.0.0":
            await self.ws.send_str(protocol.encode(message, from_server=False))
        else:
            frame = protocol.encode_v2(message, from_server=False)
            assert isinstance(frame, str)
            await self.ws.send_str(frame)

    async def receive(self, within_s: float = 5) -> protocol.Message:
        async with asyncio.timeout(timeout_s(within_s)):
            msg = await self.ws.receive()
        assert msg.type in (aiohttp.WSMsgType.TEXT, aiohttp.WSMsgType.BINARY), msg
        if self.vsn == "1.0.0":
            return protocol.decode(msg.data)
        return protocol.decode_v2(msg.data)

    async def reply(self, topic: str, ref: str | None) -> protocol.Message:
        """Receive frames until the ``phx_reply`` on ``topic`` with ``ref``; return it."""
        while True:
            message = await self.receive()
            if message.event == "phx_reply" and (message.topic, message.ref) == (topic, ref):
                return message

    async def join(self, topic: str, ref: str, config: Any = None) -> protocol.Message:
        payload: dict[str, Any] = {} if config is None else {"config": config}
        await self.send(topic, "phx_join", payload, ref)
        return await self.reply(topic, ref)

    async def still_joined(self, topic: str, ref: str) -> None:
        """Assert ``topic`` is still joined: an acked broadcast on it is answered ok."""
        await self.send(topic, "broadcast", {"type": "broadcast", "event": "e", "payload": {}}, ref)
        answer = await self.reply(topic, ref)
        assert answer.payload["status"] == "ok", answer
        await self.send("phoenix", "heartbeat", {}, f"hb{ref}")
        assert (await self.reply("phoenix", f"hb{ref}")).payload["status"] == "ok"


async def connect(
    session: aiohttp.ClientSession, server: LocalServer, vsn: str
) -> aiohttp.ClientWebSocketResponse:
    url = f"{server.url}/realtime/v1/websocket?apikey={server.anon_key}&vsn={vsn}"
    return await session.ws_connect(url, autoping=True)


KEEP = "realtime:hostile-keep"
ACK = {"broadcast": {"ack": True, "self": False}}


# (id, vsn, frame, topic of the answer, ref of the answer)
# fmt: off
MALFORMED: list[tuple[str, str, str | bytes, str, str | None]] = [
    ("v1-not-json", "1.0.0", "{not json", "phoenix", None),
    ("v1-empty-text", "1.0.0", "", "phoenix", None),
    ("v1-json-string", "1.0.0", '"hello"', "phoenix", None),
    ("v1-array-on-v1", "1.0.0", f'[null,"5","{KEEP}","phx_join",{{}}]', "phoenix", None),
    ("v1-binary-not-utf8", "1.0.0", b"\xff\xfe\x00", "phoenix", None),
    ("v1-topic-number", "1.0.0", '{"topic":5,"event":"heartbeat","payload":{},"ref":"7"}',
     "phoenix", "7"),
    ("v1-topic-missing", "1.0.0", '{"event":"heartbeat","payload":{},"ref":"8"}', "phoenix", "8"),
    ("v1-event-null", "1.0.0", f'{{"topic":"{KEEP}","event":null,"payload":{{}},"ref":"9"}}',
     KEEP, "9"),
    ("v1-event-number", "1.0.0", f'{{"topic":"{KEEP}","event":3,"payload":{{}},"ref":"10"}}',
     KEEP, "10"),
    ("v1-ref-object", "1.0.0",
     f'{{"topic":"{KEEP}","event":"broadcast","payload":{{}},"ref":{{"a":1}}}}', KEEP, None),
    ("v1-payload-list", "1.0.0",
     f'{{"topic":"{KEEP}","event":"broadcast","payload":[1],"ref":"11"}}', KEEP, "11"),
    ("v1-join-ref-list", "1.0.0",
     f'{{"topic":"{KEEP}","event":"phx_leave","payload":{{}},"ref":"12","join_ref":[]}}',
     KEEP, "12"),
    ("v2-not-json", "2.0.0", "[1,2", "phoenix", None),
    ("v2-object-on-v2", "2.0.0", f'{{"topic":"{KEEP}","event":"heartbeat"}}', "phoenix", None),
    ("v2-four-items", "2.0.0", f'[null,"5","{KEEP}","heartbeat"]', "phoenix", None),
    ("v2-six-items", "2.0.0", f'[null,"5","{KEEP}","heartbeat",{{}},1]', "phoenix", None),
    ("v2-topic-number", "2.0.0", '[null,"6",6,"heartbeat",{}]', "phoenix", "6"),
    ("v2-event-null", "2.0.0", f'[null,"7","{KEEP}",null,{{}}]', KEEP, "7"),
    ("v2-payload-string", "2.0.0", f'[null,"8","{KEEP}","broadcast","x"]', KEEP, "8"),
    ("v2-ref-object", "2.0.0", f'[null,{{"r":1}},"{KEEP}","broadcast",{{}}]', KEEP, None),
    ("v2-binary-empty", "2.0.0", b"", "phoenix", None),
    ("v2-binary-unknown-kind", "2.0.0", b"\x09\x00\x00", "phoenix", None),
    ("v2-binary-reply-kind", "2.0.0", b"\x01\x00\x00\x00\x00", "phoenix", None),
    ("v2-binary-truncated", "2.0.0", b"\x03\x01\x01\x40\x01\x00\x01abc", "phoenix", None),
    ("v2-binary-bad-encoding", "2.0.0",
     b"\x03\x00\x02" + bytes([len(KEEP)]) + b"\x01\x00\x07" + b"13" + KEEP.encode() + b"e{}",
     KEEP, "13"),
    ("v2-binary-bad-json", "2.0.0",
     b"\x03\x00\x02" + bytes([len(KEEP)]) + b"\x01\x00\x01" + b"14" + KEEP.encode() + b"e{no",
     KEEP, "14"),
]
# fmt: on


@pytest.mark.parametrize(
    ("vsn", "frame", "topic", "ref"),
    [case[1:] for case in MALFORMED],
    ids=[case[0] for case in MALFORMED],
)
def test_malformed_frames_get_an_error_reply_and_the_socket_lives_on(
    shared_server: LocalServer, vsn: str, frame: str | bytes, topic: str, ref: str | None
) -> None:
    async def run() -> None:
        async with aiohttp.ClientSession() as session:
            raw = Raw(await connect(session, shared_server, vsn), vsn)
            assert (await raw.join(KEEP, "1", ACK)).payload["status"] == "ok"
            if isinstance(frame, bytes):
                await raw.ws.send_bytes(frame)
            else:
                await raw.ws.send_str(frame)
            answer = await raw.reply(topic, ref)
            assert answer.payload["status"] == "error"
            reason = answer.payload["response"]["reason"]
            assert reason.startswith("InvalidMessage: "), reason
            await raw.still_joined(KEEP, "2")
            await raw.ws.close()

    asyncio.run(run())


@pytest.mark.parametrize("vsn", VSNS)
def test_unknown_events_and_unjoined_topics_get_an_error_reply(
    shared_server: LocalServer, vsn: str
) -> None:
    async def run() -> None:
        async with aiohttp.ClientSession() as session:
            raw = Raw(await connect(session, shared_server, vsn), vsn)
            assert (await raw.join(KEEP, "1", ACK)).payload["status"] == "ok"
            await raw.send(KEEP, "no_such_event", {}, "2")
            answer = await raw.reply(KEEP, "2")
            assert answer.payload == {
                "status": "error",
                "response": {"reason": "unknown event 'no_such_event'"},
            }
            for topic, event in [
                ("phoenix", "phx_join"),
                ("phoenix", "broadcast"),
                ("elsewhere", "phx_join"),
                ("realtime:never-joined", "broadcast"),
            ]:
                await raw.send(topic, event, {}, "3")
                answer = await raw.reply(topic, "3")
                assert answer.payload["response"] == {"reason": "unmatched topic"}, topic
            await raw.still_joined(KEEP, "4")
            await raw.ws.close()

    asyncio.run(run())


# fmt: off
BAD_CONFIGS: list[tuple[str, Any]] = [
    ("filter-number", {"postgres_changes": [{"event": "*", "table": "emergency_requests",
                                             "schema": "public", "filter": 5}]}),
    ("filter-object", {"postgres_changes": [{"event": "*", "table": "emergency_requests",
                                             "schema": "public", "filter": {"id": 1}}]}),
    ("table-number", {"postgres_changes": [{"event": "*", "schema": "public", "table": 1}]}),
    ("event-list", {"postgres_changes": [{"event": ["INSERT"], "schema": "public"}]}),
    ("binding-number", {"postgres_changes": [7]}),
    ("postgres-changes-object", {"postgres_changes": {"event": "*"}}),
    ("config-list", [1, 2]),
    ("config-string", "config"),
    ("config-number", 3),
    ("broadcast-string", {"broadcast": "yes"}),
    ("broadcast-ack-object", {"broadcast": {"ack": {}}}),
    ("presence-number", {"presence": 1}),
    ("presence-key-object", {"presence": {"key": {"k": 1}}}),
    ("private-number", {"private": 1}),
]
# fmt: on


@pytest.mark.parametrize("vsn", VSNS)
@pytest.mark.parametrize(
    "config", [case[1] for case in BAD_CONFIGS], ids=[case[0] for case in BAD_CONFIGS]
)
def test_bad_join_config_is_refused_on_its_own_topic_and_other_channels_live_on(
    shared_server: LocalServer, vsn: str, config: Any
) -> None:
    async def run() -> None:
        async with aiohttp.ClientSession() as session:
            raw = Raw(await connect(session, shared_server, vsn), vsn)
            assert (await raw.join(KEEP, "1", ACK)).payload["status"] == "ok"
            answer = await raw.join("realtime:hostile-bad", "2", config)
            assert answer.payload["status"] == "error"
            reason = answer.payload["response"]["reason"]
            assert reason.startswith("InvalidJoinPayload: config"), reason
            await raw.still_joined(KEEP, "3")
            # The refused topic was not joined.
            await raw.send("realtime:hostile-bad", "broadcast", {}, "4")
            refused = await raw.reply("realtime:hostile-bad", "4")
            assert refused.payload["response"] == {"reason": "unmatched topic"}
            await raw.ws.close()

    asyncio.run(run())


@pytest.mark.parametrize("vsn", VSNS)
def test_too_many_channels_refuses_the_next_join_and_keeps_the_others(
    shared_server: LocalServer, vsn: str
) -> None:
    async def run() -> None:
        async with aiohttp.ClientSession() as session:
            raw = Raw(await connect(session, shared_server, vsn), vsn)
            for n in range(MAX_CHANNELS_PER_SOCKET):
                joined = await raw.join(f"realtime:many-{n}", str(n), ACK)
                assert joined.payload["status"] == "ok", n
            refused = await raw.join("realtime:many-extra", "extra")
            assert refused.payload == {
                "status": "error",
                "response": {"reason": "ChannelRateLimitReached: Too many channels"},
            }
            # A re-join of a held topic replaces it and is not a new channel.
            rejoined = await raw.join("realtime:many-0", "again", ACK)
            assert rejoined.payload["status"] == "ok"
            await raw.still_joined(f"realtime:many-{MAX_CHANNELS_PER_SOCKET - 1}", "live")
            await raw.send("realtime:many-1", "phx_leave", {}, "leave")
            assert (await raw.reply("realtime:many-1", "leave")).payload["status"] == "ok"
            assert (await raw.join("realtime:many-extra", "extra2")).payload["status"] == "ok"
            await raw.ws.close()

    asyncio.run(run())


def test_a_join_flood_is_refused_on_its_topic_and_the_socket_lives_on(server: LocalServer) -> None:
    """Past the joins-per-second limit (for the whole server) a join gets Realtime's refusal on
    its own topic; the flooding socket's channel, and another socket, keep working."""

    async def run() -> None:
        async with aiohttp.ClientSession() as session:
            raw = Raw(await connect(session, server, "1.0.0"), "1.0.0")
            other = Raw(await connect(session, server, "2.0.0"), "2.0.0")
            assert (await other.join(KEEP, "k", ACK)).payload["status"] == "ok"
            burst = MAX_JOINS_PER_S * JOIN_RATE_WINDOW_S - 1  # the other socket's join counted
            for n in range(burst):
                await raw.send("realtime:flood", "phx_join", {"config": ACK}, str(n))
            # Replies come in order: the last of the burst is the last join taken.
            assert (await raw.reply("realtime:flood", str(burst - 1))).payload["status"] == "ok"
            refused = await raw.join("realtime:flood-more", "over")
            assert refused.payload == {
                "status": "error",
                "response": {"reason": "ClientJoinRateLimitReached: Too many joins per second"},
            }
            await raw.still_joined("realtime:flood", "live")
            await other.still_joined(KEEP, "live")
            await raw.ws.close()
            await other.ws.close()

    asyncio.run(run())


# ---------------------------------------------------------------- RFC 6455 masking


def _frame(opcode: int, payload: bytes, *, masked: bool) -> bytes:
    head = bytes([0x80 | opcode])
    size = len(payload)
    mask_bit = 0x80 if masked else 0
    if size < 126:
        head += bytes([mask_bit | size])
    else:
        head += bytes([mask_bit | 126]) + struct.pack("!H", size)
    if not masked:
        return head + payload
    key = os.urandom(4)
    return head + key + bytes(b ^ key[i % 4] for i, b in enumerate(payload))


async def _handshake(server: LocalServer, vsn: str) -> tuple[asyncio.StreamReader, Any]:
    reader, writer = await asyncio.open_connection(server.host, server.port)
    key = base64.b64encode(os.urandom(16)).decode()
    writer.write(
        (
            f"GET /realtime/v1/websocket?apikey={server.anon_key}&vsn={vsn} HTTP/1.1\r\n"
            f"Host: {server.host}:{server.port}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
            "Sec-WebSocket-Version: 13\r\n\r\n"
        ).encode()
    )
    head = await reader.readuntil(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 101"), head
    return reader, writer


async def _read_frame(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    first, second = await reader.readexactly(2)
    size = second & 0x7F
    if size == 126:
        size = struct.unpack("!H", await reader.readexactly(2))[0]
    elif size == 127:
        size = struct.unpack("!Q", await reader.readexactly(8))[0]
    return first & 0x0F, await reader.readexactly(size)


def _heartbeat(vsn: str, ref: str) -> bytes:
    message = protocol.Message("phoenix", "heartbeat", {}, ref, None)
    if vsn == "1.0.0":
        return protocol.encode(message, from_server=False).encode()
    frame = protocol.encode_v2(message, from_server=False)
    assert isinstance(frame, str)
    return frame.encode()


@pytest.mark.parametrize("vsn", VSNS)
def test_unmasked_client_frame_closes_the_socket_with_1002(
    shared_server: LocalServer, vsn: str
) -> None:
    async def run() -> None:
        reader, writer = await _handshake(shared_server, vsn)
        try:
            # A masked frame is answered ...
            writer.write(_frame(0x1, _heartbeat(vsn, "m1"), masked=True))
            async with asyncio.timeout(timeout_s(5)):
                opcode, data = await _read_frame(reader)
            assert opcode == 0x1
            assert b"m1" in data
            # ... an unmasked one closes with 1002, even in the same write as a masked one
            # before it (whose reply may or may not beat the close frame).
            writer.write(
                _frame(0x1, _heartbeat(vsn, "m2"), masked=True)
                + _frame(0x1, _heartbeat(vsn, "u1"), masked=False)
            )
            frames = []
            async with asyncio.timeout(timeout_s(5)):
                while True:
                    opcode, data = await _read_frame(reader)
                    frames.append((opcode, data))
                    if opcode == 0x8:
                        break
            assert struct.unpack("!H", frames[-1][1][:2])[0] == 1002
            assert frames[-1][1][2:] == UNMASKED_CLOSE_MESSAGE
            assert not any(b"u1" in data for _, data in frames)
        finally:
            writer.close()

    asyncio.run(run())


# ---------------------------------------------------------------- HTTP headers and Range


def test_oversized_header_is_refused_with_400_and_the_server_lives_on(
    shared_server: LocalServer,
) -> None:
    headers = {"apikey": shared_server.anon_key}
    url = f"{shared_server.url}/rest/v1/hospitals"
    huge = {**headers, "X-Padding": "a" * (MAX_HEADER_FIELD_BYTES + 1)}
    assert httpx.get(url, headers=huge).status_code in (400, 431)
    many = {**headers, **{f"X-H{n}": "1" for n in range(200)}}
    assert httpx.get(url, headers=many).status_code in (400, 431)
    long_line = f"{url}?select={'a' * 9000}"
    assert httpx.get(long_line, headers=headers).status_code in (400, 414, 431)
    assert httpx.get(url, headers=headers).status_code == 200


@pytest.mark.parametrize(
    "range_header",
    [
        "0-" + "9" * 5000,
        "9" * 5000 + "-",
        "9" * 40 + "-" + "9" * 41,
        "0-99999999999999999999",
        "0-9223372036854775807",
        "abc",
        "1-2-3",
        "-5",
        "rows=0-4",
        "0-" + "0" * 5000 + "4",
    ],
    ids=lambda r: r[:24] + ("..." if len(r) > 24 else ""),
)
def test_long_or_garbled_range_header_gives_no_500(
    shared_server: LocalServer, range_header: str
) -> None:
    url = f"{shared_server.url}/rest/v1/hospitals"
    response = httpx.get(url, headers={"apikey": shared_server.anon_key, "Range": range_header})
    assert response.status_code in (200, 206, 416), response.text
    if response.status_code == 416:
        assert response.json()["code"] == "PGRST103"
    else:
        assert isinstance(response.json(), list)


def test_range_header_upper_below_lower_is_pgrst103(shared_server: LocalServer) -> None:
    url = f"{shared_server.url}/rest/v1/hospitals"
    response = httpx.get(url, headers={"apikey": shared_server.anon_key, "Range": "9" * 30 + "-3"})
    assert response.status_code == 416
    assert response.json()["code"] == "PGRST103"
