"""``browser``: what the dashboard costs a viewer's browser and the Streamlit server, measured with
Debian's Chromium (through Playwright) against a real ``rtdata demo`` started on free ports.

Every page refreshes every second (the hospital pack's ``rtdata.toml`` with a ``[dashboard]``
table of the benchmark's); the simulator writes 10 changes/s throughout.

* Payload per refresh of each page: bytes the browser receives per refresh (Streamlit's
  websocket, plus HTTP responses other than the app's static JS/CSS, which load once), averaged
  over several refresh cycles after load, beside the websocket bytes of the page's first full
  render. A cycle runs from one start of the page's first live region to the next.
* Commit → pixel in wall mode: a critical emergency with a unique pickup address is inserted
  over REST, at a random phase of the refresh cycle, and timed from just before the request
  until its text is in the page's DOM (the toast or the list; checked every animation frame),
  beside a static page polling the same REST API at Grafana's minimum refresh of 5 s, timed
  the same way.
* Concurrent viewers: CPU of the Streamlit server process (psutil) and ``cached_view``
  computations per tick (published by the process through ``RTDATA_VIEW_STATS``) with 1, 5 and
  20 Chromium pages opened at once on the Overview, beside the same server with no viewer;
  with them, the refresh rate each viewer actually got, how many pages were drawn within
  :data:`LOAD_BUDGET_S`, and the CPU of the Chromium processes, which share the machine.

With ``$RTDATA_BENCH_BASELINE`` naming another checkout (:mod:`rtdata.bench.checkout`), the
section then measures that checkout's demo the same way, in the same run, and reads each figure
against its ``browser.before.*`` twin: the pages before and after a change, side by side.

Needs the ``dev`` extra (Playwright; psutil comes with it) and a Chromium binary
(``/usr/bin/chromium``, else ``$RTDATA_CHROMIUM``); Playwright never downloads a browser here.
"""

from __future__ import annotations

import contextlib
import dataclasses
import http.server
import json
import os
import random
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

import httpx
import numpy as np

from rtdata.bench.checkout import THIS_CHECKOUT, baseline_checkout, demo_config
from rtdata.bench.common import Figure
from rtdata.server.auth import Keys

__all__ = [
    "PAGES",
    "Dashboard",
    "bench_browser",
    "chromium",
    "chromium_path",
    "commit_to_pixel_s",
    "dashboard",
    "insert_critical",
    "polling_dashboard",
    "require",
]

PAGES: Final = {
    "overview": "",
    "emergencies": "emergencies",
    "health": "health",
    "realtime": "realtime",
    "events": "events",
    "presence": "presence",
}
"""Page name → URL path below the dashboard: the hospital pack's pages (Overview, the first, at
``/``) and the built-in ones; a checkout from before pages were configured serves the same pages
at the same paths from scripts."""

REFRESH_S: Final = 1.0
"""The refresh interval every measurement runs at (``refresh_s`` and ``wall_refresh_s``)."""

POLLING_REFRESH_S: Final = 5.0
"""The polling baseline's refresh: Grafana's minimum dashboard refresh interval."""

CHROMIUM_ARGS: Final = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
START_TIMEOUT_S: Final = 120.0
WAIT_TIMEOUT_MS: Final = 120_000
"""The longest any one browser step may take."""
LOAD_BUDGET_S: Final = 120.0
"""How long concurrent viewers get to draw their pages before the server is measured anyway."""


def chromium_path() -> Path:
    """Debian's Chromium, or the binary ``$RTDATA_CHROMIUM`` names."""
    return Path(os.environ.get("RTDATA_CHROMIUM", "/usr/bin/chromium"))


def require() -> None:
    """Raise ``RuntimeError`` naming what the browser benchmarks need and is missing."""
    missing = []
    for module, why in (("playwright.sync_api", "playwright"), ("psutil", "psutil")):
        try:
            __import__(module)
        except ImportError:
            missing.append(why)
    if missing:
        raise RuntimeError(
            f"the browser benchmarks need {' and '.join(missing)}: pip install -e '.[dev]'"
        )
    if not chromium_path().exists():
        raise RuntimeError(
            f"the browser benchmarks need Chromium at {chromium_path()} (apt-get install"
            " chromium, or set RTDATA_CHROMIUM); they never download a browser"
        )


# ---------------------------------------------------------------- the demo and the browser


