"""How table cells are shown: id columns by their labels (``[labels]`` in ``rtdata.toml``), and
timestamps received as ISO-8601 text as times. Pure views."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Final

import pandas as pd

from rtdata.layout import Label
from rtdata.views.widgets._common import key_text, timestamps

__all__ = ["label_maps", "labelled", "parsed_times"]

_ISO_TIME: Final = re.compile(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}")


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


def parsed_times(frame: pd.DataFrame) -> pd.DataFrame:
    """Return ``frame`` with each text column whose every value is an ISO-8601 date and time
    (as rows arrive over Realtime and REST) parsed to tz-aware UTC timestamps.

    A column with any other value, or with no value, is left as it is; the frame is copied
    only when a column changes.
    """
    parsed: dict[Any, pd.Series[Any]] = {}
    # On numpy cells: pandas' own checks (is_string_dtype, dropna) cost more per column than
    # reading a table's few rows, and every table drawn is checked on every refresh.
    for column, values in frame.items():
        dtype = values.dtype
        if isinstance(dtype, pd.CategoricalDtype):
            dtype = dtype.categories.dtype
        if not pd.api.types.is_string_dtype(dtype):  # of the dtype: no look at the values yet
            continue  # only text, or objects (maybe all text), can hold times
        cells = values.to_numpy(dtype=object)
        present = ~pd.isna(cells)
        if not present.any() or not all(
            isinstance(v, str) and _ISO_TIME.match(v) is not None for v in cells[present]
        ):
            continue
        times = timestamps(values)
        if not times.isna().to_numpy()[present].any():
            parsed[column] = times
    if not parsed:
        return frame
    out = frame.copy()
    for column, times in parsed.items():
        out[column] = times
    return out
