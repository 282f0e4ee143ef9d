"""Schemas from SQL migrations and value coercion by column type."""

from __future__ import annotations

from pathlib import Path

import pytest

from rtdata.server.schema import Column, SchemaError, load_schema
from rtdata.server.values import CastError, coerce
from rtdata.simulate import MIGRATIONS_DIR


def test_hospital_migration_defines_the_scenario_tables() -> None:
    schema = load_schema(MIGRATIONS_DIR)
    assert set(schema.tables) == {
        "hospitals",
        "profiles",
        "verification_requests",
        "emergency_requests",
        "vital_signs",
        "hospital_resources",
        "waitlist_entries",
        "financial_disputes",
    }
    emergencies = schema.tables["emergency_requests"]
    assert emergencies.primary_key == ("id",)
    assert emergencies.published
    assert emergencies.replica_identity_full
    assert not schema.tables["vital_signs"].replica_identity_full
    id_col = emergencies.column("id")
    assert id_col is not None
    assert id_col.identity
    assert id_col.type == "int8"
    priority = emergencies.column("priority")
    assert priority == Column("priority", "int2", nullable=False, default="3")
    assert schema.warnings == []


def test_types_constraints_and_defaults(tmp_path: Path) -> None:
    sql = tmp_path / "001.sql"
    sql.write_text(
        "create table t (a serial primary key, b varchar(3) not null default 'x', c int4[],"
        " d jsonb default '{}'::jsonb, e timestamptz default now(), f bool);\n"
        "create table u (x int8, y text, primary key (x, y));\n"
    )
    schema = load_schema(sql)
    t = schema.tables["t"]
    assert [(c.name, c.type) for c in t.columns] == [
        ("a", "int4"),
        ("b", "varchar"),
        ("c", "_int4"),
        ("d", "jsonb"),
        ("e", "timestamptz"),
        ("f", "bool"),
    ]
    assert not t.published
    assert schema.tables["u"].primary_key == ("x", "y")


def test_unsupported_statements_are_reported_with_file_and_line(tmp_path: Path) -> None:
    sql = tmp_path / "002.sql"
    sql.write_text("create table t (id int primary key);\n\ncreate index on t (id);\n")
    schema = load_schema(sql)
    assert len(schema.warnings) == 1
    assert f"{sql}:3" in schema.warnings[0]


def test_unsupported_type_names_file_line_and_column(tmp_path: Path) -> None:
    sql = tmp_path / "003.sql"
    sql.write_text("\ncreate table t (id int primary key, g geometry);\n")
    with pytest.raises(SchemaError, match=r"003\.sql:2: column 'g' has unsupported type"):
        load_schema(sql)


def test_missing_path_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(SchemaError, match="no such migration"):
        load_schema(tmp_path / "nope")


@pytest.mark.parametrize(
    ("type_", "value", "expected"),
    [
        ("int8", "42", 42),
        ("int4", 7.0, 7),
        ("float8", "1.5", 1.5),
        ("numeric", "2.50", 2.5),
        ("bool", "true", True),
        ("text", "hi", "hi"),
        ("timestamptz", "2024-05-01T10:00:00Z", "2024-05-01T10:00:00+00:00"),
        ("date", "2024-05-01", "2024-05-01"),
        ("jsonb", '{"a": 1}', {"a": 1}),
        ("_int4", "{1,2}", [1, 2]),
        ("int4", None, None),
    ],
)
def test_coerce(type_: str, value: object, expected: object) -> None:
    assert coerce(Column("c", type_), value) == expected


@pytest.mark.parametrize(
    ("type_", "value", "pretty"),
    [
        ("int8", "abc", "bigint"),
        ("bool", "maybe", "boolean"),
        ("uuid", "x", "uuid"),
        ("int4", 1.5, "integer"),
    ],
)
def test_coerce_errors_name_type_and_value(type_: str, value: object, pretty: str) -> None:
    with pytest.raises(CastError, match=f'invalid input syntax for type {pretty}: "{value}"'):
        coerce(Column("c", type_), value)
