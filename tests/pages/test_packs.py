"""Every page of every scenario pack, filled by the pack's own simulator and roster, in
Streamlit's AppTest: it runs, shows data in every widget, speaks the pack's own words, and no
other pack's."""

from __future__ import annotations

import pytest

from rtdata import ui
from rtdata.scenarios import SCENARIOS
from tests.pages.harness import captions, metrics, run_page, texts
from tests.pages.packs import filled, found, other_words, page_names, words

EMPTY_CAPTIONS = ("Nothing yet.", "Nobody is online")
"""What a widget says when it has nothing to show."""

CASES = [(name, page) for name in sorted(SCENARIOS) for page in page_names(SCENARIOS[name])]


@pytest.fixture(scope="module")
def shown() -> dict[tuple[str, str], str]:
    """Every pack's every page, rendered once: (pack, page) -> its text."""
    pages: dict[tuple[str, str], str] = {}
    for name in sorted(SCENARIOS):
        pack = filled(name)
        ui.use_recorder(pack.recorder)
        try:
            for page in page_names(pack.pack):
                at = run_page(page)
                said = captions(at)
                empty = [c for c in EMPTY_CAPTIONS if c in said]
                assert not empty, f"{name}/{page}: a widget shows nothing: {empty}"
                values = [v for v in metrics(at).values() if v not in ("0", "–")]
                assert values or not metrics(at), f"{name}/{page}: every tile is zero"
                pages[name, page] = "\n".join(texts(at))
        finally:
            ui.use_recorder(None)
    return pages


@pytest.mark.parametrize(("name", "page"), CASES)
def test_every_page_shows_data_and_no_other_packs_words(
    shown: dict[tuple[str, str], str], name: str, page: str
) -> None:
    text = shown[name, page]
    assert text.strip(), f"{name}/{page} is blank"
    for other, vocabulary in other_words(SCENARIOS[name]).items():
        assert not found(text, vocabulary), f"{name}/{page} shows {other}'s words"


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_each_pack_speaks_its_own_words(shown: dict[tuple[str, str], str], name: str) -> None:
    pack = SCENARIOS[name]
    text = "\n".join(shown[name, page] for page in page_names(pack))
    vocabulary = words(pack)
    assert len(vocabulary) >= 5, f"{name}: words.txt needs at least five words"
    missing = set(vocabulary) - found(text, vocabulary)
    assert not missing, f"{name}'s pages never show {sorted(missing)}"


def test_two_widgets_drawing_the_same_chart_share_a_page() -> None:
    from rtdata.config import parse_config
    from rtdata.recorder import Recorder
    from rtdata.settings import Settings

    pack = SCENARIOS["hospital"]
    twin = """
  [[pages.widgets]]
  type = "map"
  width = "half"
  table = "emergency_requests"
  lat_column = "lat"
  lon_column = "lon"
  geojson = "assets/lisbon_districts.geojson"
"""
    extra = '\n[[pages]]\nname = "twins"\ntitle = "Twins"\n' + twin + twin
    config = parse_config(pack.config_path.read_text() + extra, str(pack.config_path))
    ui.use_recorder(Recorder(Settings(config=config)))  # empty: both maps draw the same
    try:
        at = run_page("twins")
    finally:
        ui.use_recorder(None)
    assert len(at.get("plotly_chart")) == 2
