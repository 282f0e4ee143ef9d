"""rtdata's state folder: the files one installation keeps between runs (kiosk tokens, the
audit log, the dashboard's cookie secret), private to the user who runs rtdata.

Where it is: ``$RTDATA_STATE_DIR`` if set, else ``$XDG_STATE_HOME/rtdata``, else
``~/.local/state/rtdata``. :func:`state_dir` only names it; :func:`private_dir` creates it
(mode 0700) when a file is about to be written there. :func:`locked` is the advisory lock
(``fcntl.flock``) that keeps two processes from losing each other's update, and
:func:`write_atomically` replaces a file whole.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import secrets
import stat
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path

__all__ = [
    "COOKIE_SECRET_FILE",
    "STATE_DIR_ENV",
    "StateDirError",
    "cookie_secret",
    "locked",
    "private_dir",
    "state_dir",
    "write_atomically",
]

STATE_DIR_ENV = "RTDATA_STATE_DIR"
"""The environment variable that names the state folder, before the XDG default."""

DIR_MODE = 0o700
FILE_MODE = 0o600

COOKIE_SECRET_FILE = "cookie_secret"
"""The file in the state folder that holds the dashboard's cookie secret."""


class StateDirError(OSError):
    """The state folder cannot be kept private: it belongs to another user, or it is a shared
    (sticky) folder such as ``/tmp``."""


def state_dir(env: Mapping[str, str] | None = None) -> Path:
    """Return rtdata's state folder, without creating it.

    Args:
        env: The environment to read (default ``os.environ``).

    Returns:
        ``$RTDATA_STATE_DIR`` if set and not empty, else ``$XDG_STATE_HOME/rtdata`` (an
        absolute ``XDG_STATE_HOME`` only, as the XDG specification says), else
        ``~/.local/state/rtdata``.
    """
    env = os.environ if env is None else env
    explicit = env.get(STATE_DIR_ENV, "")
    if explicit:
        return Path(explicit).expanduser()
    xdg = env.get("XDG_STATE_HOME", "")
    if xdg and Path(xdg).is_absolute():
        return Path(xdg) / "rtdata"
    home = env.get("HOME")
    return (Path(home) if home else Path.home()) / ".local" / "state" / "rtdata"


def private_dir(path: Path) -> Path:
    """Create ``path`` (and its parents) if missing and leave it with mode 0700.

    A folder rtdata creates is made 0700. An existing folder that this user owns is narrowed
    to 0700 (it is rtdata's own state folder). One owned by someone else, or a sticky shared
    folder like ``/tmp``, is refused: another user could then replace the files in it.

    Args:
        path: The state folder.

    Returns:
        ``path``.

    Raises:
        StateDirError: The folder belongs to another user or is a sticky shared folder.
        OSError: It cannot be created or changed.
    """
    path.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
    info = path.stat()
    if info.st_uid != os.geteuid() or info.st_mode & stat.S_ISVTX:
        raise StateDirError(
            f"the state folder {path} is shared (owned by another user or sticky);"
            f" set {STATE_DIR_ENV} to a folder of your own"
        )
    if stat.S_IMODE(info.st_mode) != DIR_MODE:
        os.chmod(path, DIR_MODE)  # mkdir's mode is masked by the umask; an old folder may be 0755
    return path


@contextlib.contextmanager
def locked(lock_path: Path) -> Iterator[None]:
    """Hold an exclusive ``flock`` on ``lock_path`` (created 0600) for the ``with`` block.

    Every open of the file is its own lock holder, so the lock excludes other threads of this
    process as well as other processes. It is advisory: only rtdata's writers take it.

    Args:
        lock_path: The lock file, in the state folder.
    """
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, FILE_MODE)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield  # closing the descriptor releases the lock
    finally:
        os.close(fd)


def write_atomically(path: Path, text: str) -> None:
    """Replace ``path``'s content with ``text`` so a reader sees the old file or the new one,
    never half of one.

    The text goes to a 0600 temporary file beside ``path``, is flushed to disk, and is renamed
    over ``path`` (``os.replace``); on any failure the temporary file is removed and ``path``
    is left as it was.

    Args:
        path: The file, in an existing folder.
        text: Its new content (UTF-8).
    """
    fd, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as file:  # mkstemp made it 0600
            file.write(text)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp)
        raise
    folder = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(folder)  # the rename itself survives a crash
    finally:
        os.close(folder)


def cookie_secret(env: Mapping[str, str] | None = None) -> str:
    """Return this installation's cookie secret for Streamlit (``server.cookieSecret``), made
    on first use: 32 random bytes, URL-safe, in a 0600 file of the state folder. Without it
    Streamlit makes a new one per start, or takes one from a config file that may end up in a
    repository.

    Raises:
        StateDirError: The state folder is shared (see :func:`private_dir`).
    """
    folder = private_dir(state_dir(env))
    path = folder / COOKIE_SECRET_FILE
    if path.is_file():
        return path.read_text(encoding="ascii").strip()
    # Written whole to a private temporary file, then linked into place: two dashboards
    # starting at once agree on one secret, and nobody ever reads a half-written one.
    fd, temporary = tempfile.mkstemp(dir=folder, prefix=".cookie-")
    try:
        with os.fdopen(fd, "w", encoding="ascii") as file:
            file.write(secrets.token_urlsafe(32))
        with contextlib.suppress(FileExistsError):
            os.link(temporary, path)
    finally:
        os.unlink(temporary)
    return path.read_text(encoding="ascii").strip()
