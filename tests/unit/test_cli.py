"""The rtdata command in process: argument parsing and errors before anything listens."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from rtdata.cli import main


def test_serve_reports_a_broken_schema_clearly(
    tmp_path: object, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = os.path.join(str(tmp_path), "nope")
    assert main(["serve", "--port", "0", "--schema", missing]) == 2
    assert "no such migration file or folder" in capsys.readouterr().err


def test_unknown_command_exits_2() -> None:
    with pytest.raises(SystemExit) as info:
        main(["fly"])
    assert info.value.code == 2


def test_demo_records_history_by_default_and_its_dashboard_does_not_record_it_again() -> None:
    from rtdata.cli import _parser, demo_env

    assert _parser().parse_args(["demo"]).history == Path("rtdata-history")
    assert _parser().parse_args(["demo", "--history", "h"]).history == Path("h")
    assert _parser().parse_args(["demo", "--no-history"]).history is None
    with pytest.raises(SystemExit):
        _parser().parse_args(["demo", "--history", "h", "--no-history"])
    assert demo_env("http://127.0.0.1:1", "service-key") == {
        "SUPABASE_URL": "http://127.0.0.1:1",
        "SUPABASE_KEY": "service-key",
        "RTDATA_HISTORY": "off",
    }
