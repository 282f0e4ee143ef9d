"""postgres_changes from logical decoding on a real database: the catalog, the slot reader
(changes made by a plain connection and by a trigger, replica identity, publication actions,
peek/advance across a restart) and the RLS visibility check."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Awaitable, Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, TypeVar

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rtdata.server.postgres.catalog import read_catalog
from rtdata.server.postgres.shape import prepare
from rtdata.server.postgres.visibility import visible_changes
from rtdata.server.postgres.wal import ChangeReader, Transaction, WalError
from rtdata.server.store import Change
from tests.support import timeout_s

Conn = psycopg.Connection[tuple[object, ...]]
T = TypeVar("T")


def run(coro: Awaitable[T]) -> T:
    async def bounded() -> T:
        async with asyncio.timeout(timeout_s(30)):
            return await coro

    return asyncio.run(bounded())


@pytest.fixture
def db(pg_database: Conn) -> Iterator[Conn]:
    """A database with Supabase's shape; every replication slot made in it dropped after."""
    prepare(pg_database)
    pg_database.execute("set timezone = 'UTC'")
    yield pg_database
    pg_database.execute(
        "select pg_drop_replication_slot(slot_name) from pg_replication_slots"
        " where database = current_database()"
    )


def slot_of(db: Conn) -> str:
    return f"s_{db.info.dbname}"


def reader(db: Conn, **options: Any) -> ChangeReader:
    return ChangeReader(db.info.dsn, slot=slot_of(db), **options)


async def read_all(r: ChangeReader, expected: int) -> list[Transaction]:
    """Read until ``expected`` transactions with changes came (a condition, not a sleep)."""
    got: list[Transaction] = []
    while len(got) < expected:
        got += [t for t in await r.read() if t.changes]
        if len(got) < expected:
            await asyncio.sleep(0.01)
    return got


def summary(changes: list[Change]) -> list[tuple[str, str, Any, Any]]:
    return [(c.table.name, c.type, c.record, c.old_record) for c in changes]


TODOS = """
create table todos (id bigint generated always as identity primary key, task text not null,
                    done bool default false, tags text[], meta jsonb,
                    due timestamptz, owner uuid);
alter publication supabase_realtime add table todos;
"""


def test_the_catalog_reads_columns_types_keys_and_publication(db: Conn) -> None:
    db.execute(
        """
        create type mood as enum ('calm', 'busy');
        create table teams (id int primary key, name varchar(40));
        create table people (team int references teams, n int, mood mood, moods mood[],
                             paid numeric(8, 2), seen timestamptz default now(),
                             primary key (team, n));
        alter table people replica identity full;
        alter table people enable row level security;
        create table hidden (id int primary key);
        alter publication supabase_realtime add table teams, people;
        """
    )
    schema = read_catalog(db).schema
    people = schema.tables["people"]
    assert [(c.name, c.type) for c in people.columns] == [
        ("team", "int4"),
        ("n", "int4"),
        ("mood", "mood"),
        ("moods", "_mood"),
        ("paid", "numeric"),
        ("seen", "timestamptz"),
    ]
    assert people.primary_key == ("team", "n")
    assert [(f.columns, f.table, f.referenced) for f in people.foreign_keys] == [
        (("team",), "teams", ("id",))
    ]
    assert people.column("moods") is not None
    assert people.column("mood").enum_values == ("calm", "busy")  # type: ignore[union-attr]
    assert people.column("seen").default == "now()"  # type: ignore[union-attr]
    assert not people.column("team").nullable  # type: ignore[union-attr]
    assert (people.published, people.replica_identity_full, people.rls_enabled) == (
        True,
        True,
        True,
    )
    assert schema.tables["teams"].column("name").type == "varchar"  # type: ignore[union-attr]
    assert not schema.tables["hidden"].published
    assert schema.enums == {"mood": ("calm", "busy")}
    assert "users" not in schema.tables  # auth is not exposed


def test_an_insert_only_publication_is_read_per_table(db: Conn) -> None:
    db.execute(TODOS)
    db.execute("alter publication supabase_realtime set (publish = 'insert')")
    table = read_catalog(db).schema.tables["todos"]
    assert table.published_actions == frozenset({"INSERT"})

    async def go() -> list[Transaction]:
        async with reader(db) as r:
            db.execute("insert into todos (task) values ('a')")
            db.execute("update todos set done = true")
            db.execute("delete from todos")
            db.execute("insert into todos (task) values ('b')")
            return await read_all(r, 2)

    got = run(go())
    assert [[c.type for c in t.changes] for t in got] == [["INSERT"], ["INSERT"]]


