"""Kiosk tokens: bearer links that open a wall display's pages without signing in.

``rtdata kiosk create`` makes a random token (``secrets.token_urlsafe(32)``), prints it once
inside a URL and keeps only its SHA-256 in ``kiosks.json`` in rtdata's state folder
(:func:`rtdata.state.state_dir`). A token is a random 256-bit secret, not a password, so one
unsalted hash is enough: nobody can guess a token from its hash, and the file holds nothing
that opens a page.

The dashboard reads the file (:func:`load_store`) and asks :func:`check`, which is pure: a
token, a snapshot of the store and the time in, a :class:`KioskGrant` or a
:class:`KioskRefusal` (with a :class:`KioskRefusalReason`) out. Writers (:func:`create`,
:func:`revoke`) take a lock, apply a pure change (:func:`issue`, :func:`revoked`) and replace
the file atomically.
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import json
import re
import secrets
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import Enum
from pathlib import Path
from typing import Any, Final
from urllib.parse import urlsplit

from rtdata.state import locked, private_dir, state_dir, write_atomically

__all__ = [
    "DEFAULT_BASE_URL",
    "DurationError",
    "Kiosk",
    "KioskError",
    "KioskExistsError",
    "KioskGrant",
    "KioskRefusal",
    "KioskRefusalReason",
    "KioskState",
    "KioskStore",
    "KioskStoreError",
    "NewKiosk",
    "UnknownKioskError",
    "check",
    "create",
    "format_table",
    "hash_token",
    "issue",
    "kiosk_path",
    "kiosk_url",
    "load_store",
    "new_token",
    "parse_duration_s",
    "revoke",
    "revoked",
    "validate_name",
    "validate_pages",
]

DEFAULT_BASE_URL: Final = "http://localhost:8501"
"""The dashboard's address a kiosk URL starts with unless ``--base-url`` is given."""

STORE_FILE: Final = "kiosks.json"
LOCK_FILE: Final = "kiosks.lock"
STORE_VERSION: Final = 1
TOKEN_BYTES: Final = 32
_TOKEN: Final = re.compile(r"[A-Za-z0-9_-]{43}")  # token_urlsafe(32): 43 base64url characters
_SHA256_HEX: Final = re.compile(r"[0-9a-f]{64}")
_NAME: Final = re.compile(r"[a-z0-9][a-z0-9_-]{0,39}")
_PAGE: Final = re.compile(r"[a-z0-9][a-z0-9_-]*")  # the config's rule for [[pages]] name
_DURATION: Final = re.compile(r"([0-9]+)([smhd])")
_UNIT_S: Final[Mapping[str, int]] = {"s": 1, "m": 60, "h": 3600, "d": 86400}


class KioskError(ValueError):
    """A kiosk command cannot be carried out (a bad name, page or URL; see the subclasses)."""


class KioskExistsError(KioskError):
    """An active kiosk already has the name (``--replace`` replaces it)."""


class UnknownKioskError(KioskError):
    """No kiosk of that name is left to revoke."""


class KioskStoreError(KioskError):
    """The kiosk file cannot be read as a kiosk store; the dashboard should refuse every token."""


class DurationError(ValueError):
    """A duration is not a whole number followed by ``s``, ``m``, ``h`` or ``d``."""


class KioskState(Enum):
    """Where a kiosk is in its life, at a given time."""

    ACTIVE = "active"
    EXPIRED = "expired"
    REVOKED = "revoked"


class KioskRefusalReason(Enum):
    """Why :func:`check` refused a token."""

    MALFORMED = "malformed"
    """Not the shape of a token at all (wrong length or characters, or empty)."""
    UNKNOWN = "unknown"
    """Shaped like a token but no kiosk's: a tampered, mistyped or deleted one."""
    EXPIRED = "expired"
    """A kiosk's token whose expiry has passed."""
    REVOKED = "revoked"
    """A kiosk's token that was revoked (or replaced with ``--replace``)."""


@dataclass(frozen=True)
class Kiosk:
    """One kiosk as stored: its name, pages, the hash of its token and its times.

    Attributes:
        name: The kiosk's name (lower-case letters, digits, ``_`` and ``-``; 1-40 characters).
        pages: The names of the pages its wall rotates through, in order.
        token_sha256: The hex SHA-256 of its token; never shown.
        created_at_s: When it was created, in seconds since the Unix epoch.
        expires_at_s: When its token stops working, in seconds since the Unix epoch.
        revoked_at_s: When it was revoked, in seconds since the Unix epoch, or None.
    """

    name: str
    pages: tuple[str, ...]
    token_sha256: str = field(repr=False)
    created_at_s: float
    expires_at_s: float
    revoked_at_s: float | None = None

    def state(self, now_s: float) -> KioskState:
        """Return the kiosk's state at ``now_s`` (revoked wins over expired)."""
        if self.revoked_at_s is not None:
            return KioskState.REVOKED
        if now_s >= self.expires_at_s:
            return KioskState.EXPIRED
        return KioskState.ACTIVE


