"""The streams config: what the collector subscribes to and how it behaves, from ``rtdata.toml``.

:func:`load_config` reads the file named by its ``path`` argument, else by ``RTDATA_CONFIG``, else
``./rtdata.toml``. A missing ``./rtdata.toml`` means :data:`DEFAULT_CONFIG`; a missing file that
was named explicitly is an error. Everything is checked at load time and every problem is
reported at once, one per line, as ``<file>: <key path>: <problem>``. Unknown keys are errors
(with a "did you mean" hint), so a typo cannot silently fall back to a default.

Credentials never belong here: a key named like ``url``, ``key``, ``apikey``, ``api_key``,
``service_key``, ``anon_key``, ``password``, ``secret``, ``token``, ``jwt``, ``supabase_url`` or
``supabase_key`` is an error whose message does not show the value. Keys are compared at any
depth, in any case, split into words at ``_``, ``-`` and camelCase; besides those names, a key
whose last word is ``url``, ``key``, ``apikey``, ``token``, ``jwt`` or ``password``, or with any
word ``password``, ``passwd``, ``secret``, ``apikey`` or ``jwt``, counts (``access_token``,
``jwt_secret``), except the schema's own keys such as ``primary_key``. Set ``SUPABASE_URL`` and
``SUPABASE_KEY`` in the environment or in ``.streamlit/secrets.toml`` (see :mod:`rtdata.settings`).

Every section is optional and every value shown below is the default. Without ``[[channels]]``
the collector follows every table the project exposes (learnt from its REST schema, see
:mod:`rtdata.introspect`) and records no broadcast or presence; without ``[[pages]]`` the
dashboard builds its pages from those tables. ``[[pages]]`` and ``[labels]`` are described in
:mod:`rtdata.layout`; a widget naming a table or channel that is not followed is an error here,
and a column its table lacks is one as soon as the project's columns are known. Numbers must be
positive, except ``reconnect_jitter`` in [0, 1), and ``max_age_s`` and ``resync_interval_s``,
where 0 means no bound or never; ``reconnect_max_s`` must be at least ``reconnect_initial_s``. ``events``, ``broadcast`` and
``primary_key`` take a string or an array of strings. A table may appear in several bindings
but with the same schema, ``primary_key`` and ``resync_column`` (when set) everywhere, because
rtdata keys tables by name.

Example ``rtdata.toml``::

    [connection]
    schema = "public"
    reconnect_initial_s = 1.0    # backoff 1, 2, 4 ... s
    reconnect_max_s = 30.0
    reconnect_jitter = 0.2       # ±20 % of each delay
    probe_interval_s = 5.0       # liveness probe period; STALE after 2 intervals without traffic
    poll_after_s = 30.0          # start REST polling after this long disconnected
    poll_interval_s = 10.0
    resync_margin_s = 5.0        # resync rows changed since last commit_timestamp minus this
    reconcile_max_rows = 10000   # key reconciliation (finding deletes) only up to this many rows
    resync_interval_s = 60.0     # re-check tables this often even while subscribed (0 = never)
    token_refresh_margin_s = 60  # refresh a user token this long before it expires
    trace_frames = 200           # raw frames kept for the debug trace
    fast_decode = false          # true: decode postgres_changes frames without realtime-py's
                                 # pydantic models (rtdata.fastpath); about 3x the throughput

    [buffer]
    max_rows = 1000000
    max_age_s = 86400            # 0 = no age bound

    [alerts]
    p99_latency_ms = 1000
    silence_s = 60               # a normally busy table silent this long
    busy_table_events_per_min = 6
    reconnect_storm_count = 5
    reconnect_storm_window_s = 300
    presence_spike_factor = 3.0

    [dashboard]
    refresh_s = 2.0              # live regions refresh this often in a browser
    wall_refresh_s = 1.0         # ... and on a wall display (?wall=1)
    wall_rotate_s = 20.0         # each page stays this long on a wall
    wall_pages = []              # page names; empty: every configured page and "realtime"

    [history]                    # Parquet files for analysts (rtdata.history, `rtdata record`)
    enabled = false              # true: every collector also writes its events to path
    path = "rtdata-history"      # folder, relative to the working directory
    rotate_mb = 64               # finish a file at this size ...
    rotate_s = 300               # ... or this age
    flush_s = 1.0                # journal accepted events this often: the most a crash loses
    max_total_mb = 10240         # then delete the oldest files beyond this total

    [[channels]]
    name = "tables"              # channel name, without "realtime:"
    private = false
      [[channels.postgres_changes]]
      table = "orders"
      schema = "public"          # defaults to connection.schema
      events = "*"               # or an array: ["INSERT", "UPDATE"]
      filter = "store_id=eq.1"      # optional; checked with rtdata.filters.parse_filter
      primary_key = ["id"]       # default ["id"]
      resync_column = "updated_at"  # optional; enables gap resync for this table

    [[channels]]
    name = "ops"
    broadcast = ["alert", "*"]   # broadcast events to record; "*" = all

    [[channels]]
    name = "lobby"
    presence = true
"""

