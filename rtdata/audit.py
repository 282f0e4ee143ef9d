"""The audit log: who signed in, was refused, used a kiosk or exported what, and when.

An append-only JSON Lines file, ``audit.jsonl`` in rtdata's state folder
(:func:`rtdata.state.state_dir`), mode 0600. Each line is one :class:`AuditEntry`:
``{"at": ISO UTC, "who": ..., "action": ..., "what": ..., "outcome": ...}``.

:func:`record` is the one way in. It refuses (:class:`UnsafeAuditText`, a ``ValueError``) text
that could be a secret or row data (:func:`secret_reason`): a JWT, a long random token, a
hash, a serialized row, a control character or more than :data:`MAX_TEXT_CHARS` characters. That is a bug in the caller, so it raises, before any
I/O; text a person typed (the email of a failed sign-in) goes through :func:`user_who` first,
which never raises. A failure to write (a full disk, a read-only or foreign state folder) never raises: the
dashboard must not stop working because of its audit. The entry is not lost silently either:
it is logged at ERROR level with its whole line (which holds no secret, by the rule above), so
it lands in the process's log, and :func:`record` returns False so the caller can show it or
refuse what it was about to allow (an export, say).
"""

from __future__ import annotations

import errno
import fcntl
import json
import logging
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import Enum
from pathlib import Path
from typing import Final, NamedTuple

from rtdata.state import FILE_MODE, private_dir, state_dir

__all__ = [
    "ANONYMOUS_WHO",
    "CLI_WHO",
    "MAX_TEXT_CHARS",
    "AuditAction",
    "AuditEntry",
    "AuditRead",
    "UnsafeAuditText",
    "audit_path",
    "export_what",
    "format_table",
    "kiosk_who",
    "read_entries",
    "record",
    "secret_reason",
    "select",
    "user_who",
]

log = logging.getLogger(__name__)

AUDIT_FILE: Final = "audit.jsonl"
MAX_TEXT_CHARS: Final = 200
"""The longest ``who``, ``what`` or ``outcome`` an entry takes, in characters."""
CLI_WHO: Final = "cli"
"""The ``who`` of an entry the ``rtdata`` command line writes."""
ANONYMOUS_WHO: Final = "anonymous"
"""The ``who`` of a typed sign-in name that is not a safe email (:func:`user_who`)."""

_RUN: Final = r"[A-Za-z0-9_-]"
_JWT: Final = re.compile(  # a JSON header ("eyJ" is base64 of '{"'), or three long parts
    rf"(?<![A-Za-z0-9_-])(?:eyJ{_RUN}+\.{_RUN}+\.|{_RUN}{{16,}}\.{_RUN}{{16,}}\.{_RUN}{{16}})"
)
_TOKENISH: Final = re.compile(r"[A-Za-z0-9_\-+/=]{20,}")
_HEX: Final = re.compile(r"[0-9a-fA-F]{32,}")
_CONTROL: Final = re.compile(r"[\x00-\x1f\x7f]")
_EMAIL: Final = re.compile(r"[^\s@]+@[^\s@]+\.[^\s@]+")
_KIOSK_WHO: Final = re.compile(r"kiosk:[a-z0-9][a-z0-9_-]{0,39}")


class AuditAction(Enum):
    """What an audit entry records."""

    SIGN_IN = "sign_in"
    SIGN_IN_FAILED = "sign_in_failed"
    SIGN_OUT = "sign_out"
    REFUSED = "refused"
    """A signed-in user was refused a page."""
    KIOSK_CREATED = "kiosk_created"
    KIOSK_REVOKED = "kiosk_revoked"
    KIOSK_USED = "kiosk_used"
    KIOSK_REFUSED = "kiosk_refused"
    EXPORT = "export"
    """A download of a page's rows (CSV or Parquet)."""


class UnsafeAuditText(ValueError):
    """A ``who``, ``what`` or ``outcome`` that may hold a secret or row data, so it is refused."""


