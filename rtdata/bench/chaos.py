"""``chaos`` (opt-in: ``rtdata bench --only chaos``): subscribers' table state under injected
faults, checked row for row against Postgres at the end.

The run (:func:`run_chaos`), on a real Postgres (a temporary embedded cluster unless given
one) kept across server restarts:

- a :class:`rtdata.LocalServer` on a database of its own, reading a replication slot of a
  fixed name, on a fixed port after its first start: a restart keeps the slot, so nothing
  committed while it is down is lost;
- ``subscribers`` collectors (:class:`rtdata.Collector`, service key) following ``items``,
  ``notes`` or both (:data:`rtdata.bench.chaos_world.TABLES`), each keeping live table state;
  probes every 1 s, reconnects after 0.1 s doubling to 1 s, and neither polling nor periodic
  resync, so every repair comes from a (re)subscribe (see :mod:`rtdata.resync`);
- a writer making ``changes`` inserts, updates and deletes straight into Postgres with
  psycopg (so they reach the server through logical decoding) at ``rate_per_s``;
- ``faults_per_kind`` faults of each kind of :data:`FAULT_KINDS`, interleaved and spread
  evenly over the writer's run (a fault waits for the previous one's recovery):

  * ``socket_drop``: every socket aborted (``drop``) or closed (``close``), alternately;
  * ``server_restart``: the server stopped and a new one started (same port, slot, database);
  * ``database_pause``: every process of the Postgres server stopped with SIGSTOP for
    ``pause_s``, then SIGCONT (:func:`rtdata.bench.chaos_world.pause_database`);
  * ``slow_subscriber``: one collector at a time (in turn) reads its socket ``slow_frame_ms``
    slower per frame for ``slow_s`` (:class:`rtdata.bench.chaos_world.Subscriber`): a busy
    consumer whose backlog builds up in its socket and in the server's outbox;
  * ``malformed_frames``: every joined channel gets one frame of each
    :data:`rtdata.server.faults.MALFORMED_KINDS` (not JSON, wrong field types, truncated,
    binary garbage, a change without a key).

**Recovery time** of a fault: from the fault's end (the drop or close returned, the new server
listens, SIGCONT was sent, the throttle was lifted, the malformed frames were queued) until
every subscriber (a) is SUBSCRIBED, (b) has subscribed again since the fault began, for the
faults that end every socket (drops and restarts), and (c) holds, in each table it follows,
a row whose ``rev`` is at least the newest committed when the fault ended (or, if that row
was deleted since, the newest still live), and (d) after malformed frames, has counted at
least one of them as an error (it has read past them). Checked every 20 ms; a fault not recovered within
``recovery_timeout_s`` counts as unrecovered.

**At the end** (writer done, faults over) the run waits, up to ``converge_timeout_s``, until
every subscriber is SUBSCRIBED and its live rows equal the database's, row for row; then it
counts divergent rows per subscriber (missing, extra or different), gaps recorded, duplicate
gap records (overlapping periods, :func:`duplicate_gaps`) and unrecorded gaps (resubscribes
without a gap record).

**Baseline**: the same run (same seed, writer, subscribers and schedule) with no fault
injected; at each fault's slot the same recovery is measured, which is then only the
delivery lag of the newest change, commit → every subscriber. The bench reports both.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from rtdata.bench.chaos_world import (
    TABLES,
    Subscriber,
    Writer,
    chaos_database,
    database_rows,
    pause_database,
    server_for,
    subscriber_settings,
)
from rtdata.bench.common import Figure
from rtdata.lifecycle import ConnectionState
from rtdata.resync import Gap
from rtdata.trace import CLIENT_LOGGER

__all__ = [
    "FAULT_KINDS",
    "ChaosReport",
    "Divergence",
    "bench_chaos",
    "compare_rows",
    "duplicate_gaps",
    "fault_schedule",
    "percentile",
    "run_chaos",
]

FAULT_KINDS: Final = (
    "socket_drop",
    "server_restart",
    "database_pause",
    "slow_subscriber",
    "malformed_frames",
)
"""The kinds of fault the run injects, in the order they take turns."""

log = logging.getLogger(__name__)

_CHECK_S: Final = 0.02
_REJOIN: Final = ("socket_drop", "server_restart")  # faults that end every socket
_SUBSCRIPTIONS: Final = (("items",), ("notes",), ("items", "notes"))


@dataclass(frozen=True, slots=True)
class Divergence:
    """How one subscriber's table differs from the database's.

    Attributes:
        missing: Rows the database has and the subscriber lacks.
        extra: Rows the subscriber has and the database does not.
        different: Rows both have, with different values.
    """

    missing: int = 0
    extra: int = 0
    different: int = 0

    @property
    def total(self) -> int:
        """Divergent rows in all."""
        return self.missing + self.extra + self.different

    def __add__(self, other: Divergence) -> Divergence:
        return Divergence(
            self.missing + other.missing,
            self.extra + other.extra,
            self.different + other.different,
        )


def compare_rows(
    database: Mapping[str, Mapping[str, Any]], mine: Mapping[str, Mapping[str, Any]]
) -> Divergence:
    """Compare a subscriber's rows with the database's, both keyed by key text."""
    missing = sum(1 for key in database if key not in mine)
    extra = sum(1 for key in mine if key not in database)
    different = sum(
        1 for key, row in database.items() if key in mine and dict(mine[key]) != dict(row)
    )
    return Divergence(missing, extra, different)


def duplicate_gaps(gaps: Sequence[Gap]) -> int:
    """Count gap records that repeat a period already recorded: each one that starts before
    the end of an earlier one (in start order) of the same collector."""
    duplicates, end_ns = 0, None
    for gap in sorted(gaps, key=lambda g: (g.start_ns, g.end_ns)):
        if end_ns is not None and gap.start_ns < end_ns:
            duplicates += 1
        end_ns = gap.end_ns if end_ns is None else max(end_ns, gap.end_ns)
    return duplicates


def fault_schedule(kinds: Sequence[str], per_kind: int) -> list[str]:
    """Return ``per_kind`` faults of each of ``kinds``, taking turns (a, b, c, a, b, c, ...)."""
    return [kind for _ in range(per_kind) for kind in kinds]


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile of ``values`` (linear interpolation), NaN when empty."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


@dataclass
class ChaosReport:
    """What a chaos run measured.

    Attributes:
        injected: Whether faults were injected (``False``: the baseline run).
        faults: Faults injected per kind.
        changes: Changes the writer committed.
        operations: Those changes per operation (INSERT, UPDATE, DELETE).
        recovery_s: Recovery time of each fault (see the module docstring), by kind.
        unrecovered: Faults whose recovery took longer than the timeout.
        converged: Whether every subscriber equalled the database at the end.
        converge_s: From the writer's end (and the last fault's) until every subscriber
            equalled the database (the timeout when it never did).
        divergence: Per subscriber, how its tables differ from the database's at the end.
        gaps: Gaps recorded, over every subscriber.
        duplicate_gaps: Gap records repeating a recorded period (target 0).
        unrecorded_gaps: Resubscribes without a gap record (target 0).
        malformed_sent: Malformed frames the server queued.
        subscriber_errors: Errors the subscribers counted (dropped frames, invalid changes).
        writer_error: Why the writer stopped early, if it did.
    """

    injected: bool
    faults: dict[str, int] = field(default_factory=dict)
    changes: int = 0
    operations: dict[str, int] = field(default_factory=dict)
    recovery_s: dict[str, list[float]] = field(default_factory=dict)
    unrecovered: int = 0
    converged: bool = False
    converge_s: float = float("nan")
    divergence: dict[str, Divergence] = field(default_factory=dict)
    gaps: int = 0
    duplicate_gaps: int = 0
    unrecorded_gaps: int = 0
    malformed_sent: int = 0
    subscriber_errors: int = 0
    writer_error: str | None = None

    @property
    def divergent_rows(self) -> int:
        """Divergent rows over every subscriber."""
        return sum(d.total for d in self.divergence.values())

    @property
    def all_recovery_s(self) -> list[float]:
        """Every fault's recovery time."""
        return [s for times in self.recovery_s.values() for s in times]