from __future__ import annotations

import difflib
import math
import os
import re
import tomllib
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Final, TypeVar

from rtdata._messages import show as _show
from rtdata.access import ACCESS_KEYS, AccessConfig, parse_access
from rtdata.filters import FilterError, parse_filter
from rtdata.layout import BUILTIN_PAGES, Label, Page, parse_labels, parse_pages
from rtdata.references import check_columns, check_references

__all__ = [
    "DEFAULT_CONFIG",
    "DEFAULT_PATH",
    "AlertConfig",
    "Binding",
    "BufferConfig",
    "Channel",
    "Config",
    "ConfigError",
    "ConnectionConfig",
    "DashboardConfig",
    "HistoryConfig",
    "load_config",
    "parse_config",
]

DEFAULT_PATH: Final = Path("rtdata.toml")
"""The file read when neither ``path`` nor ``RTDATA_CONFIG`` names one (relative to the cwd)."""

_EVENTS: Final = ("*", "INSERT", "UPDATE", "DELETE")
_IDENTIFIER: Final = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_CHANNEL_NAME: Final = re.compile(r"^[A-Za-z0-9_\-:.]+$")
_BARE_KEY: Final = re.compile(r"^[A-Za-z0-9_-]+$")
_CREDENTIAL_NAMES: Final = frozenset(
    {"url", "key", "apikey", "api_key", "service_key", "anon_key", "password", "secret"}
    | {"token", "jwt", "supabase_url", "supabase_key"}
)
_CREDENTIAL_LAST_WORDS: Final = frozenset({"url", "key", "apikey", "token", "jwt", "password"})
_CREDENTIAL_ANY_WORDS: Final = frozenset({"password", "passwd", "secret", "apikey", "jwt"})


class ConfigError(ValueError):
    """A config that cannot be used; each line names the file, then the key path and problem.

    Attributes:
        problems: The lines of the message, one problem each.
    """

    def __init__(self, problems: str | Iterable[str]) -> None:
        lines = problems.splitlines() if isinstance(problems, str) else list(problems)
        super().__init__("\n".join(lines))
        self.problems: tuple[str, ...] = tuple(lines)


@dataclass(frozen=True)
class ConnectionConfig:
    """How the collector connects, reconnects, probes and falls back to polling.

    Attributes:
        schema: Default Postgres schema of the bindings.
        reconnect_initial_s: First reconnect delay; each next one doubles.
        reconnect_max_s: Upper bound of the reconnect delay.
        reconnect_jitter: Relative random spread of each delay, in [0, 1) (0.2 = ±20 %).
        probe_interval_s: Liveness probe period; the link is stale after two without traffic.
        poll_after_s: How long disconnected before REST polling starts.
        poll_interval_s: Period of the REST polling.
        resync_margin_s: Resync rows changed since the last ``commit_timestamp`` minus this.
        reconcile_max_rows: Largest table whose keys are reconciled to find missed deletes.
        resync_interval_s: Re-check tables this often while subscribed, since Supabase may drop
            changes without closing the socket; 0 disables it.
        token_refresh_margin_s: How long before expiry a user token is refreshed.
        trace_frames: Raw frames kept for the debug trace.
        fast_decode: Decode postgres_changes frames with :mod:`rtdata.fastpath` instead of
            realtime-py's models; the official client still runs the connection.
    """

    schema: str = "public"
    reconnect_initial_s: float = 1.0
    reconnect_max_s: float = 30.0
    reconnect_jitter: float = 0.2
    probe_interval_s: float = 5.0
    poll_after_s: float = 30.0
    poll_interval_s: float = 10.0
    resync_margin_s: float = 5.0
    reconcile_max_rows: int = 10_000
    resync_interval_s: float = 60.0
    token_refresh_margin_s: float = 60.0
    trace_frames: int = 200
    fast_decode: bool = False


@dataclass(frozen=True)
class BufferConfig:
    """Bounds of the event buffer.

    Attributes:
        max_rows: Most events kept.
        max_age_s: Oldest event kept, in seconds; 0 means no age bound.
    """

    max_rows: int = 1_000_000
    max_age_s: float = 86_400.0


