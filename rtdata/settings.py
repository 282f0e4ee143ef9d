"""Where rtdata connects and what it subscribes to.

Credentials come from the environment (``SUPABASE_URL``, ``SUPABASE_KEY``) or, failing that,
from ``.streamlit/secrets.toml``. With no URL configured, rtdata uses the embedded default: a
local server and the simulator started in-process. The key never appears in a repr or message.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Final

from rtdata.config import DEFAULT_CONFIG, Config, ConfigError, HistoryConfig, load_config

__all__ = ["HISTORY_OFF", "Settings", "SettingsError"]

_SECRETS_PATH: Final = Path(".streamlit") / "secrets.toml"
_TABLE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class SettingsError(ValueError):
    """Configuration that cannot be used; the text names the source, the key and the problem."""


@dataclass(frozen=True)
class Settings:
    """Connection settings of a collector plus its streams config.

    Attributes:
        url: Project URL such as ``https://<ref>.supabase.co``; ``None`` means the embedded
            default.
        key: API key (anon or service_role); never shown in ``repr``.
        config: Channels, bindings and connection behaviour (``rtdata.toml``).
        tables: Subscribed tables and their primary-key columns. Derived from ``config``
            (``None`` when it binds none: the collector discovers them; read
            :attr:`table_keys`); when given, it replaces the config's channels with one channel
            binding these tables.
        connect_timeout_s: How long ``Collector.start(wait=True)`` waits for SUBSCRIBED.
        token_provider: Called (on the collector thread) for a fresh user access token before
            connecting and before the current one expires; ``None`` uses ``key`` for everything.
        anon_key: The project's anon (publishable) key, which the dashboard's sign-in uses
            (``[access] require_sign_in``); never shown in ``repr`` and never sent to a browser.
    """

    url: str | None = None
    key: str | None = field(default=None, repr=False)
    config: Config = DEFAULT_CONFIG
    tables: Mapping[str, tuple[str, ...]] | None = None
    connect_timeout_s: float = 20.0
    token_provider: Callable[[], str] | None = field(default=None, repr=False, compare=False)
    anon_key: str | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if self.url is not None and not re.match(r"^https?://[^\s/]+", self.url):
            raise SettingsError(f"SUPABASE_URL {self.url!r} must start with http:// or https://")
        if self.url is not None and not self.key:
            raise SettingsError("SUPABASE_URL is set but SUPABASE_KEY is missing")
        config = self.config
        if self.tables is not None:
            for name, pk in self.tables.items():
                if not _TABLE_NAME.match(name):
                    raise SettingsError(f"table name {name!r} is not a valid identifier")
                if not pk:
                    raise SettingsError(f"table {name!r} needs at least one primary-key column")
            try:
                channels = Config.from_tables(self.tables).channels
            except ConfigError as exc:
                raise SettingsError(str(exc)) from None
            config = replace(config, channels=channels)
            object.__setattr__(self, "config", config)
        # None when nothing is bound yet (the collector discovers the tables), so that a copy
        # made with dataclasses.replace does not pass an explicit, empty table list.
        object.__setattr__(self, "tables", config.tables() or None)

    @property
    def table_keys(self) -> Mapping[str, tuple[str, ...]]:
        """Subscribed tables and their primary-key columns; empty until discovered."""
        return self.tables if self.tables is not None else {}

    @property
    def buffer_max_rows(self) -> int:
        """Bound of the event buffer (``[buffer] max_rows``)."""
        return self.config.buffer.max_rows

    @property
    def embedded(self) -> bool:
        """True when no project is configured and the embedded default is used."""
        return self.url is None

    def with_project(self, url: str, key: str, anon_key: str | None = None) -> Settings:
        """Return a copy pointing at another project (used to attach to the embedded server),
        with its anon key when given."""
        return replace(self, url=url.rstrip("/"), key=key, tables=None, anon_key=anon_key)

    @classmethod
    def from_env(
        cls,
        env: Mapping[str, str] | None = None,
        secrets_path: str | Path | None = None,
    ) -> Settings:
        """Read settings from the environment, ``.streamlit/secrets.toml`` and ``rtdata.toml``.

        ``SUPABASE_URL``, ``SUPABASE_KEY`` and ``SUPABASE_ANON_KEY`` are read from ``env``
        first; missing ones are taken from the secrets file (top-level keys of the same names,
        or ``url``, ``key`` and ``anon_key`` in a ``[supabase]`` table). The streams config comes from ``RTDATA_CONFIG`` or
        ``./rtdata.toml`` (built-in default when absent). ``RTDATA_TABLES`` (comma-separated
        ``table`` or ``table:pk1+pk2``) replaces its channels. ``RTDATA_HISTORY`` overrides
        ``[history]``: a folder turns the history on there, ``off`` turns it off (``rtdata
        demo`` sets it for its dashboard). ``RTDATA_REQUIRE_SIGN_IN=1`` turns ``[access]
        require_sign_in`` on (``rtdata demo --require-sign-in`` sets it).

        Raises:
            SettingsError: The secrets file is not valid TOML or a value is unusable.
            ConfigError: ``rtdata.toml`` is invalid (the message names file, key and problem).
        """
        env = os.environ if env is None else env
        project = cls.project_from_env(env, secrets_path)
        tables = _parse_tables(env["RTDATA_TABLES"]) if env.get("RTDATA_TABLES") else None
        config = load_config(env=env)
        if "RTDATA_HISTORY" in env:
            config = replace(config, history=_history(env["RTDATA_HISTORY"], config.history))
        if env.get("RTDATA_REQUIRE_SIGN_IN", "").strip().lower() in ("1", "true", "yes"):
            config = replace(config, access=replace(config.access, require_sign_in=True))
        return cls(
            url=project.url,
            key=project.key,
            config=config,
            tables=tables,
            anon_key=project.anon_key,
        )

    @classmethod
    def project_from_env(
        cls,
        env: Mapping[str, str] | None = None,
        secrets_path: str | Path | None = None,
    ) -> Settings:
        """Read only the project's URL and key, as :meth:`from_env` does, with the default config.

        For callers that must not depend on ``rtdata.toml`` (``rtdata init`` may be replacing
        it): neither ``RTDATA_CONFIG``, ``./rtdata.toml`` nor ``RTDATA_TABLES`` is read.

        Raises:
            SettingsError: The secrets file is not valid TOML, the URL is not http(s), or a URL
                is set without a key.
        """
        env = os.environ if env is None else env
        secrets = _read_secrets(Path(secrets_path) if secrets_path else _SECRETS_PATH)
        raw_section = secrets.get("supabase")
        section: dict[str, Any] = raw_section if isinstance(raw_section, dict) else {}
        url = env.get("SUPABASE_URL") or secrets.get("SUPABASE_URL") or section.get("url")
        key = env.get("SUPABASE_KEY") or secrets.get("SUPABASE_KEY") or section.get("key")
        anon = (
            env.get("SUPABASE_ANON_KEY")
            or secrets.get("SUPABASE_ANON_KEY")
            or section.get("anon_key")
        )
        return cls(
            url=str(url).rstrip("/") if url else None,
            key=str(key) if key else None,
            anon_key=str(anon) if anon else None,
        )


def _read_secrets(path: Path) -> dict[str, Any]:
    if not path.is_file():
        return {}
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise SettingsError(f"{path}: not valid TOML: {exc}") from None


HISTORY_OFF: Final = "off"
"""The value of ``RTDATA_HISTORY`` that turns the history on disk off."""


def _history(value: str, history: HistoryConfig) -> HistoryConfig:
    folder = value.strip()
    if not folder:
        raise SettingsError(f"RTDATA_HISTORY must be a folder or {HISTORY_OFF!r}, got {value!r}")
    if folder.lower() == HISTORY_OFF:
        return replace(history, enabled=False)
    return replace(history, enabled=True, path=folder)


def _parse_tables(text: str) -> dict[str, tuple[str, ...]]:
    tables: dict[str, tuple[str, ...]] = {}
    for item in (part.strip() for part in text.split(",")):
        if not item:
            continue
        name, _, pk = item.partition(":")
        tables[name.strip()] = tuple(p.strip() for p in pk.split("+") if p.strip()) or ("id",)
    if not tables:
        raise SettingsError("RTDATA_TABLES is set but names no table")
    return tables
