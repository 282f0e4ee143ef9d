"""AppTest of the telehealth pack's pages, drawn from its own ``rtdata.toml`` and filled by its own
simulator and care-team roster over the first 200 s of a demo (the writes at the demo's 10 per
second, the roster at the presence simulator's pace): by then Riverside Rehab Clinic's team has
been offline for two minutes.

Expected values are counted here from the rows the simulator wrote (:class:`Replay`) and the
roster's own view, never read back from the widgets' views.
"""

from __future__ import annotations

import dataclasses
import random
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest

from rtdata import ui
from rtdata.config import load_config
from rtdata.recorder import Recorder
from rtdata.scenarios import get_scenario
from rtdata.scenarios.telehealth import CLINICS, CareTeamRoster, TelehealthScenario, comms
from rtdata.scenarios.telehealth.alerts import PRIORITY, SLA_S
from rtdata.scenarios.telehealth.phases import INCIDENT_CLINIC, INCIDENT_START_S
from rtdata.server import LocalServer
from rtdata.settings import Settings
from tests.pages.harness import (
    S_NS,
    Replay,
    broadcast,
    captions,
    charts,
    frames,
    metrics,
    presence,
    run_page,
    texts,
)
from tests.pages.packs import found, other_words, page_names, words
from tests.pages.test_access import PASSWORD, open_by_url, opened, sign_in

PACK = get_scenario("telehealth")
SEED = 7
SPAN_S = 200.0  # into the first incident (it starts 75 s in)
WRITES = 2000  # 10 per second
ROSTER_EVERY_S = 3.0  # the presence simulator's pause between changes
EMPTY_CAPTIONS = ("Nothing yet.", "Nobody is online")
OPEN = ("raised", "acknowledged")
NAMES = {c.id: c.name for c in CLINICS}
RIVERSIDE = CLINICS[INCIDENT_CLINIC].name


@dataclass
class Telehealth:
    """A recorder following the pack's config, filled by its simulator and roster."""

    recorder: Recorder
    replay: Replay
    scenario: TelehealthScenario
    roster: CareTeamRoster

    def rows(self, table: str) -> list[dict[str, Any]]:
        return list(self.replay.rows.get(table, {}).values())


def _sign_in(recorder: Recorder, roster: CareTeamRoster, span_s: float) -> None:
    """Record the roster's changes over the last ``span_s`` seconds, one every
    :data:`ROSTER_EVERY_S`, as the server reports them (a re-track is a leave and a join)."""
    changes = int(span_s / ROSTER_EVERY_S)
    end_ns = time.time_ns()
    for i in range(changes):
        at_ns = end_ns - int((changes - i) * ROSTER_EVERY_S * S_NS)
        step = roster.next_change(datetime.fromtimestamp(at_ns / S_NS, UTC))
        assert step.channel is not None
        if step.kind in ("leave", "update"):
            recorder.record(presence(step.channel, "leave", step.key, None, at_ns))
        if step.kind in ("join", "update"):
            meta = {**step.meta, "presence_ref": f"{step.key}-{i}"}
            recorder.record(presence(step.channel, "join", step.key, [meta], at_ns + 1))


@pytest.fixture(scope="module")
def filled() -> Telehealth:
    recorder = Recorder(Settings(config=load_config(PACK.config_path)))
    replay = Replay(recorder)
    source = PACK.scenario(SEED)
    assert isinstance(source, TelehealthScenario)
    replay.play(source, WRITES, span_s=SPAN_S)
    people = PACK.roster(SEED)
    assert isinstance(people, CareTeamRoster)
    _sign_in(recorder, people, SPAN_S)
    return Telehealth(recorder, replay, source, people)


@pytest.fixture
def telehealth(filled: Telehealth) -> Iterator[Telehealth]:
    ui.use_recorder(filled.recorder)
    yield filled
    ui.use_recorder(None)


