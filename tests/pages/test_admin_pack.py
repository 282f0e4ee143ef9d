"""AppTest of the admin pack's pages, drawn from its own ``rtdata.toml`` and filled by its own
simulator (a dry run at the demo's 10 writes a second) and team roster.

The run ends 196 s into the simulator's first cycle: the review backlog has just ended and
five users have just been made admin, so the incidents are on the pages. Expected values are
counted here from the rows the simulator wrote, never read back from the widgets' views.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest

from rtdata import ui
from rtdata.config import load_config
from rtdata.recorder import Recorder
from rtdata.scenarios import get_scenario
from rtdata.scenarios.admin import AdminScenario, TeamRoster
from rtdata.scenarios.admin.phases import Phase
from rtdata.settings import Settings
from rtdata.simulate import Write
from tests.pages.harness import Replay, captions, frames, metric_labels, metrics, run_page, texts
from tests.pages.packs import found, sign_in, words

PACK = get_scenario("admin")
SEED = 7
SPAN_S = 196.0  # the escalation done, right after the backlog
WRITES = int(SPAN_S * 10)
PAGES = ("console", "submissions", "reviewers", "access", "patients", "team")
EMPTY = ("Nothing yet.", "Nobody is online")


@dataclass
class Admin:
    """A recorder following the pack's config, filled by its simulator and roster."""

    recorder: Recorder
    replay: Replay
    scenario: AdminScenario
    roster: TeamRoster

    def rows(self, table: str) -> list[dict[str, Any]]:
        return list(self.replay.rows.get(table, {}).values())

    def names(self) -> dict[str, str]:
        return {row["id"]: row["full_name"] for row in self.rows("profiles")}

    def play_until(self, wanted: str) -> Write:
        """Play the simulator on, now, until it writes a ``wanted`` (``table.method``)."""
        for _ in range(10_000):
            write = self.scenario.next_write(datetime.now(UTC))
            rows = self.replay.apply(write, time.time_ns() - 4_000_000)
            self.scenario.apply_result(write, rows)
            if f"{write.table}.{write.method}" == wanted:
                return write
        raise AssertionError(f"the simulator wrote no {wanted}")


@pytest.fixture(scope="module")
def filled() -> Admin:
    recorder = Recorder(Settings(config=load_config(PACK.config_path)))
    replay = Replay(recorder)
    scenario = AdminScenario(SEED)
    replay.play(scenario, WRITES, span_s=SPAN_S)
    assert scenario.phase(datetime.now(UTC)) is Phase.ESCALATION
    roster = TeamRoster(SEED, scenario.team)
    sign_in(recorder, roster, 60, "online")
    return Admin(recorder, replay, scenario, roster)


@pytest.fixture
def admin(filled: Admin) -> Iterator[Admin]:
    ui.use_recorder(filled.recorder)
    yield filled
    ui.use_recorder(None)


@pytest.mark.parametrize("page", PAGES)
def test_every_page_shows_data_in_every_widget(admin: Admin, page: str) -> None:
    at = run_page(page)
    assert not [c for c in EMPTY if c in captions(at)]
    assert all(not frame.empty for frame in frames(at)), page
    shown = metrics(at)
    assert not shown or set(shown.values()) - {"0", "–"}


def test_the_pages_speak_the_pack_s_words(admin: Admin) -> None:
    text = "\n".join("\n".join(texts(run_page(page))) for page in PAGES)
    vocabulary = words(PACK)
    assert 8 <= len(vocabulary) <= 15
    assert found(text, vocabulary) == set(vocabulary)


def test_the_console_shows_the_escalation_and_the_queue(admin: Admin) -> None:
    at = run_page("console")
    profiles = admin.rows("profiles")
    forms = admin.rows("form_submissions")
    admins = [p for p in profiles if p["role"] == "admin"]
    made = [p for p in admins if p.get("role_changed_at")]
    shown = metrics(at)
    assert shown["Admins"] == str(len(admins))
    assert shown["Made admin in 10 min"] == str(len(made))
    assert len(made) >= 5  # the escalation
    assert ":red[Admins]" in metric_labels(at)  # 7 or more: critical
    assert ":red[Made admin in 10 min]" in metric_labels(at)
    assert shown["Pending review"] == str(sum(f["status"] == "pending" for f in forms))
    assert shown["Awaiting decision"] == str(sum(f["status"] == "reviewed" for f in forms))
    role_feed, oldest = frames(at)
    ((culprit, _),) = Counter(p["role_changed_by"] for p in made).most_common(1)
    names = {p["full_name"] for p in made if p["role_changed_by"] == culprit}
    assert len(names) == 5  # one admin made five more
    lines = role_feed["change"].tolist()
    by_culprit = f"staff → admin, by {admin.names()[culprit]}"  # "changed by" by [labels]
    assert {line.split(":")[0] for line in lines if line.endswith(by_culprit)} >= names
    pending = sorted(
        (f for f in forms if f["status"] == "pending"), key=lambda f: f["submitted_at"]
    )
    assert oldest["id"].tolist() == [f["id"] for f in pending][:12]


def test_a_new_admin_raises_one_toast(admin: Admin) -> None:
    at = run_page("console")
    assert not at.toast  # the backlog raises none
    write = admin.scenario.accounts.write("grant_admin", datetime.now(UTC).isoformat())
    admin.scenario.apply_result(write, admin.replay.apply(write, time.time_ns() - 4_000_000))
    at.run()
    assert not at.exception
    name, by = admin.names()[write.match["id"]], admin.names()[write.body["role_changed_by"]]
    assert [t.value for t in at.toast] == [f"{name}: staff → admin, by {by}"]
    at.run()
    assert not at.toast