@dataclass(frozen=True)
class AlertConfig:
    """Thresholds of the alert rules.

    Attributes:
        p99_latency_ms: p99 commit-to-receive latency above which an alert fires.
        silence_s: How long a normally busy table may stay silent.
        busy_table_events_per_min: Event rate from which a table counts as normally busy.
        reconnect_storm_count: Reconnects within the window that make a storm.
        reconnect_storm_window_s: Window of the reconnect storm rule.
        presence_spike_factor: Growth of the presence count that makes a spike.
    """

    p99_latency_ms: float = 1000.0
    silence_s: float = 60.0
    busy_table_events_per_min: float = 6.0
    reconnect_storm_count: int = 5
    reconnect_storm_window_s: float = 300.0
    presence_spike_factor: float = 3.0


@dataclass(frozen=True)
class HistoryConfig:
    """Event history on disk (see :mod:`rtdata.history`).

    Attributes:
        enabled: True to make every collector write its events to ``path``.
        path: Folder of the Parquet files.
        rotate_mb: Size in MiB at which a file is finished and a new one started.
        rotate_s: Age in seconds at which a file is finished.
        max_total_mb: Total size in MiB beyond which the oldest files are deleted.
        flush_s: Seconds between writes of the accepted events to the journal: the most a
            crash of the process loses.
    """

    enabled: bool = False
    path: str = "rtdata-history"
    rotate_mb: float = 64.0
    rotate_s: float = 300.0
    max_total_mb: float = 10_240.0
    flush_s: float = 1.0


@dataclass(frozen=True)
class Binding:
    """One postgres_changes subscription of a channel.

    Attributes:
        table: Table name.
        schema: Postgres schema of the table.
        events: Upper-case event names, ``("*",)`` for all.
        filter: Realtime filter such as ``"store_id=eq.1"``, or ``None``.
        primary_key: Primary-key columns of the table.
        resync_column: Timestamp column that enables gap resync for the table, or ``None``.
    """

    table: str
    schema: str = "public"
    events: tuple[str, ...] = ("*",)
    filter: str | None = None
    primary_key: tuple[str, ...] = ("id",)
    resync_column: str | None = None


@dataclass(frozen=True)
class Channel:
    """One realtime channel and what it records.

    Attributes:
        name: Channel name, without the ``realtime:`` prefix.
        private: True for a private channel (authorised by RLS on ``realtime.messages``).
        postgres_changes: Database change bindings.
        broadcast: Broadcast event names to record; ``"*"`` records all.
        presence: True to record presence.
    """

    name: str
    private: bool = False
    postgres_changes: tuple[Binding, ...] = ()
    broadcast: tuple[str, ...] = ()
    presence: bool = False


@dataclass(frozen=True)
class DashboardConfig:
    """How often the pages refresh, and what a wall display shows.

    Attributes:
        refresh_s: Refresh interval of live regions in a browser.
        wall_refresh_s: Refresh interval on a wall display.
        wall_rotate_s: Seconds each page stays up on a wall display.
        wall_pages: Pages a wall display rotates through (their names, as in ``[[pages]]``,
            or ``realtime`` and ``events``); empty rotates through every configured page and
            Realtime health.
    """

    refresh_s: float = 2.0
    wall_refresh_s: float = 1.0
    wall_rotate_s: float = 20.0
    wall_pages: tuple[str, ...] = ()


