"""AppTest of the crm pack's pages, drawn from its own ``rtdata.toml`` and filled by its own
simulator (the pack has no roster): every page runs, every widget shows data, the pack's words
are there, and the numbers are the ones counted here from the rows the simulator wrote
(:class:`~tests.pages.harness.Replay`), never read back from the widgets' views."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from rtdata import ui
from rtdata.bench.pages import forget_views
from rtdata.dashboard import render
from rtdata.scenarios.crm.catalogue import SLA_POLICIES
from tests.pages.harness import captions, frames, metrics, run_page, texts
from tests.pages.packs import Filled, filled, found, page_names, words

UNRESOLVED = ("open", "assigned", "waiting")
PRIORITIES = {1: "urgent", 2: "high", 3: "normal", 4: "low"}
BREACH = re.compile(r"^#(\d+) .* \((.+)\): \w+, (first response|resolution) late$")
STATUS_CHANGE = re.compile(r"^#\d+ .* \((\w+)\): \S+ → \w+$")
EMPTY = ("Nothing yet.", "Nobody is online")


@pytest.fixture(scope="module")
def crm() -> Iterator[Filled]:
    """The pack after its simulator's first 3,000 writes over the last 20 minutes."""
    pack = filled("crm")
    yield pack
    ui.use_recorder(None)


@pytest.fixture
def page(crm: Filled) -> Iterator[Any]:
    ui.use_recorder(crm.recorder)

    def draw(name: str) -> AppTest:
        at = run_page(name)
        said = captions(at)
        assert not [c for c in EMPTY if c in said], f"{name}: a widget shows nothing"
        return at

    yield draw
    ui.use_recorder(None)


def _rows(crm: Filled, table: str) -> list[dict[str, Any]]:
    return list(crm.replay.rows.get(table, {}).values())


def _frame(at: AppTest, *columns: str) -> pd.DataFrame:
    """The first dataframe of the page holding every one of ``columns``."""
    for frame in frames(at):
        if set(columns) <= {str(c) for c in frame.columns}:
            return frame
    raise AssertionError(f"no dataframe with {columns}: {[list(f.columns) for f in frames(at)]}")


def test_every_page_shows_data_and_the_pack_speaks_its_words(crm: Filled, page: Any) -> None:
    shown = []
    for name in page_names(crm.pack):
        at = page(name)
        values = [v for v in metrics(at).values() if v not in ("0", "–")]
        assert values or not metrics(at), f"{name}: every tile is zero"
        assert frames(at), f"{name}: no table"
        shown.append("\n".join(texts(at)))
    vocabulary = words(crm.pack)
    assert 8 <= len(vocabulary) <= 15
    assert found("\n".join(shown), vocabulary) == set(vocabulary)


def _past(tickets: list[dict[str, Any]], column: str, moment: datetime) -> int:
    """How many of ``tickets`` have a ``column`` time before ``moment``."""
    return sum(
        t[column] is not None and datetime.fromisoformat(t[column]) < moment for t in tickets
    )