def test_changes_by_a_plain_connection_come_with_values_as_to_jsonb(db: Conn) -> None:
    db.execute(TODOS)
    owner = uuid.uuid4()

    async def go() -> list[Transaction]:
        async with reader(db) as r:
            db.execute(
                "insert into todos (task, tags, meta, due, owner) values"
                " ('write', '{a,\"b c\"}', '{\"n\": 1.5}', '2024-05-01 10:00:00.123+02', %s)",
                (owner,),
            )
            db.execute("update todos set done = true")
            db.execute("delete from todos")
            return await read_all(r, 3)

    insert, update, delete = run(go())
    row = {
        "id": 1,
        "task": "write",
        "done": False,
        "tags": ["a", "b c"],
        "meta": {"n": 1.5},
        "due": "2024-05-01T08:00:00.123+00:00",
        "owner": str(owner),
    }
    assert summary(insert.changes) == [("todos", "INSERT", row, None)]
    # Default replica identity: the key only, for UPDATE (from the new row) and DELETE.
    assert summary(update.changes) == [("todos", "UPDATE", {**row, "done": True}, {"id": 1})]
    assert summary(delete.changes) == [("todos", "DELETE", None, {"id": 1})]
    assert [c.type for c in insert.changes[0].table.columns][:3] == ["int8", "text", "bool"]
    assert insert.commit_ns < update.commit_ns < delete.commit_ns
    now_ns = datetime.now(UTC).timestamp() * 1e9
    assert abs(insert.commit_ns - now_ns) < 60e9


def test_replica_identity_full_sends_the_old_row_and_fills_unchanged_toast(db: Conn) -> None:
    db.execute(TODOS + "alter table todos replica identity full;")
    big = "".join(uuid.uuid4().hex for _ in range(4000))  # TOASTed out of line

    async def go() -> list[Transaction]:
        async with reader(db) as r:
            db.execute("insert into todos (task) values (%s)", (big,))
            db.execute("update todos set done = true")
            db.execute("delete from todos")
            return await read_all(r, 3)

    _, update, delete = run(go())
    (change,) = update.changes
    assert change.old_record is not None
    assert change.record is not None
    assert change.old_record["done"] is False
    assert change.record["task"] == big  # filled from the old row, not null
    assert delete.changes[0].old_record == {**change.record}


def test_unchanged_toast_without_an_old_row_is_left_out_not_null(db: Conn) -> None:
    db.execute(TODOS)
    big = "".join(uuid.uuid4().hex for _ in range(4000))

    async def go() -> list[Transaction]:
        async with reader(db) as r:
            db.execute("insert into todos (task) values (%s)", (big,))
            db.execute("update todos set done = true")
            return await read_all(r, 2)

    _, update = run(go())
    record = update.changes[0].record
    assert record is not None
    assert "task" not in record
    assert record["done"] is True


def test_a_multi_row_transaction_and_a_trigger_come_in_order_with_one_commit_time(
    db: Conn,
) -> None:
    db.execute(
        TODOS
        + """
        create table audit (id serial primary key, todo bigint, what text);
        alter publication supabase_realtime add table audit;
        create function log_todo() returns trigger language plpgsql as $$
        begin insert into audit (todo, what) values (new.id, tg_op); return new; end $$;
        create trigger todo_audit after insert on todos for each row execute function log_todo();
        """
    )

    async def go() -> list[Transaction]:
        async with reader(db) as r:
            with db.transaction():
                db.execute("insert into todos (task) values ('a'), ('b')")
                db.execute("update todos set done = true where task = 'a'")
            return await read_all(r, 1)

    (transaction,) = run(go())
    # AFTER ROW triggers run at the end of the statement: the WAL order is the write order.
    assert [(c.table.name, c.type) for c in transaction.changes] == [
        ("todos", "INSERT"),
        ("todos", "INSERT"),
        ("audit", "INSERT"),
        ("audit", "INSERT"),
        ("todos", "UPDATE"),
    ]
    assert [(c.record or {})["task"] for c in transaction.changes[:2]] == ["a", "b"]
    assert transaction.changes[2].record == {"id": 1, "todo": 1, "what": "INSERT"}
    assert {c.commit_ns for c in transaction.changes} == {transaction.commit_ns}


def test_a_new_table_and_a_new_column_refresh_the_schema(db: Conn) -> None:
    db.execute(TODOS)

    async def go() -> list[Transaction]:
        async with reader(db) as r:
            db.execute("insert into todos (task) values ('a')")
            db.execute("alter table todos add column rank int default 3")
            db.execute("insert into todos (task) values ('b')")
            db.execute("create table late (id int primary key)")
            db.execute("alter publication supabase_realtime add table late")
            db.execute("insert into late values (9)")
            return await read_all(r, 3)

    first, second, third = run(go())
    assert "rank" not in (first.changes[0].record or {})
    assert second.changes[0].record == {**(second.changes[0].record or {}), "rank": 3}
    assert second.changes[0].table.column("rank") is not None
    assert third.changes[0].table.name == "late"
    assert third.changes[0].table.published