class _Run:
    """One chaos run's moving parts, driven from the calling thread."""

    def __init__(self, dsn: str, slot: str, migrations: Any, subscribers: int) -> None:
        self.dsn, self.slot, self.migrations = dsn, slot, migrations
        self.server = server_for(dsn, migrations, slot, 0)
        self.port = self.server.port
        self.subscribers = [
            Subscriber(
                f"s{i}",
                subscriber_settings(
                    self.server.url,
                    self.server.service_key,
                    {t: TABLES[t] for t in _SUBSCRIPTIONS[i % len(_SUBSCRIPTIONS)]},
                ),
            )
            for i in range(subscribers)
        ]

    def restart(self) -> None:
        self.server.stop()
        self.server = server_for(self.dsn, self.migrations, self.slot, self.port)

    def recovered(
        self,
        writer: Writer,
        target: Mapping[str, int],
        before: Mapping[str, tuple[int, int]],
        kind: str | None,
    ) -> bool:
        live = writer.newest_rev()
        for sub in self.subscribers:
            if sub.collector.state != ConnectionState.SUBSCRIBED:
                return False
            subscriptions, errors = before[sub.name]
            if kind in _REJOIN and sub.subscriptions() <= subscriptions:
                return False
            if kind == "malformed_frames" and sub.collector.status.errors_total <= errors:
                return False
            newest = sub.newest_rev()
            if any(newest[t] < min(target[t], live[t]) for t in sub.tables):
                return False
        return True

    def divergence(self) -> dict[str, Divergence]:
        database = {table: database_rows(self.dsn, table) for table in TABLES}
        return {
            sub.name: sum(
                (compare_rows(database[t], sub.rows(t)) for t in sub.tables), Divergence()
            )
            for sub in self.subscribers
        }

    def stop(self) -> None:
        for sub in self.subscribers:
            sub.collector.stop()
        self.server.stop()


