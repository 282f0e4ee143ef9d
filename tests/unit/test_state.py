"""rtdata's state folder: where it is, kept private, replaced whole, locked."""

from __future__ import annotations

import fcntl
import os
import stat
from pathlib import Path

import pytest

from rtdata import state
from rtdata.state import StateDirError, locked, private_dir, state_dir, write_atomically


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_the_state_folder_is_rtdata_state_dir_then_xdg_then_home() -> None:
    env = {"HOME": "/home/ana", "XDG_STATE_HOME": "/xdg", "RTDATA_STATE_DIR": "/srv/rt"}
    assert state_dir(env) == Path("/srv/rt")
    assert state_dir({**env, "RTDATA_STATE_DIR": ""}) == Path("/xdg/rtdata")
    assert state_dir({"HOME": "/home/ana"}) == Path("/home/ana/.local/state/rtdata")
    # XDG says a relative XDG_STATE_HOME is invalid and is ignored
    assert state_dir({"HOME": "/h", "XDG_STATE_HOME": "rel"}) == Path("/h/.local/state/rtdata")


def test_state_dir_only_names_the_folder(tmp_path: Path) -> None:
    assert state_dir({"RTDATA_STATE_DIR": str(tmp_path / "s")}) == tmp_path / "s"
    assert not (tmp_path / "s").exists()


def test_a_new_state_folder_is_0700_even_under_a_loose_umask(tmp_path: Path) -> None:
    old = os.umask(0o000)
    try:
        folder = private_dir(tmp_path / "a" / "state")
    finally:
        os.umask(old)
    assert _mode(folder) == 0o700


def test_an_existing_state_folder_of_ours_is_narrowed_to_0700(tmp_path: Path) -> None:
    folder = tmp_path / "state"
    folder.mkdir(mode=0o755)
    os.chmod(folder, 0o755)
    private_dir(folder)
    assert _mode(folder) == 0o700


def test_a_sticky_shared_folder_is_refused(tmp_path: Path) -> None:
    folder = tmp_path / "shared"
    folder.mkdir()
    os.chmod(folder, 0o1777)
    with pytest.raises(StateDirError, match="RTDATA_STATE_DIR"):
        private_dir(folder)
    assert _mode(folder) == 0o1777  # left as it was


def test_write_atomically_makes_a_0600_file_and_replaces_it_whole(tmp_path: Path) -> None:
    path = tmp_path / "f.json"
    write_atomically(path, "one")
    write_atomically(path, "two")
    assert path.read_text() == "two"
    assert _mode(path) == 0o600
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f.json"]


def test_a_failed_replace_leaves_the_old_file_and_no_temporary(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "f.json"
    write_atomically(path, "old")

    def fail(src: str, dst: str) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(state.os, "replace", fail)
    with pytest.raises(OSError, match="No space"):
        write_atomically(path, "new")
    assert path.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f.json"]


def test_the_lock_excludes_any_other_open_of_the_file_until_released(tmp_path: Path) -> None:
    lock = tmp_path / "x.lock"
    other = os.open(lock, os.O_RDWR | os.O_CREAT, 0o600)  # as another thread or process would
    try:
        with locked(lock), pytest.raises(BlockingIOError):
            fcntl.flock(other, fcntl.LOCK_EX | fcntl.LOCK_NB)
        fcntl.flock(other, fcntl.LOCK_EX | fcntl.LOCK_NB)  # free once the block ends
    finally:
        os.close(other)


def test_the_lock_file_is_0600(tmp_path: Path) -> None:
    with locked(tmp_path / "y.lock"):
        pass
    assert _mode(tmp_path / "y.lock") == 0o600
