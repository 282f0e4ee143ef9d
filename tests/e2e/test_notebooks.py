"""The analyst notebooks executed top to bottom against the embedded default in a real kernel
(``RTDATA_NOTEBOOK_DURATION_S=4``); unit/test_notebooks_stored.py checks how they are stored."""

from __future__ import annotations

import json
import os
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from rtdata import Settings
from tests.support import timeout_s

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
NAMES = [path.name for path in NOTEBOOKS]
MAX_OUTPUT_BYTES = 1_000_000  # aggregates only: Jupyter throttles output above 1 MB/s
MAX_OUTPUTS_PER_CELL = 3  # a cell printing per event would exceed this at once


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=NAMES)
def test_notebook_runs_top_to_bottom_on_the_embedded_default(path: Path) -> None:
    env = {
        name: value
        for name, value in os.environ.items()
        if name not in ("SUPABASE_URL", "SUPABASE_KEY")
    }
    env["RTDATA_NOTEBOOK_DURATION_S"] = "4"
    # The kernel imports this checkout's rtdata, before any installed (or editable) copy.
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    secrets = ROOT / ".streamlit" / "secrets.toml"
    if not Settings.from_env(env, secrets_path=secrets).embedded:
        pytest.skip(f"{secrets} names a project; the notebooks are tested on the embedded default")
    notebook = nbformat.read(path, as_version=4)
    client = NotebookClient(
        notebook,
        timeout=int(timeout_s(120)),
        kernel_name="python3",
        resources={"metadata": {"path": str(ROOT)}},
    )
    client.execute(env=env)  # raises CellExecutionError, with the traceback, if a cell fails

    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    for index, cell in enumerate(code):
        assert not [o for o in cell.outputs if o.output_type == "error"], f"code cell {index}"
        assert len(cell.outputs) <= MAX_OUTPUTS_PER_CELL, f"code cell {index} outputs too much"
        for output in cell.outputs:
            if output.output_type == "stream" and output.name == "stderr":
                assert "Warning" not in output.text, f"code cell {index}: {output.text}"
    size = len(json.dumps([cell.outputs for cell in code]))
    assert size < MAX_OUTPUT_BYTES, f"outputs take {size:,} bytes"
    assert "STOPPED" in code[-1].outputs[-1]["data"]["text/plain"]