def _wait(predicate: Callable[[], bool], timeout_s: float) -> float | None:
    """Seconds until ``predicate`` held (checked every 20 ms), or ``None`` after ``timeout_s``."""
    start = time.monotonic()
    tick = threading.Event()
    while not predicate():
        if time.monotonic() - start > timeout_s:
            return None
        tick.wait(_CHECK_S)
    return time.monotonic() - start


@contextlib.contextmanager
def _quiet_client_log() -> Iterator[None]:
    """Keep realtime-py's report of each malformed frame (an ERROR with a pydantic trace)
    out of the output; the collectors' frame traces still count them (they filter the
    client's logger itself, which runs before its handlers)."""
    client = logging.getLogger(CLIENT_LOGGER)
    silent = logging.NullHandler()
    propagate = client.propagate
    client.addHandler(silent)
    client.propagate = False
    try:
        yield
    finally:
        client.propagate = propagate
        client.removeHandler(silent)


@contextlib.contextmanager
def _cluster(admin_dsn: str | None) -> Iterator[str]:
    if admin_dsn is not None:
        yield admin_dsn
        return
    from rtdata.server.postgres.cluster import EmbeddedPostgres

    with EmbeddedPostgres() as cluster:
        yield cluster.dsn


def run_chaos(
    admin_dsn: str | None = None,
    *,
    changes: int = 10_000,
    rate_per_s: float = 50.0,
    subscribers: int = 3,
    faults_per_kind: int = 4,
    inject: bool = True,
    pause_s: float = 2.0,
    slow_s: float = 3.0,
    slow_frame_ms: float = 50.0,
    seed: int = 7,
    recovery_timeout_s: float = 60.0,
    converge_timeout_s: float = 120.0,
    progress: Callable[[str], None] = lambda _: None,
) -> ChaosReport:
    """Run the chaos scenario once (see the module docstring) and return its report.

    Args:
        admin_dsn: A superuser connection string of the Postgres to run on (a database is
            made for the run and dropped after); ``None`` starts a temporary embedded cluster.
            ``database_pause`` signals its processes, which needs the right to.
        changes: Changes the writer makes.
        rate_per_s: The writer's changes per second.
        subscribers: Collectors (following ``items``, ``notes``, both, in turn).
        faults_per_kind: Faults of each of :data:`FAULT_KINDS`.
        inject: ``False`` for the baseline: the same schedule, nothing injected.
        pause_s: Length of each ``database_pause``.
        slow_s: Length of each ``slow_subscriber``.
        slow_frame_ms: Delay a slow subscriber adds to every frame it reads.
        seed: The writer's seed.
        recovery_timeout_s: Longest wait for one fault's recovery.
        converge_timeout_s: Longest wait for the final equality.
        progress: Called with a line about each fault.
    """
    report = ChaosReport(injected=inject)
    schedule = fault_schedule(FAULT_KINDS, faults_per_kind)
    with (
        _quiet_client_log(),
        _cluster(admin_dsn) as admin,
        chaos_database(admin) as (dsn, slot, migrations),
    ):
        run = _Run(dsn, slot, migrations, subscribers)
        try:
            for sub in run.subscribers:
                sub.collector.start(wait=True)
            writer = Writer(dsn, changes, rate_per_s, seed)
            duration_s = changes / rate_per_s
            started = time.monotonic()
            writer.start()
            for index, kind in enumerate(schedule):
                due = started + (index + 1) * duration_s / (len(schedule) + 1)
                threading.Event().wait(max(0.0, due - time.monotonic()))  # the schedule
                before = {
                    sub.name: (sub.subscriptions(), sub.collector.status.errors_total)
                    for sub in run.subscribers
                }
                if inject:
                    report.malformed_sent += _inject(
                        run, kind, index, pause_s, slow_s, slow_frame_ms
                    )
                    report.faults[kind] = report.faults.get(kind, 0) + 1
                target = writer.newest_rev()
                injected = kind if inject else None
                took = _wait(
                    functools.partial(run.recovered, writer, target, before, injected),
                    recovery_timeout_s,
                )
                if took is None:
                    report.unrecovered += 1
                else:
                    report.recovery_s.setdefault(kind, []).append(took)
                progress(
                    f"{index + 1}/{len(schedule)} {kind if inject else 'no fault'}: "
                    + ("not recovered" if took is None else f"recovered in {took * 1000:.0f} ms")
                )
            writer.done.wait()
            report.writer_error = None if writer.error is None else repr(writer.error)
            report.changes = sum(writer.made.values())
            report.operations = dict(writer.made)
            database = {table: database_rows(dsn, table) for table in TABLES}

            def equal() -> bool:
                return all(
                    sub.collector.state == ConnectionState.SUBSCRIBED
                    and all(sub.rows(t) == database[t] for t in sub.tables)
                    for sub in run.subscribers
                )

            took = _wait(equal, converge_timeout_s)
            report.converged = took is not None
            report.converge_s = converge_timeout_s if took is None else took
            report.divergence = run.divergence()
            for sub in run.subscribers:
                gaps = sub.collector.gaps
                report.gaps += len(gaps)
                report.duplicate_gaps += duplicate_gaps(gaps)
                report.unrecorded_gaps += max(0, sub.subscriptions() - 1 - len(gaps))
                report.subscriber_errors += sub.collector.status.errors_total
        finally:
            run.stop()
    return report


