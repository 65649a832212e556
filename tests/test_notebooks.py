"""Every notebook executes from the committed results in its fast (no-sweep) mode."""

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOKS = sorted((Path(__file__).resolve().parent.parent / "notebooks").glob("*.ipynb"))


SLOW = {"lm_scaling", "claims"}  # about a minute each on the 2-core machine: `make test-slow`


@pytest.mark.parametrize(
  "path",
  [pytest.param(p, marks=pytest.mark.slow) if p.stem in SLOW else p for p in NOTEBOOKS],
  ids=[p.stem for p in NOTEBOOKS],
)
def test_notebook_executes(path, tmp_path, monkeypatch):
  nb = nbformat.read(path, as_version=4)
  monkeypatch.setenv("XLA_FLAGS", "")  # the kernel is a fresh process: one CPU device, as a user has
  monkeypatch.setenv("MPLBACKEND", "Agg")
  monkeypatch.setenv("SCALEZOO_NOTEBOOK_OUT", str(tmp_path))  # notebooks write figures here, not into results/
  # execute() raises on the first cell that errors; what is left to check is that the notebook did its job
  NotebookClient(nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}).execute()
  code = [c for c in nb.cells if c.cell_type == "code" and c.source.strip()]
  assert all(c.execution_count for c in code), "a code cell did not run"
  figures = list(tmp_path.rglob("*.png"))
  assert figures and all(f.stat().st_size > 1000 for f in figures), "the notebook drew no figures"