@dataclass(frozen=True)
class Config:
    """The whole streams config; ``Config()`` is :data:`DEFAULT_CONFIG`.

    Attributes:
        connection: Connection behaviour.
        buffer: Event buffer bounds.
        alerts: Alert thresholds.
        channels: Subscribed channels.
        dashboard: Refresh intervals and wall mode.
        history: Event history on disk.
        pages: The dashboard's pages (``[[pages]]``); empty builds them from the project's
            tables (:mod:`rtdata.default_pages`).
        labels: How id columns are shown, by column (``[labels]``).
        source: The file the config was read from, for messages; ``None`` when built in code.
        access: Who may look (``[access]``, :mod:`rtdata.access`).
    """

    connection: ConnectionConfig = field(default_factory=ConnectionConfig)
    buffer: BufferConfig = field(default_factory=BufferConfig)
    alerts: AlertConfig = field(default_factory=AlertConfig)
    channels: tuple[Channel, ...] = ()
    dashboard: DashboardConfig = field(default_factory=DashboardConfig)
    history: HistoryConfig = field(default_factory=HistoryConfig)
    pages: tuple[Page, ...] = ()
    labels: Mapping[str, Label] = field(default_factory=dict)
    source: str | None = None
    access: AccessConfig = field(default_factory=AccessConfig)

    @property
    def discovers(self) -> bool:
        """True when no channel is configured: the collector then follows every table the
        project exposes (see :func:`rtdata.introspect.bindings_for`)."""
        return not self.channels

    @property
    def base_dir(self) -> Path:
        """The folder relative paths in the config (a map's ``geojson``) resolve against: the
        config file's folder, else the working directory."""
        return Path(self.source).resolve().parent if self.source else Path.cwd()

    def presence_channels(self) -> tuple[str, ...]:
        """Return the names of the channels that record presence."""
        return tuple(c.name for c in self.channels if c.presence)

    def broadcast_channels(self) -> tuple[str, ...]:
        """Return the names of the channels that record broadcasts."""
        return tuple(c.name for c in self.channels if c.broadcast)

    def column_problems(self, columns: Mapping[str, Collection[str]]) -> list[str]:
        """Return a message per column that ``[[pages]]`` or ``[labels]`` names and its table
        lacks, as ``<file>: <key path>: <problem>``.

        Args:
            columns: The columns of each table the project exposes (from
                :mod:`rtdata.introspect`); tables not in it are not checked.
        """
        return self.page_problems(None, columns)

    def page_problems(
        self,
        tables: Collection[str] | None,
        columns: Mapping[str, Collection[str]] | None,
    ) -> list[str]:
        """Return what ``[[pages]]`` and ``[labels]`` name that is not there, one message per
        problem as ``<file>: <key path>: <problem>``: first tables and channels the collector
        does not follow, then columns their tables lack.

        Args:
            tables: The tables the collector follows, or ``None`` while they are not known
                (a config without channels, before discovery).
            columns: The columns of each table the project exposes, or ``None`` while they are
                not known; tables not in it are not checked.
        """
        if not self.pages and not self.labels:
            return []
        found: list[tuple[str, str]] = []
        if tables is not None:
            found += check_references(
                self.pages,
                self.labels,
                tables,
                self.presence_channels(),
                self.broadcast_channels(),
            )
        if columns is not None:
            found += check_columns(self.pages, columns, self.labels)
        source = self.source or str(DEFAULT_PATH)
        return [f"{source}: {path}: {problem}" for path, problem in found]

    def tables(self) -> dict[str, tuple[str, ...]]:
        """Return every bound table and its primary-key columns, in order of appearance."""
        return {b.table: b.primary_key for c in self.channels for b in c.postgres_changes}

    def resync_columns(self) -> dict[str, str]:
        """Return the resync column of every bound table that has one."""
        return {
            b.table: b.resync_column
            for c in self.channels
            for b in c.postgres_changes
            if b.resync_column is not None
        }

    @classmethod
    def from_tables(cls, tables: Mapping[str, tuple[str, ...]]) -> Config:
        """Build the default config with one channel binding all events of ``tables``.

        Used when ``RTDATA_TABLES`` overrides the tables; no table gets a resync column. To keep
        a loaded file's other sections, use
        ``dataclasses.replace(config, channels=Config.from_tables(tables).channels)``.

        Raises:
            ConfigError: No table, or a table or column name that is not an identifier.
        """
        if not tables:
            raise ConfigError("tables: names no table")
        bindings = [{"table": name, "primary_key": list(pk)} for name, pk in tables.items()]
        channel = {"name": "rtdata-tables", "postgres_changes": bindings}
        return _build({"channels": [channel]}, "tables", from_file=False)


DEFAULT_CONFIG: Final = Config()
"""The config without a file: no channel (the collector follows every table the project exposes
and records no broadcast or presence), no ``[[pages]]`` (the dashboard builds its pages from
those tables), and every other section at its defaults."""


def load_config(path: str | Path | None = None, env: Mapping[str, str] | None = None) -> Config:
    """Read and check the streams config file.

    Args:
        path: The file; when ``None``, the one ``RTDATA_CONFIG`` names (if set and not empty),
            else :data:`DEFAULT_PATH`.
        env: Environment variables; ``os.environ`` when ``None``.

    Returns:
        The config, or :data:`DEFAULT_CONFIG` when :data:`DEFAULT_PATH` is used and missing.

    Raises:
        ConfigError: A file named by ``path`` or ``RTDATA_CONFIG`` does not exist, the file
            cannot be read or is not TOML, or values are wrong (all problems, one per line).
    """
    env = os.environ if env is None else env
    named = path if path is not None else env.get("RTDATA_CONFIG") or None
    file = Path(named) if named is not None else DEFAULT_PATH
    try:
        data = file.read_bytes()
    except FileNotFoundError:
        if named is None:
            return DEFAULT_CONFIG
        why = "" if path is not None else " (named by RTDATA_CONFIG)"
        raise ConfigError(f"{file}: file not found{why}") from None
    except OSError as exc:
        raise ConfigError(f"{file}: cannot read: {exc.strerror or exc}") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise ConfigError(f"{file}: not UTF-8 text") from None
    return parse_config(text, str(file))


