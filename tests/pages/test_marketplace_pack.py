"""AppTest of the marketplace pack's pages, drawn from its own ``rtdata.toml`` and filled by its
own simulator (a dry run at the demo's 10 writes a second) and typing roster.

The run ends 190 s into the simulator's first cycle, 70 s into the ``no_cover`` phase: nobody
covers Duisburg, so its bookings wait past their SLA while the other cities work. Expected
values are counted here from the rows the simulator wrote, never read back from the widgets'
views.
"""

from __future__ import annotations

import re
import time
import uuid
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from rtdata import ui
from rtdata.config import load_config
from rtdata.recorder import Recorder
from rtdata.scenarios import get_scenario
from rtdata.scenarios.marketplace import MarketplaceScenario, TypingRoster
from rtdata.scenarios.marketplace.phases import Phase
from rtdata.scenarios.marketplace.presence import TYPING_CHANNEL
from rtdata.settings import Settings
from rtdata.simulate import Write
from tests.pages.harness import (
    S_NS,
    Replay,
    captions,
    charts,
    frames,
    metrics,
    presence,
    run_page,
    texts,
)
from tests.pages.packs import found, words

PACK = get_scenario("marketplace")
SEED = 7
SPAN_S = 190.0  # 70 s into the first no_cover phase
WRITES = int(SPAN_S * 10)
TYPING_EVERY_S = 3.0  # the presence simulator's pace
PAGES = ("dispatch", "bookings", "technicians", "bids", "payments", "chats")
EMPTY = ("Nothing yet.", "Nobody is online")
OPEN = ("pending", "bidding", "accepted", "en_route", "in_progress")


@dataclass
class Market:
    """A recorder following the pack's config, filled by its simulator and roster."""

    recorder: Recorder
    replay: Replay
    scenario: MarketplaceScenario
    roster: TypingRoster

    def rows(self, table: str) -> list[dict[str, Any]]:
        return list(self.replay.rows.get(table, {}).values())

    def play_until(self, table: str, wanted: Any) -> Write:
        """Play the simulator on from now, at 10 writes a second of its own clock (each change
        received at once), until it posts a ``table`` row that ``wanted`` accepts."""
        start = datetime.now(UTC)
        for i in range(10_000):
            write = self.scenario.next_write(start + timedelta(seconds=i / 10))
            rows = self.replay.apply(write, time.time_ns() - 4_000_000)
            self.scenario.apply_result(write, rows)
            if write.table == table and write.method == "POST" and any(map(wanted, rows)):
                return write
        raise AssertionError(f"the simulator posted no such {table} row")


def type_along(recorder: Recorder, roster: TypingRoster, span_s: float) -> None:
    """Record the roster's changes every :data:`TYPING_EVERY_S` over the last ``span_s``
    seconds, as the server reports them (a re-track: a leave of the old meta, a join)."""
    end_ns = time.time_ns()
    changes = int(span_s / TYPING_EVERY_S)
    for i in range(changes):
        at_ns = end_ns - int((changes - i) * TYPING_EVERY_S * S_NS)
        step = roster.next_change(datetime.fromtimestamp(at_ns / S_NS, UTC))
        channel = step.channel or TYPING_CHANNEL
        if step.kind in ("leave", "update"):
            recorder.record(presence(channel, "leave", step.key, None, at_ns))
        if step.kind in ("join", "update"):
            meta = {**step.meta, "presence_ref": f"{step.key}-{i}"}
            recorder.record(presence(channel, "join", step.key, [meta], at_ns + 1))


@pytest.fixture(scope="module")
def filled() -> Market:
    recorder = Recorder(Settings(config=load_config(PACK.config_path)))
    replay = Replay(recorder)
    scenario = MarketplaceScenario(SEED)
    replay.play(scenario, WRITES, span_s=SPAN_S)
    assert scenario.phase(datetime.now(UTC)) is Phase.NO_COVER
    roster = PACK.roster(SEED)
    assert isinstance(roster, TypingRoster)
    type_along(recorder, roster, SPAN_S)
    return Market(recorder, replay, scenario, roster)


@pytest.fixture
def market(filled: Market) -> Iterator[Market]:
    ui.use_recorder(filled.recorder)
    yield filled
    ui.use_recorder(None)


