"""AppTest of row scoping (``[[access.scopes]]``): a customer's user, signed in through the
local server's GoTrue, sees only their customer's rows on every page, in every chart, on the
Events page and in its downloads; an unscoped admin sees everyone's.
"""

from __future__ import annotations

import dataclasses
import io
from collections.abc import Callable, Iterator
from typing import Any

import pandas as pd
import pytest
from streamlit.runtime.media_file_manager import MediaFileManager
from streamlit.testing.v1 import AppTest

from rtdata import ui
from rtdata.access import AccessConfig
from rtdata.recorder import Recorder
from rtdata.scope import ScopeRule
from rtdata.server import LocalServer
from tests.pages import field_service as fs
from tests.pages.harness import metrics, texts
from tests.pages.test_access import PASSWORD, open_by_url, opened, page_text, sign_in

RULE = ScopeRule(("customer",), "app_metadata.customer_id", "customer_id", {"customers": "id"})
USERS: dict[str, dict[str, Any]] = {
    "acme@shop.test": {"role": "customer", "customer_id": 1},
    "lost@shop.test": {"role": "customer"},  # no customer_id: sees nothing
    "boss@shop.test": {"role": "admin"},
}
PAGES = (
    "tiles",
    "lifecycle",
    "queue",
    "breakdown",
    "feed",
    "series",
    "map",
    "roster",
    "events",
    "realtime",
)
ACME = ["Acme Bakery", "Printer jam", "Badge reader", "D-1"]
OTHERS = [
    *(name for id_, name in fs.CUSTOMERS.items() if id_ != 1),
    *(title for title, customer, _, _ in fs.TICKETS.values() if customer != 1),
    *(device for device, customer in fs.DEVICES.items() if customer != 1),
    "ben",  # an agent of another customer
]


@pytest.fixture(scope="module")
def project() -> Iterator[LocalServer]:
    with LocalServer(db="memory") as server:
        for email, metadata in USERS.items():
            server.call(lambda email=email: server.users.sign_up(email, PASSWORD))
            server.set_app_metadata(email, metadata)
        yield server


@pytest.fixture
def scoped(project: LocalServer) -> Iterator[Recorder]:
    """The field-service pages behind sign-in, customers' users scoped to their customer."""
    recorder = fs.filled()
    config = recorder.settings.config
    access = AccessConfig(require_sign_in=True, scopes=(RULE,))
    recorder.settings = dataclasses.replace(
        recorder.settings, config=dataclasses.replace(config, access=access), tables=None
    ).with_project(project.url, project.service_key, project.anon_key)
    ui.use_recorder(recorder)
    yield recorder
    ui.use_recorder(None)


def everything(at: AppTest) -> str:
    """Every text a person can read, and every chart's whole figure (data and hover texts)."""
    charts = [str(c.proto.spec) for c in at.get("plotly_chart")]
    return "\n".join([*texts(at), *charts])


def visit(at: AppTest, name: str) -> str:
    # The first page is the default one: its URL path is the root.
    paths = {p["url_pathname"] for p in at._registered_pages.values()}
    return everything(open_by_url(at, name if name in paths else ""))


def visit_all(at: AppTest) -> dict[str, str]:
    return {name: visit(at, name) for name in PAGES}


@pytest.fixture
def downloads(monkeypatch: pytest.MonkeyPatch) -> list[Callable[[], Any]]:
    """The file builders of every download button drawn (what a click would run)."""
    made: list[Callable[[], Any]] = []
    original = MediaFileManager.add_deferred

    def add_deferred(self: MediaFileManager, data: Callable[[], Any], *a: Any, **k: Any) -> str:
        made.append(data)
        return original(self, data, *a, **k)

    monkeypatch.setattr(MediaFileManager, "add_deferred", add_deferred)
    return made


def test_a_scoped_user_sees_only_their_customers_rows_on_every_page(scoped: Recorder) -> None:
    at = sign_in(opened(), "acme@shop.test")
    assert not at.exception, [e.stack_trace for e in at.exception]
    assert "Rows shown: customer_id = 1" in page_text(at)
    seen = visit_all(at)
    for name, text in seen.items():
        for other in OTHERS:
            assert other not in text, (name, other)
    shown = "\n".join(seen.values())
    for own in ACME:
        assert own in shown, own
    visit(at, "tiles")
    assert metrics(at)["Customers"] == "1"  # the count of their rows, not of every row


def test_the_events_page_and_its_downloads_hold_only_the_users_rows(
    scoped: Recorder, downloads: list[Callable[[], Any]]
) -> None:
    at = sign_in(opened(), "acme@shop.test")
    open_by_url(at, "events")
    assert len(downloads) >= 2
    csv_bytes, parquet_bytes = downloads[-2](), downloads[-1]()
    csv_text = csv_bytes.decode()
    parquet = pd.read_parquet(io.BytesIO(parquet_bytes))
    assert "Printer jam" in csv_text
    assert len(parquet) == len(pd.read_csv(io.StringIO(csv_text))) > 0
    for other in OTHERS:
        assert other not in csv_text, other
        assert other not in parquet.to_string(), other


def test_an_unscoped_admin_sees_every_customer(scoped: Recorder) -> None:
    # The same pages for a user under no rule: the other customers' rows are there, so the
    # scoped user's test above can fail.
    at = sign_in(opened(), "boss@shop.test")
    assert "Rows shown" not in page_text(at)
    shown = "\n".join(visit_all(at).values())
    for name in [*OTHERS, *ACME]:
        assert name in shown, name


def test_a_scoped_user_without_the_claim_sees_no_row_and_is_told_why(scoped: Recorder) -> None:
    at = sign_in(opened(), "lost@shop.test")
    warning = [w.value for w in at.warning]
    assert any("Your account has no app_metadata.customer_id" in w for w in warning), warning
    shown = "\n".join(visit_all(at).values())
    for name in [*OTHERS, *ACME]:
        assert name not in shown, name