def _inject(
    run: _Run, kind: str, index: int, pause_s: float, slow_s: float, slow_frame_ms: float
) -> int:
    """Inject one fault and return once it has ended; return malformed frames sent."""
    if kind == "socket_drop":
        run.server.fault("drop" if index % 2 == 0 else "close")
    elif kind == "server_restart":
        run.restart()
    elif kind == "database_pause":
        pause_database(run.dsn, pause_s)
    elif kind == "slow_subscriber":
        sub = run.subscribers[index % len(run.subscribers)]
        sub.frame_delay_s = slow_frame_ms / 1000
        try:
            threading.Event().wait(slow_s)  # the fault's length
        finally:
            sub.frame_delay_s = 0.0
    elif kind == "malformed_frames":
        faults = run.server.faults
        return run.server.call(faults.malformed)
    else:
        raise ValueError(f"unknown fault kind {kind!r}")
    return 0


def bench_chaos(**options: Any) -> list[Figure]:
    """Run the baseline (no fault) and then the chaos run with ``options`` (see
    :func:`run_chaos`; each fault's outcome is logged at INFO); return their figures."""
    options.setdefault("progress", log.info)
    base = run_chaos(**{**options, "inject": False})
    chaos = run_chaos(**options)
    return report_figures(chaos, base)


