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


def test_a_bad_policy_in_a_migration_names_file_and_line(tmp_path: Path) -> None:
    sql = tmp_path / "002.sql"
    sql.write_text(
        "create table t (id int8 primary key);\n\ncreate policy p on t using (id > 3);\n"
    )
    with pytest.raises(SchemaError, match=r"002\.sql:3: unsupported policy predicate"):
        load_schema(sql)