def test_every_page_shows_data_in_every_widget_and_only_the_packs_words(
    telehealth: Telehealth,
) -> None:
    shown = []
    for page in page_names(PACK):
        at = run_page(page)
        said = captions(at)
        assert not [c for c in EMPTY_CAPTIONS if c in said], f"{page}: a widget shows nothing"
        values = [v for v in metrics(at).values() if v not in ("0", "–")]
        assert values or not metrics(at), f"{page}: every tile is zero"
        text = "\n".join(texts(at))
        for other, vocabulary in other_words(PACK).items():
            assert not found(text, vocabulary), f"{page} shows {other}'s words"
        shown.append(text)
    vocabulary = words(PACK)
    assert 8 <= len(vocabulary) <= 15
    assert set(vocabulary) - found("\n".join(shown), vocabulary) == set()


def test_the_care_wall_counts_alerts_and_lists_the_waiting_ones_most_severe_first(
    telehealth: Telehealth,
) -> None:
    before = datetime.now(UTC)
    at = run_page("overview")
    after = datetime.now(UTC)
    assert at.title[0].value == "Care wall"
    alerts = telehealth.rows("patient_alerts")
    raised = [a for a in alerts if a["status"] == "raised"]
    active = [s for s in telehealth.rows("patient_status") if s["status"] != "discharged"]
    shown = metrics(at)
    assert shown["Open alerts"] == str(sum(a["status"] in OPEN for a in alerts))
    assert shown["Awaiting acknowledgement"] == str(len(raised))
    assert shown["Unacknowledged critical"] == str(sum(a["severity"] == "critical" for a in raised))
    # Deadlines against the time of the render (an alert may pass its own while the page
    # draws); the escalation job has paged some of them already, never more than are past it.
    past = [
        sum(datetime.fromisoformat(a["ack_due_at"]) < moment for a in raised)
        for moment in (before, after)
    ]
    assert past[0] <= int(shown["Past the acknowledgement deadline"]) <= past[1]
    assert sum(a["escalation_level"] >= 1 for a in raised) <= past[0]
    assert past[0] > 0  # Riverside's care team is offline
    assert shown["Patients in the programme"] == str(
        sum(s["status"] != "readmitted" for s in active)
    )
    waiting, by_clinic = frames(at)
    order = sorted(raised, key=lambda a: (a["priority"], a["raised_at"]))[:15]
    assert waiting["priority"].tolist() == [a["priority"] for a in order]
    assert waiting["clinic"].tolist() == [NAMES[a["tenant_id"]] for a in order]
    assert set(waiting["patient"]) <= {p["full_name"] for p in telehealth.rows("patients")}
    # The offline clinic has the most alerts waiting, by name.
    mine = Counter(NAMES[a["tenant_id"]] for a in raised)
    assert mine.most_common(1)[0][0] == RIVERSIDE
    counted = by_clinic[by_clinic["status"] == "raised"].set_index("tenant_id")["count"]
    assert counted.to_dict() == dict(mine)


def test_the_alert_board_counts_statuses_and_times_acknowledgement_by_clinic(
    telehealth: Telehealth,
) -> None:
    at = run_page("alerts")
    alerts = telehealth.rows("patient_alerts")
    shown = metrics(at)
    for status in ("raised", "acknowledged", "resolved"):
        assert shown[status] == str(sum(a["status"] == status for a in alerts))
    assert int(shown["SLA breaches"]) >= 1  # the offline clinic's alerts wait past deadlines
    board, spans, oldest, by_type = frames(at)
    assert "priority" not in board.columns  # the board lists its columns, severity sorts
    assert board["severity"].map(PRIORITY).is_monotonic_increasing  # most severe first
    raised = board[board["status"] == "raised"]
    assert not raised.empty
    assert raised["sla_s"].tolist() == raised["severity"].map(SLA_S).tolist()
    assert set(board["tenant_id"]) <= set(NAMES.values())
    measured = spans[(spans["start"] == "raised") & (spans["end"] == "acknowledged")]
    assert set(measured["tenant_id"]) == set(NAMES.values())
    waits = oldest.set_index("tenant_id")["oldest_age_s"]
    assert waits.idxmax() == RIVERSIDE
    assert waits[RIVERSIDE] > SPAN_S - INCIDENT_START_S - 30
    assert by_type["count"].sum() == sum(a["status"] in OPEN for a in alerts)