def report_figures(chaos: ChaosReport, base: ChaosReport) -> list[Figure]:
    """Figures of a chaos run beside its baseline run."""
    kinds = ", ".join(f"{n} {k}" for k, n in chaos.faults.items())
    recovery = chaos.all_recovery_s
    lag = base.all_recovery_s
    figures = [
        Figure("chaos.faults", sum(chaos.faults.values()), "faults", f"injected: {kinds}"),
        Figure("chaos.changes", chaos.changes, "changes", "committed straight into Postgres: " + ", ".join(f"{n} {op}" for op, n in chaos.operations.items())),
        Figure("chaos.divergent_rows", chaos.divergent_rows, "rows", "rows missing, extra or different at the end, over every subscriber (target 0): " + "; ".join(f"{s} {d.missing}/{d.extra}/{d.different}" for s, d in chaos.divergence.items()), "chaos.baseline.divergent_rows"),
        Figure("chaos.baseline.divergent_rows", base.divergent_rows, "rows", "the same run without faults"),
        Figure("chaos.converge_s", chaos.converge_s, "s", "writer done → every subscriber equal to the database, row for row" + ("" if chaos.converged else " (NEVER: timed out)"), "chaos.baseline.converge_s"),
        Figure("chaos.baseline.converge_s", base.converge_s, "s", "the same without faults"),
        Figure("chaos.recovery_p50_ms", percentile(recovery, 50) * 1000, "ms", "fault end → every subscriber SUBSCRIBED and caught up, p50", "chaos.baseline.catch_up_p50_ms"),
        Figure("chaos.recovery_p99_ms", percentile(recovery, 99) * 1000, "ms", "same, p99", "chaos.baseline.catch_up_p99_ms"),
        Figure("chaos.baseline.catch_up_p50_ms", percentile(lag, 50) * 1000, "ms", "no fault: the newest commit at each slot → every subscriber, p50"),
        Figure("chaos.baseline.catch_up_p99_ms", percentile(lag, 99) * 1000, "ms", "same, p99"),
        Figure("chaos.unrecovered_faults", chaos.unrecovered, "faults", "faults not recovered within the timeout (target 0)"),
        Figure("chaos.gaps", chaos.gaps, "gaps", "gaps recorded (one per resubscribe), over every subscriber", "chaos.baseline.gaps"),
        Figure("chaos.baseline.gaps", base.gaps, "gaps", "the same without faults"),
        Figure("chaos.duplicate_gaps", chaos.duplicate_gaps, "gaps", "gap records repeating a recorded period (target 0)"),
        Figure("chaos.unrecorded_gaps", chaos.unrecorded_gaps, "gaps", "resubscribes without a gap record (target 0)"),
        Figure("chaos.malformed_frames_sent", chaos.malformed_sent, "frames", f"malformed frames queued to joined channels; subscribers counted {chaos.subscriber_errors} errors"),
    ]  # fmt: skip
    for kind in FAULT_KINDS:
        times = chaos.recovery_s.get(kind, [])
        figures.append(Figure(f"chaos.recovery.{kind}_p50_ms", percentile(times, 50) * 1000, "ms", f"{kind}: recovery p50 over {len(times)} faults (max {max(times, default=float('nan')) * 1000:.0f} ms)", "chaos.baseline.catch_up_p50_ms"))  # fmt: skip
    if chaos.writer_error or base.writer_error:
        figures.append(Figure("chaos.writer_failed", 1, "", f"the writer stopped early: {chaos.writer_error or base.writer_error}"))  # fmt: skip
    return figures
