"""The rtdata command: serve prints where it listens; simulate writes through REST."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import pytest

from rtdata.cli import main
from rtdata.server import LocalServer
from rtdata.server.auth import Keys
from tests.support import timeout_s


def test_serve_prints_url_and_keys_and_stops_on_sigterm() -> None:
    command = [sys.executable, "-m", "rtdata.cli", "serve", "--port", "0"]
    with subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
    ) as proc:
        try:
            assert proc.stdout is not None
            lines = []
            while not lines or not lines[-1].startswith("Press Ctrl-C"):
                lines.append(proc.stdout.readline())
            text = "".join(lines)
            assert lines[0].startswith("rtdata local server listening on http://127.0.0.1:")
            assert f"anon key          {Keys.for_secret().anon}" in text
            assert "emergency_requests" in text
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(timeout_s(10)) == 0
        finally:
            if proc.poll() is None:
                proc.kill()


def test_simulate_writes_rows_for_its_duration(
    server: LocalServer, capsys: pytest.CaptureFixture[str]
) -> None:
    status = main(
        [
            "simulate",
            "--url",
            server.url,
            "--key",
            server.service_key,
            "--rate",
            "100",
            "--duration",
            "1",
        ]
    )
    assert status == 0
    written = int(capsys.readouterr().out.strip().splitlines()[-1].split()[1])
    assert written > 20
    assert sum(len(server.rows(t)) for t in server.schema.tables) > 0


def test_serve_reports_a_broken_schema_clearly(
    tmp_path: object, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = os.path.join(str(tmp_path), "nope")
    assert main(["serve", "--port", "0", "--schema", missing]) == 2
    assert "no such migration file or folder" in capsys.readouterr().err


def test_serve_prints_the_keys_of_a_configured_secret() -> None:
    secret = "another-secret-that-is-at-least-32-characters-long"
    command = [sys.executable, "-m", "rtdata.cli", "serve", "--port", "0", "--jwt-secret", secret]
    with subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
    ) as proc:
        try:
            assert proc.stdout is not None
            text = "".join(proc.stdout.readline() for _ in range(6))
            assert Keys.for_secret(secret).service in text
            assert Keys.for_secret().service not in text
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout_s(10))


def test_unknown_command_exits_2() -> None:
    with pytest.raises(SystemExit) as info:
        main(["fly"])
    assert info.value.code == 2
