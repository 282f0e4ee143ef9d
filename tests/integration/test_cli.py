"""`rtdata simulate` in process, writing through REST to a real local server."""

from __future__ import annotations

import signal
import socket
from collections.abc import Iterator
from pathlib import Path

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
    # The simulator writes one request at a time. A REST write through SQL (Postgres) takes
    # ~13 ms against ~3 ms in memory on the 2-core CI machine, and more when the other test
    # worker is busy: it then reaches a fraction of the asked 100/s (about 44 alone).
    assert written > (20 if server.store is not None else 5)
    assert sum(len(server.rows(t)) for t in server.schema.tables) > 0


def test_simulate_writes_the_named_packs_tables(
    server: LocalServer, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["simulate", "--scenario", "hospital", "--url", server.url, "--key", server.service_key]
    assert main([*argv, "--rate", "100", "--duration", "0.5", "--no-presence"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("simulating the hospital scenario at 100 changes/s into ")
    assert server.rows("hospitals")


@pytest.fixture
def _signals_kept() -> Iterator[None]:
    """Put back the SIGINT and SIGTERM handlers ``rtdata serve`` installs."""
    kept = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    yield
    for number, handler in kept.items():
        signal.signal(number, handler)


@pytest.mark.usefixtures("_signals_kept")
def test_serve_names_a_failing_migration_and_an_unreachable_database(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "0001_items.sql").write_text("create table items (id int primary key);\n")
    (tmp_path / "0002_oops.sql").write_text("-- a typo\ncreate tabel oops (id int);\n")
    assert main(["serve", "--port", "0", "--schema", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"rtdata serve: {tmp_path / '0002_oops.sql'}:2: syntax error"), err
    assert "Traceback" not in err
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"postgresql://someone:hunter2-secret@127.0.0.1:{port}/app"
    assert main(["serve", "--port", "0", "--db", url, "--schema", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("rtdata serve: the database: connection failed"), err
    assert "hunter2-secret" not in err


@pytest.mark.usefixtures("_signals_kept")
def test_the_dashboard_refuses_a_public_address_without_sign_in(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)  # no rtdata.toml: sign-in is off
    monkeypatch.setenv("RTDATA_STATE_DIR", str(tmp_path / "state"))
    for name in ("SUPABASE_URL", "SUPABASE_KEY", "RTDATA_CONFIG", "RTDATA_REQUIRE_SIGN_IN"):
        monkeypatch.delenv(name, raising=False)
    assert main(["dashboard", "--host", "0.0.0.0", "--port", "0"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("rtdata dashboard: refusing to serve the dashboard on 0.0.0.0"), err
    assert main(["demo", "--dashboard-host", "0.0.0.0", "--port", "0", "--no-history"]) == 2
    assert "refusing to serve the dashboard on 0.0.0.0" in capsys.readouterr().err