@dataclass(frozen=True)
class KioskStore:
    """A snapshot of every kiosk, oldest first (a revoked or expired one is kept, so its token
    is refused with its reason rather than as unknown).

    Attributes:
        kiosks: The kiosks, in the order they were created.
    """

    kiosks: tuple[Kiosk, ...] = ()


@dataclass(frozen=True)
class KioskGrant:
    """A token :func:`check` accepted: the kiosk's name and the only pages it may open.

    Attributes:
        name: The kiosk's name.
        pages: The pages it may open, in rotation order.
        expires_at_s: When the grant ends, in seconds since the Unix epoch.
    """

    name: str
    pages: tuple[str, ...]
    expires_at_s: float


@dataclass(frozen=True)
class KioskRefusal:
    """A token :func:`check` refused, and why.

    Attributes:
        reason: Why it was refused.
        name: The kiosk the token belonged to, for ``EXPIRED`` and ``REVOKED``; None otherwise.
    """

    reason: KioskRefusalReason
    name: str | None = None


@dataclass(frozen=True)
class NewKiosk:
    """A kiosk :func:`create` just made, with its token: the only time the token exists.

    Attributes:
        kiosk: The kiosk as stored.
        token: The bearer token; print it once in a URL (:func:`kiosk_url`) and drop it.
        replaced: The active kiosks of the same name it revoked (``replace=True``), if any.
    """

    kiosk: Kiosk
    token: str = field(repr=False)
    replaced: tuple[Kiosk, ...] = ()


def parse_duration_s(text: str) -> float:
    """Return the seconds in a duration such as ``30d``, ``12h``, ``90m`` or ``45s``.

    Args:
        text: A positive whole number followed by one unit: ``s``, ``m``, ``h`` or ``d``.

    Raises:
        DurationError: ``text`` is anything else; the message names it.
    """
    match = _DURATION.fullmatch(text.strip())
    if match is None or int(match[1]) == 0:
        raise DurationError(
            f"bad duration {text!r}: expected a positive whole number and a unit,"
            " s, m, h or d (for example 30d, 12h, 90m, 45s)"
        )
    return float(int(match[1]) * _UNIT_S[match[2]])


def validate_name(name: str) -> str:
    """Return ``name`` if it is a kiosk name: 1-40 of ``a-z``, ``0-9``, ``_``, ``-``, starting
    with a letter or digit.

    Raises:
        KioskError: It is not; the message names it.
    """
    if not _NAME.fullmatch(name):
        raise KioskError(
            f"bad kiosk name {name!r}: 1-40 lower-case letters, digits, _ and -,"
            " starting with a letter or digit"
        )
    return name


def validate_pages(pages: Iterable[str]) -> tuple[str, ...]:
    """Return the page names in order without repeats, each checked as a page name.

    A page name follows the config's rule for ``[[pages]] name`` (lower-case letters, digits,
    ``_`` and ``-``, starting with a letter or digit). Whether the pages exist is not checked
    here: that needs the dashboard's config.

    Raises:
        KioskError: A name is malformed, or there is none.
    """
    names: list[str] = []
    for page in pages:
        if not _PAGE.fullmatch(page):
            raise KioskError(
                f"bad page name {page!r}: lower-case letters, digits, _ and -,"
                " starting with a letter or digit"
            )
        if page not in names:
            names.append(page)
    if not names:
        raise KioskError("a kiosk needs at least one page")
    return tuple(names)


def new_token() -> str:
    """Return a new random kiosk token: 32 random bytes, base64url (43 characters)."""
    return secrets.token_urlsafe(TOKEN_BYTES)


