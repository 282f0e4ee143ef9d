"""Row scoping (``rtdata.scope``, ``[[access.scopes]]``) and the scoped reader
(``rtdata.scoped``): a scoped user's tables, events and presence hold only their rows, and
every rule fails closed."""

from __future__ import annotations

import time
from typing import Any

import orjson
import pandas as pd
import pytest

from rtdata.access import AccessConfig, claim, scope_for
from rtdata.config import ConfigError, parse_config
from rtdata.events import Event, EventKind, field_column
from rtdata.recorder import Recorder
from rtdata.scope import Bound, RowScope, ScopeRule, scope_of
from rtdata.scoped import ScopedReader
from tests.pages import field_service as fs
from tests.pages.harness import change

RULE = ScopeRule(("customer",), "app_metadata.customer_id", "customer_id", {"customers": "id"})
ACME = {"sub": "u1", "app_metadata": {"role": "customer", "customer_id": 1}}
ACCESS = AccessConfig(require_sign_in=True, scopes=(RULE,))
OTHER_CUSTOMERS = [name for id_, name in fs.CUSTOMERS.items() if id_ != 1]
OTHER_TICKETS = [title for title, customer, _, _ in fs.TICKETS.values() if customer != 1]


def acme() -> RowScope:
    scope = scope_for(ACCESS, ACME)
    assert scope is not None
    return scope


def test_only_users_holding_a_rules_role_are_scoped() -> None:
    assert acme().bounds == (Bound(RULE, "1"),)
    assert scope_for(ACCESS, {"app_metadata": {"role": "admin"}}) is None
    assert scope_for(ACCESS, None) is None  # nobody signed in: the gate refuses them anyway
    off = AccessConfig(scopes=(RULE,))  # without sign-in nobody is anybody
    assert scope_for(off, ACME) is None
    missing = scope_for(ACCESS, {"app_metadata": {"role": "customer"}})
    assert missing is not None
    assert missing.unset_claims == ("app_metadata.customer_id",)
    for odd in ({"x": 1}, [1, 2], ""):  # a structured or empty claim is no value
        claims = {"app_metadata": {"role": "customer", "customer_id": odd}}
        assert scope_of((RULE,), {"customer"}, claims, claim) == RowScope((Bound(RULE, None),))


def test_table_rows_are_kept_by_their_column_or_the_tables_override() -> None:
    recorder = fs.filled()
    scope = acme()
    tickets = scope.rows("tickets", recorder.table("tickets"))
    assert set(tickets["customer_id"]) == {1}
    assert set(tickets["title"]) == {"Printer jam", "Badge reader"}
    customers = scope.rows("customers", recorder.table("customers"))
    assert list(customers["name"]) == ["Acme Bakery"]  # by its own id
    assert list(customers.columns) == list(recorder.table("customers").columns)
    # Technicians have no customer_id: a scoped user sees none of them (fail closed).
    assert scope.rows("technicians", recorder.table("technicians")).empty


def test_a_missing_claim_shows_no_row_and_several_rules_intersect() -> None:
    recorder = fs.filled()
    nothing = RowScope((Bound(RULE, None),))
    assert nothing.rows("tickets", recorder.table("tickets")).empty
    assert nothing.events(snapshot(recorder, nothing)).empty
    by_priority = ScopeRule(("customer",), "app_metadata.priority", "priority")
    both = RowScope((Bound(RULE, "1"), Bound(by_priority, "2")))
    assert list(both.rows("tickets", recorder.table("tickets"))["title"]) == ["Badge reader"]


def test_values_are_compared_as_text() -> None:
    frame = pd.DataFrame({"site": [3, "3", 3.0, 4, None, float("nan"), True]})
    rule = ScopeRule(("r",), "c", "site")
    assert len(RowScope((Bound(rule, "3"),)).rows("t", frame)) == 3
    assert len(RowScope((Bound(rule, "true"),)).rows("t", frame)) == 1
    assert RowScope((Bound(rule, "None"),)).rows("t", frame).empty


def snapshot(recorder: Recorder, scope: RowScope) -> pd.DataFrame:
    return recorder.buffer.snapshot(fields=scope.fields)


