"""Test helpers: one scalable timeout and condition-based waiting."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import aiohttp
import httpx
import orjson

if TYPE_CHECKING:
    from rtdata.protocol import Message
    from rtdata.server import LocalServer
    from rtdata.server.store import Change

TIMEOUT_SCALE = float(os.environ.get("RTDATA_TEST_TIMEOUT_SCALE", "1"))
"""Multiply every test timeout by this on slow machines."""


def timeout_s(base_s: float) -> float:
    """Scale a timeout by ``RTDATA_TEST_TIMEOUT_SCALE``."""
    return base_s * TIMEOUT_SCALE


def wait_until(
    predicate: Callable[[], bool], timeout: float = 10.0, what: str = "condition"
) -> None:
    """Wait for ``predicate`` to hold, polling a condition (never a fixed sleep as sync)."""
    deadline = time.monotonic() + timeout_s(timeout)
    pause = threading.Event()
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s(timeout):.1f} s waiting for {what}")
        pause.wait(0.02)


async def until(
    predicate: Callable[[], bool], within_s: float = 5, what: str = "condition"
) -> None:
    """Wait on the event loop until ``predicate`` holds (polling; callbacks give nothing to
    await)."""
    async with asyncio.timeout(timeout_s(within_s)):
        while not predicate():  # noqa: ASYNC110 - client callbacks give no awaitable to wait on
            await asyncio.sleep(0.01)
    assert predicate(), what


def published_changes(server: LocalServer) -> list[Change]:
    """Record every change ``server`` publishes to its realtime subscribers from now on, on
    either backend: the memory store hands its changes to the hub as the write commits,
    Postgres from the WAL a moment later, so wait on the list (:func:`wait_until`)."""
    got: list[Change] = []
    hub = server.hub
    publish = hub.publish

    def spy(changes: Sequence[Change], may_read: Callable[[Mapping[str, Any], int], bool]) -> None:
        got.extend(changes)
        publish(changes, may_read)

    server.call(lambda: setattr(hub, "publish", spy))
    return got


EMERGENCY_ROW: dict[str, Any] = {
    "hospital_id": 1,
    "patient_name": "Ana",
    "emergency_type": "cardiac",
    "lat": 38.7,
    "lon": -9.1,
    "pickup_address": "Rua A 1",
}
"""A valid ``emergency_requests`` row of the hospital schema (defaults fill the rest)."""


class Socket:
    """A raw vsn 1.0.0 client that records every frame it receives (for exact wire checks)."""

    @staticmethod
    def url(server_url: str, key: str, path: str = "/realtime/v1/websocket") -> str:
        """Return the websocket URL of a local server for API key ``key``."""
        return f"{server_url}{path}?apikey={key}&vsn=1.0.0"

    async def nothing(self, within_s: float) -> None:
        """Assert that no frame arrives within ``within_s`` (for faults that stop traffic)."""
        try:
            async with asyncio.timeout(timeout_s(within_s)):
                text = await self.ws.receive_str()
        except TimeoutError:
            return
        raise AssertionError(f"expected silence, got {text[:200]}")

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws
        self.frames: list[str] = []

    async def send(self, topic: str, event: str, payload: dict[str, Any], ref: str | None) -> None:
        frame = {"topic": topic, "event": event, "payload": payload, "ref": ref, "join_ref": ref}
        await self.ws.send_str(orjson.dumps(frame).decode())

    async def expect(
        self, event: str, topic: str | None = None, within_s: float = 5
    ) -> dict[str, Any]:
        """Receive frames until one with ``event`` (and ``topic``) arrives; return it."""
        async with asyncio.timeout(timeout_s(within_s)):
            while True:
                text = await self.ws.receive_str()
                self.frames.append(text)
                frame: dict[str, Any] = orjson.loads(text)
                if frame["event"] == event and (topic is None or frame["topic"] == topic):
                    return frame


def run_in_step(script: str, argv: Sequence[Sequence[str]], timeout_s: float = 60) -> None:
    """Run ``python -c script ARGS`` once per ``argv`` entry, with this checkout importable;
    each must print ``ready`` and then wait for a line on stdin. Once all are ready they are
    told ``go`` together, so their work overlaps; each must exit with status 0."""
    root = Path(__file__).resolve().parents[1]
    workers = [
        subprocess.Popen(
            [sys.executable, "-c", script, *args],
            cwd=root,
            env={"PYTHONPATH": str(root), "PATH": "/usr/bin:/bin"},
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for args in argv
    ]
    for worker in workers:
        assert worker.stdout is not None
        assert worker.stdout.readline() == "ready\n"
    for worker in workers:
        assert worker.stdin is not None
        worker.stdin.write("go\n")
        worker.stdin.close()
    for worker in workers:
        assert worker.wait(timeout=timeout_s) == 0
        assert worker.stdout is not None
        worker.stdout.close()


SECRETS: set[str] = set()
"""Passwords and other secrets the tests use; the session's secrets scan (``tests/conftest.py``)
fails if any appears in a log record, an artifact or a file the tests left behind."""


def secret(value: str) -> str:
    """Register ``value`` for the session's secrets scan and return it."""
    SECRETS.add(value)
    return value


def rest_client(server: LocalServer, key: str, token: str | None = None) -> httpx.Client:
    """An httpx client of ``server``'s REST API with ``key`` as apikey, bearing ``token`` (the
    key itself when none): a signed-in user is ``rest_client(server, anon_key, token)``."""
    headers = {"apikey": key, "Authorization": f"Bearer {token or key}"}
    return httpx.Client(base_url=f"{server.url}/rest/v1", headers=headers, timeout=10)


def sign_up(server: LocalServer, email: str, password: str) -> tuple[str, str]:
    """Sign a user up through ``server``'s GoTrue; return their access token and user id."""
    response = httpx.post(
        f"{server.url}/auth/v1/signup",
        json={"email": email, "password": password},
        headers={"apikey": server.anon_key},
    )
    assert response.status_code == 200, response.text
    body = response.json()
    return body["access_token"], body["user"]["id"]


class KeptPushes:
    """A :class:`rtdata.server.realtime.Transport` for the I/O-free hub in unit tests: it keeps
    every message the hub sends, in order, and fails the test if a change is written."""

    def __init__(self) -> None:
        self.sent: list[Message] = []

    def push(self, message: Message) -> None:
        self.sent.append(message)

    def push_change(self, topic: str, ids: list[int], data_json: bytes) -> None:
        raise AssertionError(f"no change is written (one was, on {topic})")
