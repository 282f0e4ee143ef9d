"""The audit page's table: audit log entries as rows, newest first (pure)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

import pandas as pd

from rtdata.audit import AuditAction, AuditEntry

__all__ = ["AUDIT_COLUMNS", "audit_table"]

AUDIT_COLUMNS = ("at", "who", "action", "what", "outcome")
"""The table's columns, in order."""


def audit_table(
    entries: Iterable[AuditEntry],
    *,
    actions: Iterable[AuditAction] = (),
    since: datetime | None = None,
    limit: int = 1_000,
) -> pd.DataFrame:
    """Return the entries at or after ``since`` whose action is one of ``actions`` (none
    given: any), newest first, at most ``limit`` of them."""
    wanted = frozenset(actions)
    rows = [
        (e.at, e.who, e.action.value, e.what, e.outcome)
        for e in entries
        if (since is None or e.at >= since) and (not wanted or e.action in wanted)
    ]
    rows.reverse()
    return pd.DataFrame(rows[:limit], columns=list(AUDIT_COLUMNS))
