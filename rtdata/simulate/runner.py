"""Thin I/O shell that sends a scenario's writes (:class:`~rtdata.simulate.write.WriteSource`)
over REST.

:class:`Simulator` drives a scenario against a PostgREST-shaped API (``<url>/rest/v1/<table>``),
and sends its broadcasts to Realtime's HTTP endpoint (``<url>/realtime/v1/api/broadcast``),
with :class:`httpx.Client`, paced on a monotonic clock. Failed requests are counted and logged,
never raised: the simulator is a background load generator and keeps going until stopped.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Final

import httpx

from rtdata.simulate.write import AuthUser, Broadcast, Write, WriteSource

if TYPE_CHECKING:
    from rtdata.simulate.presence import PresenceSimulator

__all__ = ["Simulator"]

logger = logging.getLogger(__name__)

THREAD_NAME: Final = "rtdata-simulator"
"""Name of the thread :meth:`Simulator.start` runs in."""

_MAX_LAG_S: Final = 0.5
"""How far pacing may fall behind schedule before it stops trying to catch up."""


class Simulator:
    """Send scenario writes to a REST API at a steady rate until stopped.

    Counters are updated only by the thread running :meth:`run`; reading them from another
    thread is safe.

    Attributes:
        scenario: The scenario that produces the writes.
        writes_ok: Writes (and broadcasts) the server accepted (2xx).
        writes_failed: Writes that failed: network error, timeout, 4xx/5xx answer, or an
            unexpected error while producing or sending the write.
        last_error: Text of the most recent failure, or ``None`` if none happened yet.
        presence: The presence simulator that runs beside the writes, or ``None``.

    Args:
        url: Project URL, for example ``http://127.0.0.1:54321``; ``/rest/v1`` is appended.
        key: API key, sent as ``apikey`` and as a bearer token; never logged.
        scenario: The scenario to drive (a scenario pack builds it:
            :meth:`rtdata.scenarios.Scenario.scenario`).
        rate_per_s: Target writes per second, averaged; must be positive and finite.
        duration_s: Stop after this many seconds; ``None`` runs until :meth:`stop`.
        timeout_s: Timeout of each HTTP request.
        transport: httpx transport to use instead of the network (tests use
            :class:`httpx.MockTransport`).
        presence: A presence simulator to start and stop with the writes (signing the
            scenario's people in and out while running), or ``None``.

    Raises:
        ValueError: ``rate_per_s``, ``duration_s`` or ``timeout_s`` is out of range.
    """

    def __init__(
        self,
        url: str,
        key: str,
        scenario: WriteSource,
        *,
        rate_per_s: float = 20.0,
        duration_s: float | None = None,
        timeout_s: float = 10.0,
        transport: httpx.BaseTransport | None = None,
        presence: PresenceSimulator | None = None,
    ) -> None:
        """Create a stopped simulator; nothing is sent until :meth:`run` or :meth:`start`."""
        if not (math.isfinite(rate_per_s) and rate_per_s > 0):
            raise ValueError(f"rate_per_s must be positive and finite, got {rate_per_s!r}")
        if duration_s is not None and not (math.isfinite(duration_s) and duration_s >= 0):
            raise ValueError(f"duration_s must be None or >= 0, got {duration_s!r}")
        if not (math.isfinite(timeout_s) and timeout_s > 0):
            raise ValueError(f"timeout_s must be positive and finite, got {timeout_s!r}")
        self.scenario = scenario
        self.writes_ok = 0
        self.writes_failed = 0
        self.last_error: str | None = None
        self._base_url = url.rstrip("/") + "/rest/v1"
        self._broadcast_url = url.rstrip("/") + "/realtime/v1/api/broadcast"
        self._admin_users_url = url.rstrip("/") + "/auth/v1/admin/users"
        self._key = key
        self._rate_per_s = rate_per_s
        self._duration_s = duration_s
        self._timeout_s = timeout_s
        self._transport = transport
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._failure_streak = 0
        self.presence = presence

    @property
    def running(self) -> bool:
        """Whether the background thread started by :meth:`start` is alive."""
        thread = self._thread
        return thread is not None and thread.is_alive()

    def run(self) -> None:
        """Send writes at ``rate_per_s`` until :meth:`stop` or ``duration_s``; never raises.

        Blocks the calling thread. Waits use :meth:`threading.Event.wait`, so :meth:`stop`
        interrupts them at once; a request already in flight finishes (or times out) first.
        When the server is slower than the rate, pacing catches up for at most half a second
        of backlog and then restarts its schedule from now. The presence simulator, if any,
        runs for as long as this does.
        """
        interval_s = 1.0 / self._rate_per_s
        start_s = time.monotonic()
        deadline_s = math.inf if self._duration_s is None else start_s + self._duration_s
        due_s = start_s
        if self.presence is not None:
            self.presence.start()
        try:
            with self._client() as client:
                while not self._stop.is_set():
                    now_s = time.monotonic()
                    if now_s >= deadline_s:
                        break
                    wait_s = min(due_s, deadline_s) - now_s
                    if wait_s > 0 and self._stop.wait(wait_s):
                        break
                    if time.monotonic() >= deadline_s:
                        break
                    self._step(client)
                    due_s = _next_due_s(due_s, time.monotonic(), interval_s, max_lag_s=_MAX_LAG_S)
        except Exception as exc:  # the loop must never take the thread down
            self._record_failure(f"simulator stopped: {type(exc).__name__}: {exc}")
            logger.exception("simulator loop failed")
        finally:
            if self.presence is not None:
                self.presence.stop()

    def start(self) -> None:
        """Run :meth:`run` in a daemon thread named ``rtdata-simulator``; no-op if running."""
        with self._lock:
            if self.running:
                return
            self._stop.clear()
            self._thread = threading.Thread(target=self.run, name=THREAD_NAME, daemon=True)
            self._thread.start()

    def stop(self) -> None:
        """Ask the loop to stop and wait for the background thread; safe to call repeatedly.

        Called from the simulator's own thread (or with no thread started) it only signals.
        """
        self._stop.set()
        with self._lock:
            thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join()

    # ------------------------------------------------------------ internals

    def _client(self) -> httpx.Client:
        headers = {
            "apikey": self._key,
            "Authorization": f"Bearer {self._key}",
            "Content-Type": "application/json",
            "Accept": "application/json",
        }
        return httpx.Client(
            base_url=self._base_url,
            headers=headers,
            timeout=self._timeout_s,
            transport=self._transport,
        )

    def _step(self, client: httpx.Client) -> None:
        try:
            write = self.scenario.next_write(datetime.now(UTC))
        except Exception as exc:
            self._record_failure(f"scenario failed: {type(exc).__name__}: {exc}")
            logger.exception("scenario failed to produce a write")
            return
        if isinstance(write, Broadcast):
            self._broadcast(client, write)
            return
        for user in write.auth_users:
            if not self._make_user(client, write, user):
                return
        try:
            response = client.request(
                write.method,
                f"/{write.table}",
                params=write.query_params(),
                json=write.body,
                headers={"Prefer": write.prefer()},
            )
        except httpx.HTTPError as exc:
            self._fail(write, f"{type(exc).__name__}: {exc}")
            return
        if response.status_code >= 400:
            self._fail(write, f"HTTP {response.status_code}: {_error_text(response)}")
            return
        self._succeed()
        if write.returning:
            rows = _rows(response)
            if rows is None:
                logger.warning(
                    "%s %s: answer is not a JSON array of rows; ids not learned",
                    write.method,
                    write.table,
                )
                return
            try:
                self.scenario.apply_result(write, rows)
            except Exception:
                logger.exception(
                    "scenario failed to apply the result of %s %s", write.method, write.table
                )

    def _make_user(self, client: httpx.Client, write: Write, user: AuthUser) -> bool:
        """Make ``user`` through the Auth admin API; return whether it exists now (a failure
        is counted against ``write``)."""
        body = {
            "id": user.id,
            "email": user.email,
            "email_confirm": True,
            "user_metadata": dict(user.user_metadata),
        }
        try:
            response = client.post(self._admin_users_url, json=body)
        except httpx.HTTPError as exc:
            self._fail(write, f"making user {user.id}: {type(exc).__name__}: {exc}")
            return False
        if response.status_code == 422 and _error_code(response) == "email_exists":
            return True  # made by an earlier run against the same project
        if response.status_code >= 400:
            reason = f"HTTP {response.status_code}: {_error_text(response)}"
            self._fail(write, f"making user {user.id}: {reason}")
            return False
        return True

    def _broadcast(self, client: httpx.Client, message: Broadcast) -> None:
        body = {
            "messages": [
                {
                    "topic": message.topic,
                    "event": message.event,
                    "payload": message.payload,
                    "private": message.private,
                }
            ]
        }
        try:
            response = client.post(self._broadcast_url, json=body)
        except httpx.HTTPError as exc:
            self._fail(message, f"{type(exc).__name__}: {exc}")
            return
        if response.status_code >= 400:
            self._fail(message, f"HTTP {response.status_code}: {_error_text(response)}")
            return
        self._succeed()

    def _succeed(self) -> None:
        self.writes_ok += 1
        if self._failure_streak:
            logger.info("simulator writes succeed again after %d failures", self._failure_streak)
            self._failure_streak = 0

    def _fail(self, write: Write | Broadcast, reason: str) -> None:
        what = (
            f"broadcast {write.topic}/{write.event}"
            if isinstance(write, Broadcast)
            else f"{write.method} {write.table}"
        )
        self._record_failure(f"{what}: {reason}")
        # First failure of a streak at WARNING, the rest at DEBUG: a dead server at 20 writes/s
        # must not flood the log.
        level = logging.WARNING if self._failure_streak == 1 else logging.DEBUG
        logger.log(level, "simulator write failed: %s: %s", what, reason)

    def _record_failure(self, text: str) -> None:
        self.writes_failed += 1
        self._failure_streak += 1
        self.last_error = text


def _next_due_s(due_s: float, now_s: float, interval_s: float, *, max_lag_s: float) -> float:
    """Return when the next write is due, given when the last one was due and the time now.

    The schedule advances by ``interval_s`` so short stalls are made up for; once it lags
    ``now_s`` by more than ``max_lag_s`` it restarts from ``now_s`` instead of piling up a
    backlog.
    """
    next_s = due_s + interval_s
    return now_s if now_s - next_s > max_lag_s else next_s


def _rows(response: httpx.Response) -> list[dict[str, Any]] | None:
    if not response.content:
        return []
    try:
        data = response.json()
    except ValueError:
        return None
    if isinstance(data, dict):
        data = [data]
    if not isinstance(data, list) or not all(isinstance(row, dict) for row in data):
        return None
    return data


def _error_text(response: httpx.Response) -> str:
    try:
        data = response.json()
    except ValueError:
        return response.text[:200] or response.reason_phrase
    if isinstance(data, dict):
        parts = [str(data[k]) for k in ("code", "message", "details", "hint") if data.get(k)]
        if parts:
            return ": ".join(parts)[:500]
    return str(data)[:200]


def _error_code(response: httpx.Response) -> str | None:
    """GoTrue's machine-readable ``error_code`` of an error answer, in either of its JSON
    shapes, or ``None``."""
    try:
        data = response.json()
    except ValueError:
        return None
    if not isinstance(data, dict):
        return None
    code = data.get("error_code", data.get("code"))
    return code if isinstance(code, str) else None
