"""Chart helpers shared by the pages: a plain bar figure, and the wall-display look of any figure.

A wall display (``?wall=1``) is dark with large type, read from about 3 m. The views build their
figures once for every viewer (they are cached and shared), so the wall look is not baked into
them: :func:`wall_figure` returns a restyled copy of any figure. It applies
:data:`WALL_TEMPLATE` (black background, light text, a bright colour cycle) and then also forces
what a view may have set explicitly: backgrounds, fonts, axis colours, a minimum height, and
trace and shape colours too dark to read on black, which are lightened (hue kept) until their
contrast against the background is at least :data:`WALL_MIN_CONTRAST`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Final

import pandas as pd
import plotly.graph_objects as go

__all__ = [
    "WALL_BACKGROUND",
    "WALL_COLORWAY",
    "WALL_FONT_FAMILY",
    "WALL_FONT_PX",
    "WALL_MIN_CONTRAST",
    "WALL_MIN_HEIGHT_PX",
    "WALL_TEMPLATE",
    "WALL_TEXT",
    "bar_figure",
    "contrast_ratio",
    "parse_colour",
    "wall_colour",
    "wall_figure",
]

WALL_BACKGROUND: Final = "#000000"
"""Background of a wall chart (the wall page's own background)."""

WALL_TEXT: Final = "#f5f5f5"
"""Text colour of a wall chart."""

WALL_FONT_PX: Final = 24
"""Base font size of a wall chart (the wall page's body text); ticks and legends are 22 px,
titles 28 px."""

WALL_FONT_FAMILY: Final = '"Source Sans", "Source Sans Pro", sans-serif'
"""The dashboard's own typeface, instead of plotly's default."""

WALL_MIN_HEIGHT_PX: Final = 420
"""Charts drawn less tall than this are drawn this tall on a wall (room for the large type)."""

WALL_MIN_CONTRAST: Final = 4.5
"""Least WCAG contrast ratio of an opaque chart colour against :data:`WALL_BACKGROUND`."""

WALL_COLORWAY: Final = (
    "#56b4e9",  # sky blue
    "#f0e442",  # yellow
    "#ff9e4a",  # orange
    "#7ee8a2",  # green
    "#ff7eb6",  # pink
    "#ffffff",  # white
    "#c9a0ff",  # lilac
    "#ff6b6b",  # red
)
"""Trace colours, in order, for traces without a colour of their own (all at least 7:1)."""

_TRANSLUCENT_ALPHA: Final = 0.5  # below this, a colour is a tint (bands, areas), not a line
_MIN_TINT_ALPHA: Final = 0.3  # tints on black need more opacity than on white to show
_BACKGROUND_RGB: Final = (0, 0, 0)  # WALL_BACKGROUND
_SMALL_PX: Final = 22  # ticks, legends, hover labels
_TITLE_PX: Final = 28
_GRID: Final = "#4a4a4a"
_AXIS_LINE: Final = "#9e9e9e"
_NAMED: Final[Mapping[str, tuple[int, int, int]]] = {
    "white": (255, 255, 255),
    "black": (0, 0, 0),
    "red": (255, 0, 0),
    "green": (0, 128, 0),
    "blue": (0, 0, 255),
    "grey": (128, 128, 128),
    "gray": (128, 128, 128),
}
_HEX: Final = re.compile(r"^#([0-9a-fA-F]{3}|[0-9a-fA-F]{6})$")
_RGB: Final = re.compile(r"^rgba?\(\s*([^)]*)\)$")


_FONT: Final = {"family": WALL_FONT_FAMILY, "size": WALL_FONT_PX, "color": WALL_TEXT}
_AXES: Final = {
    "gridcolor": _GRID,
    "linecolor": _AXIS_LINE,
    "zerolinecolor": _AXIS_LINE,
    "tickfont": {"size": _SMALL_PX, "color": WALL_TEXT},
    "title": {"font": {"size": WALL_FONT_PX, "color": WALL_TEXT}},
}


def _template() -> go.layout.Template:
    return go.layout.Template(
        layout={
            "paper_bgcolor": WALL_BACKGROUND,
            "plot_bgcolor": WALL_BACKGROUND,
            "font": _FONT,
            "title": {"font": {"size": _TITLE_PX}},
            "colorway": list(WALL_COLORWAY),
            "legend": {"font": {"size": _SMALL_PX}},
            "hoverlabel": {"font": {"size": _SMALL_PX}},
            "xaxis": _AXES,
            "yaxis": _AXES,
        }
    )


WALL_TEMPLATE: Final = _template()
"""The plotly template of wall charts: black, light large type, :data:`WALL_COLORWAY`."""


def wall_figure(figure: go.Figure) -> go.Figure:
    """Return a copy of ``figure`` drawn for a wall; ``figure`` itself is not changed.

    The copy uses :data:`WALL_TEMPLATE`, with backgrounds, fonts and axis colours set on the
    figure itself (they win over anything the view set), at least :data:`WALL_MIN_HEIGHT_PX`
    tall when the view set a height, a legend placed below the plot moved to the figure's
    bottom edge, and every colour passed through :func:`wall_colour`.
    """
    spec = figure.to_dict()
    data = [_recoloured(trace) for trace in spec.get("data", [])]
    layout: dict[str, Any] = spec.get("layout", {})
    layout.pop("template", None)
    for key in ("shapes", "annotations"):
        if key in layout:
            layout[key] = [_recoloured(item) for item in layout[key]]
    for item in layout.get("annotations", []):
        item.setdefault("font", {}).update(color=WALL_TEXT, size=WALL_FONT_PX)
    out = go.Figure(data=data, layout=layout)
    out.update_layout(
        template=WALL_TEMPLATE,
        paper_bgcolor=WALL_BACKGROUND,
        plot_bgcolor=WALL_BACKGROUND,
        font=_FONT,
        title_font={**_FONT, "size": _TITLE_PX},
        legend_font={**_FONT, "size": _SMALL_PX},
        hoverlabel_font_size=_SMALL_PX,
    )
    out.update_xaxes(**_AXES, automargin=True)
    out.update_yaxes(**_AXES, automargin=True)
    legend = out.layout.legend
    # plotly puts a horizontal legend without a y below the plot
    if (legend.y < 0) if legend.y is not None else legend.orientation == "h":
        # A legend a fixed share of the plot below it would cover the larger tick labels:
        # anchor it to the figure's bottom edge instead (plotly makes room for it).
        out.update_layout(legend={"yref": "container", "y": 0, "yanchor": "bottom"})
    height = out.layout.height
    if height is not None and height < WALL_MIN_HEIGHT_PX:
        out.update_layout(height=WALL_MIN_HEIGHT_PX)
    if out.layout.title.text:
        top = out.layout.margin.t
        out.update_layout(margin_t=max(top if top is not None else 0, 60))
    return out


def wall_colour(colour: str) -> str:
    """Return ``colour`` as drawn on a wall: readable on :data:`WALL_BACKGROUND`.

    An opaque colour (alpha at least 0.5) is mixed with white, in steps of 5 %, until its
    contrast ratio against the background (as blended on it) is at least
    :data:`WALL_MIN_CONTRAST`; a tint (alpha
    below 0.5, such as a shaded band) gets alpha at least 0.3. Colours that already qualify, and
    text that is not a hex, ``rgb()``/``rgba()`` or basic named colour, come back unchanged.
    """
    parsed = parse_colour(colour)
    if parsed is None:
        return colour
    red, green, blue, alpha = parsed
    if alpha < _TRANSLUCENT_ALPHA:
        if alpha >= _MIN_TINT_ALPHA:
            return colour
        return f"rgba({red},{green},{blue},{_MIN_TINT_ALPHA})"
    rgb = (red, green, blue)
    if _contrast_on_black(rgb, alpha) >= WALL_MIN_CONTRAST:
        return colour
    for step in range(1, 21):  # step 20 is white, which qualifies from alpha 0.5 on
        share = step / 20
        r, g, b = (round(c + (255 - c) * share) for c in rgb)
        if _contrast_on_black((r, g, b), alpha) >= WALL_MIN_CONTRAST:
            break
    return f"#{r:02x}{g:02x}{b:02x}" if alpha >= 1 else f"rgba({r},{g},{b},{alpha:g})"


def parse_colour(colour: str) -> tuple[int, int, int, float] | None:
    """Parse ``#rgb``, ``#rrggbb``, ``rgb(r, g, b)``, ``rgba(r, g, b, a)`` or a basic name.

    Returns:
        ``(red, green, blue, alpha)`` with channels 0-255 and alpha 0-1, or ``None`` for text
        it does not understand.
    """
    text = colour.strip().lower()
    if text in _NAMED:
        return (*_NAMED[text], 1.0)
    hex_match = _HEX.match(text)
    if hex_match:
        digits = hex_match.group(1)
        if len(digits) == 3:
            digits = "".join(d * 2 for d in digits)
        return int(digits[0:2], 16), int(digits[2:4], 16), int(digits[4:6], 16), 1.0
    rgb_match = _RGB.match(text)
    if rgb_match:
        parts = [p.strip() for p in rgb_match.group(1).split(",")]
        try:
            if len(parts) == 3:
                return int(float(parts[0])), int(float(parts[1])), int(float(parts[2])), 1.0
            if len(parts) == 4:
                channels = (int(float(parts[0])), int(float(parts[1])), int(float(parts[2])))
                return (*channels, float(parts[3]))
        except ValueError:
            return None
    return None


def contrast_ratio(first: tuple[int, ...], second: tuple[int, ...]) -> float:
    """Return the WCAG 2 contrast ratio of two sRGB colours (channels 0-255), from 1 to 21."""
    lighter, darker = sorted((_luminance(first), _luminance(second)), reverse=True)
    return (lighter + 0.05) / (darker + 0.05)


def bar_figure(
    frame: pd.DataFrame,
    x: str,
    y: str,
    *,
    height_px: int = 260,
    y_title: str | None = None,
    horizontal: bool = False,
) -> go.Figure:
    """Draw one bar per row of ``frame``: category ``x`` against value ``y``.

    Args:
        frame: The rows to draw (may be empty).
        x: Column of the bar labels, drawn as categories (even when numeric).
        y: Column of the bar lengths.
        height_px: Figure height.
        y_title: Title of the value axis; defaults to ``y``.
        horizontal: Lay the bars out sideways, first row on top, so long labels (site
            names) read left to right instead of slanted.
    """
    labels = frame[x].astype("str")
    if not horizontal:
        figure = go.Figure(go.Bar(x=labels, y=frame[y], name=y))
        figure.update_layout(xaxis={"type": "category", "title": x}, yaxis={"title": y_title or y})
    else:
        figure = go.Figure(go.Bar(x=frame[y], y=labels, name=y, orientation="h"))
        figure.update_layout(
            xaxis={"title": y_title or y},
            yaxis={"type": "category", "title": None, "autorange": "reversed"},
        )
    figure.update_layout(
        height=height_px, margin={"l": 10, "r": 10, "t": 10, "b": 10}, showlegend=False
    )
    return figure


# ---------------------------------------------------------------- helpers


def _contrast_on_black(rgb: tuple[int, ...], alpha: float) -> float:
    blended = tuple(
        round(c * alpha + b * (1 - alpha)) for c, b in zip(rgb, _BACKGROUND_RGB, strict=True)
    )
    return contrast_ratio(blended, _BACKGROUND_RGB)


def _luminance(rgb: tuple[int, ...]) -> float:
    def linear(channel: int) -> float:
        c = channel / 255
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4

    red, green, blue = (linear(c) for c in rgb[:3])
    return 0.2126 * red + 0.7152 * green + 0.0722 * blue


def _recoloured(item: Any) -> Any:
    """Pass every colour in a trace/shape spec (keys ending in ``color``) through
    :func:`wall_colour`, recursively; text sizes of traces grow by half."""
    if isinstance(item, dict):
        out: dict[str, Any] = {}
        for key, value in item.items():
            if key.endswith("color") and isinstance(value, str):
                out[key] = wall_colour(value)
            elif key.endswith("color") and isinstance(value, list | tuple):
                out[key] = [wall_colour(v) if isinstance(v, str) else v for v in value]
            elif key == "textfont" and isinstance(value, dict):
                font = _recoloured(value)
                if isinstance(font.get("size"), int | float):
                    font["size"] = round(font["size"] * 1.5)
                out[key] = font
            else:
                out[key] = _recoloured(value)
        return out
    if isinstance(item, list) and any(isinstance(v, dict) for v in item):
        return [_recoloured(v) for v in item]
    return item  # values, coordinates: nothing to recolour