def test_a_restarted_reader_rereads_what_was_not_advanced_and_nothing_twice(db: Conn) -> None:
    db.execute(TODOS)

    async def first_run() -> list[str]:
        async with reader(db) as r:
            for task in ("a", "b", "c"):
                db.execute("insert into todos (task) values (%s)", (task,))
            batch = await read_all(r, 3)
            await r.advance(batch[0].end_lsn)  # only the first was handed over
            again = [t.changes[0].record["task"] for t in await r.read()]  # type: ignore[index]
            return again

    assert run(first_run()) == ["b", "c"]

    async def second_run() -> list[str]:
        async with reader(db) as r:
            got = await read_all(r, 2)
            await r.advance(got[-1].end_lsn)
            db.execute("insert into todos (task) values ('d')")
            got += await read_all(r, 1)
            return [t.changes[0].record["task"] for t in got]  # type: ignore[index]

    assert run(second_run()) == ["b", "c", "d"]


def test_run_hands_each_transaction_once_and_survives_a_failing_listener(db: Conn) -> None:
    db.execute(TODOS)
    seen: list[str] = []

    def listener(changes: list[Change]) -> None:
        task = (changes[0].record or {})["task"]
        if task == "boom" and "boom" not in seen:
            seen.append(task)
            raise RuntimeError("listener failed")
        seen.append(task)
        if task == "last":
            r.stop()

    r = reader(db)

    async def go() -> None:
        await r.open()
        try:
            for task in ("a", "boom", "b"):
                db.execute("insert into todos (task) values (%s)", (task,))
            with pytest.raises(RuntimeError, match="listener failed"):
                await r.run(listener)
            db.execute("insert into todos (task) values ('last')")
            await r.run(listener)
        finally:
            await r.close()

    run(go())
    # The failed transaction is handed again; the one before it is not.
    assert seen == ["a", "boom", "boom", "b", "last"]


def test_bad_slot_names_and_a_missing_publication_are_named(pg_database: Conn) -> None:
    with pytest.raises(ValueError, match="slot name"):
        ChangeReader(pg_database.info.dsn, slot="Bad-Name")
    with pytest.raises(WalError, match="publication 'supabase_realtime' does not exist"):
        run(ChangeReader(pg_database.info.dsn, slot="s_nopub").open())


# ---------------------------------------------------------------- values against to_jsonb

# jsonb, like text, holds no NUL ("\u0000 cannot be converted to text").
_JSON_TEXT = st.characters(blacklist_characters="\0", blacklist_categories=("Cs",))

VALUE_TYPES: dict[str, st.SearchStrategy[Any]] = {
    "int2": st.integers(-(2**15), 2**15 - 1),
    "int8": st.integers(-(2**63), 2**63 - 1),
    "float8": st.floats(allow_nan=True, allow_infinity=True),
    "float4": st.floats(width=32, allow_nan=False),
    "numeric": st.just(Decimal("NaN"))
    | st.decimals(allow_nan=False, allow_infinity=True, places=4).filter(
        lambda d: abs(d) < Decimal("1e20") or d.is_infinite()
    ),
    "bool": st.booleans(),
    "text": st.text(st.characters(blacklist_characters="\0", blacklist_categories=("Cs",))),
    "jsonb": st.recursive(
        st.none() | st.booleans() | st.integers(-(2**50), 2**50) | st.text(_JSON_TEXT, max_size=5),
        lambda inner: (
            st.lists(inner, max_size=3) | st.dictionaries(st.text(_JSON_TEXT, max_size=3), inner)
        ),
        max_leaves=6,
    ).map(psycopg.types.json.Jsonb),
    "timestamptz": st.datetimes(
        min_value=datetime(1, 1, 1) + timedelta(days=2), timezones=st.just(UTC)
    ),
    "timestamp": st.datetimes(),
    "date": st.dates(),
    "uuid": st.uuids(),
    "_int4": st.lists(st.none() | st.integers(-(2**31), 2**31 - 1), max_size=4),
    "_text": st.lists(
        st.none()
        | st.text(
            st.characters(blacklist_characters="\0", blacklist_categories=("Cs",)), max_size=6
        ),
        max_size=4,
    ),
    "_timestamptz": st.lists(
        st.datetimes(min_value=datetime(1900, 1, 1), timezones=st.just(UTC)), max_size=3
    ),
}
TYPED_TABLE = ", ".join(
    f"c_{name.strip('_')}{'_arr' if name.startswith('_') else ''}"
    f" {name.strip('_')}{'[]' if name.startswith('_') else ''}"
    for name in VALUE_TYPES
)


