"""View computations shared by the pages and notebooks: data in, data out, clock as a parameter.

One module per page concept. A KPI is computed here once, so the dashboard and an analyst's
notebook agree on it.
"""

from rtdata.views.connection import COLOURS, Indicator, connection_indicator
from rtdata.views.overview import (
    ACTIVE_EMERGENCY_STATUSES,
    EVENTS_WINDOW,
    OverviewCounts,
    TileHistory,
    TileValue,
    active_emergencies,
    events_per_minute,
    latest_vitals,
    overview_counts,
    pending_verifications,
    tile_count,
    tile_values,
)

__all__ = [
    "ACTIVE_EMERGENCY_STATUSES",
    "COLOURS",
    "EVENTS_WINDOW",
    "Indicator",
    "OverviewCounts",
    "TileHistory",
    "TileValue",
    "active_emergencies",
    "connection_indicator",
    "events_per_minute",
    "latest_vitals",
    "overview_counts",
    "pending_verifications",
    "tile_count",
    "tile_values",
]