def hash_token(token: str) -> str:
    """Return the hex SHA-256 of a token, as the store keeps it."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def kiosk_url(token: str, base_url: str = DEFAULT_BASE_URL) -> str:
    """Return the URL that opens a kiosk: ``<base_url>/?kiosk=<token>``.

    Args:
        token: The kiosk's token (URL-safe as made by :func:`new_token`).
        base_url: The dashboard's address: ``http`` or ``https``, with no query or fragment.

    Raises:
        KioskError: ``base_url`` is not such an address.
    """
    parts = urlsplit(base_url)
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.query or parts.fragment:
        raise KioskError(
            f"bad base URL {base_url!r}: expected http(s)://host[:port][/path], no query"
        )
    return f"{base_url.rstrip('/')}/?kiosk={token}"


def check(token: str, store: KioskStore, now_s: float) -> KioskGrant | KioskRefusal:
    """Decide whether ``token`` opens a kiosk at ``now_s``; pure, no I/O.

    The token's hash is compared with every kiosk's in constant time
    (:func:`hmac.compare_digest`), each one, whatever matched before.

    Args:
        token: The token from the URL, as given (it may be anything).
        store: A snapshot of the kiosks (:func:`load_store`).
        now_s: The time, in seconds since the Unix epoch.

    Returns:
        A :class:`KioskGrant` for an active kiosk's token, else a :class:`KioskRefusal`:
        ``MALFORMED`` for a string that is not token-shaped, ``UNKNOWN`` for one that matches no
        kiosk (a tampered token included), ``REVOKED`` or ``EXPIRED`` for a kiosk's token that
        no longer works.
    """
    if not _TOKEN.fullmatch(token):
        return KioskRefusal(KioskRefusalReason.MALFORMED)
    digest = hash_token(token)
    found: Kiosk | None = None
    for kiosk in store.kiosks:
        if hmac.compare_digest(digest, kiosk.token_sha256):
            found = kiosk
    if found is None:
        return KioskRefusal(KioskRefusalReason.UNKNOWN)
    state = found.state(now_s)
    if state is KioskState.REVOKED:
        return KioskRefusal(KioskRefusalReason.REVOKED, found.name)
    if state is KioskState.EXPIRED:
        return KioskRefusal(KioskRefusalReason.EXPIRED, found.name)
    return KioskGrant(found.name, found.pages, found.expires_at_s)


def issue(
    store: KioskStore,
    name: str,
    pages: Sequence[str],
    *,
    token_sha256: str,
    expires_in_s: float,
    now_s: float,
    replace: bool = False,
) -> tuple[KioskStore, Kiosk]:
    """Return the store with a new kiosk added, and that kiosk; pure.

    Args:
        store: The store before.
        name: The new kiosk's name (:func:`validate_name`).
        pages: Its pages (:func:`validate_pages`).
        token_sha256: The hash of its token (:func:`hash_token`).
        expires_in_s: How long its token works, in seconds from ``now_s``.
        now_s: The time, in seconds since the Unix epoch.
        replace: Revoke an active kiosk of the same name (at ``now_s``) instead of refusing.

    Raises:
        KioskExistsError: An active kiosk has the name and ``replace`` is false.
        KioskError: The name or a page name is malformed, or ``expires_in_s`` is not positive.
    """
    validate_name(name)
    page_names = validate_pages(pages)
    if expires_in_s <= 0:
        raise KioskError(f"a kiosk must expire in the future, got {expires_in_s} s")
    kept: list[Kiosk] = []
    for kiosk in store.kiosks:
        if kiosk.name == name and kiosk.state(now_s) is KioskState.ACTIVE:
            if not replace:
                raise KioskExistsError(
                    f"an active kiosk is named {name!r}; revoke it or pass --replace"
                )
            kiosk = dataclasses.replace(kiosk, revoked_at_s=now_s)
        kept.append(kiosk)
    new = Kiosk(name, page_names, token_sha256, now_s, now_s + expires_in_s)
    return KioskStore((*kept, new)), new


def revoked(store: KioskStore, name: str, now_s: float) -> tuple[KioskStore, Kiosk]:
    """Return the store with the kiosk ``name`` revoked at ``now_s``, and that kiosk; pure.

    Every not-yet-revoked kiosk of that name is revoked (an expired one too, so that it stays
    refused as revoked); the last of them is returned.

    Raises:
        UnknownKioskError: No kiosk of that name is left unrevoked.
    """
    kiosks: list[Kiosk] = []
    last: Kiosk | None = None
    for kiosk in store.kiosks:
        if kiosk.name == name and kiosk.revoked_at_s is None:
            kiosk = last = dataclasses.replace(kiosk, revoked_at_s=now_s)
        kiosks.append(kiosk)
    if last is None:
        raise UnknownKioskError(f"no kiosk named {name!r} is left to revoke")
    return KioskStore(tuple(kiosks)), last


def format_table(kiosks: Sequence[Kiosk], now_s: float) -> str:
    """Return the kiosks as an aligned text table (name, pages, created, expires, state at
    ``now_s``; times in UTC to the minute), or a one-line note when there is none. Neither a
    token nor its hash is shown."""
    if not kiosks:
        return "no kiosks"
    header = ("NAME", "PAGES", "CREATED", "EXPIRES", "STATE")
    rows = [
        (
            k.name,
            ",".join(k.pages),
            _utc(k.created_at_s),
            _utc(k.expires_at_s),
            k.state(now_s).value,
        )
        for k in kiosks
    ]
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    return "\n".join(
        "  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip()
        for r in [header, *rows]
    )


def kiosk_path(env: Mapping[str, str] | None = None) -> Path:
    """Return the kiosk file: ``kiosks.json`` in the state folder (:func:`state_dir`)."""
    return state_dir(env) / STORE_FILE


def load_store(path: Path | None = None) -> KioskStore:
    """Read the kiosk file; a missing file (or folder) is an empty store.

    Args:
        path: The kiosk file (default :func:`kiosk_path`).

    Raises:
        KioskStoreError: The file is not a kiosk store (not JSON, or not its shape).
        OSError: The file exists but cannot be read.
    """
    path = kiosk_path() if path is None else path
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return KioskStore()
    try:
        document = json.loads(text)
        if document.get("version") != STORE_VERSION:
            raise ValueError(f"version {document.get('version')!r}, expected {STORE_VERSION}")
        return KioskStore(tuple(_kiosk(item) for item in document["kiosks"]))
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise KioskStoreError(f"{path} is not a kiosk file: {exc}") from None


def create(
    name: str,
    pages: Sequence[str],
    *,
    expires_in_s: float,
    now_s: float,
    path: Path | None = None,
    replace: bool = False,
) -> NewKiosk:
    """Make a kiosk with a new token, store its hash, and return both (the token only here).

    Args:
        name: The kiosk's name.
        pages: Its pages.
        expires_in_s: How long its token works, in seconds from ``now_s``.
        now_s: The time, in seconds since the Unix epoch.
        path: The kiosk file (default :func:`kiosk_path`).
        replace: Revoke an active kiosk of the same name instead of refusing.

    Raises:
        KioskError: As :func:`issue` does, or the store is unreadable.
        OSError: The state folder or file cannot be written.
    """
    token = new_token()
    replaced: list[Kiosk] = []

    def change(store: KioskStore) -> tuple[KioskStore, Kiosk]:
        after, made = issue(
            store,
            name,
            pages,
            token_sha256=hash_token(token),
            expires_in_s=expires_in_s,
            now_s=now_s,
            replace=replace,
        )
        # issue keeps the kiosks before in their order and adds one at the end
        replaced[:] = [k for k, old in zip(after.kiosks, store.kiosks, strict=False) if k != old]
        return after, made

    kiosk = _update(kiosk_path() if path is None else path, change)
    return NewKiosk(kiosk, token, tuple(replaced))


def revoke(name: str, *, now_s: float, path: Path | None = None) -> Kiosk:
    """Revoke the kiosk ``name`` in the kiosk file and return it.

    Raises:
        UnknownKioskError: No kiosk of that name is left unrevoked.
        OSError: The file cannot be written.
    """
    return _update(kiosk_path() if path is None else path, lambda s: revoked(s, name, now_s))


def _update(path: Path, change: Callable[[KioskStore], tuple[KioskStore, Kiosk]]) -> Kiosk:
    """Apply ``change`` to the file under its lock (so no concurrent update is lost); return
    the kiosk it names."""
    private_dir(path.parent)
    with locked(path.parent / LOCK_FILE):
        store, kiosk = change(load_store(path))
        write_atomically(path, _document(store))
    return kiosk


def _utc(at_s: float) -> str:
    return datetime.fromtimestamp(at_s, UTC).strftime("%Y-%m-%d %H:%M UTC")


def _document(store: KioskStore) -> str:
    kiosks = [dataclasses.asdict(k) | {"pages": list(k.pages)} for k in store.kiosks]
    return json.dumps({"version": STORE_VERSION, "kiosks": kiosks}, indent=2) + "\n"


def _kiosk(item: Any) -> Kiosk:
    revoked_at = item["revoked_at_s"]
    kiosk = Kiosk(
        name=str(item["name"]),
        pages=tuple(str(p) for p in item["pages"]),
        token_sha256=str(item["token_sha256"]),
        created_at_s=float(item["created_at_s"]),
        expires_at_s=float(item["expires_at_s"]),
        revoked_at_s=None if revoked_at is None else float(revoked_at),
    )
    if not _SHA256_HEX.fullmatch(kiosk.token_sha256):
        raise ValueError(f"kiosk {kiosk.name!r} has no SHA-256 token hash")
    return kiosk