def test_values_come_as_the_database_renders_them_with_to_jsonb(db: Conn) -> None:
    db.execute(
        f"create type mood as enum ('calm', 'busy'); create table typed (id serial primary key,"
        f" {TYPED_TABLE}, c_mood mood, c_moods mood[]);"
        " alter publication supabase_realtime add table typed;"
    )
    names = [c.split()[0] for c in TYPED_TABLE.split(", ")]
    r = reader(db)
    run(r.open())

    @settings(
        max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
    )
    @given(st.fixed_dictionaries({n: v for n, v in zip(names, VALUE_TYPES.values(), strict=True)}))
    def check(values: dict[str, Any]) -> None:
        placeholders = ", ".join(["%s"] * len(values))
        row = db.execute(
            f"insert into typed ({', '.join(values)}, c_mood, c_moods)"
            f" values ({placeholders}, 'busy', '{{calm,NULL}}') returning to_jsonb(typed)::text",
            list(values.values()),
        ).fetchone()
        assert row is not None
        # Integers beyond 64 bits come as floats (values.py says why).
        expected = {k: _within_64_bits(v) for k, v in json.loads(str(row[0])).items()}

        async def decoded() -> dict[str, Any]:
            (transaction,) = await read_all(r, 1)
            await r.advance(transaction.end_lsn)
            record = transaction.changes[0].record
            assert record is not None
            return record

        assert run(decoded()) == expected

    try:
        check()
    finally:
        run(r.close())


def _within_64_bits(value: Any) -> Any:
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) >= 2**63:
        return float(value)
    return value


# ---------------------------------------------------------------- visibility

PRIVATE = """
create table notes (id serial primary key, owner uuid not null, body text);
alter table notes enable row level security;
create policy own on notes for select using (owner = auth.uid());
alter publication supabase_realtime add table notes;
"""


def test_a_subscriber_sees_only_rows_it_may_read_and_the_service_role_all(db: Conn) -> None:
    db.execute(PRIVATE + TODOS)
    alice, bob = uuid.uuid4(), uuid.uuid4()

    async def go() -> list[frozenset[int]]:
        async with reader(db) as r:
            with db.transaction():
                db.execute("insert into notes (owner, body) values (%s, 'a1')", (alice,))
                db.execute("insert into notes (owner, body) values (%s, 'b1')", (bob,))
                db.execute("insert into todos (task) values ('public')")
            db.execute("delete from notes where body = 'b1'")
            changes = [c for t in await read_all(r, 2) for c in t.changes]
            assert [c.type for c in changes] == ["INSERT", "INSERT", "INSERT", "DELETE"]
            claims = [
                {"role": "authenticated", "sub": str(alice)},
                {"role": "authenticated", "sub": str(bob)},
                {"role": "service_role"},
                {"sub": str(alice), "role": "authenticated"},  # same claims: one group
                {"role": "anon"},
                {"role": "no_such_role"},
            ]
            conn = r._connection()
            return await visible_changes(conn, changes, claims)

    alice_sees, bob_sees, service_sees, alice_again, anon_sees, nobody = run(go())
    assert alice_sees == {0, 2, 3}  # her note, the table without RLS, the DELETE
    assert bob_sees == {2, 3}  # his note was deleted before the check: not visible
    assert service_sees == {0, 1, 2, 3}
    assert alice_again == alice_sees
    assert anon_sees == {2, 3}
    assert nobody == frozenset()  # a role that does not exist may select no table


def test_a_revoked_select_reaches_realtime_within_the_privileges_ttl(db: Conn) -> None:
    from rtdata.server.postgres.visibility import PRIVILEGE_TTL_S, SelectPrivileges

    db.execute(TODOS)
    now_s = [100.0]
    privileges = SelectPrivileges(clock_s=lambda: now_s[0])

    async def go() -> list[frozenset[int]]:
        async with reader(db) as r:
            db.execute("insert into todos (task) values ('a')")
            changes = [c for t in await read_all(r, 1) for c in t.changes]
            conn = r._connection()
            seen = await visible_changes(conn, changes, [{"role": "anon"}], privileges)
            db.execute("revoke select on todos from anon")
            cached = await visible_changes(conn, changes, [{"role": "anon"}], privileges)
            now_s[0] += PRIVILEGE_TTL_S + 0.001
            later = await visible_changes(conn, changes, [{"role": "anon"}], privileges)
            return [seen[0], cached[0], later[0]]

    seen, cached, later = run(go())
    assert seen == {0}
    assert cached == {0}  # kept for the TTL
    assert later == frozenset()  # read again: revoked