@pytest.mark.parametrize("page", PAGES)
def test_every_page_shows_data_in_every_widget(market: Market, page: str) -> None:
    at = run_page(page)
    assert not [c for c in EMPTY if c in captions(at)]
    assert all(not frame.empty for frame in frames(at)), page
    shown = metrics(at)
    assert not shown or set(shown.values()) - {"0", "–"}


def test_the_pages_speak_the_pack_s_words(market: Market) -> None:
    text = "\n".join("\n".join(texts(run_page(page))) for page in PAGES)
    vocabulary = words(PACK)
    assert 8 <= len(vocabulary) <= 15
    assert found(text, vocabulary) == set(vocabulary)


PAYMENT = re.compile(r" EUR by \w+ from (.+) to (.+) for booking #\d+: \w+$")
REVIEW = re.compile(r"^\d stars for (.+) from (.+) \(booking #\d+\): ")


def _by_name(shown: set[str], on_file: Mapping[Any, str]) -> None:
    """Feed lines name people by their [labels]: every one on file by name, and only someone
    deleted since (a departed technician, a pruned customer) by the id the event carried."""
    assert shown & set(on_file.values()), shown
    assert not shown & {str(id_) for id_ in on_file}
    for text in shown - set(on_file.values()):
        uuid.UUID(text)  # an id, not a mangled name


def _city_names() -> dict[int, str]:
    return {1: "Duisburg", 2: "Mülheim an der Ruhr", 3: "Essen", 4: "Bochum", 5: "Dortmund"}


def test_dispatch_counts_and_shows_duisburg_waiting(market: Market) -> None:
    at = run_page("dispatch")
    bookings = market.rows("bookings")
    technicians = market.rows("technicians")
    today = datetime.now(UTC).date().isoformat()
    revenue = sum(
        p["amount"]
        for p in market.rows("payments")
        if p["status"] == "succeeded" and p["created_at"].startswith(today)
    )
    shown = metrics(at)
    assert shown["Open bookings"] == str(sum(b["status"] in OPEN for b in bookings))
    pending = [b for b in bookings if b["status"] == "pending"]
    assert shown["Waiting for a bid"] == str(len(pending))
    online = sum(t["status"] != "offline" for t in technicians)
    assert shown["Technicians online"] == str(online)
    assert shown["Revenue today (EUR)"] == f"{revenue:,.0f}"
    (waiting,) = frames(at)
    oldest = sorted(pending, key=lambda b: b["requested_at"])[:15]
    assert waiting["id"].tolist() == [b["id"] for b in oldest]
    assert Counter(waiting["city"]).most_common(1)[0][0] == "Duisburg"
    (the_map,) = charts(at)  # technicians and open bookings on one map, over the cities
    labels = next(t for t in the_map["data"] if t.get("mode") == "text")
    assert "Duisburg" in labels["text"]  # the city's shape, with no technician on it
    duisburg = [t for t in technicians if t["city_id"] == 1]
    assert duisburg
    assert all(t["status"] == "offline" for t in duisburg)
    layers: dict[str, dict[str, int]] = {}
    for trace in the_map["data"]:
        if trace.get("mode") == "markers":
            group = layers.setdefault(trace["legendgrouptitle"]["text"], {})
            name, _, count = trace["name"].rpartition(" (")
            group[name] = int(count.rstrip(")"))
    online = Counter(t["status"] for t in technicians if t["status"] != "offline")
    opened = Counter(b["status"] for b in bookings if b["status"] in OPEN)
    assert layers == {"Technicians online": dict(online), "Open bookings": dict(opened)}
    assert opened["pending"] > 0  # the red diamonds of the city nobody covers
    assert f"Open bookings: {sum(opened.values())} of {sum(opened.values())} drawn" in captions(at)


