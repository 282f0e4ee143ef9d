"""The first snapshot of a table larger than one REST page: paged by key, it misses no row even
when rows are deleted between pages (paging by offset would skip one per deleted row)."""

from __future__ import annotations

import dataclasses
from typing import Any

import httpx
import pytest
from postgrest._async.request_builder import AsyncQueryRequestBuilder

import rtdata.reads
from rtdata import Collector, LocalServer, Settings
from rtdata.config import DEFAULT_CONFIG
from tests.support import EMERGENCY_ROW, wait_until

PAGE_ROWS = 100


def _headers(server: LocalServer) -> dict[str, str]:
    return {"apikey": server.service_key, "Authorization": f"Bearer {server.service_key}"}


# Composite keys page by offset (the local server's REST has no row-value comparison), so
# only a concurrent delete could make them skip a row; the periodic resync repairs that.
@pytest.mark.parametrize(
    ("composite", "delete_between_pages"),
    [(False, True), (False, False), (True, False)],
    ids=["by-key-with-a-delete", "by-key", "composite-key-by-offset"],
)
def test_snapshot_pages_by_key_and_misses_no_row_when_rows_go_between_pages(
    server: LocalServer,
    monkeypatch: pytest.MonkeyPatch,
    composite: bool,
    delete_between_pages: bool,
) -> None:
    monkeypatch.setattr(rtdata.reads, "PAGE_ROWS", PAGE_ROWS)
    with httpx.Client(base_url=f"{server.url}/rest/v1", headers=_headers(server)) as http:
        http.post("/emergency_requests", json=[EMERGENCY_ROW] * 350).raise_for_status()
    first_id = min(int(r["id"]) for r in server.rows("emergency_requests"))

    pages: list[str] = []
    original = AsyncQueryRequestBuilder.execute

    async def execute(self: Any) -> Any:
        response = await original(self)
        if "emergency_requests" in str(self.request.path) and "order" in str(self.request.params):
            pages.append(str(self.request.params))
            if len(pages) == 1 and delete_between_pages:  # a row leaves after page one
                async with httpx.AsyncClient(headers=_headers(server)) as rest:
                    gone = await rest.delete(
                        f"{server.url}/rest/v1/emergency_requests?id=eq.{first_id}"
                    )
                    gone.raise_for_status()
        return response

    monkeypatch.setattr(AsyncQueryRequestBuilder, "execute", execute)
    config = dataclasses.replace(
        DEFAULT_CONFIG,
        connection=dataclasses.replace(DEFAULT_CONFIG.connection, resync_interval_s=0.0),
    )
    key = ("id", "hospital_id") if composite else ("id",)
    settings = Settings(config=config, tables={"emergency_requests": key}, connect_timeout_s=10)
    collector = Collector(settings.with_project(server.url, server.service_key)).start(wait=True)
    try:

        def same() -> bool:
            theirs = {str(r["id"]): r for r in server.rows("emergency_requests")}
            mine = {
                str(r["id"]): r for r in collector.table("emergency_requests").to_dict("records")
            }
            return theirs == mine

        wait_until(same, what="the table equal to the server's")
        assert len(pages) == 4  # 349 or 350 rows in pages of 100
        if composite:
            assert all("offset" in p for p in pages[1:])
        else:
            assert all("gt." in p for p in pages[1:])
            assert not any("offset" in p for p in pages)
    finally:
        collector.stop()
