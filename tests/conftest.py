"""Shared fixtures: a real local server on port 0 and condition-based waiting.

The tests are in layers, fastest first: ``unit`` (pure), ``integration`` (a real local server
on port 0, official clients, sockets), ``pages`` (Streamlit AppTest), ``browser`` (headless
Chromium) and ``e2e`` (real processes: ``rtdata serve``, ``rtdata demo``, notebooks). Every test
under ``browser`` and ``e2e`` is marked ``slow``, so ``make fast`` (``-m 'not slow'``) skips them.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path

import jwt
import pytest
from hypothesis import settings

from rtdata.server import LocalServer
from tests.browser import ROOT, Demo, healthy
from tests.support import timeout_s, wait_until

# Property tests: the gate (`make test`, CI) runs the same examples every time, so a run that
# passes on one clone passes on another and a failure is reproducible; `make explore` draws new
# examples, many more of them, to look for counterexamples. Timing is a benchmark's business, so
# no example has a deadline.
settings.register_profile("gate", derandomize=True, deadline=None, print_blob=True)
settings.register_profile("explore", max_examples=2_000, deadline=None, print_blob=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "gate"))

HERE = Path(__file__).resolve().parent
SLOW_LAYERS = frozenset({"browser", "e2e"})
"""The folders under ``tests`` whose every test starts a browser or real processes."""


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test of the slow layers ``slow``."""
    for item in items:
        layer = item.path.relative_to(HERE).parts[0] if item.path.is_relative_to(HERE) else ""
        if layer in SLOW_LAYERS:
            item.add_marker(pytest.mark.slow)


# ---------------------------------------------------------------- the secrets scan

_JWT = re.compile(rb"eyJ[\w-]{8,}\.eyJ[\w-]{8,}\.[\w-]{8,}")
_SCANNED_MAX_BYTES = 20_000_000


class _Records(logging.Handler):
    """Every log record of the session at WARNING and above (what a deployment logs), as
    formatted text."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        with contextlib.suppress(Exception):
            self.lines.append(self.format(record))


_RECORDS = _Records()


def pytest_sessionstart(session: pytest.Session) -> None:
    """Start keeping the session's log records for the secrets scan."""
    logging.getLogger().addHandler(_RECORDS)


def leaked_secrets(blob: bytes, secrets: set[str]) -> list[str]:
    """What ``blob`` holds that must never leave the process: a registered secret (a test's
    password) or a user's access token (a JWT of role ``authenticated``; API keys are
    configuration, not a user's credential)."""
    found = [f"secret {s[:3]}…" for s in sorted(secrets) if s.encode() in blob]
    for token in set(_JWT.findall(blob)):
        try:
            claims = jwt.decode(token.decode(), options={"verify_signature": False})
        except jwt.InvalidTokenError:
            continue
        if claims.get("role") == "authenticated":
            found.append(f"a user's access token ({token[:12].decode()}…)")
    return found


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """The secrets scan: after the whole session, no registered password or user token may be
    in a log record (WARNING and above), a test artifact, or any file the tests left in their
    temporary folders (audit logs, exports, histories, page HTML, frame traces). Installed
    packages there (the wheel test's virtualenv) are code, not output, and are not read; the
    local stack's default JWT secret is public (Supabase's own), so it is not one."""
    logging.getLogger().removeHandler(_RECORDS)
    from tests.support import SECRETS

    secrets = set(SECRETS)
    problems = [
        f"log record: {leak}"
        for leak in leaked_secrets("\n".join(_RECORDS.lines).encode(), secrets)
    ]
    factory = getattr(session.config, "_tmp_path_factory", None)
    roots = [HERE / "artifacts"]
    if factory is not None:
        with contextlib.suppress(Exception):
            roots.append(factory.getbasetemp())
    for root in roots:
        for path in root.rglob("*") if root.is_dir() else []:
            if "site-packages" in path.parts or not path.is_file():
                continue
            if path.stat().st_size > _SCANNED_MAX_BYTES:
                continue
            with contextlib.suppress(OSError):
                problems += [
                    f"{path}: {leak}" for leak in leaked_secrets(path.read_bytes(), secrets)
                ]
    if problems and exitstatus == 0:
        session.exitstatus = 1
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None:
            reporter.write_line("secrets scan failed:\n" + "\n".join(problems[:50]), red=True)


@pytest.fixture
def server() -> Iterator[LocalServer]:
    """A local server with the hospital schema on a free port."""
    with LocalServer() as srv:
        yield srv


@pytest.fixture(autouse=True)
def _no_leaked_threads() -> Iterator[None]:
    """Fail a test that leaves one of rtdata's threads running."""
    before = {t.ident for t in threading.enumerate()}
    yield
    leaked = [
        t.name
        for t in threading.enumerate()
        if t.ident not in before and t.name.startswith("rtdata-") and t.is_alive()
    ]
    assert not leaked, f"threads left running: {leaked}"


@pytest.fixture(autouse=True)
def _fresh_views(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests rerun a page right after ingesting and expect the new data: no view is reused just
    for being young (``rtdata.ui.VIEW_MAX_AGE_S``; tests of that reuse set it themselves)."""
    from rtdata import ui

    monkeypatch.setattr(ui, "VIEW_MAX_AGE_S", 0.0)


@pytest.fixture(scope="session")
def demo() -> Iterator[Demo]:
    """Run `rtdata demo` on free ports for the browser tests; stop it with Ctrl-C at the end."""
    with running_demo() as running:
        yield running


@contextlib.contextmanager
def running_demo(
    env: dict[str, str] | None = None,
    history: Path | None = None,
    scenario: str | None = None,
    args: Sequence[str] = (),
) -> Iterator[Demo]:
    """Run `rtdata demo` on free ports (with extra environment ``env``, of pack ``scenario``,
    with extra command-line ``args``) until the block ends; its history goes to ``history``,
    else to a temporary folder, never into the checkout. Every line it prints after the first
    two is appended to :attr:`Demo.output` as it comes."""
    command = [sys.executable, "-m", "rtdata.cli", "demo", "--port", "0", "--dashboard-port", "0"]
    if scenario is not None:
        command += ["--scenario", scenario]
    command += list(args)
    with (
        # A demo killed below may still be writing while the folder is removed.
        tempfile.TemporaryDirectory(
            prefix="rtdata-demo-history-", ignore_cleanup_errors=True
        ) as scratch,
        subprocess.Popen(
            [*command, "--history", str(history or scratch)],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            env={**os.environ, **(env or {})},
            start_new_session=True,  # its own process group: a failed test stops its children too
        ) as proc,
    ):
        try:
            assert proc.stdout is not None
            lines = proc.stdout.readline() + proc.stdout.readline()
            dashboard = re.search(r"dashboard on (http://localhost:\d+)", lines)
            server = re.search(r"local server on (http://127\.0\.0\.1:\d+)", lines)
            assert dashboard, f"unexpected demo output: {lines!r}"
            assert server, f"unexpected demo output: {lines!r}"
            url = dashboard.group(1)
            running = Demo(url, server.group(1), history or Path(scratch))
            stdout = proc.stdout
            threading.Thread(
                target=lambda: running.output.extend(stdout),  # until the demo ends
                name="demo-output",
                daemon=True,
            ).start()
            wait_until(lambda: healthy(url), timeout=60, what="the dashboard to answer")
            yield running
            proc.send_signal(signal.SIGINT)
            assert proc.wait(timeout_s(30)) == 0
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)  # the demo and the dashboard it started