def test_the_booking_board_breaches_only_in_the_uncovered_city(market: Market) -> None:
    at = run_page("bookings")
    bookings = market.rows("bookings")
    statuses = Counter(b["status"] for b in bookings)
    shown = metrics(at)
    for status in (*OPEN, "completed", "cancelled"):
        assert shown[status] == str(statuses[status])
    assert int(shown["SLA breaches"]) > 0
    board, spans, by_city, longest, by_category, cancelled = frames(at)
    assert len(board) == sum(statuses[s] for s in OPEN)
    assert set(board[board["breached"]]["city_id"]) == {"Duisburg"}
    assert {"lat", "lon", "address"}.isdisjoint(board.columns)  # a short list of columns
    accepted = spans[(spans["start"] == "pending") & (spans["end"] == "accepted")]
    assert len(accepted) >= 4  # bid-to-accept time per city
    assert (accepted["median_s"] > 0).all()
    assert "Duisburg" in set(by_city["city_id"])
    assert longest.sort_values("oldest_age_s")["city_id"].iloc[-1] == "Duisburg"
    assert by_category["count"].sum() == len(bookings)
    assert (cancelled["reason"] != "").all()


def test_the_technicians_page_shows_duisburg_all_offline(market: Market) -> None:
    at = run_page("technicians")
    technicians = market.rows("technicians")
    shown = metrics(at)
    assert shown["Available"] == str(sum(t["status"] == "available" for t in technicians))
    assert shown["Offline"] == str(sum(t["status"] == "offline" for t in technicians))
    by_city, moves, unverified, best = frames(at)
    duisburg = by_city[by_city["city_id"] == "Duisburg"]
    assert set(duisburg["status"]) == {"offline"}
    assert any(line.endswith("available → offline") for line in moves["change"])
    assert (~unverified["technician"].isna()).all()
    assert best["rating"].is_monotonic_decreasing


def test_bids_and_payments_show_amounts_by_name(market: Market) -> None:
    at = run_page("bids")
    bids = market.rows("bids")
    names = {t["id"]: t["display_name"] for t in market.rows("technicians")}
    new, by_status, latest = frames(at)
    assert all(" EUR on booking #" in line for line in new["change"])
    _by_name({line.partition(": ")[0] for line in new["change"]}, names)
    assert dict(zip(by_status["status"], by_status["count"], strict=True)) == dict(
        Counter(b["status"] for b in bids)
    )
    assert set(latest["technician"]) <= set(names.values())
    at = run_page("payments")
    payments = market.rows("payments")
    fed, reviews, by_method, by_rating = frames(at)
    assert len(fed) == min(15, len(payments))
    people = {p["id"]: p["full_name"] for p in market.rows("profiles")}
    paid = [PAYMENT.search(line) for line in fed["change"]]
    assert all(paid), fed["change"].tolist()
    _by_name({m.group(1) for m in paid if m}, people)
    _by_name({m.group(2) for m in paid if m}, names)
    assert by_method["count"].sum() == len(payments)
    assert by_rating["count"].sum() == len(market.rows("reviews"))
    reviewed = [REVIEW.match(line) for line in reviews["change"]]
    assert all(reviewed), reviews["change"].tolist()
    _by_name({m.group(1) for m in reviewed if m}, names)
    _by_name({m.group(2) for m in reviewed if m}, people)


def test_the_chats_page_shows_who_is_typing(market: Market) -> None:
    at = run_page("chats")
    typing, messages, notifications, by_kind = frames(at)
    assert sorted(typing["key"]) == sorted(market.roster.typing)
    assert set(typing["role"]) <= {"customer", "technician"}
    assert set(typing["city_id"]) <= set(_city_names().values())
    assert all(line.startswith("#") for line in messages["change"])
    people = {p["id"]: p["full_name"] for p in market.rows("profiles")}
    _by_name({line.partition(": ")[0].partition(" ")[2] for line in messages["change"]}, people)
    _by_name(
        {line.partition(": ")[0].partition(" to ")[2] for line in notifications["change"]}, people
    )
    kinds = Counter(n["kind"] for n in market.rows("notifications"))
    assert dict(zip(by_kind["kind"], by_kind["count"], strict=True)) == dict(kinds)
    assert len(notifications) == 15


# The toasts play the simulator on: after them the incident may be over.


def test_a_new_locksmith_booking_raises_a_toast(market: Market) -> None:
    at = run_page("bookings")
    market.play_until("bookings", lambda row: row["category"] == "locksmith")
    at.run()
    assert not at.exception
    assert [t.value for t in at.toast][-1].startswith("Locksmith needed: ")


def test_a_declined_payment_raises_a_toast(market: Market) -> None:
    at = run_page("payments")
    market.play_until("payments", lambda row: row["status"] == "failed")
    at.run()
    assert not at.exception
    assert any(t.value.endswith(": failed") for t in at.toast)