@dataclass(frozen=True)
class AuditEntry:
    """One line of the audit log.

    Attributes:
        at: When, tz-aware UTC.
        who: An email, ``kiosk:<name>``, ``cli`` or ``anonymous``.
        action: What happened.
        what: A short description: a page name, an export's page, format and row count.
        outcome: A short result: ``ok``, or why not (``refused``, ``expired``...).
    """

    at: datetime
    who: str
    action: AuditAction
    what: str
    outcome: str

    def to_json(self) -> str:
        """Return the entry as one JSON object (no newline), as the file holds it."""
        return json.dumps(
            {
                "at": self.at.astimezone(UTC).isoformat(timespec="milliseconds"),
                "who": self.who,
                "action": self.action.value,
                "what": self.what,
                "outcome": self.outcome,
            },
            ensure_ascii=False,
        )


class AuditRead(NamedTuple):
    """What :func:`read_entries` found.

    Attributes:
        entries: The readable entries, in file order (oldest first).
        unreadable: How many lines were not entries (a write cut short by a full disk).
    """

    entries: list[AuditEntry]
    unreadable: int


def secret_reason(text: str) -> str | None:
    """Return why ``text`` may hold a secret or row data, or None if it looks safe.

    Refused:

    - more than :data:`MAX_TEXT_CHARS` characters;
    - a control character (a newline included);
    - a brace (a row serialized as JSON or as a dict);
    - a JWT: a base64url JSON header (``eyJ...``) and two more dot-separated parts, or three
      dot-separated base64url parts of 16 or more characters each;
    - a random token: a run of 20 or more token characters mixing upper case, lower case and
      digits, or 32 or more mixing upper and lower case;
    - a hash or key: a run of 32 or more hex digits with a digit among them.
    """
    if len(text) > MAX_TEXT_CHARS:
        return f"longer than {MAX_TEXT_CHARS} characters"
    if _CONTROL.search(text):
        return "holds a control character"
    if "{" in text or "}" in text:
        return "looks like a serialized record"
    if _JWT.search(text):
        return "looks like a JWT"
    for run in _TOKENISH.findall(text):
        upper, lower = re.search("[A-Z]", run), re.search("[a-z]", run)
        digit = re.search("[0-9]", run)
        if upper and lower and (digit or len(run) >= 32):
            return "looks like a random token"
    if any(re.search("[0-9]", run) for run in _HEX.findall(text)):
        return "looks like a hash or key"
    return None


def kiosk_who(name: str) -> str:
    """Return the ``who`` of a kiosk: ``kiosk:<name>``."""
    return f"kiosk:{name}"


def user_who(email: str) -> str:
    """Return the ``who`` of a person: ``email`` if it is an email that may be logged, else
    :data:`ANONYMOUS_WHO`.

    For text a person typed (a failed sign-in's email, which might be a password typed in the
    wrong field): it never raises, and what it returns always passes :func:`record`. A
    password shaped like an email (``x@y.z``) cannot be told from one and is returned as is.
    """
    email = email.strip()
    if _EMAIL.fullmatch(email) and secret_reason(email) is None:
        return email
    return ANONYMOUS_WHO


def export_what(page: str, file_format: str, rows: int) -> str:
    """Return the ``what`` of an export: its page, format and row count (``events csv 120
    rows``)."""
    return f"{page} {file_format} {rows} rows"


def audit_path(env: Mapping[str, str] | None = None) -> Path:
    """Return the audit log: ``audit.jsonl`` in the state folder (:func:`state_dir`)."""
    return state_dir(env) / AUDIT_FILE


def record(
    action: AuditAction,
    who: str,
    what: str = "",
    outcome: str = "ok",
    *,
    at: datetime | None = None,
    path: Path | None = None,
) -> bool:
    """Append one entry to the audit log; safe from any thread and any process.

    The line is written by one ``write`` on a descriptor opened with ``O_APPEND``, under an
    exclusive ``flock`` of the file, so concurrent writers never interleave. A line left cut
    short by an earlier failure is ended first, so each later entry stays on a line of its own.

    Args:
        action: What happened.
        who: An email (a typed one through :func:`user_who`), ``kiosk:<name>``
            (:func:`kiosk_who`), ``cli`` or ``anonymous``.
        what: A page name, an export's page, format and row count (:func:`export_what`)...
        outcome: ``ok``, or a short reason.
        at: When (tz-aware; default now).
        path: The log (default :func:`audit_path`).

    Returns:
        True once the entry is written; False if it could not be (it is then logged at ERROR
        level, whole).

    Raises:
        UnsafeAuditText: ``who`` is none of the three forms, or ``who``, ``what`` or
            ``outcome`` may hold a secret or row data (:func:`secret_reason`).
        ValueError: ``at`` has no time zone.
    """
    if at is not None and at.tzinfo is None:
        raise ValueError("an audit time must be tz-aware")
    entry = AuditEntry(
        at=datetime.now(UTC) if at is None else at.astimezone(UTC),
        who=_checked_who(who),
        action=AuditAction(action),
        what=_checked("what", what),
        outcome=_checked("outcome", outcome),
    )
    line = entry.to_json()
    path = audit_path() if path is None else path
    try:
        _append(path, (line + "\n").encode("utf-8"))
    except OSError as exc:
        log.error("audit entry not written to %s (%s): %s", path, exc, line)
        return False
    return True


