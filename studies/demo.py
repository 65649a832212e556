"""The main job: a real scaling sweep (MLP widths x training-set sizes on MNIST-1D), power-law fits of test
loss against parameters and against data, and a loss-vs-compute figure with the fitted curves."""

from __future__ import annotations

import json
import shutil
import time
from importlib import resources
from pathlib import Path

import numpy as np

from scalezoo import scaling, sweep
from scalezoo.data import atomic
from scalezoo.scaling import plots


def main(
  out: Path, progress: bool = True, spec: str | Path | None = None, fresh: bool = False, overrides: list[str] = ()
) -> int:
  t0 = time.perf_counter()
  with resources.as_file(resources.files("scalezoo.configs") / "demo.toml") as packaged:
    grid = sweep.load(spec or packaged, overrides)  # bad input stops here, before anything is removed or written
  if fresh:  # the committed runs would otherwise resume as "already ended": train them all again
    (out / "runs.jsonl").unlink(missing_ok=True)
    shutil.rmtree(out / "checkpoints", ignore_errors=True)
  counts = sweep.run(grid, out, progress=progress)
  t = scaling.finished(scaling.table(out))
  N, D, C, L = t["params"], t["config.data_args.n_train"].astype(float), t["C"], t["metrics.test_loss"]

  # One-variable laws along the two edges of the grid: N at the most data, D at the widest model.
  at_d, at_n = D == D.max(), N == N.max()
  fits = {
    "params": scaling.fit_law(
      "power",
      {"N": N[at_d]},
      L[at_d],
      bootstrap=500,
      seed=0,
      meta={"x": "N", "y": "metrics.test_loss", "at": f"n_train={int(D.max())}"},
    ),
    "data": scaling.fit_law(
      "power",
      {"D": D[at_n]},
      L[at_n],
      bootstrap=500,
      seed=0,
      meta={"x": "D (n_train)", "y": "metrics.test_loss", "at": f"params={int(N.max())}"},
    ),
  }
  front = scaling.pareto_frontier(C, L)  # the runs no cheaper run beats
  if len(front) >= 3:  # a power law has 3 parameters
    fits["compute"] = scaling.fit_law(
      "power",
      {"C": C[front]},
      L[front],
      bootstrap=500,
      seed=0,
      meta={"x": "C", "y": "metrics.test_loss", "at": "compute frontier"},
    )
  else:
    print(f"compute frontier: {len(front)} runs, too few for a power law; not fitted")
  for name, f in fits.items():
    f.save(out / f"fit_power_{name}.json")

  plots.loss_vs_compute(
    t,
    loss="metrics.test_loss",
    curve_y="curve.val_loss",
    fit=fits.get("compute"),
    title="MLP on MNIST-1D: loss vs compute",
    path=out / "loss_vs_compute.png",
  )
  plots.fitted_law(
    fits["params"],
    {"N": N[at_d]},
    L[at_d],
    path=out / "loss_vs_params.png",
    title=f"test loss vs parameters (n_train={int(D.max())})",
  )
  plots.fitted_law(
    fits["data"],
    {"D": D[at_n]},
    L[at_n],
    path=out / "loss_vs_data.png",
    title=f"test loss vs training examples (params={int(N.max())})",
  )

  rows = []
  print(f"\n{'test loss vs':<14} {'E':>7} {'A':>10} {'alpha':>7}  {'95% interval':>16}  where")
  for name, f in fits.items():
    lo, hi = f.intervals["alpha"]
    rows.append({"x": name, **f.params, "alpha_interval": [lo, hi], "at": f.meta["at"], "points": f.stats["n"]})
    print(
      f"{name:<14} {f.params['E']:7.3f} {f.params['A']:10.4g} {f.params['alpha']:7.3f}  [{lo:6.3f}, {hi:6.3f}]"
      f"  {f.meta['at']} ({int(f.stats['n'])} runs)"
    )
  secs = time.perf_counter() - t0
  train_secs = float(np.sum(t["wall_time"] / t["group_size"]))  # of the runs, whenever they ran
  summary = {"runs": counts, "fits": rows, "training_seconds": round(train_secs, 1)}
  atomic.write_atomic(out / "summary.json", json.dumps(summary, indent=2) + "\n")
  print(
    f"\n{sum(counts.values())} runs ({', '.join(f'{v} {k}' for k, v in counts.items())}) in {secs:.0f}s; "
    f"wrote {out}/: runs.jsonl, fit_power_*.json, summary.json, loss_vs_compute.png, loss_vs_params.png, "
    "loss_vs_data.png"
  )
  return 0 if not counts.get("failed") else 1
