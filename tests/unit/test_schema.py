"""Schemas from SQL migrations and value coercion by column type."""

from __future__ import annotations

from pathlib import Path

import pytest

from rtdata.scenarios import get_scenario
from rtdata.server.grants import Privilege
from rtdata.server.schema import Column, ForeignKey, Schema, SchemaError, load_schema
from rtdata.server.values import CastError, coerce


def test_hospital_migration_defines_the_scenario_tables() -> None:
    schema = load_schema(get_scenario("hospital").migrations)
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
        ("int4", 7, 7),
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
        ("int4", 7.0, "integer"),  # Postgres reads the JSON number 7.0 as "7.0": no integer
    ],
)
def test_coerce_errors_name_type_and_value(type_: str, value: object, pretty: str) -> None:
    with pytest.raises(CastError, match=f'invalid input syntax for type {pretty}: "{value}"'):
        coerce(Column("c", type_), value)


def _load(tmp_path: Path, sql: str) -> Schema:
    path = tmp_path / "0001.sql"
    path.write_text(sql)
    return load_schema(path)


def test_foreign_keys_are_kept_in_every_form(tmp_path: Path) -> None:
    schema = _load(
        tmp_path,
        "create table hospitals (id int8 primary key, code text not null unique);\n"
        "create table wards (\n"
        "  id int8 primary key,\n"
        "  hospital_id int8 not null references public.hospitals(id) on delete cascade,\n"
        "  backup_id int8 references hospitals,\n"
        "  parent_id int8 references wards,\n"
        "  code text,\n"
        "  foreign key (code) references hospitals (code),\n"
        "  constraint wards_self foreign key (parent_id) references wards (id)\n"
        ");\n"
        "create table beds (id int8, ward_id int8);\n"
        "alter table only public.beds add constraint beds_pkey primary key (id);\n"
        "alter table beds add constraint beds_ward_fk foreign key (ward_id) references wards(id);\n",
    )
    wards = schema.tables["wards"]
    assert wards.foreign_keys == [
        ForeignKey(("hospital_id",), "hospitals", ("id",)),
        ForeignKey(("backup_id",), "hospitals", ("id",)),  # no columns: the primary key
        ForeignKey(("parent_id",), "wards", ("id",)),  # a table may reference itself
        ForeignKey(("code",), "hospitals", ("code",)),
        ForeignKey(("parent_id",), "wards", ("id",)),
    ]
    beds = schema.tables["beds"]
    assert beds.primary_key == ("id",)
    assert beds.column("id") == Column("id", "int8", nullable=False)
    assert beds.foreign_keys == [ForeignKey(("ward_id",), "wards", ("id",))]
    assert schema.warnings == []


def test_a_named_primary_key_constraint_is_the_primary_key(tmp_path: Path) -> None:
    schema = _load(
        tmp_path, "create table t (a int8, b text, constraint t_pkey primary key (a, b));"
    )
    assert schema.tables["t"].primary_key == ("a", "b")
    assert [c.nullable for c in schema.tables["t"].columns] == [False, False]


@pytest.mark.parametrize(
    ("sql", "message"),
    [
        ("create table t (a int8 references nowhere(id));", "'nowhere' is not defined"),
        (
            "create table u (x text); create table t (a int8 references u);",
            "references u, which has no primary key",
        ),
        (
            "create table u (id int8 primary key); create table t (a int8 references u(nope));",
            "'nope' is not a column of u",
        ),
        (
            "create table u (id int8 primary key); create table t (a int8, b int8,"
            " foreign key (a, b) references u (id));",
            "names 2 columns but references 1",
        ),
        (
            "create table t (id int8 primary key); alter table t add primary key (id);",
            "multiple primary keys for table 't'",
        ),
    ],
)
def test_bad_foreign_and_primary_keys_are_clear_errors(
    tmp_path: Path, sql: str, message: str
) -> None:
    with pytest.raises(SchemaError, match=rf"0001\.sql:1: .*{message}"):
        _load(tmp_path, sql)


def test_enum_types_give_columns_their_labels(tmp_path: Path) -> None:
    schema = _load(
        tmp_path,
        "create type public.status as enum ('pending', 'done');\n"
        "create table t (id int8 primary key, s status not null default 'pending',"
        " history public.status[]);\n"
        "alter type status add value 'active' after 'pending';\n"
        "alter type public.status add value if not exists 'new' before 'pending';\n"
        "alter type status add value if not exists 'done';\n"
        "alter type status add value 'it''s';\n",
    )
    labels = ("new", "pending", "active", "done", "it's")
    assert schema.enums == {"status": labels}
    table = schema.tables["t"]
    assert table.column("s") == Column("s", "status", False, "'pending'", enum_values=labels)
    assert table.column("history") == Column("history", "_status", enum_values=labels)
    assert schema.warnings == []


def test_enum_errors_name_file_line_and_type(tmp_path: Path) -> None:
    with pytest.raises(SchemaError, match=r"0001\.sql:2: column 'm' has unsupported type mood"):
        _load(tmp_path, "create table a (id int8);\ncreate table t (m mood);")
    with pytest.raises(SchemaError, match=r"type 'mood' is not an enum declared by CREATE TYPE"):
        _load(tmp_path, "alter type mood add value 'x';")
    with pytest.raises(SchemaError, match=r"'zzz' is not a label of enum 'mood'"):
        _load(
            tmp_path, "create type mood as enum ('a'); alter type mood add value 'b' after 'zzz';"
        )
    with pytest.raises(SchemaError, match=r"type 'mood' already exists"):
        _load(tmp_path, "create type mood as enum ('a'); create type mood as enum ('b');")


