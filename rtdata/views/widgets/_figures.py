"""What the widgets' figures share: the axes of subplots stacked in one column.

Plotly checks every property each time a figure changes, so ``make_subplots`` followed by one
``add_trace``, ``add_hrect`` or ``update_*`` call per part costs tens of milliseconds a
figure. The widgets instead build their traces as a list and their layout as one dict, with
these axes, and construct ``go.Figure(data=..., layout=...)`` once: the same chart, checked
once.

Private to :mod:`rtdata.views.widgets`; every function is pure.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


def axis_ids(row: int) -> tuple[str, str]:
    """Return the x and y axis ids of subplot ``row`` (from 1, the top one): ``("x", "y")``,
    then ``("x2", "y2")`` and on, as traces and shapes name them."""
    suffix = "" if row == 1 else str(row)
    return f"x{suffix}", f"y{suffix}"


def stacked_axes(
    rows: int, spacing: float, *, shared_x: bool = False, y_titles: Sequence[str] = ()
) -> dict[str, Any]:
    """Return the layout axes of ``rows`` subplots stacked in one column.

    They lie as ``make_subplots(rows=rows, cols=1, vertical_spacing=spacing)`` lays them
    out: the first row on top, all rows equally tall, ``spacing`` (a share of the plot's
    height) between two rows, each x axis anchored to its row's y axis and spanning the
    whole width.

    Args:
        rows: Number of subplots (at least 1).
        spacing: Gap between two rows, a share of the plot's height, from 0 to below
            ``1 / (rows - 1)``.
        shared_x: Every other x axis matches the bottom row's, and only the bottom one shows
            tick labels (``shared_xaxes=True``).
        y_titles: Title of each row's y axis, from the top; rows past its end get none.

    Returns:
        ``xaxis``, ``yaxis``, ``xaxis2``, ``yaxis2``, ... as layout entries.
    """
    height = (1.0 - spacing * (rows - 1)) / rows
    bottom_x, _ = axis_ids(rows)
    layout: dict[str, Any] = {}
    for row in range(1, rows + 1):
        x, y = axis_ids(row)
        start = (rows - row) * (height + spacing)
        xaxis: dict[str, Any] = {"anchor": y, "domain": [0.0, 1.0]}
        if shared_x and row < rows:
            xaxis.update(matches=bottom_x, showticklabels=False)
        layout[_layout_key(x)] = xaxis
        # min: the top row's end is 1 give or take a rounding error, and a domain past 1 is
        # invalid.
        yaxis: dict[str, Any] = {"anchor": x, "domain": [start, min(start + height, 1.0)]}
        if row <= len(y_titles):
            yaxis["title"] = {"text": y_titles[row - 1]}
        layout[_layout_key(y)] = yaxis
    return layout


def subplot_title(text: str, y_domain: list[float]) -> dict[str, Any]:
    """Return the annotation that titles a full-width subplot: ``text`` centred just above
    the top of ``y_domain`` (as ``make_subplots``' ``subplot_titles`` place it)."""
    return {
        "text": text,
        "x": 0.5,
        "xref": "paper",
        "xanchor": "center",
        "y": y_domain[1],
        "yref": "paper",
        "yanchor": "bottom",
        "showarrow": False,
        "font": {"size": 16},
    }


def _layout_key(axis_id: str) -> str:
    """``x`` -> ``xaxis``, ``y2`` -> ``yaxis2``."""
    return f"{axis_id[0]}axis{axis_id[1:]}"
