"""The pieces of the ``chaos`` benchmark's world: its tables, the writer, the subscribers, the
database and the server that is restarted under them. :mod:`rtdata.bench.chaos` runs them.

Everything here talks to real things (a Postgres, a :class:`rtdata.LocalServer`, collectors on
their own threads); the pure parts (comparisons, percentiles) live in :mod:`rtdata.bench.chaos`.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
import random
import signal
import threading
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, Final

import orjson
import psutil
import psycopg
from psycopg import conninfo, sql

from rtdata.collector import Collector
from rtdata.config import DEFAULT_CONFIG
from rtdata.lifecycle import ConnectionState
from rtdata.server import LocalServer
from rtdata.server.postgres.cluster import new_database
from rtdata.settings import Settings

__all__ = [
    "MIGRATION",
    "TABLES",
    "Subscriber",
    "Writer",
    "chaos_database",
    "database_rows",
    "pause_database",
    "subscriber_settings",
]

TABLES: Final[Mapping[str, tuple[str, ...]]] = {"items": ("id",), "notes": ("board", "n")}
"""The followed tables and their primary keys: one with a generated bigint key, one with a
composite key (read over REST by offset pages, not by key)."""

MIGRATION: Final = """
create table public.items (
  id bigint generated always as identity primary key,
  name text not null,
  qty integer not null,
  price numeric(10, 2),
  tags text[] not null default '{}',
  meta jsonb,
  done boolean not null default false,
  rev bigint not null,
  updated_at timestamptz not null default now()
);
create table public.notes (
  board integer not null,
  n bigint not null,
  body text not null,
  rev bigint not null,
  created_at timestamptz not null default now(),
  primary key (board, n)
);
alter publication supabase_realtime add table public.items, public.notes;
"""
"""The chaos run's migration. ``rev`` is the writer's change number of the row's last insert
or update (it tells how new a subscriber's copy is); ``notes.body`` is a few kilobytes, so
Postgres keeps it out of line (TOAST) and an update that leaves it alone does not log it."""

_BOARDS: Final = 5
_BODY_CHARS: Final = 3000


@contextlib.contextmanager
def chaos_database(admin_dsn: str) -> Iterator[tuple[str, str, Path]]:
    """A new database of the cluster ``admin_dsn`` reaches, with its migrations folder; yields
    ``(conninfo, slot name, migrations folder)``. The database, its slot and the folder are
    removed afterwards."""
    with new_database(admin_dsn, prefix="rt_chaos_") as dsn:
        name = str(conninfo.conninfo_to_dict(dsn)["dbname"])
        folder = Path(os.environ.get("TMPDIR", "/tmp")) / name
        folder.mkdir(parents=True)
        (folder / "20240101000000_chaos.sql").write_text(MIGRATION)
        try:
            yield dsn, f"rtdata_{name}", folder
        finally:
            for path in folder.iterdir():
                path.unlink()
            folder.rmdir()


def database_rows(dsn: str, table: str) -> dict[str, dict[str, Any]]:
    """Every row of ``table`` as ``to_jsonb`` renders it (what REST and realtime send), keyed
    by the collector's key text (:func:`rtdata.events.row_key`)."""
    from rtdata.events import row_key

    query = sql.SQL("select to_jsonb(t)::text from public.{} t").format(sql.Identifier(table))
    with psycopg.connect(dsn, autocommit=True) as conn:
        rows = [orjson.loads(text) for (text,) in conn.execute(query).fetchall()]
    return {row_key(row, TABLES[table]): row for row in rows}


def pause_database(dsn: str, pause_s: float) -> None:
    """Stall the whole Postgres server ``dsn`` reaches for ``pause_s`` seconds: SIGSTOP its
    postmaster and every process under it (backends, WAL writer, checkpointer), then SIGCONT.

    Connections stay open and nothing errors; every query, commit and WAL read simply waits,
    as on a database host that stops being scheduled. Needs the right to signal the server's
    processes (its own account, or root).
    """
    with psycopg.connect(dsn, autocommit=True) as conn:
        found = conn.execute("select pg_read_file('postmaster.pid')").fetchone()
    assert found is not None
    postmaster = psutil.Process(int(str(found[0]).splitlines()[0]))
    processes = [postmaster, *postmaster.children(recursive=True)]
    for process in processes:
        with contextlib.suppress(psutil.NoSuchProcess):
            process.send_signal(signal.SIGSTOP)
    try:
        time.sleep(pause_s)  # the fault's length, not a synchronisation
    finally:
        for process in processes:
            with contextlib.suppress(psutil.NoSuchProcess):
                process.send_signal(signal.SIGCONT)


class Writer(threading.Thread):
    """Makes ``changes`` inserts, updates and deletes straight into Postgres (psycopg, one
    transaction each), at ``rate_per_s``, on its own thread.

    Each insert or update sets the row's ``rev`` to the change's number (1, 2, ...); after the
    commit returns, :meth:`newest_rev` says how new the newest committed row of a table is.
    A write that fails (the server restarting is not one: the writer talks to Postgres) is kept
    in :attr:`error` and ends the thread.

    Args:
        dsn: The database.
        changes: How many changes to make.
        rate_per_s: Changes per second (paced on a schedule: after a stall it catches up).
        seed: Seed of the random choice of table, operation and values.
    """

    def __init__(self, dsn: str, changes: int, rate_per_s: float, seed: int) -> None:
        super().__init__(name="rtdata-chaos-writer", daemon=True)
        self.dsn = dsn
        self.changes = changes
        self.rate_per_s = rate_per_s
        self.rng = random.Random(seed)
        self.done = threading.Event()
        """Set when the writer has made every change (or failed)."""
        self.error: BaseException | None = None
        self.made: dict[str, int] = {"INSERT": 0, "UPDATE": 0, "DELETE": 0}
        self._lock = threading.Lock()  # guards _newest and made
        self._newest: dict[str, int] = dict.fromkeys(TABLES, 0)
        self._stop = threading.Event()

    def newest_rev(self) -> dict[str, int]:
        """Table → ``rev`` of its newest committed insert or update (0 before the first)."""
        with self._lock:
            return dict(self._newest)

    def stop(self) -> None:
        """Ask the writer to stop after the change it is making."""
        self._stop.set()

    def run(self) -> None:
        """Make the changes (the thread's body)."""
        try:
            with psycopg.connect(self.dsn, autocommit=True) as conn:
                self._write(conn)
        except BaseException as exc:  # reported by the run, never lost
            self.error = exc
        finally:
            self.done.set()

    def _write(self, conn: psycopg.Connection[Any]) -> None:
        rng = self.rng
        live: dict[str, list[tuple[Any, ...]]] = {name: [] for name in TABLES}
        next_n = 0
        start = time.perf_counter()
        for rev in range(1, self.changes + 1):
            if self._stop.is_set():
                return
            pause_s = start + (rev - 1) / self.rate_per_s - time.perf_counter()
            if pause_s > 0:
                time.sleep(pause_s)  # pacing a load generator, not synchronisation
            table = "items" if rng.random() < 0.6 else "notes"
            keys = live[table]
            roll = rng.random()
            op = "INSERT" if not keys or roll < 0.45 else "UPDATE" if roll < 0.85 else "DELETE"
            if op == "INSERT" and table == "items":
                row = conn.execute(
                    "insert into items (name, qty, price, tags, meta, rev) values"
                    " (%s, %s, %s, %s, %s, %s) returning id",
                    (
                        f"item {rev}",
                        rng.randint(0, 100),
                        round(rng.uniform(0, 500), 2),
                        [rng.choice("abcdef") for _ in range(rng.randint(0, 3))],
                        orjson.dumps({"batch": rev // 100, "ok": rng.random() < 0.5}).decode(),
                        rev,
                    ),
                ).fetchone()
                assert row is not None
                keys.append((row[0],))
            elif op == "INSERT":
                next_n += 1
                key = (rng.randint(1, _BOARDS), next_n)
                body = "".join(rng.choices("abcdefghijklmnopqrstuvwxyz0123456789", k=_BODY_CHARS))
                conn.execute(
                    "insert into notes (board, n, body, rev) values (%s, %s, %s, %s)",
                    (*key, body, rev),
                )
                keys.append(key)
            else:
                index = rng.randrange(len(keys))
                key = keys[index]
                if op == "DELETE":
                    keys[index] = keys[-1]
                    keys.pop()
                    if table == "items":
                        conn.execute("delete from items where id = %s", key)
                    else:
                        conn.execute("delete from notes where board = %s and n = %s", key)
                elif table == "items":
                    conn.execute(
                        "update items set qty = qty + 1, done = not done, rev = %s,"
                        " updated_at = now() where id = %s",
                        (rev, *key),
                    )
                else:  # the TOASTed body is left alone
                    conn.execute(
                        "update notes set rev = %s where board = %s and n = %s", (rev, *key)
                    )
            with self._lock:
                self.made[op] += 1
                if op != "DELETE":
                    self._newest[table] = rev


def subscriber_settings(url: str, key: str, tables: Mapping[str, tuple[str, ...]]) -> Settings:
    """A collector's settings for the chaos run: ``tables`` on one channel, quick probes and
    reconnects (probe every 1 s, reconnect after 0.1 s doubling to 1 s), no REST polling and
    no periodic resync, so every repair the run sees comes from a (re)subscribe."""
    connection = dataclasses.replace(
        DEFAULT_CONFIG.connection,
        probe_interval_s=1.0,
        reconnect_initial_s=0.1,
        reconnect_max_s=1.0,
        poll_after_s=3600.0,
        resync_interval_s=0.0,
    )
    config = dataclasses.replace(DEFAULT_CONFIG, connection=connection)
    return Settings(url=url, key=key, config=config, tables=dict(tables), connect_timeout_s=60)


class Subscriber:
    """One collector of the run, and the throttle that can make it a slow consumer.

    The throttle wraps the collector's websocket reads (each socket it opens, after the frame
    trace): while :attr:`frame_delay_s` is above 0, every frame waits that long before
    realtime-py sees it. The collector then consumes fewer frames a second than the server
    sends, the kernel's buffers and then the server's outbox for that socket fill up, and its
    probe replies queue behind the changes: what a busy or starved dashboard process does.

    Args:
        name: Its name in the report.
        settings: Its settings (:func:`subscriber_settings`).
    """

    def __init__(self, name: str, settings: Settings) -> None:
        self.name = name
        self.collector = Collector(settings)
        self.frame_delay_s = 0.0
        """Extra wait before each received frame is handed on (the slow-subscriber fault)."""
        trace = self.collector.recorder.trace
        attach = trace.attach

        def throttled_attach(ws: Any) -> None:
            attach(ws)
            receive = ws.recv

            async def slow_recv(*args: Any, **kwargs: Any) -> Any:
                message = await receive(*args, **kwargs)
                if self.frame_delay_s > 0:
                    await asyncio.sleep(self.frame_delay_s)  # the throttle itself
                return message

            ws.recv = slow_recv

        trace.attach = throttled_attach  # type: ignore[method-assign]

    @property
    def tables(self) -> tuple[str, ...]:
        """The tables it follows."""
        return tuple(self.collector.tables.names)

    def newest_rev(self) -> dict[str, int]:
        """Table → the largest ``rev`` among its rows (0 when empty)."""
        newest: dict[str, int] = {}
        for table in self.tables:
            rows = self.collector.tables.rows_by_key(table).values()
            newest[table] = max((int(r.get("rev") or 0) for r in rows), default=0)
        return newest

    def subscriptions(self) -> int:
        """How many times it has entered SUBSCRIBED."""
        return sum(t.target == ConnectionState.SUBSCRIBED for t in self.collector.transitions)

    def rows(self, table: str) -> dict[str, dict[str, Any]]:
        """Its live rows of ``table`` by key text (copies)."""
        return {k: dict(v) for k, v in self.collector.tables.rows_by_key(table).items()}


def server_for(dsn: str, migrations: Path, slot: str, port: int) -> LocalServer:
    """A started :class:`LocalServer` on database ``dsn`` with ``migrations`` (applied once:
    a restart finds them recorded), reading changes from ``slot``, on ``port`` (0: a free one).
    """
    return LocalServer(port=port, db=dsn, schema=migrations, slot=slot).start()
