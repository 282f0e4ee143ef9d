"""rtdata.introspect: the REST schema read into tables, columns and keys, and the bindings a
collector follows; HTTP failures through httpx's own MockTransport."""

from __future__ import annotations

import asyncio
import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from rtdata.config import Binding
from rtdata.introspect import (
    ColumnInfo,
    IntrospectionError,
    IntrospectionRefused,
    ProjectSchema,
    TableInfo,
    bindings_for,
    fetch_schema,
    fetch_schema_async,
    parse_openapi,
    schema_from_migrations,
)
from rtdata.scenarios import DEFAULT_SCENARIO, get_scenario
from rtdata.server import openapi
from rtdata.server.schema import load_schema
from tests.unit.postgrest_documents import SUPABASE_DOCUMENT

MIGRATIONS_DIR = get_scenario(DEFAULT_SCENARIO).migrations

URL = "https://abcdefghijklmnop.supabase.co"
KEY = "sb_secret_do-not-print-me"


def test_a_supabase_document_gives_tables_columns_and_keys() -> None:
    schema = parse_openapi(SUPABASE_DOCUMENT)
    assert list(schema.tables) == ["hospitals", "patients", "patient_staff", "ward_load", "legacy"]
    assert schema.columns("patients") == (
        "id",
        "hospital_id",
        "status",
        "name",
        "tags",
        "vitals",
        "updated_at",
    )
    patients = schema.tables["patients"]
    assert patients.primary_key == ("id",)
    assert patients.columns["id"] == ColumnInfo("id", "uuid", False, has_default=True)
    # A column comment comes before the note; the foreign key is still found.
    assert patients.columns["hospital_id"] == ColumnInfo(
        "hospital_id", "bigint", False, foreign_key=("hospitals", "id")
    )
    assert patients.columns["status"] == ColumnInfo(
        "status", "patient_status", False, ("waiting", "admitted", "discharged"), None, True
    )
    assert patients.columns["name"] == ColumnInfo("name", "character varying")
    assert patients.columns["tags"].pg_type == "text[]"
    assert patients.columns["vitals"] == ColumnInfo("vitals", "jsonb")
    assert patients.columns["updated_at"].is_timestamp
    # required lists NOT NULL columns whatever their defaults, so nullable is its complement.
    assert not schema.tables["hospitals"].columns["created_at"].nullable
    assert schema.tables["hospitals"].columns["beds"].nullable


def test_composite_keys_views_and_columns_without_format_are_tolerated() -> None:
    schema = parse_openapi(SUPABASE_DOCUMENT)
    join = schema.tables["patient_staff"]
    assert join.primary_key == ("patient_id", "staff_id")
    assert join.columns["patient_id"].foreign_key == ("patients", "id")
    assert join.columns["staff_id"].foreign_key == ("staff", "id")
    view = schema.tables["ward_load"]
    assert view.primary_key == ()
    assert all(c.nullable for c in view.columns.values())  # a view has no required list
    assert schema.tables["legacy"].columns["code"] == ColumnInfo("code", "")
    assert schema.keyless() == ("ward_load",)
    assert "admit" not in schema.tables  # functions are paths, not definitions


def test_bindings_follow_every_keyed_table_and_resync_on_a_timestamp_updated_at() -> None:
    schema = parse_openapi(SUPABASE_DOCUMENT)
    assert bindings_for(schema) == (
        Binding("hospitals", "public", primary_key=("id",)),
        Binding("patients", "public", primary_key=("id",), resync_column="updated_at"),
        # updated_at is text here: not a resync column.
        Binding("patient_staff", "public", primary_key=("patient_id", "staff_id")),
        Binding("legacy", "public", primary_key=("id",)),
    )
    assert {b.schema for b in bindings_for(schema, db_schema="ops")} == {"ops"}
    assert bindings_for(ProjectSchema({})) == ()


