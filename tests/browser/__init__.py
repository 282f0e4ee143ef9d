"""Browser test support: Debian's chromium through Playwright (never a downloaded browser)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

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
    """A running `rtdata demo`: where the dashboard and the local server answer, and the folder
    its dashboard records history to."""

    dashboard_url: str
    server_url: str
    history: Path | None = None


def healthy(url: str) -> bool:
    """Tell whether the Streamlit server at ``url`` answers its health check."""
    try:
        return httpx.get(f"{url}/_stcore/health", timeout=2).text == "ok"
    except httpx.HTTPError:
        return False


def launch(playwright: Any) -> Any:
    """Start Debian's chromium headless with the flags this machine needs."""
    return playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
