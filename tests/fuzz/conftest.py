"""The fuzz layer's fixtures: the local server on both backends, as the integration layer
starts it (see :mod:`tests.integration.conftest`)."""

from tests.integration.conftest import (  # noqa: F401 - fixtures, found by name
    hospital_template,
    postgres_admin_dsn,
    shared_server,
)
