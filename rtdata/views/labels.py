"""Id columns shown by their labels (``[labels]`` in ``rtdata.toml``): a pure view."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd

from rtdata.layout import Label
from rtdata.views.widgets._common import key_text

__all__ = ["label_maps", "labelled"]


def label_maps(
    labels: Mapping[str, Label], lookups: Mapping[str, pd.DataFrame]
) -> dict[str, dict[str, str]]:
    """Return, per id column, the label text of each id (both as text).

    Args:
        labels: The configured labels, by id column.
        lookups: Current rows of the labels' tables; a table missing here, or one lacking
            its key or label column, gives no labels for that column.
    """
    maps: dict[str, dict[str, str]] = {}
    for column, label in labels.items():
        rows = lookups.get(label.table)
        if rows is None or not {label.key_column, label.label_column} <= set(rows.columns):
            continue
        # Not Series.map: it turns the None of a null id back into NaN, a key that is no text.
        keys = [key_text(value) for value in rows[label.key_column].to_numpy(dtype=object)]
        maps[column] = {
            key: str(text)
            for key, text in zip(keys, rows[label.label_column], strict=True)
            if key is not None and text is not None and not pd.isna(text)
        }
    return maps


def labelled(frame: pd.DataFrame, maps: Mapping[str, Mapping[str, str]]) -> pd.DataFrame:
    """Return ``frame`` with each id column that has labels shown by its labels.

    An id without a label keeps its value, as text; a null stays null. The frame is copied
    only when a column changes.
    """
    columns = [c for c in frame.columns if maps.get(c)]
    if not columns:
        return frame
    out = frame.copy()
    for column in columns:
        names = maps[column]

        def show(value: Any, names: Mapping[str, str] = names) -> Any:
            key = key_text(value)
            return None if key is None else names.get(key, key)

        out[column] = out[column].map(show)
    return out
