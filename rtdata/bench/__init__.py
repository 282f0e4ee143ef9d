"""Benchmarks behind ``rtdata bench``: every figure is measured beside its baseline, in one run.

Sections (``--only`` picks some):

* ``server``: postgres_changes frames the local server delivers per second to 1 and to 10 raw
  websocket readers, REST bulk-insert rows per second, and, as the baseline, how many frames per
  second one official realtime-py client consumes from the same server.
* ``postgres``: the local server on its embedded Postgres beside the in-memory one, in one run:
  start-up, commit → official client p50/p99 at 2,000 inserts/s, frames/s to 100 readers of one
  table, and idle CPU with 20 subscribers over 60 s.
* ``hostile``: on each database, the p99 of clients reading over REST while one client sends
  the pathological filter ``?patient_name=match.^(a+)+$`` back to back, beside the same
  clients alone (target < 50 ms), and how many pathological requests were answered.
* ``ingest``: the collector's throughput on one stream beside the bare official client's.
* ``latency``: commit → buffer latency percentiles at a steady write rate.
* ``buffer``: EventBuffer append rate beside per-row ``pd.concat``, snapshot time and memory.
* ``history``: HistoryWriter throughput beside one ``DataFrame.to_parquet``, the collector's
  ingest slowdown with history on, and a DuckDB table × hour aggregate over 10M events beside
  pandas over 1M.
* ``pages``: server-side render time of each hospital page, and of a page of one widget of
  each type, with 1M events of the pack's stream buffered beside an empty buffer.
* ``access``: what sign-in (``[access] require_sign_in``) adds to a render of the router's
  first page, beside the same render without it (p50 of 15 each, alternated).
* ``packs``: every scenario pack beside the hospital's: its simulator at ten times the demo's
  rate live in the embedded stack (events recorded a second, commit → buffer p99), its slowest
  page with 1M events of its stream buffered (target ≤ 300 ms) and its bytes per buffered
  event. Its live part runs server, simulator and collector in one process, as
  ``rtdata.connect()`` does.
* ``browser``: a real ``rtdata demo`` in headless Chromium at a 1 s refresh: bytes per refresh of
  each page, commit → DOM latency on the wall beside a 5 s polling page, and the Streamlit
  server's CPU and view computations per tick for 1, 5 and 20 viewers beside none. With
  ``RTDATA_BENCH_BASELINE=<another checkout>``, the same figures of that checkout's demo too,
  each beside its twin (``browser.before.*``).

Opt-in sections, never in the default run (name them with ``--only``):

* ``soak``: the Streamlit server's RSS over ``$RTDATA_SOAK_MINUTES`` (default 30) minutes of
  wall mode, after warm-up and at the end.
* ``chaos``: 10,000 changes written straight into a real Postgres at 50/s, followed by three
  collectors through 20 injected faults (4 each of socket drops, server restarts on the kept
  slot, a paused database, a slow subscriber and malformed frames); at the end every
  subscriber's rows must equal the database's. Divergent rows, gaps, duplicate gap records
  and recovery time p50/p99, beside the same run without faults (see
  :mod:`rtdata.bench.chaos`). About ten minutes.

Except in the live part of ``packs``, the server runs in its own process (``rtdata serve``), so
it never shares the GIL with what is measured. Absolute numbers vary between machines and runs;
compare ratios.
"""

from collections.abc import Callable, Sequence
from typing import Final

from rtdata.bench.common import Figure

__all__ = ["OPT_IN", "SECTIONS", "Figure", "render_markdown", "run", "to_json"]

SECTIONS: Final = (
    "server",
    "postgres",
    "hostile",
    "ingest",
    "latency",
    "buffer",
    "history",
    "pages",
    "packs",
    "access",
    "browser",
)
"""Benchmark sections, in the order they run."""

OPT_IN: Final = ("soak", "chaos")
"""Sections that run only when named (``--only``): they take too long for the default run."""


def _runner(name: str) -> Callable[[], list[Figure]]:
    # Sections import their own dependencies (pandas, Streamlit, DuckDB) only when they run.
    import importlib

    module_name = "ingest" if name == "latency" else name
    module = importlib.import_module(f"rtdata.bench.{module_name}")
    runner: Callable[[], list[Figure]] = getattr(module, f"bench_{name}")
    return runner


def run(
    sections: Sequence[str] = SECTIONS, progress: Callable[[str], None] = lambda _: None
) -> list[Figure]:
    """Run the named sections in order and return their figures.

    Raises:
        ValueError: An unknown section name.
    """
    figures: list[Figure] = []
    for name in sections:
        if name not in SECTIONS + OPT_IN:
            raise ValueError(
                f"unknown benchmark section {name!r}; choose from {', '.join(SECTIONS + OPT_IN)}"
            )
        progress(name)
        figures += _runner(name)()
    return figures


def render_markdown(figures: Sequence[Figure]) -> str:
    """Render figures as a markdown table with their baselines beside them."""
    by_key = {f.key: f for f in figures}
    lines = ["| figure | value | baseline (same run) | what |", "|---|---:|---:|---|"]
    for f in figures:
        base = by_key.get(f.baseline) if f.baseline else None
        base_text = f"{_number(base)} (`{base.key}`)" if base else ""
        lines.append(f"| `{f.key}` | {_number(f)} | {base_text} | {f.what} |")
    return "\n".join(lines)


def _number(figure: Figure) -> str:
    digits = 2 if figure.unit == "×" else 1
    return f"{figure.value:,.{digits}f} {figure.unit}"


def to_json(figures: Sequence[Figure]) -> dict[str, float]:
    """Return ``{key: value}`` for ``--json``."""
    return {f.key: round(f.value, 3) for f in figures}
