"""AppTest of sign-in and roles (``[access]``): the router draws only the sign-in form until
the project's GoTrue (the local server's, on a real socket) signs a user in, then only the
pages that user's role opens; a page opened by URL without the role is refused.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from streamlit.testing.v1 import AppTest

from rtdata import kiosk, ui
from rtdata.access import AccessConfig
from rtdata.audit import AuditAction, AuditEntry, read_entries, record
from rtdata.recorder import Recorder
from rtdata.server import LocalServer
from rtdata.signin import ProjectAuth, SignedIn
from tests.pages import field_service as fs
from tests.pages.harness import APP
from tests.pages.test_router import navigation
from tests.support import secret

PASSWORD = secret("correct-horse-42")
USERS = {"admin@clinic.test": "admin", "analyst@clinic.test": "analyst", "nobody@clinic.test": ""}
SECRET_ROW = fs.CUSTOMERS[1]
"""A value only the pages' data holds: it must not appear before sign-in."""


@pytest.fixture(scope="module")
def project() -> Iterator[LocalServer]:
    """A local server whose GoTrue knows an admin, an analyst and a user without a role."""
    with LocalServer(db="memory") as server:
        for email, role in USERS.items():
            server.call(lambda email=email: server.users.sign_up(email, PASSWORD))
            if role:
                server.set_app_metadata(email, {"role": role})
        yield server


@pytest.fixture
def signed_in_required(project: LocalServer) -> Iterator[Recorder]:
    """The field-service pages behind sign-in: "lifecycle" and "queue" for admins only, every
    other page for any signed-in user; Events for admins and analysts."""
    recorder = fs.filled()
    config = recorder.settings.config
    pages = tuple(
        dataclasses.replace(p, roles=("admin",)) if p.name in ("lifecycle", "queue") else p
        for p in config.pages
    )
    access = AccessConfig(require_sign_in=True, events_roles=("admin", "analyst"))
    gated = dataclasses.replace(config, pages=pages, access=access)
    recorder.settings = dataclasses.replace(
        recorder.settings, config=gated, tables=None
    ).with_project(project.url, project.service_key, project.anon_key)
    ui.use_recorder(recorder)
    yield recorder
    ui.use_recorder(None)


def page_text(at: AppTest) -> str:
    """Every text element, markdown, metric and table cell of the run, as one string."""
    parts = [str(e.value) for e in (*at.markdown, *at.title, *at.error, *at.info, *at.caption)]
    parts += [f"{m.label} {m.value}" for m in at.metric]
    parts += [d.value.to_string() for d in at.dataframe]
    return "\n".join(parts)


def sign_in(at: AppTest, email: str, password: str = PASSWORD) -> AppTest:
    at.text_input[0].input(email)
    at.text_input[1].input(password)
    at.button[0].click()
    return at.run()


def open_by_url(at: AppTest, url_path: str) -> AppTest:
    """Open a registered page as a browser opening its URL does. AppTest switches only to
    file-based pages, so this sets the page hash the session would request (a private field,
    as :func:`tests.pages.test_router.navigation` reads the registry)."""
    (page_hash,) = [h for h, p in at._registered_pages.items() if p["url_pathname"] == url_path]
    at._page_hash = page_hash
    at.run()
    assert not at.exception, [e.stack_trace for e in at.exception]
    return at


def opened() -> AppTest:
    at = AppTest.from_file(APP, default_timeout=60)
    at.run()
    assert not at.exception, [e.stack_trace for e in at.exception]
    return at


def test_before_sign_in_only_the_form_is_drawn(signed_in_required: Recorder) -> None:
    at = opened()
    assert [t.value for t in at.title] == ["Sign in"]
    assert [t.label for t in at.text_input] == ["Email", "Password"]
    assert not at.metric
    assert not at.dataframe
    assert SECRET_ROW not in page_text(at)
    # Every page's URL is routed to the sign-in form, and nothing else.
    routed = navigation(at)
    assert {title for title, _ in routed} == {"Sign in"}
    assert {"lifecycle", "queue", "events"} <= {path for _, path in routed}
    assert SECRET_ROW not in page_text(open_by_url(at, "queue"))
    assert [t.value for t in at.title] == ["Sign in"]


def test_a_wrong_password_shows_an_error_and_nothing_else(signed_in_required: Recorder) -> None:
    at = sign_in(opened(), "admin@clinic.test", "not-the-password")
    assert [e.value for e in at.error] == ["Wrong email or password."]
    assert [t.value for t in at.title] == ["Sign in"]
    assert not at.metric
    assert SECRET_ROW not in page_text(at)


