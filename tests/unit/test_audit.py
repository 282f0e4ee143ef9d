"""The audit log: one whole line per entry from any thread or process, no secret, no row."""

from __future__ import annotations

import base64
import json
import logging
import os
import secrets
import stat
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from rtdata.audit import (
    MAX_TEXT_CHARS,
    AuditAction,
    AuditEntry,
    UnsafeAuditText,
    audit_path,
    export_what,
    format_table,
    kiosk_who,
    read_entries,
    record,
    secret_reason,
    select,
    user_who,
)
from tests.support import run_in_step

AT = datetime(2025, 6, 1, 12, 0, 0, 250_000, tzinfo=UTC)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


JWT = ".".join(
    [
        _b64(b'{"alg":"HS256","typ":"JWT"}'),
        _b64(b'{"role":"service_role","iss":"supabase","exp":1999999999}'),
        _b64(secrets.token_bytes(32)),
    ]
)


def test_an_entry_is_one_json_line_with_an_iso_utc_time(tmp_path: Path) -> None:
    log = tmp_path / "audit.jsonl"
    assert record(AuditAction.EXPORT, "ana@clinic.pt", "events csv 12 rows", at=AT, path=log)
    assert json.loads(log.read_text()) == {
        "at": "2025-06-01T12:00:00.250+00:00",
        "who": "ana@clinic.pt",
        "action": "export",
        "what": "events csv 12 rows",
        "outcome": "ok",
    }
    assert log.read_text().count("\n") == 1


def test_a_time_in_another_zone_is_kept_in_utc(tmp_path: Path) -> None:
    log = tmp_path / "audit.jsonl"
    lisbon_summer = AT.astimezone(ZoneInfo("Europe/Lisbon"))
    record(AuditAction.SIGN_OUT, "cli", at=lisbon_summer, path=log)
    assert json.loads(log.read_text())["at"] == "2025-06-01T12:00:00.250+00:00"


def test_a_naive_time_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="tz-aware"):
        record(AuditAction.SIGN_IN, "cli", at=datetime(2025, 1, 1), path=tmp_path / "a.jsonl")


def test_the_log_is_0600_in_a_0700_folder_in_the_state_folder(tmp_path: Path) -> None:
    assert audit_path({"RTDATA_STATE_DIR": str(tmp_path)}) == tmp_path / "audit.jsonl"
    log = tmp_path / "state" / "audit.jsonl"
    record(AuditAction.SIGN_IN, "cli", path=log)
    assert stat.S_IMODE(log.stat().st_mode) == 0o600
    assert stat.S_IMODE(log.parent.stat().st_mode) == 0o700


def test_an_older_log_readable_by_others_is_narrowed_to_0600(tmp_path: Path) -> None:
    log = tmp_path / "audit.jsonl"
    log.touch(mode=0o644)
    os.chmod(log, 0o644)
    record(AuditAction.SIGN_IN, "cli", path=log)
    assert stat.S_IMODE(log.stat().st_mode) == 0o600


@pytest.mark.parametrize(
    "who", ["cli", "kiosk:lobby", "kiosk:ward-2_b", "ana.silva@hsm.min-saude.pt"]
)
def test_who_is_an_email_a_kiosk_or_the_cli(tmp_path: Path, who: str) -> None:
    assert record(AuditAction.SIGN_IN, who, path=tmp_path / "a.jsonl")
    assert read_entries(tmp_path / "a.jsonl").entries[0].who == who


@pytest.mark.parametrize(
    "who", ["", "ana", "kiosk:", "kiosk:Lobby", "kiosk:a b", "a@b", "ana @x.pt"]
)
def test_any_other_who_is_refused(tmp_path: Path, who: str) -> None:
    with pytest.raises(UnsafeAuditText, match="who"):
        record(AuditAction.SIGN_IN, who, path=tmp_path / "a.jsonl")
    assert not (tmp_path / "a.jsonl").exists()


@pytest.mark.parametrize(
    ("typed", "who"),
    [
        ("ana@clinic.pt", "ana@clinic.pt"),
        (" ana@clinic.pt ", "ana@clinic.pt"),
        ("ana", "anonymous"),
        ("", "anonymous"),
        ("Tr0ub4dor&3xKq9zL2mWv8pNc", "anonymous"),  # a password in the email field
        ("x" * 300 + "@clinic.pt", "anonymous"),
        ("a\n@b.pt", "anonymous"),
    ],
)
def test_a_typed_email_is_logged_only_when_it_is_a_safe_email(
    tmp_path: Path, typed: str, who: str
) -> None:
    assert user_who(typed) == who
    assert record(AuditAction.SIGN_IN_FAILED, user_who(typed), path=tmp_path / "a.jsonl")