def test_events_keep_changes_broadcasts_and_presence_of_the_users_rows_only() -> None:
    recorder = fs.filled()
    now = time.time_ns()
    # A DELETE carries the row in its old record only; an alert may name anything.
    recorder.record(change("tickets", "DELETE", None, now, old={"id": 2, "customer_id": 2}))
    recorder.record(change("tickets", "DELETE", None, now, old={"id": 3, "customer_id": 1}))
    recorder.record(change("tickets", "DELETE", None, now, old={"id": 9}))  # key only
    recorder.record(
        Event(now, None, EventKind.ALERT, "rtdata", None, "busy_table", None, '{"x": 1}', None)
    )
    recorder.record(
        Event(now, None, EventKind.BROADCAST, "ops", None, "note", None, '{"customer_id": 1}', None)
    )
    recorder.record(
        Event(now, None, EventKind.STATUS, "rtdata", None, "subscribed", None, None, None)
    )
    scope = acme()
    kept = scope.events(snapshot(recorder, scope))
    for record, old in zip(kept["record"], kept["old_record"], strict=True):
        text = record if isinstance(record, str) else old
        if text is None:
            continue  # the status event
        values = orjson.loads(text)
        for item in values if isinstance(values, list) else [values]:
            assert item.get("customer_id", item.get("id")) == 1, item
    changes = kept[kept["kind"] == EventKind.POSTGRES_CHANGES]
    # (The customers' snapshot, a day old, is past the buffer's age bound by now.)
    assert set(changes["table"]) == {"tickets", "sensor_readings"}
    deletes = changes[changes["op"] == "DELETE"]
    assert list(deletes["key"]) == ["3"]
    assert list(kept.loc[kept["kind"] == EventKind.BROADCAST, "op"]) == ["note"]
    assert list(kept.loc[kept["kind"] == EventKind.STATUS, "op"]) == ["subscribed"]
    assert EventKind.ALERT not in set(kept["kind"])
    joined = kept[kept["kind"] == EventKind.PRESENCE]
    assert list(joined["key"]) == [user for user, _, customer in fs.AGENTS if customer == 1]
    assert list(kept.columns) == list(snapshot(recorder, scope).columns)  # columns kept


def test_presence_members_are_kept_by_their_meta() -> None:
    recorder = fs.filled()
    members = acme().members(recorder.presence.members())
    assert sorted(members["key"]) == ["ana", "cy", "dee"]
    assert acme().members(recorder.presence.members([])).empty


def test_the_scoped_reader_reads_as_the_user_may_see() -> None:
    recorder = fs.filled()
    reader = ScopedReader(recorder, acme())
    assert reader.uid < 0
    assert reader.uid == ScopedReader(recorder, acme()).uid
    other = scope_for(ACCESS, {"app_metadata": {"role": "customer", "customer_id": 2}})
    assert other is not None
    assert ScopedReader(recorder, other).uid != reader.uid
    assert reader.settings is recorder.settings
    assert reader.buffer.version == recorder.buffer.version
    titles = set(reader.table("tickets")["title"])
    assert titles
    assert not titles & set(OTHER_TICKETS)
    # Any columns, fields and newest: the reader adds what it needs and takes it away again.
    ops = reader.buffer.snapshot(tables=["tickets"], columns=["op"])
    assert list(ops.columns) == ["op"]
    assert len(ops) == sum(len(steps) for _, c, _, steps in fs.TICKETS.values() if c == 1)
    newest = reader.buffer.snapshot(tables=["tickets"], newest=2, fields=["title"])
    assert len(newest) == 2
    assert set(newest[field_column("title")]) <= {"Badge reader"}
    assert list(newest.columns) == [*recorder.buffer.snapshot(newest=0).columns, "record.title"]
    assert reader.buffer.snapshot(newest=0).empty
    assert len(reader.buffer.snapshot(tables=["tickets"], newest=1000)) == len(ops)
    every = reader.buffer.snapshot()
    text = " ".join(str(r) for r in every["record"])
    for name in [*OTHER_CUSTOMERS, *OTHER_TICKETS]:
        assert name not in text
    assert sorted(reader.presence.members()["key"]) == ["ana", "cy", "dee"]
    # No category of a row the user may not see travels with the frame (an Arrow dictionary).
    assert "technicians" not in every["table"].cat.categories
    with pytest.raises(ValueError, match="newest"):
        reader.buffer.snapshot(newest=-1)


def scopes_config(body: str) -> Any:
    return parse_config("[access]\nrequire_sign_in = true\n" + body, "rtdata.toml")


def test_scope_rules_are_read_from_the_access_section() -> None:
    config = scopes_config(
        """
[[access.scopes]]
roles = ["clinic"]
claim = "app_metadata.staff_tenant_id"
column = "tenant_id"
columns = { tenants = "id" }
channel = "tenant:{value}:*"
"""
    )
    (rule,) = config.access.scopes
    assert rule == ScopeRule(
        ("clinic",),
        "app_metadata.staff_tenant_id",
        "tenant_id",
        {"tenants": "id"},
        "tenant:{value}:*",
    )
    assert rule.fields == ("tenant_id", "id")