def parse_config(text: str, source: str = str(DEFAULT_PATH)) -> Config:
    """Parse and check the TOML text of a streams config; ``source`` names it in messages.

    Raises:
        ConfigError: The text is not TOML or values are wrong (all problems, one per line).
    """
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{source}: not valid TOML: {exc}") from None
    return _build(document, source)


def _build(document: Mapping[str, Any], source: str, *, from_file: bool = True) -> Config:
    problems: list[str] = []

    def report(path: str, problem: str) -> None:
        problems.append(f"{source}: {path}: {problem}")

    _find_credentials(document, "", report)
    top = (
        *("connection", "buffer", "alerts", "channels", "dashboard", "history", "pages"),
        *("labels", "access"),
    )
    _check_keys(document, "", top, report)
    connection = _section(document, "connection", ConnectionConfig, report)
    if connection.reconnect_max_s < connection.reconnect_initial_s:
        given = document.get("connection", {})
        key = "reconnect_max_s" if "reconnect_max_s" in given else "reconnect_initial_s"
        report(
            f"connection.{key}",
            f"reconnect_max_s ({connection.reconnect_max_s:g}) is less than "
            f"reconnect_initial_s ({connection.reconnect_initial_s:g})",
        )
    buffer = _section(document, "buffer", BufferConfig, report)
    alerts = _section(document, "alerts", AlertConfig, report)
    channels: tuple[Channel, ...] = ()
    if "channels" in document:
        channels = _channels(document["channels"], connection.schema, report)
    dashboard = _dashboard(document.get("dashboard", {}), report)
    history = _history(document.get("history", {}), report)
    labels = parse_labels(document.get("labels", {}), report, _check_keys)
    pages = parse_pages(document.get("pages", []), labels, report, _check_keys)
    access = parse_access(document.get("access", {}), report)
    if channels:  # else the tables are only known once the collector asked the project
        config = Config(channels=channels)
        for path, problem in check_references(
            pages,
            labels,
            config.tables(),
            config.presence_channels(),
            config.broadcast_channels(),
        ):
            report(path, problem)
    if pages:
        known = {p.name for p in pages} | set(BUILTIN_PAGES)
        for i, name in enumerate(dashboard.wall_pages):
            if name not in known:
                hint = difflib.get_close_matches(name, sorted(known), n=1)
                why = f"did you mean {hint[0]!r}?" if hint else f"pages: {', '.join(sorted(known))}"
                report(f"dashboard.wall_pages[{i}]", f"{name!r} is not a page; {why}")
    if problems:
        raise ConfigError(problems)
    file = source if from_file else None
    return Config(
        connection, buffer, alerts, channels, dashboard, history, pages, labels, file, access
    )


def _history(value: Any, report: _Report) -> HistoryConfig:
    if not isinstance(value, dict):
        report("history", f"must be a table ([history]), got {_show(value)}")
        return HistoryConfig()
    numbers = {k: v for k, v in value.items() if k not in ("enabled", "path")}
    limits = _section({"history": numbers}, "history", HistoryConfig, report)
    path = value.get("path", HistoryConfig.path)
    if not isinstance(path, str) or not path.strip():
        report("history.path", f"must be a folder path, got {_show(path)}")
        path = HistoryConfig.path
    return replace(limits, enabled=_flag(value, "enabled", "history", report), path=path)


def _dashboard(value: Any, report: _Report) -> DashboardConfig:
    if not isinstance(value, dict):
        report("dashboard", f"must be a table ([dashboard]), got {_show(value)}")
        return DashboardConfig()
    known = tuple(f.name for f in fields(DashboardConfig))
    _check_keys(value, "dashboard", known, report)
    numbers = {
        k: v for k, v in value.items() if k in ("refresh_s", "wall_refresh_s", "wall_rotate_s")
    }
    timing = _section({"dashboard": numbers}, "dashboard", _DashboardTiming, report)
    pages = value.get("wall_pages", DashboardConfig.wall_pages)
    if not isinstance(pages, list | tuple) or not all(isinstance(p, str) and p for p in pages):
        report("dashboard.wall_pages", f"must be an array of page names, got {_show(pages)}")
        pages = DashboardConfig.wall_pages
    return DashboardConfig(
        timing.refresh_s, timing.wall_refresh_s, timing.wall_rotate_s, tuple(pages)
    )


