"""`rtdata simulate` in process, writing through REST to a real local server."""

from __future__ import annotations

import pytest

from rtdata.cli import main
from rtdata.server import LocalServer


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


def test_simulate_writes_the_named_packs_tables(
    server: LocalServer, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["simulate", "--scenario", "hospital", "--url", server.url, "--key", server.service_key]
    assert main([*argv, "--rate", "100", "--duration", "0.5", "--no-presence"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("simulating the hospital scenario at 100 changes/s into ")
    assert server.rows("hospitals")