def test_the_helpdesk_counts_the_tickets_the_simulator_filed(crm: Filled, page: Any) -> None:
    before = datetime.now(UTC)
    at = page("helpdesk")
    after = datetime.now(UTC)
    tickets = _rows(crm, "tickets")
    unresolved = [t for t in tickets if t["status"] in UNRESOLVED]
    unassigned = [t for t in tickets if t["status"] == "open"]
    late = [
        t
        for t in unresolved
        if t.get("first_response_at") is not None
        and datetime.fromisoformat(t["first_response_at"])
        > datetime.fromisoformat(t["first_response_due_at"])
    ]
    shown = metrics(at)
    assert {k: shown[k] for k in list(shown)[:3]} == {
        "Unresolved tickets": str(len(unresolved)),
        "Unassigned tickets": str(len(unassigned)),
        "Urgent unassigned": str(sum(t["priority"] == 1 for t in unassigned)),
    }
    assert shown["Answered late (unresolved)"] == str(len(late))
    assert late  # the breach wave
    # Due times against the time of the render: a ticket may fall due while the page draws.
    # The SLA sweep has flagged some of them already, never more than are past due.
    for label, rows, column, flag in [
        ("Unassigned past first-response SLA", unassigned, "first_response_due_at",
         "first_response_breached"),
        ("Past resolution SLA (unresolved)", unresolved, "resolution_due_at",
         "resolution_breached"),
    ]:  # fmt: skip
        count = int(shown[label])
        assert _past(rows, column, before) <= count <= _past(rows, column, after), label
        assert sum(t[flag] for t in rows) <= _past(rows, column, before), label
    assert int(shown["Past resolution SLA (unresolved)"]) > 0
    assert int(shown["Resolved, last 10 min"]) > 0
    statuses = Counter(t["status"] for t in tickets)
    for status in ("open", "assigned", "waiting", "resolved", "closed"):  # the board's counts
        assert shown[status] == str(statuses[status])
    board = _frame(at, "priority", "status", "sla_s", "breached")
    assert "description" not in board.columns  # the board lists its own columns
    open_tickets = board[board["status"] == "open"]
    assert not open_tickets.empty
    first_response = {p.name: float(p.first_response_s) for p in SLA_POLICIES}
    assert open_tickets["sla_s"].tolist() == open_tickets["priority"].map(first_response).tolist()
    spans = _frame(at, "priority", "start", "end", "median_s")
    assert set(spans["priority"]) <= set(PRIORITIES.values())  # [labels]: names, not numbers
    assert {("open", "assigned"), ("assigned", "resolved")} <= set(
        zip(spans["start"], spans["end"], strict=True)
    )
    queue = _frame(at, "id", "priority", "title", "first response due")
    waiting = sorted(
        (t for t in tickets if t["status"] == "open"),
        key=lambda t: (t["priority"], t["created_at"]),
    )
    assert [int(i) for i in queue["id"]] == [t["id"] for t in waiting][:20]
    assert list(queue["priority"]) == [PRIORITIES[t["priority"]] for t in waiting][:20]