def test_kiosk_who_and_export_what() -> None:
    assert kiosk_who("lobby") == "kiosk:lobby"
    assert export_what("events", "parquet", 1200) == "events parquet 1200 rows"


# -- no secret, no row data


SECRETS = {
    "a JWT": JWT,
    "a JWT in a sentence": f"signed in with {JWT} today",
    "an unsigned JWT": JWT.rsplit(".", 1)[0] + ".",
    "a kiosk token": "kFq0Zr3xU9_wP-2mYbN7cVtLhA8sJd4eGiO1KpQxRsT",
    "a secret key": "sb_secret_N7UND0UgjKTVK-Uodkm0Hg_xSvEMPvz",
    "a token in a URL": "http://localhost:8501/?kiosk=kFq0Zr3xU9_wP-2mYbN7cVtLhA8sJd4eGiO1KpQxRsT",
    "a SHA-256": "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
    "a row as JSON": '{"id": 7, "patient": "Rui", "bp": 120}',
    "a row as a dict": "{'id': 7, 'patient': 'Rui'}",
    "a newline": "overview\nnext",
    "too long": "a" * (MAX_TEXT_CHARS + 1),
}


@pytest.mark.parametrize("text", SECRETS.values(), ids=SECRETS.keys())
def test_secrets_and_rows_are_refused_in_what_and_outcome_and_who(
    tmp_path: Path, text: str
) -> None:
    log = tmp_path / "a.jsonl"
    assert secret_reason(text) is not None
    with pytest.raises(UnsafeAuditText, match="what refused"):
        record(AuditAction.EXPORT, "cli", text, path=log)
    with pytest.raises(UnsafeAuditText, match="outcome refused"):
        record(AuditAction.EXPORT, "cli", "events", text, path=log)
    with pytest.raises(UnsafeAuditText, match="who refused"):
        record(AuditAction.EXPORT, f"{text}@x.org", "events", path=log)
    assert not log.exists()  # refused before any I/O


def test_every_fresh_token_or_hash_is_refused() -> None:
    for _ in range(200):
        assert secret_reason(secrets.token_urlsafe(32)) is not None
        assert secret_reason(secrets.token_hex(16)) is not None
        assert secret_reason(f"kiosk {secrets.token_urlsafe(24)} used") is not None


SAFE = [
    "overview",
    "events csv 120 rows",
    "lobby until 2025-07-01T12:00:00+00:00",
    "financial_disputes_by_hospital.parquet.gz",
    "a_very_long_lower_case_page_name_with_digits_2024_and_more",
    "hospital.emergencies.status",
    "wrong email or password",
    "expired",
    "a" * MAX_TEXT_CHARS,
    "",
]


@pytest.mark.parametrize("text", SAFE)
def test_ordinary_descriptions_pass(text: str) -> None:
    assert secret_reason(text) is None


def test_the_thresholds_the_docstring_states() -> None:
    mixed = "Ab1" * 10  # upper, lower and digits
    assert secret_reason(mixed[:19]) is None
    assert secret_reason(mixed[:20]) is not None
    cased = "Ab" * 20  # upper and lower, no digit
    assert secret_reason(cased[:31]) is None
    assert secret_reason(cased[:32]) is not None
    hexes = "a1" * 20
    assert secret_reason(hexes[:31]) is None
    assert secret_reason(hexes[:32]) is not None
    assert secret_reason(".".join(["abcdefghijklmnop"] * 3)) is not None  # 16 each
    assert secret_reason(".".join(["abcdefghijklmno"] * 3)) is None  # 15 each
    assert secret_reason("a" * MAX_TEXT_CHARS) is None
    assert secret_reason("a" * (MAX_TEXT_CHARS + 1)) is not None
    assert MAX_TEXT_CHARS == 200


# -- a disk that fails


def test_a_failed_write_returns_false_and_logs_the_whole_entry(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def full_disk(fd: int, data: bytes) -> int:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "write", full_disk)
    with caplog.at_level(logging.ERROR, logger="rtdata.audit"):
        written = record(AuditAction.EXPORT, "ana@x.pt", "events csv 3 rows", path=tmp_path / "a")
    assert written is False
    (message,) = [r.getMessage() for r in caplog.records]
    assert "No space left on device" in message
    assert '"who": "ana@x.pt", "action": "export", "what": "events csv 3 rows"' in message


