"""Which checkout's dashboard the browser benchmarks run, and the ``rtdata.toml`` it reads.

The ``browser`` section can measure a second checkout in the same run, as its baseline: set
``RTDATA_BENCH_BASELINE`` to that checkout's folder (one holding ``rtdata/__init__.py``, such
as ``git worktree add /work/wt-before <commit>``). Each ``rtdata demo`` then runs with
``PYTHONPATH`` set to its checkout, so the demo, its Streamlit server and its pages are that
checkout's code, while the browser, the measurements and this process stay the same.

A checkout with scenario packs shows the hospital pack's pages only when its config names them,
so its config is the pack's ``rtdata.toml`` with the benchmark's ``[dashboard]`` table instead
of the pack's, beside a link to the pack's ``assets/``; an older checkout, whose pages were
scripts, reads the ``[dashboard]`` table alone.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Final

import rtdata

__all__ = ["BASELINE_ENV", "THIS_CHECKOUT", "baseline_checkout", "demo_config", "without_table"]

THIS_CHECKOUT: Final = Path(rtdata.__file__).resolve().parent.parent
"""The folder this process imports ``rtdata`` from."""

BASELINE_ENV: Final = "RTDATA_BENCH_BASELINE"
"""Names another checkout whose dashboard the ``browser`` section also measures."""

PACK_CONFIG: Final = Path("rtdata", "scenarios", "hospital", "rtdata.toml")
"""Where a checkout with scenario packs keeps the hospital pack's config."""


def baseline_checkout(env: Mapping[str, str] | None = None) -> Path | None:
    """Return the checkout ``$RTDATA_BENCH_BASELINE`` names, or ``None`` when it is unset.

    Raises:
        ValueError: The folder holds no ``rtdata`` package.
    """
    text = (os.environ if env is None else env).get(BASELINE_ENV) or ""
    if not text:
        return None
    root = Path(text).expanduser().resolve()
    if not (root / "rtdata" / "__init__.py").is_file():
        raise ValueError(f"{BASELINE_ENV}={text!r} is not a checkout: no rtdata/__init__.py")
    return root


def demo_config(dashboard_toml: str, root: Path = THIS_CHECKOUT) -> tuple[str, Path | None]:
    """Return the ``rtdata.toml`` text a benchmark's demo of ``root`` reads, and the folder
    that its relative paths need beside it as ``assets/`` (``None`` when none).

    Args:
        dashboard_toml: The benchmark's ``[dashboard]`` table (comments allowed).
        root: The checkout.
    """
    pack = root / PACK_CONFIG
    if not pack.is_file():
        return dashboard_toml, None
    text = without_table(pack.read_text(), "dashboard")
    return f"{dashboard_toml}\n{text}", pack.parent / "assets"


def without_table(text: str, name: str) -> str:
    """Return TOML ``text`` without the table ``[name]``: its header and every line up to the
    next table header (``[table]`` or ``[[array]]`` of bare keys, indented or not)."""
    kept: list[str] = []
    inside = False
    for line in text.splitlines(keepends=True):
        header = _HEADER.match(line)
        if header:
            inside = header.group(1) == f"[{name}]"
        if not inside:
            kept.append(line)
    return "".join(kept)


_HEADER: Final = re.compile(r"\s*(\[\[?\s*[\w.-]+\s*\]\]?)\s*(?:#.*)?$")
