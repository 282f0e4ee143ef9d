"""The notebooks are there, stored without outputs, and import only what rtdata has (read as
files; e2e/test_notebooks.py runs them)."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
NAMES = [path.name for path in NOTEBOOKS]


def test_the_notebooks_are_there_with_one_per_pack() -> None:
    from rtdata.scenarios import SCENARIOS

    assert NAMES[:3] == [
        "01_live_tour.ipynb",
        "02_latency_and_gaps.ipynb",
        "03_emergency_response.ipynb",  # the hospital's
    ]
    packs = {name.split("_", 1)[1].removesuffix(".ipynb") for name in NAMES[3:]}
    assert packs == set(SCENARIOS) - {"hospital"}


@pytest.mark.parametrize("path", NOTEBOOKS, ids=NAMES)
def test_notebook_is_stored_without_outputs(path: Path) -> None:
    notebook = nbformat.read(path, as_version=4)
    nbformat.validate(notebook)
    assert notebook.metadata["kernelspec"]["name"] == "python3"
    for index, cell in enumerate(notebook.cells):
        if cell.cell_type == "code":
            assert cell.outputs == [], f"cell {index} has saved outputs: clear them"
            assert cell.execution_count is None, f"cell {index} has an execution count"
    first = notebook.cells[0]
    assert first.cell_type == "markdown"
    for mention in ("rtdata.connect()", "make demo", "SUPABASE_URL", ".streamlit/secrets.toml"):
        assert mention in first.source, f"the first cell does not explain {mention}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=NAMES)
def test_notebook_imports_only_what_rtdata_has(path: Path) -> None:
    """A removed or renamed module fails here in milliseconds, not in the slow kernel run."""
    notebook = nbformat.read(path, as_version=4)
    source = "\n".join(c.source for c in notebook.cells if c.cell_type == "code")
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == "rtdata":
                    importlib.import_module(alias.name)
        elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "rtdata":
            module = importlib.import_module(str(node.module))
            for alias in node.names:
                if not hasattr(module, alias.name):  # a submodule not imported by its package
                    importlib.import_module(f"{node.module}.{alias.name}")
