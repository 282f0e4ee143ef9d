"""The audit page's table (``rtdata.views.audit``)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from rtdata.audit import AuditAction, AuditEntry
from rtdata.views.audit import AUDIT_COLUMNS, audit_table

T0 = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
ENTRIES = [
    AuditEntry(T0, "a@x.test", AuditAction.SIGN_IN, "", "ok"),
    AuditEntry(T0 + timedelta(minutes=1), "kiosk:lobby", AuditAction.KIOSK_USED, "map", "ok"),
    AuditEntry(
        T0 + timedelta(minutes=2), "a@x.test", AuditAction.EXPORT, "events csv 3 rows", "ok"
    ),
]


def test_newest_first_with_every_column() -> None:
    table = audit_table(ENTRIES)
    assert tuple(table.columns) == AUDIT_COLUMNS
    assert list(table["action"]) == ["export", "kiosk_used", "sign_in"]
    assert table["at"].iloc[0] == T0 + timedelta(minutes=2)


def test_filters_by_action_since_and_limit() -> None:
    assert list(audit_table(ENTRIES, actions=[AuditAction.SIGN_IN])["who"]) == ["a@x.test"]
    since = audit_table(ENTRIES, since=T0 + timedelta(minutes=1))
    assert list(since["action"]) == ["export", "kiosk_used"]
    assert list(audit_table(ENTRIES, limit=1)["action"]) == ["export"]
    assert audit_table([]).empty
    assert tuple(audit_table([]).columns) == AUDIT_COLUMNS
