"""View computations shared by the pages and notebooks: data in, data out, clock as a parameter.

One module per concept: :mod:`~rtdata.views.widgets` holds the generic widgets that
``[[pages]]`` arranges, the others the built-in pages (Realtime health, Events) and the
connection indicator. A KPI is computed here once, so the dashboard and an analyst's notebook
agree on it.
"""

from rtdata.views.connection import COLOURS, Indicator, connection_indicator

__all__ = ["COLOURS", "Indicator", "connection_indicator"]