def test_a_short_write_is_a_failure_and_the_next_entry_starts_on_a_new_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    log = tmp_path / "a.jsonl"
    record(AuditAction.SIGN_IN, "cli", "first", path=log)
    real_write = os.write
    monkeypatch.setattr(os, "write", lambda fd, data: real_write(fd, data[:10]))
    assert record(AuditAction.SIGN_IN, "cli", "cut short", path=log) is False
    monkeypatch.setattr(os, "write", real_write)
    assert record(AuditAction.SIGN_OUT, "cli", "third", path=log)
    read = read_entries(log)
    assert [e.what for e in read.entries] == ["first", "third"]
    assert read.unreadable == 1


def test_a_state_folder_that_cannot_be_used_returns_false(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    os.chmod(shared, 0o1777)
    assert record(AuditAction.SIGN_IN, "cli", path=shared / "audit.jsonl") is False


# -- many writers


def test_threads_appending_at_once_keep_every_line_whole(tmp_path: Path) -> None:
    log = tmp_path / "a.jsonl"
    threads_n, each = 8, 100
    start = threading.Barrier(threads_n)
    what = "page " + "x" * 180  # long lines: more bytes for a torn write to show in

    def append(n: int) -> None:
        start.wait()
        for i in range(each):
            assert record(AuditAction.EXPORT, f"user{n}@x.org", f"{what} {i}", path=log)

    threads = [threading.Thread(target=append, args=(n,)) for n in range(threads_n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    read = read_entries(log)
    assert read.unreadable == 0
    assert len(read.entries) == threads_n * each
    for n in range(threads_n):
        mine = [e.what for e in read.entries if e.who == f"user{n}@x.org"]
        assert mine == [f"{what} {i}" for i in range(each)]  # each thread's in its order


_WORKER = """
import sys
from pathlib import Path
from rtdata.audit import AuditAction, record
path, who, n = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3])
print("ready", flush=True)
sys.stdin.readline()  # start together
for i in range(n):
    assert record(AuditAction.KIOSK_USED, who, "overview " + "y" * 180 + f" {i}", path=path)
"""


def test_two_processes_appending_at_once_keep_every_line_whole(tmp_path: Path) -> None:
    log = tmp_path / "state" / "audit.jsonl"
    each = 300
    run_in_step(_WORKER, [[str(log), who, str(each)] for who in ("kiosk:a", "kiosk:b")])
    lines = log.read_bytes().split(b"\n")
    assert lines[-1] == b""
    assert all(json.loads(line)["action"] == "kiosk_used" for line in lines[:-1])
    read = read_entries(log)
    assert read.unreadable == 0
    assert sorted(e.who for e in read.entries) == ["kiosk:a"] * each + ["kiosk:b"] * each


# -- reading


def _entries() -> list[AuditEntry]:
    return [
        AuditEntry(AT, "cli", AuditAction.KIOSK_CREATED, "lobby", "ok"),
        AuditEntry(
            AT + timedelta(hours=1), "kiosk:lobby", AuditAction.KIOSK_USED, "overview", "ok"
        ),
        AuditEntry(AT + timedelta(hours=2), "ana@x.pt", AuditAction.REFUSED, "health", "refused"),
    ]


def test_select_by_time_and_action() -> None:
    entries = _entries()
    assert select(entries) == entries
    assert select(entries, since=AT + timedelta(minutes=30)) == entries[1:]
    assert select(entries, action=AuditAction.REFUSED) == entries[2:]
    assert select(entries, since=AT + timedelta(hours=3)) == []


def test_entries_read_back_as_written(tmp_path: Path) -> None:
    log = tmp_path / "a.jsonl"
    for e in _entries():
        record(e.action, e.who, e.what, e.outcome, at=e.at, path=log)
    assert read_entries(log).entries == _entries()
    assert read_entries(tmp_path / "missing.jsonl") == ([], 0)


def test_the_table_aligns_its_columns() -> None:
    assert format_table(_entries()).splitlines() == [
        "AT (UTC)             WHO          ACTION         WHAT      OUTCOME",
        "2025-06-01 12:00:00  cli          kiosk_created  lobby     ok",
        "2025-06-01 13:00:00  kiosk:lobby  kiosk_used     overview  ok",
        "2025-06-01 14:00:00  ana@x.pt     refused        health    refused",
    ]
    assert format_table([]) == "no audit entries"
