"""Row-level security: CREATE POLICY parsing and evaluation against JWT claims."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from rtdata.server.policies import PolicyError, parse_policy, visible
from rtdata.server.schema import SchemaError, load_schema


def as_int(_column: str, value: Any) -> int:
    return int(value)


def same(_column: str, value: Any) -> Any:
    return value


STAFF = parse_policy(
    'policy "staff" on public.cases for select to authenticated'
    " using (hospital_id = ((auth.jwt() ->> 'hospital_id'))::int8)"
)


@pytest.mark.parametrize(
    ("claims", "row", "expected"),
    [
        ({"role": "authenticated", "hospital_id": "2"}, {"hospital_id": 2}, True),
        ({"role": "authenticated", "hospital_id": 2}, {"hospital_id": 3}, False),
        ({"role": "authenticated"}, {"hospital_id": 2}, False),  # missing claim: NULL
        ({"role": "authenticated", "hospital_id": "x"}, {"hospital_id": 2}, False),  # no cast
        ({"role": "anon", "hospital_id": "2"}, {"hospital_id": 2}, False),  # policy not for anon
        ({"role": "service_role"}, {"hospital_id": 2}, True),  # bypasses RLS
    ],
)
def test_claim_equality_policy(claims: dict[str, Any], row: dict[str, Any], expected: bool) -> None:
    assert visible([STAFF], True, "select", claims, row, as_int) is expected


def test_without_rls_every_role_sees_every_row() -> None:
    assert visible([], False, "select", {"role": "anon"}, {"hospital_id": 1}, as_int)
    assert not visible([], True, "select", {"role": "anon"}, {"hospital_id": 1}, as_int)


def test_uid_role_or_nested_claims_and_with_check() -> None:
    own = parse_policy(
        "policy own on profiles for all using (id = auth.uid() or auth.role() = 'service_role')"
    )
    assert own.roles == ()
    assert visible(
        [own], True, "update", {"role": "authenticated", "sub": "u1"}, {"id": "u1"}, same
    )
    assert not visible(
        [own], True, "update", {"role": "authenticated", "sub": "u2"}, {"id": "u1"}, same
    )
    org = parse_policy(
        "policy org on t for insert to public with check (org = (auth.jwt() -> 'app_metadata' ->> 'org'))"
    )
    claims = {"role": "anon", "app_metadata": {"org": "a"}}
    assert visible([org], True, "insert", claims, {"org": "a"}, same, checking=True)
    assert not visible([org], True, "insert", claims, {"org": "b"}, same, checking=True)
    assert not visible([org], True, "select", claims, {"org": "a"}, same)  # insert-only policy


@pytest.mark.parametrize(
    ("sql", "problem"),
    [
        ("policy p on t using (a > 1)", "unsupported policy predicate"),
        ("policy p on t as restrictive using (true)", "RESTRICTIVE"),
        ("policy p on t for fly using (true)", "unknown command"),
        ("policy p on t using true", "in parentheses"),
        ("policy p", "expected CREATE POLICY"),
    ],
)
def test_unsupported_policies_are_errors(sql: str, problem: str) -> None:
    with pytest.raises(PolicyError, match=problem):
        parse_policy(sql)


def test_migrations_enable_rls_and_attach_policies(tmp_path: Path) -> None:
    sql = tmp_path / "001.sql"
    sql.write_text(
        "create table cases (id int8 primary key, hospital_id int8);\n"
        "alter table cases enable row level security;\n"
        "create policy all_staff on cases for select to authenticated using (true);\n"
    )
    table = load_schema(sql).tables["cases"]
    assert table.rls_enabled
    assert [p.name for p in table.policies] == ["all_staff"]


def test_a_permissive_policy_it_cannot_evaluate_is_left_out_with_a_warning(
    tmp_path: Path,
) -> None:
    sql = tmp_path / "002.sql"
    sql.write_text(
        "create table t (id int8 primary key);\n"
        "alter table t enable row level security;\n"
        "create policy p on t using (id > 3);\n"
        "create policy q on t for select to authenticated using (true);\n"
    )
    schema = load_schema(sql)
    table = schema.tables["t"]
    # Left out, the permissive policy can only hide rows Postgres would show, never the reverse.
    assert [p.name for p in table.policies] == ["q"]
    (warning,) = schema.warnings
    assert warning.startswith(f"{sql}:3: unsupported policy predicate")
    assert "left out" in warning
    assert not visible(table.policies, True, "select", {"role": "anon"}, {"id": 9}, same)


def test_a_restrictive_policy_is_refused_with_file_and_line(tmp_path: Path) -> None:
    sql = tmp_path / "003.sql"
    sql.write_text(
        "create table t (id int8 primary key);\n\n"
        "create policy r on t as restrictive using (id = 1);\n"
    )
    with pytest.raises(SchemaError, match=r"003\.sql:3: policy 'r': RESTRICTIVE"):
        load_schema(sql)


def test_a_foreign_key_to_a_table_of_another_schema_is_a_warning(tmp_path: Path) -> None:
    sql = tmp_path / "004.sql"
    sql.write_text(
        "create table profiles (id uuid primary key references auth.users (id) on delete cascade,"
        " team int8);\n"
        "create table teams (id int8 primary key);\n"
        "alter table profiles add constraint profiles_team_fkey foreign key (team)"
        " references public.teams (id);\n"
    )
    schema = load_schema(sql)
    (warning,) = schema.warnings
    assert warning == (
        f"{sql}:1: foreign key (id) of profiles references auth.users, which no migration"
        " defines; not kept"
    )
    assert [fk.table for fk in schema.tables["profiles"].foreign_keys] == ["teams"]
    sql.write_text("create table a (id int8 primary key references missing (id));\n")
    with pytest.raises(SchemaError, match="'missing' is not defined"):  # public: still an error
        load_schema(sql)