def test_the_recovery_page_counts_patients_by_status(telehealth: Telehealth) -> None:
    at = run_page("recovery")
    statuses = Counter(s["status"] for s in telehealth.rows("patient_status"))
    shown = metrics(at)
    labels = {"Pre-op": "pre_op", "Post-op": "post_op", "Recovering": "recovering"}
    labels |= {"At risk": "at_risk", "Readmitted": "readmitted", "Discharged": "discharged"}
    assert {label: shown[label] for label in labels} == {
        label: str(statuses[status]) for label, status in labels.items()
    }
    feed = at.dataframe[-1].value["change"].tolist()
    assert feed
    assert all(" (was " in line and "post-op day" in line for line in feed)
    # Each line names its patient ([labels]); the feed's patients are all still on file.
    patients = {p["full_name"] for p in telehealth.rows("patients")}
    assert {line.partition(": ")[0] for line in feed} <= patients


def test_the_readings_page_draws_patients_and_clinics_as_cohorts(telehealth: Telehealth) -> None:
    at = run_page("readings")
    patients = {p["id"]: p["full_name"] for p in telehealth.rows("patients")}
    lines, cohorts = charts(at)[:2]
    drawn = {t["name"] for t in lines["data"]} - {"out of range"}
    assert drawn
    assert drawn <= set(patients.values())  # by [labels], not by id
    assert {t["name"] for t in cohorts["data"]} - {"out of range"} == set(NAMES.values())
    picker = at.selectbox[0]
    assert picker.options[0] == "(newest)"
    assert set(picker.options[1:]) <= set(patients.values())  # shown by name, picked by id
    chosen = next(id_ for id_, name in patients.items() if name == picker.options[1])
    picker.select(chosen).run()
    assert not at.exception
    assert {t["name"] for t in charts(at)[0]["data"]} - {"out of range"} == {picker.options[1]}
    out_of_range = frames(at)[0]
    assert set(out_of_range["patient_id"]) <= set(patients.values())  # the alert list is
    assert set(out_of_range["tenant_id"]) <= set(NAMES.values())


def test_the_care_team_page_shows_who_is_online_by_clinic(telehealth: Telehealth) -> None:
    at = run_page("team")
    online = telehealth.roster.online
    assert metrics(at)["Online now"] == str(len(online))
    frame = frames(at)[0]
    assert sorted(frame["key"]) == sorted(online)
    assert RIVERSIDE not in set(frame["tenant_id"])  # its team is offline
    assert set(frame["tenant_id"]) == set(NAMES.values()) - {RIVERSIDE}
    (announcements,) = [f.value["change"].tolist() for f in at.dataframe[1:]]
    # One feed over the clinics' three channels, each line naming its clinic.
    assert {line.partition(" · ")[0] for line in announcements} == set(NAMES.values())
    assert any(line.startswith(f"{RIVERSIDE} · Escalation: ") for line in announcements)


def test_the_platform_page_shows_the_offline_clinics_failing_deliveries(
    telehealth: Telehealth,
) -> None:
    at = run_page("platform")
    shown = metrics(at)
    assert float(shown["Worst failed deliveries (%)"]) > 2
    assert float(shown["Worst p95 delivery (ms)"].replace(",", "")) > 250
    (gateway,) = charts(at)[:1]
    # One line per clinic, named by [labels].
    assert {t["name"] for t in gateway["data"]} - {"out of range"} == set(NAMES.values())


def test_every_page_renders_on_a_wall_and_on_an_empty_recorder(telehealth: Telehealth) -> None:
    for page in page_names(PACK):
        at = run_page(page, wall=True)
        assert not at.selectbox
    ui.use_recorder(Recorder(Settings(config=load_config(PACK.config_path))))
    for page in page_names(PACK):
        at = run_page(page)
        assert {v for v in metrics(at).values()} <= {"0", "–"}


