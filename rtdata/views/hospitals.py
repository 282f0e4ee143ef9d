"""Hospital names for any view that shows a ``hospital_id``: one labelling rule everywhere.

A hospital id is shown as its name from the ``hospitals`` table, as ``hospital <id>`` when that
table does not hold it (yet), and as ``unknown`` when there is no id at all.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

import pandas as pd

__all__ = ["hospital_label", "hospital_labels", "hospital_names"]


def hospital_names(hospitals: pd.DataFrame) -> dict[int, str]:
    """Return ``id -> name`` from rows of ``hospitals`` (empty without both columns)."""
    if hospitals.empty or not {"id", "name"} <= set(hospitals.columns):
        return {}
    return {int(i): str(n) for i, n in zip(hospitals["id"], hospitals["name"], strict=True)}


def hospital_label(hospital_id: Any, names: Mapping[int, str]) -> str:
    """Return the label of one ``hospital_id`` given :func:`hospital_names`.

    ``None`` and NaN are ``unknown``; an id that is not a whole number (a tracked presence
    field can hold anything) is shown as its text.
    """
    if hospital_id is None or (isinstance(hospital_id, float) and math.isnan(hospital_id)):
        return "unknown"
    try:
        number = int(hospital_id)
    except (TypeError, ValueError):
        return str(hospital_id)
    return names.get(number, f"hospital {number}")


def hospital_labels(ids: Iterable[Any], hospitals: pd.DataFrame) -> list[str]:
    """Return :func:`hospital_label` of each id, with names from rows of ``hospitals``."""
    names = hospital_names(hospitals)
    return [hospital_label(i, names) for i in ids]
