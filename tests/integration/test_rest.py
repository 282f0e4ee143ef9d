"""The local server's PostgREST subset, over real sockets: plain httpx and the official client.

Plain HTTP pins the wire details (status codes, ``Content-Range``, error bodies); the async
supabase client proves that ``.table(...)`` calls as applications write them work unchanged.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import supabase
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from postgrest.exceptions import APIError
from supabase import AsyncClientOptions

from rtdata.server import LocalServer, rest
from rtdata.server.schema import TableSchema
from rtdata.server.store import Row, TableStore
from tests.support import EMERGENCY_ROW, published_changes, wait_until

ROW = EMERGENCY_ROW
TABLE = "/emergency_requests"


@pytest.fixture
def http(server: LocalServer) -> Iterator[httpx.Client]:
    """A plain HTTP client on ``/rest/v1`` with the service key."""
    key = server.service_key
    headers = {"apikey": key, "Authorization": f"Bearer {key}"}
    with httpx.Client(base_url=f"{server.url}/rest/v1", headers=headers) as client:
        yield client


def _seed(http: httpx.Client, priorities: list[int]) -> list[dict[str, Any]]:
    rows = [{**ROW, "patient_name": f"P{p}", "priority": p} for p in priorities]
    response = http.post(TABLE, json=rows, headers={"Prefer": "return=representation"})
    assert response.status_code == 201, response.text
    created: list[dict[str, Any]] = response.json()
    return created


# ---------------------------------------------------------------- reads


def test_select_filters_order_and_paging(http: httpx.Client) -> None:
    _seed(http, [3, 1, 5, 2, 4])
    response = http.get(
        TABLE,
        params={"select": "id,p:priority", "priority": "gte.2", "order": "priority.desc"},
    )
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    assert [r["p"] for r in response.json()] == [5, 4, 3, 2]
    assert set(response.json()[0]) == {"id", "p"}
    page = http.get(TABLE, params={"select": "priority", "order": "priority", "offset": 1})
    assert [r["priority"] for r in page.json()] == [2, 3, 4, 5]
    page = http.get(TABLE, params={"select": "priority", "order": "priority", "limit": 2})
    assert [r["priority"] for r in page.json()] == [1, 2]
    assert page.headers["content-range"] == "0-1/*"
    ranged = http.get(TABLE, params={"order": "id"}, headers={"Range": "1-2"})
    assert [r["id"] for r in ranged.json()] == [2, 3]
    assert ranged.headers["content-range"] == "1-2/*"


def test_order_terms_and_nulls(http: httpx.Client) -> None:
    people = [
        {"full_name": "a", "hospital_id": 2},
        {"full_name": "b", "hospital_id": None},
        {"full_name": "c", "hospital_id": 1},
        {"full_name": "d", "hospital_id": 2},
    ]
    assert http.post("/profiles", json=people).status_code == 201

    def names(order: str) -> str:
        response = http.get("/profiles", params={"select": "full_name", "order": order})
        assert response.status_code == 200, response.text
        return "".join(r["full_name"] for r in response.json())

    assert names("hospital_id,full_name.desc") == "cdab"  # NULLs last ascending
    assert names("hospital_id.desc,full_name") == "badc"  # and first descending
    assert names("hospital_id.asc.nullsfirst,full_name") == "bcad"
    assert names("hospital_id.desc.nullslast,full_name") == "adcb"


@pytest.mark.parametrize(
    ("params", "headers", "status", "content_range"),
    [
        ({}, {}, 200, "0-4/5"),
        ({"limit": "2"}, {}, 206, "0-1/5"),
        ({"limit": "2", "offset": "4"}, {}, 206, "4-4/5"),
        ({"priority": "gt.9"}, {}, 200, "*/0"),
        ({"offset": "5"}, {}, 206, "*/5"),
        ({}, {"Range": "3-"}, 206, "3-4/5"),
    ],
)
def test_count_exact_sets_content_range_and_status(
    http: httpx.Client,
    params: dict[str, str],
    headers: dict[str, str],
    status: int,
    content_range: str,
) -> None:
    _seed(http, [1, 2, 3, 4, 5])
    response = http.get(TABLE, params=params, headers={"Prefer": "count=exact", **headers})
    assert (response.status_code, response.headers["content-range"]) == (status, content_range)
    head = http.head(TABLE, params=params, headers={"Prefer": "count=exact", **headers})
    assert head.headers["content-range"] == content_range
    assert head.content == b""


def test_range_past_the_end_is_416(http: httpx.Client) -> None:
    _seed(http, [1, 2])
    response = http.get(TABLE, params={"offset": "7"}, headers={"Prefer": "count=exact"})
    assert response.status_code == 416
    assert response.headers["content-range"] == "*/2"
    assert response.json() == {
        "code": "PGRST103",
        "message": "Requested range not satisfiable",
        "details": "An offset of 7 was requested, but there are only 2 rows.",
        "hint": None,
    }
    assert http.get(TABLE, params={"offset": "7"}).headers["content-range"] == "*/*"
    assert http.get(TABLE, headers={"Range": "3-1"}).status_code == 416


def test_singular_object_or_406(http: httpx.Client) -> None:
    _seed(http, [1, 2])
    accept = {"Accept": "application/vnd.pgrst.object+json"}
    one = http.get(TABLE, params={"priority": "eq.1"}, headers=accept)
    assert one.status_code == 200
    assert one.headers["content-type"].startswith("application/vnd.pgrst.object+json")
    assert one.json()["priority"] == 1
    for params, count in (({}, 2), ({"priority": "eq.9"}, 0)):
        refused = http.get(TABLE, params=params, headers=accept)
        assert refused.status_code == 406
        assert refused.json() == {
            "code": "PGRST116",
            "message": "JSON object requested, multiple (or no) rows returned",
            "details": f"The result contains {count} rows",
            "hint": None,
        }
    # A singular write that does not affect exactly one row is rolled back.
    patch = http.patch(TABLE, params={"id": "gt.0"}, json={"status": "x"}, headers=accept)
    assert patch.status_code == 406
    assert {r["status"] for r in http.get(TABLE).json()} == {"pending"}
    stripped = http.get(
        TABLE,
        params={"select": "id,status", "priority": "eq.1"},
        headers={"Accept": "application/vnd.pgrst.object+json;nulls=stripped"},
    )
    assert stripped.json() == {"id": 1, "status": "pending"}


# ---------------------------------------------------------------- writes


def test_post_applies_defaults_and_honours_return(http: httpx.Client) -> None:
    minimal = http.post(TABLE, json=ROW, headers={"Prefer": "return=minimal"})
    assert (minimal.status_code, minimal.content) == (201, b"")
    created = http.post(
        TABLE,
        params={"select": "id,status,priority"},
        json=ROW,
        headers={"Prefer": "return=representation,count=exact"},
    )
    assert created.status_code == 201
    assert created.json() == [{"id": 2, "status": "pending", "priority": 3}]
    assert created.headers["content-range"] == "*/1"


def test_post_array_is_all_or_nothing(http: httpx.Client, server: LocalServer) -> None:
    changes = published_changes(server)
    clash = http.post(TABLE, json=[{**ROW, "id": 1}, {**ROW, "id": 1}])
    assert clash.status_code == 409
    assert clash.json()["code"] == "23505"
    uneven = http.post(TABLE, json=[ROW, {**ROW, "priority": 1}])
    assert (uneven.status_code, uneven.json()["code"]) == (400, "PGRST102")
    assert server.rows("emergency_requests") == []
    # With columns= (what supabase-py sends for arrays) a missing key is NULL, or the default.
    rows = [{**ROW, "priority": 1}, ROW]
    null = http.post(TABLE, params={"columns": '"priority","hospital_id"'}, json=rows)
    assert (null.status_code, null.json()["code"]) == (400, "23502")
    default = http.post(
        TABLE,
        params={"columns": ",".join(f'"{k}"' for k in rows[0])},
        json=rows,
        headers={"Prefer": "return=representation,missing=default"},
    )
    assert [r["priority"] for r in default.json()] == [1, 3]
    # The refused posts published nothing: the first changes seen are the last post's two rows.
    wait_until(lambda: len(changes) >= 2, what="the accepted rows' changes")
    assert [(c.type, (c.record or {}).get("priority")) for c in changes] == [
        ("INSERT", 1),
        ("INSERT", 3),
    ]


def test_upsert_merges_or_ignores_and_emits_the_right_changes(
    http: httpx.Client, server: LocalServer
) -> None:
    changes = published_changes(server)
    (first,) = _seed(http, [1])
    wait_until(lambda: len(changes) == 1, what="the seeded row's change")
    changes.clear()
    body = [{**ROW, "id": first["id"], "status": "accepted"}, {**ROW, "id": 9, "status": "pending"}]
    merged = http.post(
        TABLE,
        params={"on_conflict": "id"},
        json=body,
        headers={"Prefer": "return=representation,resolution=merge-duplicates"},
    )
    assert merged.status_code == 201, merged.text
    assert [(r["id"], r["status"]) for r in merged.json()] == [(1, "accepted"), (9, "pending")]
    wait_until(lambda: len(changes) >= 2, what="the upsert's changes")
    assert [(c.type, (c.old_record or {}).get("status")) for c in changes] == [
        ("UPDATE", "pending"),
        ("INSERT", None),
    ]
    ignored = http.post(
        TABLE,
        json=[{**ROW, "id": 1, "status": "cancelled"}],
        headers={"Prefer": "return=representation,resolution=ignore-duplicates"},
    )
    assert ignored.json() == []
    assert server.rows("emergency_requests")[0]["status"] == "accepted"


def test_patch_and_delete(http: httpx.Client) -> None:
    _seed(http, [1, 2, 3])
    patched = http.patch(TABLE, params={"priority": "lte.2"}, json={"status": "accepted"})
    assert (patched.status_code, patched.headers["content-range"]) == (204, "0-1/*")
    shown = http.patch(
        TABLE,
        params={"priority": "eq.3", "select": "id,status"},
        json={"status": "en_route"},
        headers={"Prefer": "return=representation"},
    )
    assert (shown.status_code, shown.json()) == (200, [{"id": 3, "status": "en_route"}])
    deleted = http.delete(
        TABLE, params={"status": "eq.accepted"}, headers={"Prefer": "return=representation"}
    )
    assert [r["priority"] for r in deleted.json()] == [1, 2]
    assert http.delete(TABLE, params={"id": "eq.99"}).status_code == 204
    assert [r["id"] for r in http.get(TABLE).json()] == [3]


# ---------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("method", "path", "kwargs", "status", "code"),
    [
        ("GET", "/nope", {}, 404, "PGRST205"),
        ("GET", TABLE, {"params": {"nope": "eq.1"}}, 400, "42703"),
        ("GET", TABLE, {"params": {"select": "id,nope"}}, 400, "42703"),
        ("GET", TABLE, {"params": {"order": "nope.desc"}}, 400, "42703"),
        ("GET", TABLE, {"params": {"select": "hospitals(*)"}}, 400, "PGRST200"),
        ("GET", TABLE, {"params": {"priority": "zz.1"}}, 400, "PGRST100"),
        ("GET", TABLE, {"params": {"priority": "in.1,2"}}, 400, "PGRST100"),
        ("GET", TABLE, {"params": {"order": "id.up"}}, 400, "PGRST100"),
        ("GET", TABLE, {"params": {"limit": "-1"}}, 400, "PGRST100"),
        ("GET", TABLE, {"params": {"or": "(id.eq.1,id.eq.2)"}}, 400, "PGRST100"),
        ("GET", TABLE, {"params": {"priority": "eq.high"}}, 400, "22P02"),
        ("GET", TABLE, {"params": {"priority": "like.1*"}}, 404, "42883"),
        ("GET", TABLE, {"headers": {"Accept": "text/csv"}}, 406, "PGRST107"),
        ("POST", TABLE, {"json": {**ROW, "nope": 1}}, 400, "PGRST204"),
        ("POST", TABLE, {"json": {**ROW, "priority": "high"}}, 400, "22P02"),
        ("POST", TABLE, {"json": {**ROW, "patient_name": None}}, 400, "23502"),
        ("POST", TABLE, {"content": b"{nope"}, 400, "PGRST102"),
        ("PATCH", TABLE, {"json": {"status": "x"}}, 400, "21000"),
        ("DELETE", TABLE, {}, 400, "21000"),
    ],
)
def test_errors_have_postgrest_codes_and_shape(
    http: httpx.Client, method: str, path: str, kwargs: dict[str, Any], status: int, code: str
) -> None:
    response = http.request(method, path, **kwargs)
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"code", "message", "details", "hint"}
    assert body["code"] == code


def test_duplicate_key_is_409(http: httpx.Client) -> None:
    _seed(http, [1])
    response = http.post(TABLE, json={**ROW, "id": 1})
    assert response.status_code == 409
    assert response.json()["details"] == "Key (id)=(1) already exists."


# ---------------------------------------------------------------- the row-level read hook


def test_row_filter_narrows_every_read() -> None:
    from rtdata.scenarios import get_scenario
    from rtdata.server.schema import load_schema

    store = TableStore(load_schema(get_scenario("hospital").migrations))
    store.insert("emergency_requests", [{**ROW, "hospital_id": h} for h in (1, 2, 1)])
    seen: list[str] = []

    def only_hospital_1(table: TableSchema, rows: list[Row]) -> list[Row]:
        seen.append(table.name)
        return [r for r in rows if r["hospital_id"] == 1]

    async def route(request: web.Request) -> web.Response:
        return await rest.handle(request, store, row_filter=only_hospital_1)

    async def run() -> None:
        app = web.Application()
        app.router.add_route("*", "/rest/v1/{table}", route)
        async with TestClient(TestServer(app)) as client:
            read = await client.get(f"/rest/v1{TABLE}", headers={"Prefer": "count=exact"})
            assert [r["id"] for r in await read.json()] == [1, 3]
            assert read.headers["Content-Range"] == "0-1/2"
            written = await client.patch(
                f"/rest/v1{TABLE}?id=in.(1,2)",
                json={"status": "accepted"},
                headers={"Prefer": "return=representation"},
            )
            # row_filter narrows reads only: which rows a write touches and returns is the
            # store's row-level security for the caller's claims (none given here).
            assert [r["id"] for r in await written.json()] == [1, 2]

    asyncio.run(run())
    assert seen == ["emergency_requests"]


# ---------------------------------------------------------------- the official client


async def _client_round_trip(server: LocalServer) -> None:
    async with httpx.AsyncClient() as http:
        options = AsyncClientOptions(httpx_client=http)
        client = await supabase.acreate_client(server.url, server.service_key, options=options)
        table = client.table("emergency_requests")
        rows = [{**ROW, "patient_name": f"P{p}", "priority": p} for p in (1, 2, 3, 4, 5)]
        inserted = await table.insert(rows).execute()
        assert [r["id"] for r in inserted.data] == [1, 2, 3, 4, 5]

        async def ids(query: Any) -> list[int]:
            result = await query.order("id").execute()
            return [r["id"] for r in result.data]

        assert await ids(table.select("id").eq("priority", 2)) == [2]
        assert await ids(table.select("id").neq("priority", 2)) == [1, 3, 4, 5]
        assert await ids(table.select("id").gt("priority", 3)) == [4, 5]
        assert await ids(table.select("id").lt("priority", 2)) == [1]
        assert await ids(table.select("id").gte("priority", 4).lte("priority", 4)) == [4]
        assert await ids(table.select("id").in_("priority", [1, 5])) == [1, 5]
        assert await ids(table.select("id").like("patient_name", "P*")) == [1, 2, 3, 4, 5]
        assert await ids(table.select("id").ilike("patient_name", "%p3%")) == [3]
        assert await ids(table.select("id").is_("pickup_address", None)) == []
        assert await ids(table.select("id").not_.in_("id", [1, 2])) == [3, 4, 5]

        page = await (
            table.select("id,priority", count="exact").order("priority", desc=True).range(1, 2)
        ).execute()
        assert ([r["priority"] for r in page.data], page.count) == ([4, 3], 5)
        limited = await table.select("id").order("id").limit(2).execute()
        assert [r["id"] for r in limited.data] == [1, 2]

        single = await table.select("patient_name").eq("id", 3).single().execute()
        assert single.data == {"patient_name": "P3"}
        assert await table.select("*").eq("id", 99).maybe_single().execute() is None
        with pytest.raises(APIError) as info:
            await table.select("*").single().execute()
        assert info.value.code == "PGRST116"

        updated = await table.update({"status": "accepted"}).in_("id", [1, 2]).execute()
        assert {r["status"] for r in updated.data} == {"accepted"}
        uneven = [{**ROW, "id": 1, "status": "on_scene"}, {**ROW, "id": 6}]
        with pytest.raises(APIError) as info:  # the missing status is NULL, as on Supabase
            await table.upsert(uneven, on_conflict="id").execute()
        assert info.value.code == "23502"
        upserted = await table.upsert(uneven, on_conflict="id", default_to_null=False).execute()
        assert [(r["id"], r["status"]) for r in upserted.data] == [
            (1, "on_scene"),
            (6, "pending"),
        ]
        deleted = await table.delete().gte("id", 5).execute()
        assert [r["id"] for r in deleted.data] == [5, 6]
        counted = await table.select("*", count="exact", head=True).execute()
        assert counted.count == 4
        with pytest.raises(APIError) as info:
            await client.table("nope").select("*").execute()
        assert info.value.code == "PGRST205"


def test_official_async_client_round_trip(server: LocalServer) -> None:
    asyncio.run(_client_round_trip(server))
