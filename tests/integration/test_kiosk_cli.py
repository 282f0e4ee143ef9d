"""`rtdata kiosk` and `rtdata audit` in process, on a state folder of their own."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import pytest

from rtdata.cli import main
from rtdata.kiosk import KioskGrant, KioskRefusal, KioskRefusalReason, check, load_store

URL = re.compile(r"http://localhost:8501/\?kiosk=([A-Za-z0-9_-]{43})")


@pytest.fixture
def state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The state folder the commands use: RTDATA_STATE_DIR under the test's tmp_path."""
    folder = tmp_path / "state"
    monkeypatch.setenv("RTDATA_STATE_DIR", str(folder))
    return folder


def _create(capsys: pytest.CaptureFixture[str], *extra: str) -> str:
    argv = ["kiosk", "create", "--name", "lobby", "--pages", "overview,emergencies"]
    assert main([*argv, "--expires", "30d", *extra]) == 0
    out = capsys.readouterr()
    (line,) = out.out.splitlines()  # the URL alone on stdout
    match = URL.fullmatch(line)
    assert match is not None, line
    assert match[1] not in out.err
    assert "only time" in out.err
    return match[1]


def _every_state_file(state: Path) -> str:
    return "".join(p.read_text() for p in state.iterdir())


def test_create_prints_the_url_once_and_keeps_no_token(
    state: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    token = _create(capsys)
    assert token not in _every_state_file(state)
    grant = check(token, load_store(), time.time())
    assert isinstance(grant, KioskGrant)
    assert grant.pages == ("overview", "emergencies")
    assert 29.9 * 86400 < grant.expires_at_s - time.time() <= 30 * 86400


def test_list_shows_the_kiosk_and_never_its_token_or_hash(
    state: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    token = _create(capsys)
    assert main(["kiosk", "list"]) == 0
    out = capsys.readouterr().out
    header, row = out.splitlines()
    assert header.split() == ["NAME", "PAGES", "CREATED", "EXPIRES", "STATE"]
    assert row.split()[:2] == ["lobby", "overview,emergencies"]
    assert row.split()[-1] == "active"
    assert token not in out
    (stored,) = load_store().kiosks
    assert stored.token_sha256 not in out


def test_revoke_changes_the_state_and_refuses_the_token(
    state: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    token = _create(capsys)
    assert main(["kiosk", "revoke", "lobby"]) == 0
    assert "revoked" in capsys.readouterr().out
    assert main(["kiosk", "list"]) == 0
    assert capsys.readouterr().out.splitlines()[1].split()[-1] == "revoked"
    refusal = check(token, load_store(), time.time())
    assert refusal == KioskRefusal(KioskRefusalReason.REVOKED, "lobby")


def test_audit_prints_the_kiosks_entries(state: Path, capsys: pytest.CaptureFixture[str]) -> None:
    token = _create(capsys)
    _create(capsys, "--replace")
    assert main(["kiosk", "revoke", "lobby"]) == 0
    capsys.readouterr()

    assert main(["audit"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[:4] == ["AT", "(UTC)", "WHO", "ACTION"]
    actions = [line.split()[3] for line in lines[1:]]
    assert actions == ["kiosk_created", "kiosk_revoked", "kiosk_created", "kiosk_revoked"]
    assert all(line.split()[2] == "cli" for line in lines[1:])
    assert "(replaced)" in lines[2]

    assert main(["audit", "--json", "--action", "kiosk_revoked", "--since", "1h"]) == 0
    entries = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(e["who"], e["action"], e["what"]) for e in entries] == [
        ("cli", "kiosk_revoked", "lobby (replaced)"),
        ("cli", "kiosk_revoked", "lobby"),
    ]
    assert token not in _every_state_file(state)


def test_audit_of_an_empty_log(state: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["audit"]) == 0
    assert capsys.readouterr().out == "no audit entries\n"
    assert not state.exists()  # reading creates nothing


def test_an_active_name_again_is_an_error_and_changes_nothing(
    state: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _create(capsys)
    before = (state / "kiosks.json").read_bytes()
    argv = ["kiosk", "create", "--name", "lobby", "--pages", "health", "--expires", "1h"]
    assert main(argv) == 2
    out = capsys.readouterr()
    assert out.out == ""
    assert "--replace" in out.err
    assert (state / "kiosks.json").read_bytes() == before


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            ["kiosk", "create", "--name", "x", "--pages", "a", "--expires", "3w"],
            "bad duration '3w'",
        ),
        (
            [
                "kiosk",
                "create",
                "--name",
                "x",
                "--pages",
                "a",
                "--expires",
                "1d",
                "--base-url",
                "x",
            ],
            "bad base URL",
        ),
        (["audit", "--since", "yesterday"], "bad duration 'yesterday'"),
        (["audit", "--action", "login"], "--action"),
    ],
)
def test_bad_arguments_are_usage_errors_naming_them(
    state: Path, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err
    assert not state.exists()


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["kiosk", "revoke", "hall"], "no kiosk named 'hall'"),
        (
            ["kiosk", "create", "--name", "Lobby", "--pages", "a", "--expires", "1d"],
            "bad kiosk name",
        ),
        (
            ["kiosk", "create", "--name", "x", "--pages", "a,B", "--expires", "1d"],
            "bad page name 'B'",
        ),
    ],
)
def test_refused_commands_exit_2_with_the_reason(
    state: Path, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    assert main(argv) == 2
    assert message in capsys.readouterr().err


def test_a_base_url_is_the_start_of_the_printed_url(
    state: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["kiosk", "create", "--name", "hall", "--pages", "overview", "--expires", "12h"]
    assert main([*argv, "--base-url", "https://wall.example.org/"]) == 0
    assert re.fullmatch(
        r"https://wall\.example\.org/\?kiosk=[A-Za-z0-9_-]{43}\n", capsys.readouterr().out
    )
