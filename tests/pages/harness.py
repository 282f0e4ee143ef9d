"""What the page tests share: recorders filled from real write sources, page runs, page text.

A scenario pack's simulator is a pure write source (``next_write`` / ``apply_result``):
:class:`Replay` plays its writes against rows held in memory, as the database would (``POST``
inserts and numbers rows that come without an id, ``PATCH`` merges into the rows its ``match``
selects, ``DELETE`` removes them), and records each resulting change through
:meth:`rtdata.recorder.Recorder.record` as the realtime event Supabase would have pushed, with a
commit time on a virtual clock that ends now.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pandas as pd
from streamlit.testing.v1 import AppTest

from rtdata.events import Event, EventKind
from rtdata.recorder import Recorder
from rtdata.simulate import Broadcast, Write, WriteSource
from rtdata.simulate.dry import Change, DryRun

ROOT = Path(__file__).resolve().parents[2]
APP = str(ROOT / "app.py")
"""The router as ``streamlit run app.py`` starts it in a checkout."""

S_NS = 1_000_000_000
LATENCY_NS = 4_000_000
"""Commit-to-receive latency of every replayed change (4 ms)."""


PAGE_SCRIPT = str(Path(__file__).with_name("page_script.py"))
"""Draws the page named by the ``page`` query parameter."""


def run_page(name: str, *, wall: bool = False, timeout_s: float = 60) -> AppTest:
    """Run the page ``name`` once, as a wall display when ``wall``; fail on an exception."""
    at = AppTest.from_file(PAGE_SCRIPT, default_timeout=timeout_s)
    at.query_params["page"] = name
    if wall:
        at.query_params["wall"] = "1"
    at.run()
    assert not at.exception, [e.stack_trace for e in at.exception]
    return at


def run_app(*, wall: bool = False, timeout_s: float = 60) -> AppTest:
    """Run the router once; fail on an exception."""
    at = AppTest.from_file(APP, default_timeout=timeout_s)
    if wall:
        at.query_params["wall"] = "1"
    at.run()
    assert not at.exception, [e.stack_trace for e in at.exception]
    return at


def metrics(at: AppTest) -> dict[str, str]:
    """Every metric of the page, label -> value (a label drawn in colour loses its markup)."""
    return {_plain_label(m.label): m.value for m in at.metric}


def _plain_label(label: str) -> str:
    if label.startswith(":") and "[" in label and label.endswith("]"):
        return label[label.index("[") + 1 : -1]
    return label


def metric_labels(at: AppTest) -> list[str]:
    """The metric labels as drawn (colour markup kept), in page order."""
    return [m.label for m in at.metric]


def frames(at: AppTest) -> list[pd.DataFrame]:
    """Every dataframe of the page, in order."""
    return [d.value for d in at.dataframe]


def charts(at: AppTest) -> list[dict[str, Any]]:
    """Every plotly figure of the page, as its JSON spec."""
    return [orjson.loads(c.proto.spec) for c in at.get("plotly_chart")]


def captions(at: AppTest) -> str:
    """Every caption of the page, one per line."""
    return "\n".join(c.value for c in at.caption)


def texts(at: AppTest) -> Iterator[str]:
    """Every text a person can read on the page, main area and sidebar: headings, markdown,
    captions, alerts, toasts, metric labels, values and deltas, widget labels, options and
    values, dataframe column names and cells, and plotly figures (titles, names, hover text)."""
    for node in at._tree:
        kind = getattr(node, "type", "")
        if kind == "dataframe":
            frame = node.value
            yield from (str(c) for c in frame.columns)
            for column in frame.columns:
                yield from (str(v) for v in frame[column].tolist())
        elif kind == "metric":
            yield from (node.label, node.value, node.proto.delta)
        elif kind == "plotly_chart":
            yield node.proto.spec
        elif kind in ("selectbox", "multiselect", "radio"):
            yield node.label
            yield from (str(o) for o in node.options)
        elif kind == "toast":
            yield node.value
        else:
            for attribute in ("label", "value", "body"):
                try:
                    value = getattr(node, attribute)
                except AttributeError:  # a block or element without it
                    continue
                if isinstance(value, str):
                    yield value


def iso(at_ns: int) -> str:
    """An epoch time in nanoseconds as ISO 8601 UTC text, as the database returns it."""
    return datetime.fromtimestamp(at_ns / S_NS, UTC).isoformat()


def change(
    table: str,
    op: str,
    record: Mapping[str, Any] | None,
    at_ns: int,
    *,
    old: Mapping[str, Any] | None = None,
    key: str | None = None,
    channel: str = "rtdata-tables",
) -> Event:
    """A realtime change of ``table`` committed at ``at_ns`` and received 4 ms later."""
    keyed = record if record is not None else (old or {})
    return Event(
        at_ns + LATENCY_NS,
        at_ns,
        EventKind.POSTGRES_CHANGES,
        channel,
        table,
        op,
        key if key is not None else str(keyed["id"]),
        None if record is None else orjson.dumps(record).decode(),
        None if old is None else orjson.dumps(old).decode(),
    )


def presence(
    channel: str, op: str, key: str, metas: list[dict[str, Any]] | None, at_ns: int
) -> Event:
    """A presence ``join`` or ``leave`` of ``key`` on ``channel`` (``metas=None``: the whole
    key leaves)."""
    record = None if metas is None else orjson.dumps(metas).decode()
    return Event(at_ns, None, EventKind.PRESENCE, channel, None, op, key, record, None)


def broadcast(channel: str, event: str, payload: Mapping[str, Any], at_ns: int) -> Event:
    """A broadcast ``event`` on ``channel``."""
    body = orjson.dumps(payload).decode()
    return Event(at_ns, None, EventKind.BROADCAST, channel, None, event, None, body, None)


class Replay:
    """Plays a write source's writes against rows in memory (:class:`rtdata.simulate.dry.DryRun`)
    and records each change, and each broadcast, into a recorder.

    Args:
        recorder: Where the changes are recorded (its followed tables and their keys).
    """

    def __init__(self, recorder: Recorder) -> None:
        self.recorder = recorder
        self._dry = DryRun(_NoSource(), recorder.settings.table_keys)

    @property
    def rows(self) -> dict[str, dict[str, dict[str, Any]]]:
        """Table -> primary key text -> row, as the database holds them."""
        return self._dry.rows

    def play(self, source: WriteSource, writes: int, *, span_s: float) -> None:
        """Play ``writes`` writes of ``source`` evenly over the ``span_s`` seconds up to now."""
        end_ns = time.time_ns() - LATENCY_NS
        step_ns = int(span_s * S_NS / writes)
        self._dry.source = source
        for i in range(writes):
            at_ns = end_ns - (writes - 1 - i) * step_ns
            write, changes = self._dry.step(datetime.fromtimestamp(at_ns / S_NS, UTC))
            if isinstance(write, Broadcast):
                self.recorder.record(broadcast(write.topic, write.event, write.payload, at_ns))
            self._record(changes, at_ns)

    def apply(self, write: Write, at_ns: int) -> list[dict[str, Any]]:
        """Apply one write committed at ``at_ns``; return the rows it wrote (for ``POST``)."""
        changes = self._dry.apply(write)
        self._record(changes, at_ns)
        return [c.record for c in changes if c.op == "INSERT" and c.record is not None]

    def _record(self, changes: list[Change], at_ns: int) -> None:
        for c in changes:
            self.recorder.record(
                change(c.table, c.op, c.record, at_ns, old=c.old or None, key=c.key)
            )


class _NoSource:
    """The write source of writes applied one by one (:meth:`Replay.apply`): it has none."""

    def next_write(self, now: datetime) -> Write | Broadcast:
        raise AssertionError("Replay.apply takes its writes one by one")

    def apply_result(self, write: Write, rows: Sequence[Mapping[str, Any]]) -> None:
        """Nothing to learn."""
