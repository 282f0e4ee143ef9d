"""Integration fixtures: the local server on both backends, and Postgres databases on a cluster
shared by the session.

The ``server`` and ``shared_server`` fixtures (and the ``serve`` factory) are parametrized with
the database backend, ids ``memory`` (the in-memory stand-in) and ``postgres`` (a new database
of one Postgres cluster shared by the session), so every test that goes through them runs on
both. Where the backends legitimately differ, the test says so in a comment.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from typing import Any

import psycopg
import pytest

from rtdata.scenarios import DEFAULT_SCENARIO, get_scenario
from rtdata.server import LocalServer
from rtdata.server.postgres.cluster import EmbeddedPostgres, new_database
from rtdata.server.postgres.shape import migrate, prepare

BACKENDS = ("memory", "postgres")
"""The ids of the database backends the server's tests run on."""


@pytest.fixture(scope="session")
def postgres_admin_dsn() -> Iterator[str]:
    """A superuser connection string of a Postgres cluster shared by the session.

    The embedded cluster (:class:`rtdata.server.postgres.cluster.EmbeddedPostgres`), or the
    server named by ``RTDATA_TEST_DB`` (``postgresql://...``), for example the system's.
    """
    external = os.environ.get("RTDATA_TEST_DB")
    if external:
        yield external
        return
    with EmbeddedPostgres() as cluster:
        yield cluster.dsn


@pytest.fixture
def pg_database(postgres_admin_dsn: str) -> Iterator[psycopg.Connection[tuple[object, ...]]]:
    """A connection (autocommit) to a new, empty database of the shared cluster; dropped
    afterwards."""
    with (
        new_database(postgres_admin_dsn) as info,
        psycopg.connect(info, autocommit=True) as conn,
    ):
        yield conn


@pytest.fixture(scope="session")
def hospital_template(postgres_admin_dsn: str) -> Iterator[str]:
    """Name of a database of the shared cluster with Supabase's shape and the default
    scenario's migrations, copied by every default ``postgres`` server (a copy takes
    milliseconds; shaping and migrating takes much longer)."""
    with new_database(postgres_admin_dsn) as info:
        with psycopg.connect(info, autocommit=True) as conn:
            prepare(conn)
            migrate(conn, get_scenario(DEFAULT_SCENARIO).migrations)
            name = conn.info.dbname
        yield name


@contextlib.contextmanager
def _serving(request: pytest.FixtureRequest, backend: str, **options: Any) -> Iterator[LocalServer]:
    """A started :class:`LocalServer` on ``backend``: on ``postgres``, a new database of the
    shared cluster (a copy of the default migrations' database when no ``schema`` is given)
    with its own replication slot."""
    if backend == "memory":
        # LocalServer's default is the embedded Postgres: the stand-in must be asked for.
        with LocalServer(db="memory", **options) as srv:
            yield srv
        return
    admin_dsn: str = request.getfixturevalue("postgres_admin_dsn")
    template = None
    if options.get("schema") is None:
        template = request.getfixturevalue("hospital_template")
        options["schema"] = get_scenario(DEFAULT_SCENARIO).migrations
    with new_database(admin_dsn, template) as info:
        slot = f"rtdata_{psycopg.conninfo.conninfo_to_dict(info)['dbname']}"
        with LocalServer(db=info, slot=str(slot), **options) as srv:
            yield srv


@pytest.fixture(params=BACKENDS)
def server(request: pytest.FixtureRequest) -> Iterator[LocalServer]:
    """A local server with the hospital schema on a free port, on each backend."""
    with _serving(request, request.param) as srv:
        yield srv


@pytest.fixture(scope="module", params=BACKENDS)
def shared_server(request: pytest.FixtureRequest) -> Iterator[LocalServer]:
    """A local server with the hospital schema, shared by the tests of one module, on each
    backend.

    Only for tests that leave nothing another test could see: no rows they count or read back
    by position, no counters they assert, no fault left on, their own topics, and every socket
    closed before they return. A test that writes rows it asserts on, injects a lasting fault,
    or stops the server takes the function-scoped ``server`` instead. Module scope (not session)
    because tests such as ``test_api.py`` assert that no ``rtdata-local-server`` thread is left.
    """
    with _serving(request, request.param) as srv:
        yield srv


@pytest.fixture(params=BACKENDS)
def serve(
    request: pytest.FixtureRequest,
) -> Callable[..., contextlib.AbstractContextManager[LocalServer]]:
    """A factory of started local servers on each backend: ``with serve(schema=path,
    max_record_bytes=300) as server:`` takes :class:`LocalServer`'s options (not ``db``)."""
    backend = request.param

    def start(**options: Any) -> contextlib.AbstractContextManager[LocalServer]:
        return _serving(request, backend, **options)

    return start
