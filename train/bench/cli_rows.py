"""Rows that time a `scalezoo` command as a user runs it: a fresh process each time, wall seconds, cold."""

from __future__ import annotations

import subprocess
import sys
import time

import numpy as np

# the old way, for the baseline: every model traced with jax.eval_shape in the listing's process
_LIVE = "import scalezoo.zoo as z; from scalezoo.zoo import catalog as c; [c.entry(n) for n in z.names()]"


def _wall(args: list[str]) -> float:
  t = time.perf_counter()
  subprocess.run([sys.executable, *args], check=True, stdout=subprocess.DEVNULL)
  return time.perf_counter() - t


def bench_models(sz, log, goal: str) -> dict:
  """`scalezoo models` (python -m scalezoo.train.cli models) vs counting every model live, as it did before the
  catalog table; the live count runs once (about 20 s), the command `cli_reps` times."""
  base = _wall(["-c", _LIVE])
  log(f"  every model traced live (the listing before zoo/catalog.json): {base:.1f}s")
  ours = []
  for r in range(sz.get("cli_reps", 5)):
    ours.append(_wall(["-m", "scalezoo.train.cli", "models"]))
    log(f"  repeat {r + 1}: scalezoo models {ours[-1]:.2f}s")
  return {
    "name": "models_cli",
    "ours_s": float(np.median(ours)),
    "baseline": "every model counted by jax.eval_shape (the listing before zoo/catalog.json)",
    "baseline_s": base,
    "speedup": base / float(np.median(ours)),
    "goal": goal,
    "ours_runs_s": [round(x, 3) for x in ours],
    "baseline_runs_s": [round(base, 3)],
  }