def test_enum_values_are_checked_like_postgres() -> None:
    column = Column("s", "status", enum_values=("pending", "done"))
    assert coerce(column, "done") == "done"
    with pytest.raises(CastError, match='invalid input value for enum status: "late"'):
        coerce(column, "late")
    array = Column("h", "_status", enum_values=("pending", "done"))
    assert coerce(array, "{pending,done}") == ["pending", "done"]
    with pytest.raises(CastError, match='invalid input value for enum status: "x"'):
        coerce(array, ["x"])


# ---------------------------------------------------------------- grants

SELECT, INSERT = Privilege.SELECT, Privilege.INSERT
API_ROLES = ("anon", "authenticated", "service_role")


def _held(schema: Schema, table: str) -> dict[str, set[str]]:
    """Each Supabase API role's privileges on ``table``, as the store checks them."""
    t = schema.tables[table]
    return {role: {p.value for p in Privilege if t.allows(role, p)} for role in API_ROLES}


def test_tables_of_public_start_with_supabases_default_privileges(tmp_path: Path) -> None:
    schema = _load(tmp_path, "create table t (id int primary key);\ncreate table ops.a (id int);")
    every = {"SELECT", "INSERT", "UPDATE", "DELETE"}
    assert _held(schema, "t") == dict.fromkeys(API_ROLES, every)
    assert _held(schema, "a") == {role: set() for role in API_ROLES}  # not in public
    assert not schema.tables["t"].allows("postgres_fdw_user", SELECT)


def test_grants_and_revokes_apply_in_migration_order(tmp_path: Path) -> None:
    schema = _load(
        tmp_path,
        """
        create table public.t (id int primary key);
        create table u (id int primary key);
        create table "Quoted" (id int primary key);
        revoke insert, update, delete on public.t from anon;
        REVOKE ALL PRIVILEGES ON TABLE t, u FROM authenticated, service_role CASCADE;
        grant select on table public.t to authenticated with grant option;
        grant update, truncate, references, trigger on u to group service_role;
        revoke all on "Quoted" from anon, authenticated, service_role;
        """,
    )
    assert schema.warnings == []
    assert _held(schema, "t") == {
        "anon": {"SELECT"},
        "authenticated": {"SELECT"},
        "service_role": set(),
    }
    assert _held(schema, "u") == {
        "anon": {"SELECT", "INSERT", "UPDATE", "DELETE"},
        "authenticated": set(),
        "service_role": {"UPDATE"},
    }
    assert _held(schema, "Quoted") == {role: set() for role in API_ROLES}


def test_all_tables_in_schema_covers_the_tables_existing_then(tmp_path: Path) -> None:
    schema = _load(
        tmp_path,
        """
        create table a (id int primary key);
        create table ops.audit (id int primary key);
        revoke all on all tables in schema public from anon;
        grant select on all tables in schema ops to authenticated;
        create table b (id int primary key);
        """,
    )
    assert _held(schema, "a")["anon"] == set()
    assert _held(schema, "b")["anon"] == {"SELECT", "INSERT", "UPDATE", "DELETE"}
    assert _held(schema, "audit") == {
        "anon": set(),
        "authenticated": {"SELECT"},
        "service_role": set(),
    }


def test_public_is_every_role_and_revoking_from_it_leaves_a_roles_own_grant(
    tmp_path: Path,
) -> None:
    schema = _load(
        tmp_path,
        """
        create table t (id int primary key);
        revoke all on t from anon, authenticated;
        grant select on t to public;
        create table u (id int primary key);
        revoke all on u from public;
        """,
    )
    assert _held(schema, "t")["anon"] == {"SELECT"}
    assert schema.tables["t"].allows("some_other_role", SELECT)
    assert not schema.tables["t"].allows("some_other_role", INSERT)
    assert _held(schema, "u")["anon"] == {"SELECT", "INSERT", "UPDATE", "DELETE"}


def test_revoke_grant_option_for_keeps_the_privilege(tmp_path: Path) -> None:
    schema = _load(
        tmp_path,
        "create table t (id int primary key);\nrevoke grant option for all on t from anon;",
    )
    assert _held(schema, "t")["anon"] == {"SELECT", "INSERT", "UPDATE", "DELETE"}


@pytest.mark.parametrize(
    "statement",
    [
        "grant select (id) on t to anon",
        "revoke update (id) on t from anon",
        "grant usage on schema public to anon",
        "grant execute on function f() to anon",
        "grant all on sequence s to anon",
        "grant select on all sequences in schema public to anon",
        "grant anon to authenticator",
    ],
)
def test_grants_not_on_whole_tables_are_reported_and_ignored(
    tmp_path: Path, statement: str
) -> None:
    schema = _load(tmp_path, f"create table t (id int primary key);\n{statement};\n")
    assert len(schema.warnings) == 1
    assert schema.warnings[0].startswith(f"{tmp_path / '0001.sql'}:2: statement not supported")
    assert _held(schema, "t")["anon"] == {"SELECT", "INSERT", "UPDATE", "DELETE"}


def test_a_grant_on_an_unknown_table_is_the_usual_error(tmp_path: Path) -> None:
    with pytest.raises(SchemaError, match=r"0001.sql:1: table 'public.nope' is not defined"):
        _load(tmp_path, "revoke all on public.nope from anon;")


@pytest.mark.parametrize(
    "statement", ["revoke select on t", "grant select on t to", "grant select on t to anon junk"]
)
def test_a_grant_that_does_not_parse_is_an_error(tmp_path: Path, statement: str) -> None:
    # Ignoring an unreadable REVOKE would leave more access than Postgres does.
    with pytest.raises(SchemaError, match=r"0001.sql:2: cannot parse"):
        _load(tmp_path, f"create table t (id int primary key);\n{statement};")
