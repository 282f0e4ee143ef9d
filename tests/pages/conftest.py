"""Page tests: no test leaves its recorder shared, and AppTest leaves no temporary folder."""

from __future__ import annotations

import sys
from collections.abc import Iterator

import pytest

from rtdata import ui


@pytest.fixture(autouse=True)
def _shared_recorder_reset() -> Iterator[None]:
    """Pages read the configured collector again after each test (``ui.use_recorder``)."""
    yield
    ui.use_recorder(None)


def pytest_sessionfinish(session: pytest.Session) -> None:
    """Remove the folder Streamlit's AppTest module makes at import (``TMP_DIR``).

    Left to the interpreter's exit, its cleanup warns "Implicitly cleaning up", which some
    xdist workers print as a traceback after the results.
    """
    app_test = sys.modules.get("streamlit.testing.v1.app_test")
    folder = getattr(app_test, "TMP_DIR", None)
    if folder is not None:
        folder.cleanup()