@dataclass(frozen=True)
class _DashboardTiming:
    refresh_s: float = 2.0
    wall_refresh_s: float = 1.0
    wall_rotate_s: float = 20.0


# ---------------------------------------------------------------- keys

_Report = Callable[[str, str], None]

_CHANNEL_KEYS: Final = tuple(f.name for f in fields(Channel))
_BINDING_KEYS: Final = tuple(f.name for f in fields(Binding))
_KNOWN_KEYS: Final = frozenset(
    {"connection", "buffer", "alerts", "channels", "dashboard", "history", "pages", "labels"}
    | {"access", *ACCESS_KEYS}
    | {*_CHANNEL_KEYS, *_BINDING_KEYS}
    | {
        f.name
        for c in (ConnectionConfig, BufferConfig, AlertConfig, HistoryConfig)
        for f in fields(c)
    }
)


def _join(path: str, key: str) -> str:
    key = key if _BARE_KEY.match(key) else '"' + key.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return f"{path}.{key}" if path else key


def _words(key: str) -> list[str]:
    # serviceRoleKey, SERVICE-ROLE-KEY and service_role_key all give [service, role, key].
    spaced = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", key)
    return [w for w in re.split(r"[\s_.-]+", spaced.lower()) if w]


def _is_credential(key: str) -> bool:
    words = _words(key)
    name = "_".join(words)
    if not words or name in _KNOWN_KEYS:  # primary_key is a column list, not a key
        return False
    return (
        name in _CREDENTIAL_NAMES
        or words[-1] in _CREDENTIAL_LAST_WORDS
        or not _CREDENTIAL_ANY_WORDS.isdisjoint(words)
    )


# Tables whose keys are names from the project (columns, statuses, values), not settings: a
# column called product_key is no credential. Their values are still searched. The number is how
# many levels of keys are names: sla_s_by is keyed by a column's values, then by statuses.
_NAMED_BY_DATA: Final[Mapping[str, int]] = {
    "labels": 1,
    "bands": 1,
    "colours": 1,
    "sla_s": 1,
    "sla_s_by": 2,
}


def _find_credentials(value: Any, path: str, report: _Report, *, data_levels: int = 0) -> None:
    if isinstance(value, dict):
        for key, item in value.items():
            if not data_levels and _is_credential(key):
                report(
                    _join(path, key),
                    "credentials do not belong in this file (value not shown); set SUPABASE_URL "
                    "and SUPABASE_KEY in the environment or .streamlit/secrets.toml",
                )
            else:
                named = _NAMED_BY_DATA.get(key, 0) if isinstance(key, str) else 0
                levels = data_levels - 1 if data_levels else named
                _find_credentials(item, _join(path, key), report, data_levels=levels)
    elif isinstance(value, list):
        for i, item in enumerate(value):
            _find_credentials(item, f"{path}[{i}]", report)


def _check_keys(
    table: Mapping[str, Any], path: str, known: tuple[str, ...], report: _Report
) -> None:
    # Credential-named keys are left to _find_credentials, which reports them once.
    by_words = {"_".join(_words(k)): k for k in known}
    for key in table:
        if key in known or _is_credential(key):
            continue
        close = difflib.get_close_matches("_".join(_words(key)), list(by_words), n=1)
        hint = f"did you mean {by_words[close[0]]!r}?" if close else f"known: {', '.join(known)}"
        report(_join(path, key), f"unknown key; {hint}")


# ---------------------------------------------------------------- values


_Section = TypeVar(
    "_Section", ConnectionConfig, BufferConfig, AlertConfig, HistoryConfig, "_DashboardTiming"
)
_ZERO_ALLOWED: Final = frozenset({"max_age_s", "reconnect_jitter", "resync_interval_s"})