@dataclass
class Dashboard:
    """A running ``rtdata demo``: its URLs and the Streamlit server process.

    Attributes:
        url: The dashboard's base URL.
        server_url: The local Supabase stand-in's URL.
        streamlit: The Streamlit server process (a ``psutil.Process``).
        stats_file: Where the Streamlit process publishes its view computations
            (``RTDATA_VIEW_STATS``, see :func:`rtdata.ui.view_computations`).
    """

    url: str
    server_url: str
    streamlit: Any
    stats_file: Path

    def view_stats(self) -> tuple[int, float] | None:
        """Return the last published ``(view computations, unix time of the last of them)``, or
        ``None`` before the first."""
        try:
            data = json.loads(self.stats_file.read_text())
        except FileNotFoundError:
            return None
        return int(data["view_computations"]), float(data["at_s"])

    def cpu_s(self) -> float:
        """CPU seconds (user + system) the Streamlit server process has used so far."""
        times = self.streamlit.cpu_times()
        return float(times.user + times.system)

    def rss_bytes(self) -> int:
        """Resident memory of the Streamlit server process."""
        return int(self.streamlit.memory_info().rss)


@contextlib.contextmanager
def dashboard(
    dashboard_toml: str, rate_per_s: float = 10.0, *, root: Path = THIS_CHECKOUT
) -> Iterator[Dashboard]:
    """Run the ``rtdata demo`` of checkout ``root`` (local server, simulator, Streamlit; history
    in a temporary folder) on free ports; stop it on exit.

    Args:
        dashboard_toml: The ``[dashboard]`` table the dashboard reads, in the hospital pack's
            config where the checkout has one (see :func:`rtdata.bench.checkout.demo_config`).
        rate_per_s: The simulator's changes per second.
        root: The checkout whose code the demo runs (its ``PYTHONPATH``); by default the one
            this process imports.
    """
    import psutil

    with tempfile.TemporaryDirectory(prefix="rtdata-bench-") as scratch:
        config = Path(scratch) / "rtdata.toml"
        config_toml, assets = demo_config(dashboard_toml, root)
        config.write_text(config_toml)
        if assets is not None:  # the config's relative paths resolve next to it
            (Path(scratch) / "assets").symlink_to(assets, target_is_directory=True)
        stats = Path(scratch) / "view-stats.json"
        log = Path(scratch) / "demo.log"
        env = {
            **os.environ,
            "PYTHONPATH": str(root),
            "RTDATA_CONFIG": str(config),
            "RTDATA_VIEW_STATS": str(stats),
        }
        command = [sys.executable, "-m", "rtdata.cli", "demo", "--port", "0"]
        command += ["--dashboard-port", "0", "--rate", f"{rate_per_s:g}"]
        command += ["--history", str(Path(scratch) / "history")]  # on, as in `rtdata demo`
        with (
            log.open("w") as errors,
            subprocess.Popen(
                command, cwd=scratch, env=env, stdout=subprocess.PIPE, stderr=errors, text=True
            ) as proc,
        ):
            streamlit: Any = None
            drain: threading.Thread | None = None
            try:
                assert proc.stdout is not None
                lines = proc.stdout.readline() + proc.stdout.readline()
                url = re.search(r"dashboard on (http://localhost:\d+)", lines)
                server = re.search(r"local server on (http://127\.0\.0\.1:\d+)", lines)
                if not url or not server:
                    raise RuntimeError(f"rtdata demo did not start: {lines!r} {_tail(log)}")
                # Streamlit writes to the same pipe: keep reading it so it never fills up.
                drain = threading.Thread(target=proc.stdout.read, name="bench-drain", daemon=True)
                drain.start()
                children = psutil.Process(proc.pid).children()
                streamlit = next((p for p in children if "streamlit" in p.cmdline()), None)
                if streamlit is None:
                    raise RuntimeError(f"rtdata demo started no Streamlit process {_tail(log)}")
                _wait_healthy(url.group(1), proc)
                yield Dashboard(url.group(1), server.group(1), streamlit, stats)
            finally:
                proc.send_signal(signal.SIGINT)
                try:
                    proc.wait(30)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
                if streamlit is not None and streamlit.is_running():
                    streamlit.kill()  # only when the demo could not stop it itself
                if drain is not None:
                    drain.join(10)


