"""Generic dashboard widgets: pure views configured by table and column names only.

Each module is one widget: a frozen ``...Spec`` (what ``rtdata.toml`` configures: tables,
columns and options, checked on construction) and a pure ``compute(spec, ..., now)`` that turns
current rows and buffered events into a view ready to draw. No widget knows a scenario; the
clock is always a parameter.
"""