def _section(
    document: Mapping[str, Any], name: str, cls: type[_Section], report: _Report
) -> _Section:
    table = document.get(name, {})
    if not isinstance(table, dict):
        report(name, f"must be a table ([{name}]), got {_show(table)}")
        return cls()
    _check_keys(table, name, tuple(f.name for f in fields(cls)), report)
    values: dict[str, Any] = {}
    for f in fields(cls):
        if f.name not in table:
            continue
        path, value = f"{name}.{f.name}", table[f.name]
        integer = f.type == "int"  # field types are strings under postponed annotations
        if f.type == "bool":
            if isinstance(value, bool):
                values[f.name] = value
            else:
                report(path, f"must be true or false, got {_show(value)}")
        elif f.type == "str":
            if _identifier(value, path, report):
                values[f.name] = value
        elif isinstance(value, bool) or not isinstance(value, int | float):
            report(path, f"must be {'an integer' if integer else 'a number'}, got {_show(value)}")
        elif integer and not isinstance(value, int):
            report(path, f"must be an integer, got {_show(value)}")
        elif not math.isfinite(value):
            report(path, f"must be a finite number, got {_show(value)}")
        elif f.name == "reconnect_jitter" and value >= 1:
            report(path, f"{value:g} is not in [0, 1)")
        elif value < 0 or (value == 0 and f.name not in _ZERO_ALLOWED):
            allowed = "0 or positive" if f.name in _ZERO_ALLOWED else "positive"
            report(path, f"must be {allowed}, got {value:g}")
        else:
            values[f.name] = value if integer else float(value)
    return cls(**values)


def _identifier(value: Any, path: str, report: _Report) -> bool:
    if isinstance(value, str) and _IDENTIFIER.match(value):
        return True
    report(
        path,
        "must be an identifier (letters, digits and _, not starting with a digit), "
        f"got {_show(value)}",
    )
    return False


def _flag(raw: Mapping[str, Any], key: str, path: str, report: _Report) -> bool:
    value = raw.get(key, False)
    if not isinstance(value, bool):
        report(f"{path}.{key}", f"must be true or false, got {_show(value)}")
        return False
    return value


def _strings(
    value: Any, path: str, report: _Report, check: Callable[[Any], str | None], what: str
) -> tuple[str, ...] | None:
    # A string or a non-empty array of strings that pass check; duplicates dropped, order kept.
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not items:
        report(path, f"must be {what} or a non-empty array of them, got {_show(value)}")
        return None
    problems = [(i, check(item)) for i, item in enumerate(items)]
    for i, problem in problems:
        if problem:
            report(path if isinstance(value, str) else f"{path}[{i}]", problem)
    if any(problem for _, problem in problems):
        return None
    return tuple(dict.fromkeys(items))


def _not_identifier(item: Any) -> str | None:
    ok = isinstance(item, str) and _IDENTIFIER.match(item)
    return None if ok else f"must be a column name (letters, digits, _), got {_show(item)}"


def _not_event(item: Any) -> str | None:
    ok = isinstance(item, str) and item.upper() in _EVENTS
    return None if ok else f"{_show(item)} is not one of {', '.join(_EVENTS)}"


def _not_broadcast_event(item: Any) -> str | None:
    ok = isinstance(item, str) and item != ""
    return None if ok else f"must be a non-empty event name, got {_show(item)}"


# ---------------------------------------------------------------- channels


def _channels(value: Any, schema: str, report: _Report) -> tuple[Channel, ...]:
    if not isinstance(value, list) or not all(isinstance(c, dict) for c in value):
        report("channels", f"must be an array of tables ([[channels]]), got {_show(value)}")
        return ()
    if not value:
        report("channels", "must hold at least one channel")
    channels: list[Channel] = []
    names: dict[str, str] = {}
    bound: list[tuple[str, Binding]] = []
    for i, raw in enumerate(value):
        path = f"channels[{i}]"
        name = raw.get("name")
        if isinstance(name, str) and name in names:
            report(f"{path}.name", f"{name!r} is already the name of {names[name]}")
        elif isinstance(name, str):
            names[name] = path
        channel = _channel(raw, path, schema, report, bound)
        if channel is not None:
            channels.append(channel)
    _check_tables(bound, report)
    return tuple(channels)