def _wait_healthy(url: str, proc: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    pause = threading.Event()
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"rtdata demo exited with {proc.returncode}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{url}/_stcore/health", timeout=2).text == "ok":
                return
        pause.wait(0.1)
    raise RuntimeError(f"the dashboard at {url} did not answer within {START_TIMEOUT_S:.0f} s")


def _tail(log: Path) -> str:
    return log.read_text()[-2000:]


@contextlib.contextmanager
def chromium() -> Iterator[Any]:
    """Yield a headless Chromium (Playwright ``Browser``) started from :func:`chromium_path`."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(chromium_path()), args=CHROMIUM_ARGS
        )
        try:
            yield browser
        finally:
            browser.close()


# ---------------------------------------------------------------- Streamlit's websocket


@dataclass(frozen=True)
class _Start:
    at: float  # monotonic seconds the run's first message arrived
    offset: int  # websocket bytes the page had received before it


@dataclass
class _Wire:
    """Counts what one page receives: websocket bytes, fragment runs and HTTP responses.

    A Streamlit fragment refresh is a script run whose ``new_session`` message names the
    fragments it reruns; a full run names none. Frames are counted as Playwright delivers them,
    so waits go through :meth:`wait`, which keeps them flowing.
    """

    page: Any
    received_bytes: int = 0
    full_runs: int = 0
    first_render_bytes: int | None = None  # websocket bytes up to the end of the first full run
    starts: dict[str, list[_Start]] = field(default_factory=dict)  # each fragment's runs
    order: list[str] = field(default_factory=list)  # fragments, in the order first seen
    responses: list[tuple[float, Any]] = field(default_factory=list)  # (monotonic s, request)

    def __post_init__(self) -> None:
        self.page.on("websocket", self._on_socket)
        self.page.on("requestfinished", self._on_request)

    def _on_request(self, request: Any) -> None:
        self.responses.append((time.monotonic(), request))

    def _on_socket(self, socket: Any) -> None:
        if "/_stcore/stream" in socket.url:  # a reconnect brings a new one: count them all
            socket.on("framereceived", self._on_frame)

    def _on_frame(self, payload: str | bytes) -> None:
        from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

        data = payload if isinstance(payload, bytes) else payload.encode()
        start = _Start(time.monotonic(), self.received_bytes)
        self.received_bytes += len(data)
        message = ForwardMsg.FromString(data)
        kind = message.WhichOneof("type")
        if kind == "new_session":
            for fragment in message.metadata.run.fragment_ids:
                if fragment not in self.starts:
                    self.order.append(fragment)
                self.starts.setdefault(fragment, []).append(start)
        elif kind == "script_finished" and not message.metadata.run.fragment_ids:
            self.full_runs += 1
            if self.first_render_bytes is None:
                self.first_render_bytes = self.received_bytes

    def runs(self, fragment: str) -> int:
        return len(self.starts.get(fragment, ()))

    def wait(
        self, until: Callable[[], bool], what: str, timeout_ms: float = WAIT_TIMEOUT_MS
    ) -> None:
        """Poll ``until()`` every 20 ms while Playwright delivers this page's events.

        Raises:
            TimeoutError: ``until()`` did not hold within ``timeout_ms``.
        """
        deadline = time.monotonic() + timeout_ms / 1000
        while not until():
            if time.monotonic() > deadline:
                raise TimeoutError(f"timed out after {timeout_ms / 1000:g} s waiting for {what}")
            self.page.wait_for_timeout(20)

    def warm(self, refreshes: int = 2, timeout_ms: float = WAIT_TIMEOUT_MS) -> str:
        """Wait for a full render and ``refreshes`` runs of every fragment; return the first."""
        self.wait(
            lambda: (
                self.full_runs > 0
                and bool(self.order)
                and min(self.runs(f) for f in self.order) >= refreshes
            ),
            "the page's first refreshes",
            timeout_ms,
        )
        return self.order[0]

    def refresh_hz(self, fragment: str, since: float, until: float) -> float:
        """Runs of ``fragment`` that started in ``[since, until]`` (monotonic seconds), per
        second of that window. (A starved server runs queued refreshes back to back, so the
        spacing of a few runs says nothing about the rate.)"""
        runs = sum(since <= s.at <= until for s in self.starts.get(fragment, []))
        return runs / (until - since)

    def http_bytes(self, since: float, until: float) -> int:
        """Bytes of HTTP responses finished in ``[since, until]``, except Streamlit's static
        JavaScript and CSS, which a page fetches once, lazily, as it first draws an element of
        a kind, and then caches."""
        total = 0
        for at, request in self.responses:
            if since <= at <= until and "/static/" not in request.url:
                sizes = request.sizes()
                total += sizes["responseBodySize"] + sizes["responseHeadersSize"]
        return total


def _goto(browser: Any, url: str, viewport: tuple[int, int] = (1400, 900)) -> tuple[Any, _Wire]:
    """Open ``url`` in a new browser context (its own session and cache), counting its wire."""
    context = browser.new_context(viewport={"width": viewport[0], "height": viewport[1]})
    context.set_default_timeout(WAIT_TIMEOUT_MS)
    page = context.new_page()
    wire = _Wire(page)
    page.goto(url, wait_until="commit")
    return page, wire


def _open(browser: Any, url: str, viewport: tuple[int, int] = (1400, 900)) -> tuple[Any, _Wire]:
    """:func:`_goto`, then wait for the page's heading."""
    page, wire = _goto(browser, url, viewport)
    page.locator('[data-testid="stHeading"]').first.wait_for(timeout=WAIT_TIMEOUT_MS)
    return page, wire


