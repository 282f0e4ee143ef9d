"""Browser test support: Debian's chromium through Playwright (never a downloaded browser)."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from rtdata.scenarios import get_scenario
from tests.support import timeout_s, wait_until

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = Path(__file__).parents[1] / "artifacts"
CHROMIUM = Path(os.environ.get("RTDATA_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@dataclass(frozen=True)
class Demo:
    """A running `rtdata demo`: where the dashboard and the local server answer, the folder
    its dashboard records history to, and what it printed after its first two lines (filled
    while it runs)."""

    dashboard_url: str
    server_url: str
    history: Path | None = None
    output: list[str] = field(default_factory=list)


def healthy(url: str) -> bool:
    """Tell whether the Streamlit server at ``url`` answers its health check."""
    try:
        return httpx.get(f"{url}/_stcore/health", timeout=2).text == "ok"
    except httpx.HTTPError:
        return False


def launch(playwright: Any) -> Any:
    """Start Debian's chromium headless with the flags this machine needs."""
    return playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)


def hospital_config(folder: Path, dashboard: str) -> Path:
    """Write the hospital pack's ``rtdata.toml`` into ``folder`` with its ``[dashboard]`` table
    replaced by ``dashboard`` (TOML lines) and its assets named by absolute path; return it."""
    pack = get_scenario("hospital")
    text = pack.config_path.read_text()
    text, found = re.subn(
        r"(?ms)^\[dashboard\]\n.*?(?=^\n|^\[)", f"[dashboard]\n{dashboard}\n", text
    )
    assert found == 1, f"no [dashboard] table in {pack.config_path}"
    text = text.replace('"assets/', f'"{pack.folder / "assets"}/')
    path = folder / "rtdata.toml"
    path.write_text(text)
    return path


@contextlib.contextmanager
def running_dashboard(cwd: Path, env: Mapping[str, str]) -> Iterator[str]:
    """Run ``rtdata dashboard`` in ``cwd`` with ``env`` over this environment, importing this
    checkout's ``rtdata`` from any folder; yield its URL once it answers, stop it at the end."""
    path = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p)
    with subprocess.Popen(
        [sys.executable, "-m", "rtdata.cli", "dashboard", "--port", "0"],
        cwd=cwd,
        env={**os.environ, **env, "PYTHONPATH": path},
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        start_new_session=True,  # its own process group: a failed test stops Streamlit too
    ) as proc:
        try:
            assert proc.stdout is not None
            line = proc.stdout.readline()
            found = re.search(r"dashboard on (http://localhost:\d+)", line)
            assert found, f"unexpected output: {line!r}"
            url = found.group(1)
            wait_until(lambda: healthy(url), timeout=60, what="the dashboard to answer")
            yield url
            proc.send_signal(signal.SIGINT)
            assert proc.wait(timeout_s(30)) == 0
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