def test_an_urgent_announcement_toasts_once_naming_its_clinic(telehealth: Telehealth) -> None:
    at = run_page("team")
    notice = comms.announcement(
        random.Random(SEED),
        INCIDENT_CLINIC,
        datetime.now(UTC),
        title="Cover needed",
        body="Two nurses out this afternoon",
        urgent=True,
    )
    message = broadcast(notice.topic, notice.event, notice.payload, time.time_ns() - 4_000_000)
    telehealth.recorder.record(message)
    at.run()
    assert not at.exception
    assert [t.value for t in at.toast] == [
        f"{RIVERSIDE} · Cover needed: Two nurses out this afternoon"
    ]
    at.run()
    assert not at.toast


# ---------------------------------------------------------------- row scoping


@pytest.fixture(scope="module")
def staff() -> Iterator[LocalServer]:
    """A local server whose GoTrue knows a Lakeside nurse (role ``clinic``, the app's own
    ``staff_tenant_id`` claim) and a platform admin."""
    with LocalServer(db="memory") as server:
        users = {
            "nurse@lakeside.test": {"role": "clinic", "staff_tenant_id": CLINICS[0].id},
            "ops@platform.test": {"role": "admin"},
        }
        for email, metadata in users.items():
            server.call(lambda email=email: server.users.sign_up(email, PASSWORD))
            server.set_app_metadata(email, metadata)
        yield server


@pytest.fixture
def signed_in(telehealth: Telehealth, staff: LocalServer) -> Iterator[Telehealth]:
    """The pack's own config, with sign-in turned on."""
    recorder = telehealth.recorder
    before = recorder.settings
    config = before.config
    access = dataclasses.replace(config.access, require_sign_in=True)
    recorder.settings = dataclasses.replace(
        before, config=dataclasses.replace(config, access=access), tables=None
    ).with_project(staff.url, staff.service_key, staff.anon_key)
    yield telehealth
    recorder.settings = before


def test_a_clinics_staff_see_only_their_clinics_rows(signed_in: Telehealth) -> None:
    lakeside = CLINICS[0]
    at = sign_in(opened(), "nurse@lakeside.test")
    shown: dict[str, str] = {}
    for page in (*page_names(PACK), "events"):
        paths = {p["url_pathname"] for p in at._registered_pages.values()}
        open_by_url(at, page if page in paths else "")
        shown[page] = "\n".join(texts(at))
    own_people = {
        r["full_name"]
        for table in ("patients", "providers")
        for r in signed_in.rows(table)
        if r["tenant_id"] == lakeside.id
    }
    others = {
        *(c.name for c in CLINICS[1:]),
        *(c.id for c in CLINICS[1:]),
        *(
            r["full_name"]
            for table in ("patients", "providers")
            for r in signed_in.rows(table)
            if r["tenant_id"] != lakeside.id and r["full_name"] not in own_people
        ),
    }
    for page, text in shown.items():
        leaked = sorted(name for name in others if name in text)
        assert not leaked, (page, leaked[:5])
    assert lakeside.name in "\n".join(shown.values())
    open_by_url(at, "")
    alerts = [a for a in signed_in.rows("patient_alerts") if a["tenant_id"] == lakeside.id]
    assert metrics(at)["Open alerts"] == str(sum(a["status"] in OPEN for a in alerts))
    # The realtime health page names every clinic's channels: not for a clinic's staff.
    open_by_url(at, "realtime")
    assert at.error[0].value.startswith("You do not have access to this page.")


def test_the_platforms_admin_sees_every_clinic(signed_in: Telehealth) -> None:
    at = sign_in(opened(), "ops@platform.test")
    open_by_url(at, "")
    text = "\n".join(texts(at))
    assert all(c.name in text for c in CLINICS)
    alerts = signed_in.rows("patient_alerts")
    assert metrics(at)["Open alerts"] == str(sum(a["status"] in OPEN for a in alerts))