# ---------------------------------------------------------------- payload per refresh


def _payload_figures(
    browser: Any, dash: Dashboard, pages: Sequence[str], refreshes: int
) -> list[Figure]:
    figures = []
    for name in pages:
        page, wire = _open(browser, f"{dash.url}/{PAGES[name]}")
        try:
            reference = wire.warm()
            # From the latest start of the page's first fragment to the refreshes-th next one:
            # whole refresh cycles of every fragment on the page.
            first = wire.runs(reference) - 1
            wire.wait(
                lambda: wire.runs(reference) > first + refreshes,  # noqa: B023
                f"{refreshes} refreshes of {name}",
            )
            cycle = wire.starts[reference][first], wire.starts[reference][first + refreshes]
            received = cycle[1].offset - cycle[0].offset
            received += wire.http_bytes(cycle[0].at, cycle[1].at)
            if page.locator('[data-testid="stException"]').count():
                raise RuntimeError(f"the {name} page shows an exception")
            load = wire.first_render_bytes or 0
        finally:
            page.context.close()
        figures += [
            Figure(f"browser.payload_{name}_load_kb", load / 1000, "KB", f"{name}: websocket bytes of the first full render after load"),
            Figure(f"browser.payload_{name}_kb", received / refreshes / 1000, "KB", f"{name}: bytes received per {REFRESH_S:g} s refresh (websocket, plus HTTP other than the app's static JS/CSS), mean of {refreshes} refreshes after load (target ≤ 1 MB)", f"browser.payload_{name}_load_kb"),
        ]  # fmt: skip
    return figures


# ---------------------------------------------------------------- concurrent viewers


def _viewer_figures(
    browser: Any, dash: Dashboard, counts: Sequence[int], window_s: float
) -> list[Figure]:
    idle_cpu_s = dash.cpu_s()
    idle_start = time.monotonic()
    # Nobody is watching: the server only ingests. The window is a measurement, not a wait.
    threading.Event().wait(window_s)
    idle_pct = (dash.cpu_s() - idle_cpu_s) / (time.monotonic() - idle_start) * 100
    figures = [Figure("browser.cpu_0_viewers_pct", idle_pct, "% core", f"Streamlit server process CPU with no viewer ({window_s:g} s, simulator running)")]  # fmt: skip
    first = counts[0]
    for n in counts:
        got = _viewers(browser, dash, n, window_s)
        cpu = "browser.cpu_0_viewers_pct" if n == first else f"browser.cpu_{first}_viewers_pct"
        computations = None if n == first else f"browser.view_computations_{first}_viewers_per_tick"
        refresh = None if n == first else f"browser.refresh_{first}_viewers_hz"
        figures += [
            Figure(f"browser.cpu_{n}_viewers_pct", got.cpu_pct, "% core", f"Streamlit server process CPU, {n} Chromium viewer(s) of Overview at {REFRESH_S:g} s refresh ({window_s:g} s)", cpu),
            Figure(f"browser.view_computations_{n}_viewers_per_tick", got.computations_per_tick, "/tick", f"cached_view computations per {REFRESH_S:g} s tick, {n} viewer(s) (target: flat as viewers grow)", computations),
            Figure(f"browser.refresh_{n}_viewers_hz", got.refresh_hz, "/s", f"refreshes per second a viewer got, mean of {n} (runs of the page's first live region; 0 for a page not drawn yet; ideal {1 / REFRESH_S:g})", refresh),
            Figure(f"browser.chromium_cpu_{n}_viewers_pct", got.chromium_pct, "% core", f"CPU of every Chromium process (the viewers' side) in the same window; this machine has {os.cpu_count()} cores"),
            Figure(f"browser.rendered_{n}_viewers", got.rendered, "pages", f"of {n} viewer(s) opened at once, pages drawn and refreshing within {LOAD_BUDGET_S:g} s"),
        ]  # fmt: skip
    return figures