def test_an_admin_sees_every_page_and_signs_out(signed_in_required: Recorder) -> None:
    at = sign_in(opened(), "admin@clinic.test")
    assert not at.exception, [e.stack_trace for e in at.exception]
    assert at.title[0].value == "Desk overview"
    assert at.metric
    assert "Signed in as admin@clinic.test" in page_text(at)
    paths = [path for _, path in navigation(at)]
    assert {"lifecycle", "queue", "events", "realtime"} <= set(paths)
    at.button(key="rtdata-sign-out").click()
    at.run()
    assert [t.value for t in at.title] == ["Sign in"]
    assert not at.metric


def test_an_analyst_is_refused_an_admin_page_opened_by_url(
    signed_in_required: Recorder,
) -> None:
    at = sign_in(opened(), "analyst@clinic.test")
    assert at.title[0].value == "Desk overview"
    links = [link.label for link in at.get("page_link")]
    assert "Ticket board" not in links  # admins only
    assert "Latest tickets" not in links
    assert "Events" in links
    open_by_url(at, "lifecycle")
    assert [e.value for e in at.error] == [
        "You do not have access to this page. Ask an admin for a role that opens it."
    ]
    assert not at.metric
    assert not at.dataframe


def test_a_user_without_a_role_sees_only_the_pages_open_to_everyone(
    signed_in_required: Recorder,
) -> None:
    at = sign_in(opened(), "nobody@clinic.test")
    links = [link.label for link in at.get("page_link")]
    assert "Desk overview" in links
    assert "Realtime health" in links
    assert "Events" not in links
    assert "Ticket board" not in links


# ---------------------------------------------------------------- kiosks and the audit log


@pytest.fixture
def state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """rtdata's state folder (kiosks, audit log) in a temporary folder."""
    folder = tmp_path / "state"
    monkeypatch.setenv("RTDATA_STATE_DIR", str(folder))
    return folder


def kiosk_app(token: str) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=60)
    at.query_params["kiosk"] = token
    at.run()
    assert not at.exception, [e.stack_trace for e in at.exception]
    return at


def entries(action: AuditAction) -> list[AuditEntry]:
    return [e for e in read_entries().entries if e.action is action]


@pytest.mark.usefixtures("state")
def test_a_kiosk_link_opens_only_its_pages_and_a_revoked_one_is_refused_at_the_next_run(
    signed_in_required: Recorder,
) -> None:
    made = kiosk.create("lobby", ["map", "feed"], expires_in_s=3600, now_s=time.time())
    at = kiosk_app(made.token)  # no sign-in: the kiosk link is the credential
    assert navigation(at) == [("Wall", "")]  # one fixed wall page: nothing else to open
    assert at.title[0].value in {"Technicians", "Activity"}  # the map's and the feed's titles
    assert not at.error
    at.run()
    at.run()
    (used,) = entries(AuditAction.KIOSK_USED)  # once per session, not once per refresh
    assert (used.who, used.what) == ("kiosk:lobby", "map,feed")
    kiosk.revoke("lobby", now_s=time.time())
    at.run()
    assert [e.value for e in at.error] == [
        "This kiosk link has been revoked. Ask an admin for a new one (`rtdata kiosk create`)."
    ]
    assert not at.metric
    assert SECRET_ROW not in page_text(at)
    (refused,) = entries(AuditAction.KIOSK_REFUSED)
    assert (refused.who, refused.outcome) == ("kiosk:lobby", "revoked")


@pytest.mark.usefixtures("state")
def test_expired_and_tampered_kiosk_links_are_refused(signed_in_required: Recorder) -> None:
    old = kiosk.create("old", ["map"], expires_in_s=60, now_s=time.time() - 120)
    assert "has expired" in kiosk_app(old.token).error[0].value
    good = kiosk.create("hall", ["map"], expires_in_s=3600, now_s=time.time())
    tampered = good.token[:-1] + ("A" if good.token[-1] != "A" else "B")
    for token in (tampered, "not-a-token", ""):
        at = kiosk_app(token)
        assert "is not valid" in at.error[0].value
        assert not at.metric
        assert SECRET_ROW not in page_text(at)


