"""Integration fixtures: one local server shared by the tests of a module that only read, and
Postgres databases on a cluster shared by the session."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import psycopg
import pytest
from psycopg import conninfo, sql

from rtdata.server import LocalServer
from rtdata.server.postgres.cluster import EmbeddedPostgres


@pytest.fixture(scope="module")
def shared_server() -> Iterator[LocalServer]:
    """A local server with the hospital schema, shared by the tests of one module.

    Only for tests that leave nothing another test could see: no rows they count or read back
    by position, no counters they assert, no fault left on, their own topics, and every socket
    closed before they return. A test that writes rows it asserts on, injects a lasting fault,
    or stops the server takes the function-scoped ``server`` instead. Module scope (not session)
    because tests such as ``test_api.py`` assert that no ``rtdata-local-server`` thread is left.
    """
    with LocalServer() as srv:
        yield srv


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
    name = f"rt_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(postgres_admin_dsn, autocommit=True) as admin:
        admin.execute(sql.SQL("create database {}").format(sql.Identifier(name)))
        try:
            with psycopg.connect(
                conninfo.make_conninfo(postgres_admin_dsn, dbname=name), autocommit=True
            ) as conn:
                yield conn
        finally:
            admin.execute(
                sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(name))
            )
