"""How a value of ``rtdata.toml`` is named in a config message: short, and never a whole
table or array."""

from __future__ import annotations

from typing import Any

__all__ = ["show"]


def show(value: Any) -> str:
    """Return ``value`` as a config message names it: ``a table``, ``an array``, ``true`` or
    ``false``, else its repr cut to 60 characters."""
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, bool):
        return "true" if value else "false"
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