def read_entries(path: Path | None = None) -> AuditRead:
    """Read the audit log; a missing log has no entries.

    Args:
        path: The log (default :func:`audit_path`).

    Raises:
        OSError: The log exists but cannot be read.
    """
    path = audit_path() if path is None else path
    try:
        with path.open("rb") as file:
            fcntl.flock(file.fileno(), fcntl.LOCK_SH)  # no line read while being written
            data = file.read()
    except FileNotFoundError:
        return AuditRead([], 0)
    entries: list[AuditEntry] = []
    unreadable = 0
    for raw in data.splitlines():
        if not raw.strip():
            continue
        try:
            entries.append(_entry(json.loads(raw)))
        except (ValueError, KeyError, TypeError, AttributeError):
            unreadable += 1
    return AuditRead(entries, unreadable)


def select(
    entries: Iterable[AuditEntry],
    *,
    since: datetime | None = None,
    action: AuditAction | None = None,
) -> list[AuditEntry]:
    """Return the entries at or after ``since`` and of ``action`` (None: any), in order."""
    return [
        e
        for e in entries
        if (since is None or e.at >= since) and (action is None or e.action is action)
    ]


def format_table(entries: Sequence[AuditEntry]) -> str:
    """Return the entries as an aligned text table with a header (times in UTC, to the
    second), one line per entry, or a one-line note when there is none."""
    if not entries:
        return "no audit entries"
    header = ("AT (UTC)", "WHO", "ACTION", "WHAT", "OUTCOME")
    rows = [
        (
            e.at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S"),
            e.who,
            e.action.value,
            e.what,
            e.outcome,
        )
        for e in entries
    ]
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    return "\n".join(
        "  ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=True)).rstrip()
        for r in [header, *rows]
    )


def _checked(field: str, text: str) -> str:
    reason = secret_reason(text)
    if reason is not None:
        raise UnsafeAuditText(f"audit {field} refused: it {reason}")
    return text


def _checked_who(who: str) -> str:
    _checked("who", who)
    if who in (CLI_WHO, ANONYMOUS_WHO) or _KIOSK_WHO.fullmatch(who) or _EMAIL.fullmatch(who):
        return who
    raise UnsafeAuditText("audit who refused: expected an email, kiosk:<name>, cli or anonymous")


def _append(path: Path, data: bytes) -> None:
    private_dir(path.parent)
    fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, FILE_MODE)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)  # released when fd closes
        info = os.fstat(fd)
        if info.st_mode & 0o777 != FILE_MODE:
            os.fchmod(fd, FILE_MODE)  # an older or copied log may be readable by others
        if info.st_size and os.pread(fd, 1, info.st_size - 1) != b"\n":
            data = b"\n" + data  # end a line an earlier full disk cut short
        written = os.write(fd, data)
        if written != len(data):
            raise OSError(errno.ENOSPC, f"only {written} of {len(data)} bytes written")
    finally:
        os.close(fd)


def _entry(item: dict[str, object]) -> AuditEntry:
    at = datetime.fromisoformat(str(item["at"]))
    if at.tzinfo is None:
        raise ValueError("no time zone")
    return AuditEntry(
        at=at.astimezone(UTC),
        who=str(item["who"]),
        action=AuditAction(item["action"]),
        what=str(item["what"]),
        outcome=str(item["outcome"]),
    )
