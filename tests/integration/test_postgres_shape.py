"""Supabase's shape on a real Postgres: every pack's migrations and a Supabase app's own run
unchanged, and the database enforces what they declare (enums, triggers, RLS, grants)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import orjson
import psutil
import psycopg
import pytest
from psycopg import errors

from rtdata.scenarios import SCENARIOS, get_scenario
from rtdata.server.postgres.cluster import EmbeddedPostgres
from rtdata.server.postgres.shape import MigrationError, migrate, prepare
from tests.support import wait_until

APP = Path(__file__).parent / "migrations" / "supabase_app"
Conn = psycopg.Connection[tuple[object, ...]]


@contextmanager
def as_user(conn: Conn, role: str, sub: uuid.UUID | None = None) -> Iterator[Conn]:
    """Run the block in a transaction as PostgREST does for a request: ``SET LOCAL ROLE`` and
    ``request.jwt.claims``; rolled back at the end."""
    claims = {"role": role, **({"sub": str(sub)} if sub else {})}
    with conn.transaction(force_rollback=True):
        conn.execute(f"set local role {role}")
        conn.execute(
            "select set_config('request.jwt.claims', %s, true)", (orjson.dumps(claims).decode(),)
        )
        yield conn


def sign_up(conn: Conn, username: str) -> uuid.UUID:
    """Insert an auth user as GoTrue does at sign-up; return its id."""
    user_id = uuid.uuid4()
    conn.execute(
        "insert into auth.users (id, aud, role, email, raw_user_meta_data, created_at) "
        "values (%s, 'authenticated', 'authenticated', %s, %s, now())",
        (user_id, f"{username}@example.test", orjson.dumps({"username": username}).decode()),
    )
    return user_id


@pytest.mark.parametrize("pack", sorted(SCENARIOS))
def test_pack_migrations_run_unchanged(pg_database: Conn, pack: str) -> None:
    prepare(pg_database)
    source = get_scenario(pack).migrations
    first = migrate(pg_database, source)
    assert first.applied == tuple(sorted(source.glob("*.sql")))
    published = pg_database.execute(
        "select count(*) from pg_publication_tables where pubname = 'supabase_realtime'"
    ).fetchone()
    assert published is not None
    assert published[0] > 0
    # A kept database is not migrated twice.
    prepare(pg_database)
    again = migrate(pg_database, source)
    assert again.applied == ()
    assert again.skipped == first.applied


def test_shape_functions_read_the_request_claims(pg_database: Conn) -> None:
    prepare(pg_database)
    someone = uuid.uuid4()
    with as_user(pg_database, "authenticated", someone) as conn:
        row = conn.execute("select auth.uid(), auth.role(), auth.jwt() ->> 'sub'").fetchone()
    assert row == (someone, "authenticated", str(someone))
    with as_user(pg_database, "anon") as conn:
        assert conn.execute("select auth.uid(), auth.role()").fetchone() == (None, "anon")
    row = pg_database.execute(
        "select storage.foldername('a/b/c.png'), storage.filename('a/b/c.png'), "
        "storage.extension('a/b/c.png')"
    ).fetchone()
    assert row == (["a", "b"], "c.png", "png")


def test_a_supabase_apps_migrations_run_and_hold(pg_database: Conn) -> None:
    prepare(pg_database)
    assert len(migrate(pg_database, APP).applied) == 2
    alice, bob = sign_up(pg_database, "alice"), sign_up(pg_database, "bob")
    # The trigger on auth.users made a profile for each.
    profiles = pg_database.execute(
        "select id, username, role::text from profiles order by username"
    )
    assert profiles.fetchall() == [(alice, "alice", "member"), (bob, "bob", "member")]
    # Enum values are checked.
    with pytest.raises(errors.InvalidTextRepresentation):
        pg_database.execute("update profiles set role = 'king' where id = %s", (alice,))
    # RLS with auth.uid(): each sees and updates only their own profile.
    with as_user(pg_database, "authenticated", alice) as conn:
        assert conn.execute("select username from profiles").fetchall() == [("alice",)]
        updated = conn.execute("update profiles set username = 'mallory' where id = %s", (bob,))
        assert updated.rowcount == 0
    # IN (select ...): notes of the teams one belongs to.
    team = pg_database.execute("insert into teams (name) values ('t') returning id").fetchone()
    assert team is not None
    pg_database.execute("insert into team_members values (%s, %s)", (team[0], alice))
    with as_user(pg_database, "authenticated", alice) as conn:
        conn.execute("insert into notes (team_id, body) values (%s, 'hello')", (team[0],))
        assert conn.execute("select body from notes").fetchall() == [("hello",)]
    pg_database.execute(
        "insert into notes (team_id, owner_id, body) values (%s, %s, 'x')", (team[0], alice)
    )
    with as_user(pg_database, "authenticated", bob) as conn:
        assert conn.execute("select count(*) from notes").fetchone() == (0,)
        with pytest.raises(errors.InsufficientPrivilege):  # WITH CHECK: not a member
            conn.execute("insert into notes (team_id, body) values (%s, 'sneaky')", (team[0],))
    # The service role bypasses RLS.
    with as_user(pg_database, "service_role") as conn:
        assert conn.execute("select count(*) from notes").fetchone() == (1,)
    # Storage policies on storage.objects.
    with as_user(pg_database, "authenticated", alice) as conn:
        conn.execute(
            "insert into storage.objects (bucket_id, name, owner) values ('avatars', %s, %s)",
            (f"{alice}/me.png", alice),
        )
        with pytest.raises(errors.InsufficientPrivilege):
            conn.execute(
                "insert into storage.objects (bucket_id, name) values ('avatars', %s)",
                (f"{bob}/me.png",),
            )
    # Grants: anon may not read teams at all (revoked), as opposed to seeing no rows.
    with as_user(pg_database, "anon") as conn, pytest.raises(errors.InsufficientPrivilege):
        conn.execute("select * from teams")


def test_a_missing_extension_is_named(pg_database: Conn, tmp_path: Path) -> None:
    prepare(pg_database)
    (tmp_path / "0001_ext.sql").write_text(
        'create table t (id int primary key);\n\ncreate extension if not exists "uuid-ossp";\n'
    )
    with pytest.raises(MigrationError) as caught:
        migrate(pg_database, tmp_path)
    assert caught.value.missing_extension == "uuid-ossp"
    assert caught.value.line == 3
    assert "0001_ext.sql:3" in str(caught.value)
    assert "uuid-ossp" in str(caught.value)
    # Nothing of the failed file was applied, and it is not recorded.
    assert pg_database.execute("select to_regclass('public.t')").fetchone() == (None,)
    recorded = pg_database.execute("select count(*) from supabase_migrations.schema_migrations")
    assert recorded.fetchone() == (0,)


@pytest.mark.parametrize(
    ("script", "line", "sqlstate"),
    [
        ("create table a (id int);\n\ncreate tabel b ();\n", 3, "42601"),
        (
            "create table a (id int);\ncreate function f() returns int language plpgsql "
            "as $$ begin return 1; end; $$;\n\nselect * from nope;\n",
            4,
            "42P01",
        ),
    ],
)
def test_a_failing_statement_is_located(
    pg_database: Conn, tmp_path: Path, script: str, line: int, sqlstate: str
) -> None:
    prepare(pg_database)
    (tmp_path / "0001_bad.sql").write_text(script)
    with pytest.raises(MigrationError) as caught:
        migrate(pg_database, tmp_path)
    assert (caught.value.line, caught.value.sqlstate) == (line, sqlstate)
    assert f"0001_bad.sql:{line}:" in str(caught.value)


@pytest.mark.skipif("RTDATA_TEST_DB" in os.environ, reason="tests the embedded cluster")
def test_a_kept_cluster_restarts_with_its_data() -> None:
    # Not pytest's tmp_path: run as root, the cluster's account must be able to enter it.
    folder = Path(tempfile.mkdtemp(prefix="rtdata-kept-"))
    folder.chmod(0o755)
    try:
        with (
            EmbeddedPostgres(folder / "db") as cluster,
            psycopg.connect(cluster.dsn, autocommit=True) as conn,
        ):
            conn.execute("create table kept (n int)")
            conn.execute("insert into kept values (7)")
            conn.execute("select pg_create_logical_replication_slot('kept_slot', 'pgoutput')")
        assert (folder / "db" / "PG_VERSION").exists()
        with (
            EmbeddedPostgres(folder / "db") as cluster,
            psycopg.connect(cluster.dsn, autocommit=True) as conn,
        ):
            assert conn.execute("select n from kept").fetchall() == [(7,)]
            slots = conn.execute("select slot_name from pg_replication_slots").fetchall()
            assert slots == [("kept_slot",)]
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@pytest.mark.skipif("RTDATA_TEST_DB" in os.environ, reason="tests the embedded cluster")
def test_a_temporary_cluster_is_removed_and_unreachable_from_the_network() -> None:
    cluster = EmbeddedPostgres().start()
    try:
        root = cluster.socket_dir.parent
        with psycopg.connect(cluster.dsn, autocommit=True) as conn:
            assert conn.execute("show listen_addresses").fetchone() == ("",)
            assert conn.execute("show wal_level").fetchone() == ("logical",)
        assert oct(cluster.socket_dir.stat().st_mode & 0o777) == "0o700"
    finally:
        cluster.stop()
    assert not root.exists()
    assert not cluster.running


@pytest.mark.skipif(
    "RTDATA_TEST_DB" in os.environ or shutil.which("setpriv") is None,
    reason="tests the embedded cluster's guard, which needs util-linux's setpriv",
)
def test_a_killed_owner_leaves_no_server_behind() -> None:
    script = (
        "import sys\n"
        "from rtdata.server.postgres.cluster import EmbeddedPostgres\n"
        "cluster = EmbeddedPostgres().start()\n"
        "print(open(cluster.data_dir / 'postmaster.pid').readline().strip(), flush=True)\n"
        "sys.stdin.read()\n"
    )
    with subprocess.Popen(
        [sys.executable, "-c", script], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    ) as owner:
        assert owner.stdout is not None
        pid = int(owner.stdout.readline())
        assert psutil.pid_exists(pid)
        owner.kill()
    wait_until(lambda: not psutil.pid_exists(pid), timeout=20, what="the orphaned server to stop")
