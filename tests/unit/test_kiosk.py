"""Kiosk tokens: made, checked, expired, revoked, tampered with; the file that keeps them."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from rtdata.kiosk import (
    DurationError,
    Kiosk,
    KioskError,
    KioskExistsError,
    KioskGrant,
    KioskRefusal,
    KioskRefusalReason,
    KioskState,
    KioskStore,
    KioskStoreError,
    UnknownKioskError,
    check,
    create,
    format_table,
    hash_token,
    issue,
    kiosk_path,
    kiosk_url,
    load_store,
    new_token,
    parse_duration_s,
    revoke,
    revoked,
)
from tests.support import run_in_step

NOW_S = 1_750_000_000.0
DAY_S = 86_400.0
TOKEN = "A" * 20 + "b" * 20 + "0-_"  # 43 base64url characters, like token_urlsafe(32)


def _store(*, expires_in_s: float = 30 * DAY_S, token: str = TOKEN) -> KioskStore:
    store, _ = issue(
        KioskStore(),
        "lobby",
        ["overview", "emergencies"],
        token_sha256=hash_token(token),
        expires_in_s=expires_in_s,
        now_s=NOW_S,
    )
    return store


# -- durations


@pytest.mark.parametrize(
    ("text", "seconds"), [("30d", 2_592_000.0), ("12h", 43_200.0), ("90m", 5400.0), ("45s", 45.0)]
)
def test_durations_in_days_hours_minutes_and_seconds(text: str, seconds: float) -> None:
    assert parse_duration_s(text) == seconds


@pytest.mark.parametrize("text", ["", "30", "d", "3w", "1.5h", "-1d", "0d", "30 d", "30D"])
def test_a_bad_duration_is_an_error_naming_it(text: str) -> None:
    with pytest.raises(DurationError, match=f"bad duration {text!r}"):
        parse_duration_s(text)


# -- check: pure


def test_a_new_kiosks_token_grants_exactly_its_pages() -> None:
    assert check(TOKEN, _store(), NOW_S + 1) == KioskGrant(
        "lobby", ("overview", "emergencies"), NOW_S + 30 * DAY_S
    )


def test_the_token_expires_at_its_expiry_not_before() -> None:
    store = _store(expires_in_s=3600)
    assert isinstance(check(TOKEN, store, NOW_S + 3599.9), KioskGrant)
    assert check(TOKEN, store, NOW_S + 3600) == KioskRefusal(KioskRefusalReason.EXPIRED, "lobby")


def test_a_revoked_token_is_refused_as_revoked_even_once_expired() -> None:
    store, gone = revoked(_store(expires_in_s=60), "lobby", NOW_S + 10)
    assert gone.revoked_at_s == NOW_S + 10
    assert check(TOKEN, store, NOW_S + 11) == KioskRefusal(KioskRefusalReason.REVOKED, "lobby")
    assert check(TOKEN, store, NOW_S + 999) == KioskRefusal(KioskRefusalReason.REVOKED, "lobby")


@pytest.mark.parametrize("position", [0, 21, 42])
def test_a_tampered_token_is_unknown(position: int) -> None:
    changed = "B" if TOKEN[position] != "B" else "C"
    tampered = TOKEN[:position] + changed + TOKEN[position + 1 :]
    assert check(tampered, _store(), NOW_S) == KioskRefusal(KioskRefusalReason.UNKNOWN)


def test_a_well_formed_token_of_no_kiosk_is_unknown() -> None:
    assert check(new_token(), _store(), NOW_S) == KioskRefusal(KioskRefusalReason.UNKNOWN)
    assert check(TOKEN, KioskStore(), NOW_S) == KioskRefusal(KioskRefusalReason.UNKNOWN)


@pytest.mark.parametrize(
    "token",
    ["", "short", TOKEN + "x", TOKEN[:-1], TOKEN[:-1] + "=", TOKEN[:-1] + "é", f" {TOKEN[1:]}"],
)
def test_anything_not_token_shaped_is_malformed(token: str) -> None:
    assert check(token, _store(), NOW_S) == KioskRefusal(KioskRefusalReason.MALFORMED)


def test_the_store_keeps_only_the_tokens_hash() -> None:
    (only,) = _store().kiosks
    assert only.token_sha256 == hash_token(TOKEN) != TOKEN
    assert len(only.token_sha256) == 64
    assert TOKEN not in repr(only)
    assert only.token_sha256 not in repr(only)


def test_new_tokens_are_43_urlsafe_characters_and_differ() -> None:
    tokens = {new_token() for _ in range(50)}
    assert len(tokens) == 50
    unknown = KioskRefusal(KioskRefusalReason.UNKNOWN)
    assert all(check(t, KioskStore(), NOW_S) == unknown for t in tokens)


# -- issue and revoke: pure


def test_an_active_name_cannot_be_created_again_without_replace() -> None:
    with pytest.raises(KioskExistsError, match="--replace"):
        issue(
            _store(),
            "lobby",
            ["overview"],
            token_sha256=hash_token("x"),
            expires_in_s=60,
            now_s=NOW_S + 1,
        )


def test_replace_revokes_the_old_token_and_the_new_one_works() -> None:
    second = TOKEN[::-1]
    store, new = issue(
        _store(),
        "lobby",
        ["overview"],
        token_sha256=hash_token(second),
        expires_in_s=60,
        now_s=NOW_S + 5,
        replace=True,
    )
    assert new.pages == ("overview",)
    assert check(TOKEN, store, NOW_S + 6) == KioskRefusal(KioskRefusalReason.REVOKED, "lobby")
    assert check(second, store, NOW_S + 6) == KioskGrant("lobby", ("overview",), NOW_S + 65)


def test_an_expired_or_revoked_name_may_be_used_again() -> None:
    expired = _store(expires_in_s=60)
    for store in (expired, revoked(_store(), "lobby", NOW_S)[0]):
        again, _ = issue(
            store, "lobby", ["overview"], token_sha256="0" * 64, expires_in_s=60, now_s=NOW_S + 61
        )
        states = [k.state(NOW_S + 62) for k in again.kiosks]
        assert states[-1] is KioskState.ACTIVE
        assert len(states) == 2


@pytest.mark.parametrize("name", ["", "Lobby", "lobby wall", "-lobby", "a" * 41, "lobby/1", "é"])
def test_a_bad_kiosk_name_is_refused(name: str) -> None:
    with pytest.raises(KioskError, match="bad kiosk name"):
        issue(KioskStore(), name, ["overview"], token_sha256="0" * 64, expires_in_s=1, now_s=0)


@pytest.mark.parametrize("pages", [[], ["Overview"], ["over view"], ["overview", "../x"]])
def test_bad_page_names_are_refused(pages: list[str]) -> None:
    with pytest.raises(KioskError, match="page"):
        issue(KioskStore(), "lobby", pages, token_sha256="0" * 64, expires_in_s=1, now_s=0)


def test_pages_keep_their_order_without_repeats() -> None:
    _, made = issue(
        KioskStore(),
        "lobby",
        ["health", "overview", "health"],
        token_sha256="0" * 64,
        expires_in_s=1,
        now_s=0,
    )
    assert made.pages == ("health", "overview")


def test_revoking_an_unknown_or_already_revoked_name_is_an_error() -> None:
    with pytest.raises(UnknownKioskError, match="'hall'"):
        revoked(_store(), "hall", NOW_S)
    store, _ = revoked(_store(), "lobby", NOW_S)
    with pytest.raises(UnknownKioskError):
        revoked(store, "lobby", NOW_S + 1)


def test_kiosk_states() -> None:
    made = Kiosk("k", ("p",), "0" * 64, created_at_s=0, expires_at_s=10)
    assert made.state(9) is KioskState.ACTIVE
    assert made.state(10) is KioskState.EXPIRED
    assert Kiosk("k", ("p",), "0" * 64, 0, 10, revoked_at_s=5).state(1) is KioskState.REVOKED


def test_kiosk_urls() -> None:
    assert kiosk_url("t0k") == "http://localhost:8501/?kiosk=t0k"
    assert (
        kiosk_url("t", "https://wall.example.org/dash/") == "https://wall.example.org/dash/?kiosk=t"
    )
    for bad in ("localhost:8501", "ftp://x", "http://x/?wall=1", "http://x/#a", "http:///p"):
        with pytest.raises(KioskError, match="bad base URL"):
            kiosk_url("t", bad)


def test_the_table_shows_each_kiosks_state_and_no_token() -> None:
    store, _ = revoked(_store(), "lobby", NOW_S + 60)
    store, _ = issue(
        store, "hall", ["presence"], token_sha256="0" * 64, expires_in_s=60, now_s=NOW_S
    )
    store, _ = issue(
        store, "ward", ["health"], token_sha256="1" * 64, expires_in_s=DAY_S, now_s=NOW_S
    )
    table = format_table(store.kiosks, NOW_S + 120)
    assert table.splitlines() == [
        "NAME   PAGES                 CREATED               EXPIRES               STATE",
        "lobby  overview,emergencies  2025-06-15 15:06 UTC  2025-07-15 15:06 UTC  revoked",
        "hall   presence              2025-06-15 15:06 UTC  2025-06-15 15:07 UTC  expired",
        "ward   health                2025-06-15 15:06 UTC  2025-06-16 15:06 UTC  active",
    ]
    assert hash_token(TOKEN) not in table
    assert format_table([], NOW_S) == "no kiosks"


# -- the file


def test_the_file_is_in_the_state_folder(tmp_path: Path) -> None:
    assert kiosk_path({"RTDATA_STATE_DIR": str(tmp_path)}) == tmp_path / "kiosks.json"


def test_create_stores_the_hash_in_a_0600_file_in_a_0700_folder(tmp_path: Path) -> None:
    path = tmp_path / "state" / "kiosks.json"
    made = create("lobby", ["overview"], expires_in_s=DAY_S, now_s=NOW_S, path=path)
    text = path.read_text()
    assert made.token not in text
    assert hash_token(made.token) in text
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert check(made.token, load_store(path), NOW_S + 1) == KioskGrant(
        "lobby", ("overview",), NOW_S + DAY_S
    )


def test_create_with_replace_names_the_kiosk_it_revoked(tmp_path: Path) -> None:
    path = tmp_path / "kiosks.json"
    first = create("lobby", ["overview"], expires_in_s=DAY_S, now_s=NOW_S, path=path)
    assert first.replaced == ()
    second = create(
        "lobby", ["health"], expires_in_s=DAY_S, now_s=NOW_S + 1, path=path, replace=True
    )
    (old,) = second.replaced
    assert (old.pages, old.revoked_at_s) == (("overview",), NOW_S + 1)
    store = load_store(path)
    assert check(first.token, store, NOW_S + 2) == KioskRefusal(KioskRefusalReason.REVOKED, "lobby")
    assert check(second.token, store, NOW_S + 2) == KioskGrant(
        "lobby", ("health",), NOW_S + 1 + DAY_S
    )


def test_revoke_in_the_file_refuses_the_token(tmp_path: Path) -> None:
    path = tmp_path / "kiosks.json"
    made = create("lobby", ["overview"], expires_in_s=DAY_S, now_s=NOW_S, path=path)
    assert revoke("lobby", now_s=NOW_S + 2, path=path).revoked_at_s == NOW_S + 2
    refusal = KioskRefusal(KioskRefusalReason.REVOKED, "lobby")
    assert check(made.token, load_store(path), NOW_S + 3) == refusal


def test_a_missing_file_or_folder_is_an_empty_store(tmp_path: Path) -> None:
    assert load_store(tmp_path / "nope" / "kiosks.json") == KioskStore()
    assert not (tmp_path / "nope").exists()


@pytest.mark.parametrize(
    "text",
    [
        "not json",
        "[]",
        '{"version": 2, "kiosks": []}',
        '{"version": 1}',
        '{"version": 1, "kiosks": [{"name": "x"}]}',
        '{"version": 1, "kiosks": [{"name": "x", "pages": [], "token_sha256": "abc",'
        ' "created_at_s": 0, "expires_at_s": 1, "revoked_at_s": null}]}',
    ],
)
def test_a_file_that_is_not_a_store_is_an_error_not_an_empty_store(
    tmp_path: Path, text: str
) -> None:
    path = tmp_path / "kiosks.json"
    path.write_text(text)
    with pytest.raises(KioskStoreError, match="not a kiosk file"):
        load_store(path)


def test_a_refused_update_leaves_the_file_as_it_was(tmp_path: Path) -> None:
    path = tmp_path / "kiosks.json"
    create("lobby", ["overview"], expires_in_s=DAY_S, now_s=NOW_S, path=path)
    before = path.read_bytes()
    with pytest.raises(KioskExistsError):
        create("lobby", ["health"], expires_in_s=DAY_S, now_s=NOW_S, path=path)
    assert path.read_bytes() == before


def test_a_failed_write_keeps_the_old_file_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "kiosks.json"
    create("lobby", ["overview"], expires_in_s=DAY_S, now_s=NOW_S, path=path)
    before = path.read_bytes()

    def full_disk(src: str, dst: str) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", full_disk)
    with pytest.raises(OSError, match="No space"):
        create("hall", ["overview"], expires_in_s=DAY_S, now_s=NOW_S, path=path)
    assert path.read_bytes() == before
    assert json.loads(before)["kiosks"][0]["name"] == "lobby"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["kiosks.json", "kiosks.lock"]


_WORKER = """
import sys
from pathlib import Path
from rtdata.kiosk import create
path, prefix = Path(sys.argv[1]), sys.argv[2]
print("ready", flush=True)
sys.stdin.readline()  # start together
for i in range(int(sys.argv[3])):
    create(f"{prefix}{i}", ["overview"], expires_in_s=60, now_s=1.0, path=path)
"""


def test_two_processes_creating_at_once_lose_no_kiosk(tmp_path: Path) -> None:
    path = tmp_path / "state" / "kiosks.json"
    each = 40
    run_in_step(_WORKER, [[str(path), prefix, str(each)] for prefix in ("a", "b")])
    names = {k.name for k in load_store(path).kiosks}
    assert names == {f"{p}{i}" for p in "ab" for i in range(each)}