def _channel(
    raw: Mapping[str, Any],
    path: str,
    schema: str,
    report: _Report,
    bound: list[tuple[str, Binding]],
) -> Channel | None:
    _check_keys(raw, path, _CHANNEL_KEYS, report)
    name = raw.get("name")
    if name is None:
        report(f"{path}.name", "missing; every channel needs a name")
    elif isinstance(name, str) and name.startswith("realtime:"):
        report(f"{path}.name", f"{name!r}: write the name without the 'realtime:' prefix")
    elif not isinstance(name, str) or not _CHANNEL_NAME.match(name):
        report(f"{path}.name", f"{_show(name)} is not a channel name (letters, digits, _-:.)")
    private = _flag(raw, "private", path, report)
    presence = _flag(raw, "presence", path, report)
    broadcast: tuple[str, ...] | None = ()
    if raw.get("broadcast", []) != []:  # an empty array means no broadcast, like no key
        broadcast = _strings(
            raw["broadcast"], f"{path}.broadcast", report, _not_broadcast_event, "an event name"
        )
    changes = raw.get("postgres_changes", [])
    bindings: list[Binding | None] = []
    if not isinstance(changes, list) or not all(isinstance(b, dict) for b in changes):
        report(
            f"{path}.postgres_changes",
            f"must be an array of tables ([[channels.postgres_changes]]), got {_show(changes)}",
        )
        changes = []
    for j, item in enumerate(changes):
        binding = _binding(item, f"{path}.postgres_changes[{j}]", schema, report)
        bindings.append(binding)
        if binding is not None:
            bound.append((f"{path}.postgres_changes[{j}]", binding))
    given = [raw.get(key, []) for key in ("postgres_changes", "broadcast", "presence")]
    if all(value == [] or value is False for value in given):
        report(path, "records nothing; give postgres_changes, broadcast or presence = true")
    if not isinstance(name, str) or broadcast is None or None in bindings:
        return None
    valid = tuple(b for b in bindings if b is not None)
    return Channel(name, private, valid, broadcast, presence)


def _binding(raw: Mapping[str, Any], path: str, schema: str, report: _Report) -> Binding | None:
    _check_keys(raw, path, _BINDING_KEYS, report)
    ok = True
    table = raw.get("table")
    if table is None:
        report(f"{path}.table", "missing; every binding needs a table")
        ok = False
    else:
        ok = _identifier(table, f"{path}.table", report)
    schema = raw.get("schema", schema)
    ok = _identifier(schema, f"{path}.schema", report) and ok
    events = _strings(raw.get("events", "*"), f"{path}.events", report, _not_event, "an event")
    if events is not None:
        events = tuple(dict.fromkeys(e.upper() for e in events))
        events = ("*",) if "*" in events else events
    filter_text = raw.get("filter")
    if filter_text is not None and not isinstance(filter_text, str):
        report(f"{path}.filter", f"must be a string, got {_show(filter_text)}")
        ok = False
    elif filter_text is not None:
        try:
            parse_filter(filter_text)
        except FilterError as exc:
            where = f"{exc.segment!r}: " if exc.segment else ""
            report(f"{path}.filter", f"{where}{exc.reason}")
            ok = False
        else:
            relative = _widget_only(filter_text)
            if relative is not None:
                report(
                    f"{path}.filter",
                    f"{relative!r}: now() and col() are for widget filters; Supabase Realtime "
                    'compares a column with a constant (quote the value, "...", to mean the text)',
                )
                ok = False
    pk = _strings(
        raw.get("primary_key", ["id"]), f"{path}.primary_key", report, _not_identifier, "a column"
    )
    resync = raw.get("resync_column")
    if resync is not None:
        ok = _identifier(resync, f"{path}.resync_column", report) and ok
    if not ok or not isinstance(table, str) or events is None or pk is None:
        return None
    filter_text = filter_text.strip() or None if filter_text is not None else None
    return Binding(table, schema, events, filter_text, pk, resync)


def _widget_only(text: str) -> str | None:
    """The first segment of a binding's filter that a widget filter would read as a comparison
    with ``now()`` or another column, or ``None``."""
    from rtdata.views.widgets._filter import Comparison, parse_widget_filter

    try:
        conditions = parse_widget_filter(text)
    except FilterError:  # a now()/col() a widget could not read: to the server, only text
        return None
    return next((c.text() for c in conditions if isinstance(c, Comparison)), None)


def _check_tables(bound: list[tuple[str, Binding]], report: _Report) -> None:
    # tables() and resync_columns() are keyed by table name, so every binding of a table must
    # agree on what they return (and on the schema, which the name stands for).
    first: dict[str, tuple[str, Binding]] = {}
    first_resync: dict[str, tuple[str, str]] = {}
    for path, b in bound:
        at, other = first.setdefault(b.table, (path, b))
        if b.schema != other.schema:
            report(
                f"{path}.schema",
                f"{b.schema!r} differs from {other.schema!r} for table {b.table!r} at {at}; "
                "rtdata tells tables apart by name only",
            )
        if b.primary_key != other.primary_key:
            report(
                f"{path}.primary_key",
                f"{list(b.primary_key)} differs from {list(other.primary_key)} "
                f"for table {b.table!r} at {at}",
            )
        if b.resync_column is None:
            continue
        at, column = first_resync.setdefault(b.table, (path, b.resync_column))
        if b.resync_column != column:
            report(
                f"{path}.resync_column",
                f"{b.resync_column!r} differs from {column!r} for table {b.table!r} at {at}",
            )
