"""The test tree is in layers: every test file sits in one, and pytest collects every layer."""

from __future__ import annotations

import tomllib
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]
LAYERS = ["unit", "integration", "pages", "fuzz", "browser", "e2e"]
"""Fastest first, the order pytest runs them in."""


def test_every_test_file_is_in_a_layer() -> None:
    stray = sorted(str(p.relative_to(TESTS)) for p in TESTS.rglob("test_*.py"))
    stray = [p for p in stray if Path(p).parts[0] not in LAYERS and "node_modules" not in p]
    assert not stray, f"move these into a layer folder ({', '.join(LAYERS)}): {stray}"


def test_pytest_collects_the_layers_fastest_first() -> None:
    pyproject = tomllib.loads((TESTS.parent / "pyproject.toml").read_text())
    testpaths = pyproject["tool"]["pytest"]["ini_options"]["testpaths"]
    assert testpaths == [f"tests/{layer}" for layer in LAYERS]
    for layer in LAYERS:
        assert (TESTS / layer / "__init__.py").is_file(), layer
