"""Pages naming what the project lacks stop `rtdata dashboard` and `rtdata demo` at start, with
one line per problem naming the file and the key, before anything is started."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path

import pytest

from rtdata.cli import main
from rtdata.server import LocalServer

PAGES = """
[[pages]]
name = "board"
  [[pages.widgets]]
  type = "lifecycle"
  table = "emergency_requests"
  status_column = "stauts"
  statuses = ["pending", "accepted"]
"""


def test_dashboard_refuses_a_column_the_project_lacks(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    serve: Callable[..., AbstractContextManager[LocalServer]],
) -> None:
    config = tmp_path / "rtdata.toml"
    config.write_text(PAGES)
    monkeypatch.chdir(tmp_path)
    with serve() as server:
        monkeypatch.setenv("SUPABASE_URL", server.url)
        monkeypatch.setenv("SUPABASE_KEY", server.service_key)
        monkeypatch.delenv("RTDATA_CONFIG", raising=False)
        assert main(["dashboard", "--port", "0"]) == 2
    err = capsys.readouterr().err
    assert (
        "rtdata.toml: pages[0].widgets[0].status_column: table 'emergency_requests' "
        "has no column 'stauts' (did you mean 'status'?)"
    ) in err
    assert server.service_key not in err


def test_dashboard_refuses_a_table_the_project_does_not_expose(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    serve: Callable[..., AbstractContextManager[LocalServer]],
) -> None:
    (tmp_path / "rtdata.toml").write_text(PAGES.replace("emergency_requests", "emergencies"))
    monkeypatch.chdir(tmp_path)
    with serve() as server:
        monkeypatch.setenv("SUPABASE_URL", server.url)
        monkeypatch.setenv("SUPABASE_KEY", server.service_key)
        monkeypatch.delenv("RTDATA_CONFIG", raising=False)
        assert main(["dashboard", "--port", "0"]) == 2
    assert (
        "pages[0].widgets[0].table: table 'emergencies' is not followed" in capsys.readouterr().err
    )


def test_demo_refuses_pages_the_packs_tables_do_not_have(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "rtdata.toml").write_text(PAGES)
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("RTDATA_CONFIG", raising=False)
    assert main(["demo", "--port", "0", "--dashboard-port", "0", "--no-history"]) == 2
    assert "has no column 'stauts'" in capsys.readouterr().err
