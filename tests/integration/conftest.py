"""Integration fixtures: one local server shared by the tests of a module that only read."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from rtdata.server import LocalServer


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
