"""The Streamlit dashboard as shipped in the package: its router, its pages and its config.

``rtdata demo`` and ``rtdata dashboard`` run ``streamlit run`` on :data:`APP` with the options of
:data:`CONFIG` on the command line (:func:`streamlit_options`), so the dashboard looks and behaves
the same from any working directory. In a checkout, the top-level ``app.py`` and ``pages/*.py``
are thin entries that :func:`run_script` these files, for ``streamlit run app.py``.

Importing this package imports no Streamlit: the scripts do, when Streamlit runs them.
"""

from __future__ import annotations

import runpy
import tomllib
from pathlib import Path
from typing import Final

__all__ = ["APP", "CONFIG", "HERE", "PAGES", "run_script", "streamlit_options"]

HERE: Final = Path(__file__).resolve().parent
"""The folder of the packaged dashboard."""

APP: Final = HERE / "app.py"
"""The router: the script ``streamlit run`` starts."""

PAGES: Final = HERE / "pages"
"""The page scripts the router navigates between."""

CONFIG: Final = HERE / ".streamlit" / "config.toml"
"""The dashboard's Streamlit options (the top-level ``.streamlit/config.toml`` is a copy)."""


def run_script(relative: str) -> None:
    """Run a packaged dashboard script as Streamlit runs a page: as ``__main__``, again on
    every call.

    Args:
        relative: The script's path below :data:`HERE`, such as ``"pages/events.py"``.
    """
    runpy.run_path(str(HERE / relative), run_name="__main__")


def streamlit_options(config: Path = CONFIG) -> list[str]:
    """Return the options of a Streamlit ``config.toml`` as ``streamlit run`` flags.

    Streamlit reads ``.streamlit/config.toml`` from the working directory, which is the user's
    folder (their ``rtdata.toml`` and ``.streamlit/secrets.toml``), not the package; only
    recent versions also read the one beside the script. On the command line the options apply
    wherever the dashboard starts and whatever the Streamlit version, over any config file.

    Args:
        config: The TOML file: tables of options, nested tables for dotted sections.

    Returns:
        ``["--server.headless", "true", ...]`` in the file's order; booleans as ``true`` or
        ``false``.

    Raises:
        ValueError: An option is neither a string, a number nor a boolean (a list, a date).
    """
    with config.open("rb") as file:
        table = tomllib.load(file)
    flags: list[str] = []

    def add(prefix: str, options: dict[str, object]) -> None:
        for name, value in options.items():
            if isinstance(value, dict):
                add(f"{prefix}{name}.", value)
            elif isinstance(value, bool):
                flags.extend([f"--{prefix}{name}", str(value).lower()])
            elif isinstance(value, int | float | str):
                flags.extend([f"--{prefix}{name}", str(value)])
            else:
                raise ValueError(f"{config}: {prefix}{name} is not a flag's value: {value!r}")

    add("", table)
    return flags