def test_the_review_board_counts_and_breaches(admin: Admin) -> None:
    at = run_page("submissions")
    forms = admin.rows("form_submissions")
    statuses = Counter(f["status"] for f in forms)
    shown = metrics(at)
    assert {s: shown[s] for s in ("pending", "reviewed", "approved", "rejected")} == {
        s: str(statuses[s]) for s in ("pending", "reviewed", "approved", "rejected")
    }
    assert int(shown["SLA breaches"]) > 0  # the backlog's oldest forms
    board, spans, by_type, oldest = frames(at)
    assert len(board) == statuses["pending"] + statuses["reviewed"]
    assert board["age_s"].is_monotonic_decreasing  # oldest first
    assert "data" not in board.columns  # the form's answers stay off the board
    names = admin.names()
    assert set(board["submitted_by"]) <= set(names.values())
    patients = {p["full_name"] for p in admin.rows("patients")}
    assert set(board["patient_id"]) <= patients
    assert {"intake", "consent", "questionnaire"} <= set(spans["form_type"])
    assert (spans["median_s"] > 0).all()
    assert by_type["count"].sum() == len(forms)
    assert set(oldest["form_type"]) == {f["form_type"] for f in forms if f["status"] == "pending"}


def test_a_new_adverse_event_report_raises_a_toast(admin: Admin) -> None:
    at = run_page("submissions")
    for _ in range(200):
        write = admin.play_until("form_submissions.POST")
        rows = write.rows()
        if any(r["form_type"] == "adverse_event" for r in rows):
            break
    else:
        raise AssertionError("no adverse-event report was submitted")
    at.run()
    assert not at.exception
    assert [t.value for t in at.toast][-1].startswith("Adverse-event report #")


def test_reviewers_are_shown_by_name_with_their_decisions(admin: Admin) -> None:
    at = run_page("reviewers")
    forms = admin.rows("form_submissions")
    names = admin.names()
    decided = Counter(
        (names[f["reviewer_id"]], f["status"])
        for f in forms
        if f["status"] in ("approved", "rejected")
    )
    by_reviewer, rates, waiting, latest = frames(at)
    shown = {(r, s): n for r, s, n in by_reviewer.itertuples(index=False)}
    assert shown == dict(decided)
    # The approval rate: approved of decided, per reviewer, the highest first.
    expected = {
        r: (decided[r, "approved"], decided[r, "approved"] + decided[r, "rejected"])
        for r, _ in decided
    }
    rows = rates[["reviewer_id", "share_pct", "matching", "count"]].values
    assert {r: (int(m), int(n)) for r, _, m, n in rows} == expected
    assert [pct for _, pct, _, _ in rows] == pytest.approx([100 * m / n for _, _, m, n in rows])
    assert list(rates["share_pct"]) == sorted(rates["share_pct"], reverse=True)
    assert all(0 <= pct <= 100 for pct in rates["share_pct"])
    shown_as = orjson.loads(at.dataframe[1].proto.columns)["share_pct"]["type_config"]
    assert shown_as["format"] == "%.1f %%"  # a percentage, one decimal
    team = {a.full_name for a in admin.scenario.team}
    assert set(waiting["reviewer_id"]) <= team
    assert set(latest["reviewer"]) <= team
    assert latest["decided"].is_monotonic_decreasing


def test_access_counts_roles_and_names_who_changed_them(admin: Admin) -> None:
    at = run_page("access")
    profiles = admin.rows("profiles")
    roles = Counter(p["role"] for p in profiles)
    shown = metrics(at)
    assert (shown["Admins"], shown["Staff"], shown["Users"]) == (
        str(roles["admin"]),
        str(roles["staff"]),
        str(roles["user"]),
    )
    changes, by_role, by_department = frames(at)
    core_admins = {a.full_name for a in admin.scenario.team if a.role == "admin"}
    assert set(changes["changed by"]) <= core_admins
    assert dict(zip(by_role["role"], by_role["count"], strict=True)) == dict(roles)
    assert set(by_department["role"]) <= {"staff", "admin"}


def test_patient_records_show_edits_by_name(admin: Admin) -> None:
    at = run_page("patients")
    patients = admin.rows("patients")
    shown = metrics(at)
    assert shown["Patients on file"] == str(len(patients))
    known = sum(p["allergies"] != "none known" for p in patients)
    assert shown["With a known allergy"] == str(known)
    allergies, edited, edits = frames(at)
    assert all(" → " in line for line in allergies["change"])
    team = {a.full_name for a in admin.scenario.team}
    assert set(edited["edited by"]) <= team
    assert len(edits) == 15
    for feed in (allergies, edits):  # who edited, by [labels]: the team are never deleted
        assert {line.rpartition(", by ")[2] for line in feed["change"]} <= team


def test_the_team_page_shows_who_is_online_and_who_has_a_form_open(admin: Admin) -> None:
    at = run_page("team")
    online, editors = frames(at)
    assert sorted(online["key"]) == sorted(admin.roster.online)
    assert sorted(editors["key"]) == sorted(admin.roster.editing)
    assert set(editors["form_type"]) == set(admin.roster.editing.values())