def test_tickets_fall_past_their_sla_as_time_passes_without_a_write(
    crm: Filled, page: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Five minutes on, past every first-response target (the longest is 240 s): every
    # unassigned ticket is late, though no row changed (the view is computed afresh).
    later = datetime.now(UTC) + timedelta(minutes=5)
    monkeypatch.setattr(render, "_now", lambda: later)
    forget_views()
    try:
        shown = metrics(page("helpdesk"))
    finally:
        forget_views()
    tickets = _rows(crm, "tickets")
    unresolved = [t for t in tickets if t["status"] in UNRESOLVED]
    unassigned = [t for t in tickets if t["status"] == "open"]
    assert unassigned
    assert shown["Unassigned past first-response SLA"] == str(len(unassigned))
    assert shown["Past resolution SLA (unresolved)"] == str(
        _past(unresolved, "resolution_due_at", later)
    )


def test_the_sla_page_breaks_unresolved_tickets_down_and_lists_the_breaches(
    crm: Filled, page: Any
) -> None:
    at = page("sla")
    tickets = _rows(crm, "tickets")
    teams = {r["id"]: r["name"] for r in _rows(crm, "teams")}
    spans = _frame(at, "team_id", "start", "end", "median_s")
    assert set(spans["team_id"]) <= set(teams.values())
    by_priority = _frame(at, "priority", "status", "count")
    expected = Counter(
        (PRIORITIES[t["priority"]], t["status"]) for t in tickets if t["status"] in UNRESOLVED
    )
    counted = {(p, s): int(n) for p, s, n in by_priority[["priority", "status", "count"]].values}
    assert counted == dict(expected)
    oldest = _frame(at, "team_id", "oldest_age_s")
    assert set(oldest["team_id"]) == {
        teams[t["team_id"]] for t in tickets if t["status"] in UNRESOLVED
    }
    late = [f for f in frames(at) if "share_pct" in f.columns]
    assert len(late) == 2  # first responses, then resolutions
    for frame, flag in zip(late, ("first_response_breached", "resolution_breached"), strict=True):
        per_team = Counter(teams[t["team_id"]] for t in tickets)
        breached = Counter(teams[t["team_id"]] for t in tickets if t[flag])
        shown = {r: (int(m), int(n)) for r, m, n in frame[["team_id", "matching", "count"]].values}
        assert shown == {team: (breached[team], n) for team, n in per_team.items()}
        expected = [100 * breached[r] / per_team[r] for r in frame["team_id"]]
        assert list(frame["share_pct"]) == pytest.approx(expected)
        assert list(frame["share_pct"]) == sorted(frame["share_pct"], reverse=True)
    assert (late[0]["share_pct"] > 0).any()  # the sweep flagged some first responses
    changes = [str(v) for f in frames(at) if "change" in f.columns for v in f["change"]]
    on_time = {t["id"] for t in tickets if not t["first_response_breached"]}
    listed = [c for c in changes if c.endswith(", first response late")]
    assert listed
    assert not {int(c[1 : c.index(" ")]) for c in listed} & on_time
    assert any(c.endswith(", resolution late") for c in changes)
    # Each breach names its ticket's team ([labels] in the template), not the team's id.
    by_id = {t["id"]: t for t in tickets}
    named = [(int(m.group(1)), m.group(2)) for m in map(BREACH.match, changes) if m]
    assert len(named) == len(changes)
    assert {(i, teams[by_id[i]["team_id"]]) for i, _ in named if i in by_id} == {
        (i, team) for i, team in named if i in by_id
    }


def test_the_activity_page_shows_status_changes_comments_and_attachments(
    crm: Filled, page: Any
) -> None:
    at = page("activity")
    changes = [str(v) for f in frames(at) if "change" in f.columns for v in f["change"]]
    assert any(" → " in c for c in changes)
    moves = [STATUS_CHANGE.match(c) for c in changes if " → " in c]
    assert {m.group(1) for m in moves if m} <= set(PRIORITIES.values())  # by [labels]
    assert all(moves)
    assert any(" · agent: " in c for c in changes)
    files = _frame(at, "ticket", "file_name", "bytes")
    newest = sorted(_rows(crm, "attachments"), key=lambda r: r["created_at"], reverse=True)
    assert list(files["file_name"]) == [r["file_name"] for r in newest][:10]
    agents = {r["id"]: r["full_name"] for r in _rows(crm, "agents")}
    in_hand = _frame(at, "assigned_to", "status", "count")
    assert set(in_hand["assigned_to"]) <= set(agents.values())


def test_the_crm_page_counts_customers_revenue_and_interactions(crm: Filled, page: Any) -> None:
    at = page("crm")
    customers = _rows(crm, "customers")
    today = datetime.now(UTC).date()
    shown = metrics(at)
    assert shown["Customers"] == str(len(customers))
    assert shown["New customers today"] == str(
        sum(datetime.fromisoformat(c["created_at"]).date() == today for c in customers)
    )
    by_channel = _frame(at, "acquisition_channel", "count")
    assert dict(zip(by_channel["acquisition_channel"], by_channel["count"], strict=True)) == dict(
        Counter(c["acquisition_channel"] for c in customers)
    )
    products = {r["id"]: r["name"] for r in _rows(crm, "products")}
    revenue = _frame(at, "product_id", "sum")
    expected: Counter[str] = Counter()
    for row in _rows(crm, "acquisitions"):
        expected[products[row["product_id"]]] += row["total_amount"]
    got = dict(zip(revenue["product_id"], revenue["sum"], strict=True))
    assert got == pytest.approx(dict(expected))
    kinds = _frame(at, "type", "count")
    assert set(kinds["type"]) == {"call", "email", "meeting"}


def test_the_admin_page_lists_the_staff_the_slas_and_the_catalogue(page: Any) -> None:
    at = page("admin")
    assert len(_frame(at, "agent", "role", "team")) == 16
    policies = _frame(at, "priority", "first response (s)", "resolution (s)")
    assert list(policies["priority"]) == list(PRIORITIES.values())
    assert len(_frame(at, "name", "price (EUR)")) == 8
