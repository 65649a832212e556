"""Every notebook executes from the committed results in its fast (no-sweep) mode."""

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOKS = sorted((Path(__file__).resolve().parent.parent / "notebooks").glob("*.ipynb"))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_executes(path, tmp_path, monkeypatch):
  nb = nbformat.read(path, as_version=4)
  monkeypatch.setenv("XLA_FLAGS", "")  # the kernel is a fresh process: one CPU device, as a user has
  monkeypatch.setenv("MPLBACKEND", "Agg")
  monkeypatch.setenv("SCALEZOO_NOTEBOOK_OUT", str(tmp_path))  # notebooks write figures here, not into results/
  NotebookClient(nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}).execute()
  errors = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []) if o.output_type == "error"]
  assert not errors