def test_sign_ins_sign_outs_and_refusals_are_audited_without_secrets(
    signed_in_required: Recorder, state: Path
) -> None:
    sign_in(opened(), "analyst@clinic.test", "wrong-password-1")
    at = sign_in(opened(), "analyst@clinic.test")
    open_by_url(at, "lifecycle")  # refused: admins only
    open_by_url(at, "lifecycle")  # the same refusal again: one entry
    at.button(key="rtdata-sign-out").click()
    at.run()
    log = read_entries().entries
    assert [(e.action, e.who, e.what, e.outcome) for e in log] == [
        (AuditAction.SIGN_IN_FAILED, "analyst@clinic.test", "", "bad_credentials"),
        (AuditAction.SIGN_IN, "analyst@clinic.test", "", "ok"),
        (AuditAction.REFUSED, "analyst@clinic.test", "lifecycle", "role"),
        (AuditAction.SIGN_OUT, "analyst@clinic.test", "", "ok"),
    ]
    text = (state / "audit.jsonl").read_text()
    assert PASSWORD not in text
    assert "wrong-password-1" not in text
    assert "eyJ" not in text  # no JWT


def test_the_access_section_renders_open_and_signed_in() -> None:
    from rtdata.bench.access import bench_access

    # The benchmark of sign-in, run small: the three renders really happen, the signed-in
    # ones past the gate and the scoped one scoped (the section raises otherwise).
    figures = {f.key: f for f in bench_access(events=2_000, runs=2)}
    assert set(figures) == {
        "access.render_open_p50_ms",
        "access.render_signed_in_p50_ms",
        "access.sign_in_overhead_p50_ms",
        "access.render_scoped_p50_ms",
        "access.scoping_overhead_p50_ms",
    }
    assert figures["access.render_scoped_p50_ms"].value > 0
    assert figures["access.scoping_overhead_p50_ms"].value == pytest.approx(
        figures["access.render_scoped_p50_ms"].value
        - figures["access.render_signed_in_p50_ms"].value
    )
    assert figures["access.render_open_p50_ms"].value > 0
    assert figures["access.render_signed_in_p50_ms"].value > 0
    overhead = figures["access.sign_in_overhead_p50_ms"]
    assert overhead.value == pytest.approx(
        figures["access.render_signed_in_p50_ms"].value - figures["access.render_open_p50_ms"].value
    )
    assert overhead.baseline == "access.render_open_p50_ms"


def test_the_audit_page_shows_the_log_to_admins_only(
    signed_in_required: Recorder, state: Path
) -> None:
    record(AuditAction.KIOSK_CREATED, "cli", "lobby")  # as `rtdata kiosk create` records it
    at = sign_in(opened(), "admin@clinic.test")
    assert "Audit log" in [link.label for link in at.get("page_link")]
    open_by_url(at, "audit")
    assert at.title[0].value == "Audit log"
    (table,) = [d.value for d in at.dataframe]
    assert list(table.columns) == ["at", "who", "action", "what", "outcome"]
    assert list(table["action"]) == ["sign_in", "kiosk_created"]  # newest first
    assert list(table["who"]) == ["admin@clinic.test", "cli"]
    analyst = sign_in(opened(), "analyst@clinic.test")
    assert "Audit log" not in [link.label for link in analyst.get("page_link")]
    open_by_url(analyst, "audit")
    assert analyst.error[0].value.startswith("You do not have access to this page.")
    assert not analyst.dataframe


def test_roles_from_the_users_own_profile_row(
    signed_in_required: Recorder, project: LocalServer
) -> None:
    signed = ProjectAuth(project.url, project.anon_key).sign_in("analyst@clinic.test", PASSWORD)
    assert isinstance(signed, SignedIn)
    headers = {"apikey": project.service_key, "Authorization": f"Bearer {project.service_key}"}
    row = {"id": signed.user_id, "full_name": "Ana Lyst", "role": "admin"}  # the claim: analyst
    response = httpx.post(
        f"{project.url}/rest/v1/profiles",
        json=row,
        headers={**headers, "Prefer": "resolution=merge-duplicates"},
    )
    assert response.is_success, response.text
    settings = signed_in_required.settings
    access = dataclasses.replace(settings.config.access, role_column="profiles.role")
    config = dataclasses.replace(settings.config, access=access)
    signed_in_required.settings = dataclasses.replace(settings, config=config, tables=None)
    at = sign_in(opened(), "analyst@clinic.test")
    links = [link.label for link in at.get("page_link")]
    assert "Ticket board" in links  # admins only: the row's role, not the claim's
    open_by_url(at, "lifecycle")
    assert not at.error