@pytest.mark.parametrize(
    ("body", "named"),
    [
        ('roles = []\nclaim = "a.b"\ncolumn = "c"', "access.scopes[0].roles"),
        ('roles = ["x"]\nclaim = "a..b"\ncolumn = "c"', "access.scopes[0].claim"),
        ('roles = ["x"]\nclaim = "a.b"\ncolumn = "c d"', "access.scopes[0].column"),
        ('roles = ["x"]\nclaim = "a.b"', "access.scopes[0].column"),
        ('roles = ["x"]\nclaim = "a.b"\ncolumn = "c"\ncolumns = { t = 3 }', "scopes[0].columns"),
        ('roles = ["x"]\nclaim = "a.b"\ncolumn = "c"\nwhere = "x"', "access.scopes[0].where"),
        ('roles = ["x"]\nclaim = "a.b"\ncolumn = "c"\nchannel = "t:*"', "scopes[0].channel"),
    ],
)
def test_a_bad_scope_rule_is_named(body: str, named: str) -> None:
    with pytest.raises(ConfigError, match=named.replace("[", r"\[").replace("]", r"\]")):
        scopes_config("[[access.scopes]]\n" + body)
    with pytest.raises(ConfigError, match=r"access\.scopes"):
        scopes_config('scopes = "tenant"\n')


TENANT = ScopeRule(("clinic",), "app_metadata.tenant", "tenant_id", {}, "tenant:{value}:*")


def test_a_channel_pattern_decides_for_messages_on_channels_of_its_form() -> None:
    bound = Bound(TENANT, "t1")
    assert bound.channel_verdict("tenant:t1:events") is True
    assert bound.channel_verdict("tenant:t2:events") is False
    assert bound.channel_verdict("tenant:t1") is None  # not of the form
    assert bound.channel_verdict("ops") is None
    assert Bound(TENANT, None).channel_verdict("tenant:t1:events") is False
    assert Bound(RULE, "1").channel_verdict("tenant:t1:events") is None  # no pattern
    # Regex characters in a pattern or a value are literal.
    dotted = Bound(ScopeRule(("r",), "c", "x", {}, "a.{value}"), "1+")
    assert dotted.channel_verdict("a.1+") is True
    assert dotted.channel_verdict("ab1+") is None
    scope = RowScope((bound,))
    assert scope.allows_channel("tenant:t2:announcements") is False
    assert scope.allows_channel("tenant:t1:announcements") is True
    assert scope.allows_channel("ops") is None


def test_messages_and_members_on_a_tenants_channel_follow_the_channel() -> None:
    recorder = Recorder(fs.config_recorder().settings)
    now = time.time_ns()
    for tenant in ("t1", "t2"):
        body = orjson.dumps({"patientId": f"p-{tenant}"}).decode()  # the payload names no tenant
        recorder.record(
            Event(
                now,
                None,
                EventKind.BROADCAST,
                f"tenant:{tenant}:events",
                None,
                "e",
                None,
                body,
                None,
            )
        )
        metas = orjson.dumps([{"user": f"u-{tenant}", "presence_ref": tenant}]).decode()
        recorder.record(
            Event(
                now,
                None,
                EventKind.PRESENCE,
                f"tenant:{tenant}:team",
                None,
                "join",
                f"u-{tenant}",
                metas,
                None,
            )
        )
    # On a channel of no tenant's form, the payload decides as before.
    for tenant in ("t1", "t2"):
        body = orjson.dumps({"tenant_id": tenant}).decode()
        recorder.record(Event(now, None, EventKind.BROADCAST, "ops", None, "n", None, body, None))
    for tenant in ("t1", "t2"):  # the collector's subscription status, per channel
        recorder.record(
            Event(
                now,
                None,
                EventKind.STATUS,
                f"tenant:{tenant}:events",
                None,
                "subscribed",
                None,
                None,
                None,
            )
        )
    scope = RowScope((Bound(TENANT, "t1"),))
    kept = scope.events(recorder.buffer.snapshot(fields=scope.fields))
    assert sorted(kept["channel"].astype(str)) == [
        "ops",
        "tenant:t1:events",
        "tenant:t1:events",
        "tenant:t1:team",
    ]
    assert list(scope.members(recorder.presence.members())["key"]) == ["u-t1"]