def test_the_schema_is_read_only_and_compares_by_value() -> None:
    schema = parse_openapi(SUPABASE_DOCUMENT)
    assert schema == parse_openapi(copy.deepcopy(SUPABASE_DOCUMENT))
    with pytest.raises(TypeError):
        schema.tables["x"] = schema.tables["legacy"]  # type: ignore[index]
    with pytest.raises(TypeError):
        schema.tables["legacy"].columns["x"] = ColumnInfo("x", "text")  # type: ignore[index]
    assert schema.has_column("patients", "status")
    assert not schema.has_column("patients", "nope")
    assert not schema.has_column("nope", "id")
    with pytest.raises(KeyError, match=r"no table 'nope' in the REST schema \(it has \["):
        schema.columns("nope")


def test_a_primary_key_must_name_columns_of_its_table() -> None:
    with pytest.raises(IntrospectionError, match=r"table 't': primary-key columns \['x'\]"):
        TableInfo("t", {"id": ColumnInfo("id", "bigint")}, ("x",))


def _broken(change: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
    document = copy.deepcopy(SUPABASE_DOCUMENT)
    change(document)
    return document


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ([], "the REST schema is a JSON list, not an object"),
        ({"openapi": "3.0.0", "paths": {}}, "the REST schema is OpenAPI 3.0.0, not PostgREST's"),
        ({"paths": {}}, "a document without swagger: 2.0"),
        (_broken(lambda d: d.update(definitions=[])), "definitions is not an object"),
        (_broken(lambda d: d["definitions"].update(t=1)), "definition 't' is not an object"),
        (
            _broken(lambda d: d["definitions"]["legacy"].update(properties=[])),
            "definition 'legacy': properties is not an object",
        ),
        (
            _broken(lambda d: d["definitions"]["legacy"].update(required="id")),
            "definition 'legacy': required is not a list of names",
        ),
        (
            _broken(lambda d: d["definitions"]["legacy"]["properties"].update(id=None)),
            "definition 'legacy': property 'id' is not an object",
        ),
    ],
)
def test_documents_that_are_not_postgrest_openapi_are_clear_errors(
    document: Any, message: str
) -> None:
    with pytest.raises(IntrospectionError, match=message.replace("(", r"\(")):
        parse_openapi(document)


def test_a_document_without_definitions_exposes_no_table() -> None:
    assert parse_openapi({"swagger": "2.0", "paths": {}}) == ProjectSchema({})


def test_migrations_give_what_the_local_servers_document_says() -> None:
    schema = load_schema(MIGRATIONS_DIR)
    served = parse_openapi(openapi.document(schema, "localhost:54321"))
    from_sql = schema_from_migrations(MIGRATIONS_DIR)
    assert from_sql == served
    for table in from_sql.tables:
        assert from_sql.columns(table) == served.columns(table)
    assert from_sql.keyless() == ()


def test_migrations_with_keys_and_enums(tmp_path: Path) -> None:
    (tmp_path / "0001.sql").write_text(
        "create type public.stage as enum ('new', 'done');\n"
        "create table hospitals (id int8 primary key);\n"
        "create table cases (\n"
        "  id bigint generated by default as identity,\n"
        "  hospital_id int8 not null references hospitals,\n"
        "  stage stage not null default 'new',\n"
        "  history stage[],\n"
        "  updated_at timestamptz default now(),\n"
        "  primary key (hospital_id, id)\n"
        ");\n"
        "create table ops.audit (id int8 primary key);\n"
    )
    schema = schema_from_migrations(tmp_path)
    assert list(schema.tables) == ["hospitals", "cases"]  # only the public schema
    cases = schema.tables["cases"]
    assert cases.primary_key == ("id", "hospital_id")  # in column order, as the REST schema
    assert cases.columns["id"] == ColumnInfo("id", "bigint", False)  # identity: no default shown
    assert cases.columns["hospital_id"].foreign_key == ("hospitals", "id")
    assert cases.columns["stage"] == ColumnInfo(
        "stage", "stage", False, ("new", "done"), None, True
    )
    assert cases.columns["history"] == ColumnInfo("history", "stage[]")
    assert bindings_for(schema)[1] == Binding(
        "cases", primary_key=("id", "hospital_id"), resync_column="updated_at"
    )