@dataclass(frozen=True)
class _Crowd:
    cpu_pct: float
    chromium_pct: float
    computations_per_tick: float
    refresh_hz: float
    rendered: int


def _chromium_cpu_s() -> dict[int, float]:
    """CPU seconds (user + system) of each Chromium process this process started, by pid."""
    import psutil

    used = {}
    for process in psutil.Process().children(recursive=True):
        with contextlib.suppress(psutil.Error):
            if "chrom" in process.name():
                times = process.cpu_times()
                used[process.pid] = float(times.user + times.system)
    return used


def _viewers(browser: Any, dash: Dashboard, n: int, window_s: float) -> _Crowd:
    """Open ``n`` Overview pages at once and measure the server while they refresh.

    Pages not drawn and refreshing within :data:`LOAD_BUDGET_S` stay open (their sessions still
    load the server) but count as not rendered and refresh at 0 /s unless they start during
    the window; a saturated server is a result, not an error.
    """
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    opened: list[tuple[Any, _Wire]] = []
    try:
        for _ in range(n):
            opened.append(_goto(browser, f"{dash.url}/"))
        deadline = time.monotonic() + LOAD_BUDGET_S
        references: list[str | None] = []
        for page, wire in opened:
            budget_ms = max(1.0, deadline - time.monotonic()) * 1000
            try:
                page.locator('[data-testid="stHeading"]').first.wait_for(timeout=budget_ms)
                references.append(
                    wire.warm(timeout_ms=max(1.0, deadline - time.monotonic()) * 1000)
                )
            except (PlaywrightTimeout, TimeoutError):
                references.append(None)
        rendered = sum(ref is not None for ref in references)
        if not rendered:
            raise RuntimeError(f"none of {n} viewers was drawn within {LOAD_BUDGET_S:g} s")
        start_stats = dash.view_stats()
        if start_stats is None:
            raise RuntimeError("the dashboard published no view computations")
        start_cpu_s, start, start_chromium = dash.cpu_s(), time.monotonic(), _chromium_cpu_s()
        # A measurement window, not synchronisation; it keeps every page's events flowing.
        opened[0][0].wait_for_timeout(window_s * 1000)
        end = time.monotonic()
        cpu_pct = (dash.cpu_s() - start_cpu_s) / (end - start) * 100
        chromium = _chromium_cpu_s()
        chromium_s = sum(cpu_s - start_chromium.get(pid, 0.0) for pid, cpu_s in chromium.items())
        hz = [
            wire.refresh_hz(ref or (wire.order[0] if wire.order else ""), start, end)
            for (_, wire), ref in zip(opened, references, strict=True)
        ]
        # The stats file holds a count and the time of its last computation: wait for a sample
        # written after the window, then divide by the span between the two samples.
        end_wall = time.time()
        wire0 = next(wire for (_, wire), ref in zip(opened, references, strict=True) if ref)
        wire0.wait(
            lambda: (s := dash.view_stats()) is not None and s[1] >= end_wall,
            "view statistics after the window",
        )
        end_stats = dash.view_stats()
        assert end_stats is not None
        per_s = (end_stats[0] - start_stats[0]) / (end_stats[1] - start_stats[1])
        hz_mean = float(np.mean(hz))
        return _Crowd(
            cpu_pct, chromium_s / (end - start) * 100, per_s * REFRESH_S, hz_mean, rendered
        )
    finally:
        for page, _ in opened:
            page.context.close()


# ---------------------------------------------------------------- commit → pixel


