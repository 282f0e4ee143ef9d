"""The README screenshot script (``python -m tests.browser.screenshots``) still runs: every page
and the wall, without an error element, into ``tests/artifacts/screenshots``."""

from __future__ import annotations

import pytest

from tests.browser import ARTIFACTS, CHROMIUM
from tests.browser.screenshots import PAGES, take

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not CHROMIUM.exists(), reason=f"{CHROMIUM} not installed (make test installs it)"
    ),
]


def test_the_readme_screenshots_can_be_taken() -> None:
    taken = take(ARTIFACTS / "screenshots", warmup_s=0)
    assert [p.stem for p in taken] == [*PAGES, "wall"]
    for path in taken:
        assert path.stat().st_size > 10_000, path  # a drawn page, not a blank one