def test_unreadable_migrations_are_an_introspection_error(tmp_path: Path) -> None:
    with pytest.raises(IntrospectionError, match="no such migration file or folder"):
        schema_from_migrations(tmp_path / "missing")
    (tmp_path / "0001.sql").write_text("create table t (g geometry);")
    with pytest.raises(IntrospectionError, match=r"0001\.sql:1: column 'g' has unsupported type"):
        schema_from_migrations(tmp_path)


# ------------------------------------------------------------ over HTTP, with MockTransport


def _fetch(handler: Callable[[httpx.Request], httpx.Response], token: str | None = None) -> Any:
    async def run() -> Any:
        async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as client:
            return await fetch_schema_async(URL + "/", KEY, client=client, token=token)

    return asyncio.run(run())


def test_the_request_asks_for_openapi_with_the_key() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json=SUPABASE_DOCUMENT)

    assert _fetch(handler) == parse_openapi(SUPABASE_DOCUMENT)
    assert _fetch(handler, token="user-jwt") == parse_openapi(SUPABASE_DOCUMENT)
    first, second = seen
    assert str(first.url) == f"{URL}/rest/v1/"
    assert first.headers["apikey"] == KEY
    assert first.headers["authorization"] == f"Bearer {KEY}"
    assert first.headers["accept"] == "application/openapi+json"
    assert second.headers["apikey"] == KEY
    assert second.headers["authorization"] == "Bearer user-jwt"


@pytest.mark.parametrize(
    ("response", "error", "message"),
    [
        (
            httpx.Response(401, json={"message": "Invalid API key"}),
            IntrospectionRefused,
            "HTTP 401",
        ),
        (httpx.Response(403, json={"message": "forbidden"}), IntrospectionRefused, "HTTP 403"),
        (httpx.Response(500, text="oops"), IntrospectionError, "answered HTTP 500"),
        (
            httpx.Response(200, text="<html>", headers={"content-type": "text/html"}),
            IntrospectionError,
            r"did not answer JSON \(text/html\)",
        ),
        (
            httpx.Response(200, json={"openapi": "3.1.0"}),
            IntrospectionError,
            "OpenAPI 3.1.0, not PostgREST's",
        ),
    ],
)
def test_http_failures_are_typed_and_name_the_url_not_the_key(
    response: httpx.Response, error: type[IntrospectionError], message: str
) -> None:
    with pytest.raises(error, match=message) as raised:
        _fetch(lambda _request: response)
    assert f"{URL}/rest/v1/" in str(raised.value)
    assert KEY not in str(raised.value)
    if error is IntrospectionError:
        assert not isinstance(raised.value, IntrospectionRefused)


def test_network_errors_are_introspection_errors_with_the_key_redacted() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError(f"refused while sending {KEY}", request=request)

    with pytest.raises(IntrospectionError, match=r"ConnectError: refused while sending \*\*\*"):
        _fetch(handler)


@pytest.mark.parametrize("key", ["kéy-with-accent", "key\nX-Injected: 1"])
def test_a_key_no_header_can_carry_is_refused_without_showing_it(key: str) -> None:
    with pytest.raises(IntrospectionRefused) as caught:
        fetch_schema("http://127.0.0.1:9", key, timeout_s=1.0)
    assert key not in str(caught.value)
    assert "key" in str(caught.value)


def test_a_malformed_url_is_an_introspection_error() -> None:
    with pytest.raises(IntrospectionError) as caught:
        fetch_schema("http://exa mple.com:notaport", "k", timeout_s=1.0)
    assert "REST schema" in str(caught.value)