def insert_critical(server_url: str, marker: str) -> float:
    """Insert a critical emergency whose pickup address contains ``marker``; return the unix
    time just before the request was sent (the commit happens after it)."""
    key = Keys.for_secret().service
    now = datetime.now(UTC).isoformat()
    row = {
        "hospital_id": 1,
        "patient_name": f"Bench {marker}",
        "emergency_type": "cardiac",
        "priority": 1,
        "status": "pending",
        "lat": 38.7223,
        "lon": -9.1393,
        "pickup_address": f"{marker}, Rua Augusta 1",
        "created_at": now,
        "updated_at": now,
    }
    headers = {"apikey": key, "Authorization": f"Bearer {key}", "Prefer": "return=minimal"}
    sent_s = time.time()
    httpx.post(
        f"{server_url}/rest/v1/emergency_requests", json=row, headers=headers, timeout=30
    ).raise_for_status()
    return sent_s


def commit_to_pixel_s(page: Any, server_url: str, samples: int, interval_s: float) -> list[float]:
    """Insert ``samples`` critical emergencies one at a time, each at a random phase of the
    page's refresh cycle, and return the seconds from just before each insert until its unique
    marker is in the page's DOM text (checked in the page on every animation frame)."""
    rng = random.Random(0)
    latencies = []
    for _ in range(samples):
        # A random phase, not synchronisation: right after a sighting is right after a refresh.
        page.wait_for_timeout(rng.uniform(0, interval_s) * 1000)
        marker = f"bench-{uuid.uuid4().hex[:12]}"
        sent_s = insert_critical(server_url, marker)
        seen_ms = page.wait_for_function(
            "marker => document.body.textContent.includes(marker) && Date.now()",
            arg=marker,
            polling="raf",
            timeout=WAIT_TIMEOUT_MS,
        ).json_value()
        latencies.append(float(seen_ms) / 1000 - sent_s)
    return latencies


_POLLING_PAGE: Final = """<!doctype html>
<meta charset="utf-8"><title>polling baseline</title>
<h1>Open critical emergencies</h1><table><tbody id="rows"></tbody></table>
<script>
const QUERY = "/rest/v1/emergency_requests?select=id,status,emergency_type,pickup_address," +
  "created_at&priority=eq.1&status=in.(pending,accepted,en_route,on_scene)" +
  "&order=created_at.desc&limit=50";
const COLUMNS = ["id", "status", "emergency_type", "pickup_address", "created_at"];
async function refresh() {
  const rows = await (await fetch(QUERY)).json();
  document.getElementById("rows").replaceChildren(...rows.map(row => {
    const tr = document.createElement("tr");
    for (const column of COLUMNS) {
      const td = document.createElement("td");
      td.textContent = row[column];
      tr.append(td);
    }
    return tr;
  }));
}
refresh();
setInterval(refresh, REFRESH_MS);
</script>
"""


@contextlib.contextmanager
def polling_dashboard(server_url: str, refresh_s: float) -> Iterator[str]:
    """Serve a static page that polls the REST API every ``refresh_s`` and renders the newest
    open critical emergencies as a table; yield its URL.

    The page's ``/rest/v1`` requests go through this server to ``server_url`` with the service
    key (the local server sends no CORS headers), which adds one localhost hop.
    """
    key = Keys.for_secret().service
    html = _POLLING_PAGE.replace("REFRESH_MS", str(int(refresh_s * 1000))).encode()
    upstream = httpx.Client(
        base_url=server_url, headers={"apikey": key, "Authorization": f"Bearer {key}"}
    )

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path.startswith("/rest/v1/"):
                response = upstream.get(self.path)
                body, kind = response.content, "application/json"
                status = response.status_code
            else:
                body, kind, status = html, "text/html; charset=utf-8", 200
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass  # one line per request would drown the benchmark's output

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, name="bench-polling", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)
        upstream.close()


