"""Every scenario pack in Chromium, as `rtdata demo --scenario NAME` serves it on free ports:
every page shows data within 30 s, no exception, the pack's own words and no other pack's."""

from __future__ import annotations

import pytest

from rtdata.scenarios import SCENARIOS
from tests.browser import ARTIFACTS, CHROMIUM
from tests.browser.screenshots import pack_pages
from tests.pages.packs import found, other_words, words

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not CHROMIUM.exists(), reason=f"{CHROMIUM} not installed (make test installs it)"
    ),
]


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_every_page_of_a_pack_shows_its_data_and_words(name: str) -> None:
    pack = SCENARIOS[name]
    shown = pack_pages(name, ARTIFACTS / "screenshots" / "packs")
    text = "\n".join(shown.values())
    assert found(text, words(pack)), f"{name}: none of its words on its pages"
    for page, said in shown.items():
        for other, vocabulary in other_words(pack).items():
            assert not found(said, vocabulary), f"{name}/{page} shows {other}'s words"
    for page in shown:
        assert (ARTIFACTS / "screenshots" / "packs" / f"{name}-{page}.png").stat().st_size > 10_000