def _latency_figures(browser: Any, dash: Dashboard, samples: int) -> list[Figure]:
    page, _ = _open(browser, f"{dash.url}/?wall=1", viewport=(1920, 1080))
    try:
        # The list is drawn once the first live run has finished.
        page.locator('[data-testid="stDataFrame"]').first.wait_for(timeout=WAIT_TIMEOUT_MS)
        live = commit_to_pixel_s(page, dash.server_url, samples, REFRESH_S)
    finally:
        page.context.close()
    with polling_dashboard(dash.server_url, POLLING_REFRESH_S) as url:
        context = browser.new_context()
        context.set_default_timeout(WAIT_TIMEOUT_MS)
        try:
            page = context.new_page()
            page.goto(url)
            page.locator("#rows tr").first.wait_for(timeout=WAIT_TIMEOUT_MS)
            polled = commit_to_pixel_s(page, dash.server_url, samples, POLLING_REFRESH_S)
        finally:
            context.close()
    figures = []
    for q in (50, 95):
        figures += [
            Figure(f"browser.polling_{POLLING_REFRESH_S:g}s_p{q}_ms", float(np.percentile(polled, q)) * 1000, "ms", f"commit → DOM, p{q} of {samples}: static page polling REST every {POLLING_REFRESH_S:g} s (Grafana's minimum) for open critical emergencies, rendered as a table"),
            Figure(f"browser.commit_to_pixel_p{q}_ms", float(np.percentile(live, q)) * 1000, "ms", f"commit → DOM, p{q} of {samples}: new critical emergency (toast or list) on the Emergencies wall page at {REFRESH_S:g} s refresh" + (" (target ≤ 1.5 s)" if q == 50 else ""), f"browser.polling_{POLLING_REFRESH_S:g}s_p{q}_ms"),
        ]  # fmt: skip
    return figures


# ---------------------------------------------------------------- the section

BENCH_CONFIG: Final = f"""# written by rtdata bench: every page and the wall refresh every {REFRESH_S:g} s
[dashboard]
refresh_s = {REFRESH_S}
wall_refresh_s = {REFRESH_S}
wall_pages = ["emergencies"]
"""


def bench_browser(
    pages: Sequence[str] = tuple(PAGES),
    refreshes: int = 5,
    viewers: Sequence[int] = (1, 5, 20),
    window_s: float = 10.0,
    samples: int = 15,
    baseline: Path | None = None,
) -> list[Figure]:
    """Run every page of a fresh ``rtdata demo`` in headless Chromium at a 1 s refresh; then,
    with a baseline checkout, the same measurements on that checkout's demo.

    Args:
        pages: The pages whose payload is measured (keys of :data:`PAGES`).
        refreshes: Refreshes averaged for each page's payload.
        viewers: Concurrent viewer counts; the first is the baseline of the others.
        window_s: Seconds each viewer count (and the idle baseline) is measured.
        samples: Inserts timed for commit → pixel, and as many for the polling baseline.
        baseline: Another checkout to measure the same way (by default the one
            ``$RTDATA_BENCH_BASELINE`` names, if any). Its figures are keyed
            ``browser.before.*``, and each figure of this checkout is read against its twin.

    Raises:
        ValueError: An unknown page, no page or viewer count, or a baseline that is no
            checkout.
        RuntimeError: Playwright, psutil or Chromium is missing, or a page failed.
    """
    unknown = [name for name in pages if name not in PAGES]
    if unknown or not pages or not viewers:
        raise ValueError(f"pick pages from {', '.join(PAGES)} and at least one viewer count")
    before = baseline if baseline is not None else baseline_checkout()
    require()
    figures = _measure(THIS_CHECKOUT, pages, refreshes, viewers, window_s, samples)
    if before is None:
        return figures
    then = _measure(before, pages, refreshes, viewers, window_s, samples)
    twins = [dataclasses.replace(f, baseline=_before(f.key)) for f in figures]
    return twins + [_as_before(f, before) for f in then]


def _measure(
    root: Path,
    pages: Sequence[str],
    refreshes: int,
    viewers: Sequence[int],
    window_s: float,
    samples: int,
) -> list[Figure]:
    with dashboard(BENCH_CONFIG, root=root) as dash, chromium() as browser:
        # The first page view starts the collector in the Streamlit process; payloads go first
        # so that every later figure is taken with the feed already flowing.
        figures = _payload_figures(browser, dash, pages, refreshes)
        figures += _viewer_figures(browser, dash, viewers, window_s)
        figures += _latency_figures(browser, dash, samples)
    return figures


def _before(key: str) -> str:
    return key.replace("browser.", "browser.before.", 1)


def _as_before(figure: Figure, root: Path) -> Figure:
    return dataclasses.replace(
        figure,
        key=_before(figure.key),
        what=f"{figure.what} [baseline checkout {root}]",
        baseline=None if figure.baseline is None else _before(figure.baseline),
    )
