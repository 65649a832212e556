"""The optimal learning rate against width under SP and μP: `scaling.fit_hparam_law` applied to the transfer
study's runs (issue 18 part 6), read where that study lives (its runs are not copied here).

`.venv/bin/python results/laws_on_our_runs/mup_hparam_law.py results/mup_transfer` reads
`sp/runs.jsonl` and `mup/runs.jsonl` under the folder given, fits η_opt = a·width^b per parametrization on the
seed-mean final validation bits per byte of each (width, lr), as that study's summary.json does (DeepSeek's
near-optimal band, 0.25%); μP at its base width 64 is SP (the study reuses those runs), so μP's points include
SP's width-64 grid. Prints and writes mup_hparam_law.json here. μP's promise is b ≈ 0; under SP, Adam's optimum
is expected near b = −1.
"""

import json
import sys
from pathlib import Path

import numpy as np

from scalezoo import scaling

HERE = Path(__file__).parent


def main(root: Path):
  out = {"source": str(root)}
  for p in ("sp", "mup"):
    f = root / p / "runs.jsonl"
    if not f.exists():
      out[p] = f"no {f}"
      continue
    t = scaling.finished(scaling.table(f))
    w, lr, L = (t[k].astype(float) for k in ("model_args.d_model", "config.optimizer.lr", "metrics.val_bits_per_byte"))
    if p == "mup" and not np.any(w == 64):  # the base width: μP is SP there
      s = scaling.finished(scaling.table(root / "sp" / "runs.jsonl"))
      base = s["model_args.d_model"] == 64
      w = np.concatenate([w, s["model_args.d_model"][base].astype(float)])
      lr = np.concatenate([lr, s["config.optimizer.lr"][base].astype(float)])
      L = np.concatenate([L, s["metrics.val_bits_per_byte"][base].astype(float)])
    keys = sorted({(a, b) for a, b in zip(w, lr)})
    mean = [np.nanmean(L[(w == a) & (lr == b)]) for a, b in keys]  # over seeds
    r = {"width": np.array([k[0] for k in keys]), "lr": np.array([k[1] for k in keys]), "loss": np.array(mean)}
    ok = np.isfinite(r["loss"])
    r = {k: v[ok] for k, v in r.items()}
    out[p] = {"cells": int(ok.sum()), "runs": int(w.size)}
    for method in ("near_optimal", "parabola"):  # the parabola vertex: a sub-grid optimum, the grid is 2x apart
      try:
        fit = scaling.fit_hparam_law(r, hparam="lr", loss="loss", on="width", point="width", method=method)
      except ValueError as e:
        out[p][method] = f"not fitted: {e}"
        continue
      print(p, int(ok.sum()), "(width, lr) cells:", fit.summary())
      out[p][method] = fit.to_dict()
  (HERE / "mup_hparam_law.json").write_text(json.dumps(out, indent=1) + "\n")


if __name__ == "__main__":
  main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path("results/mup_transfer"))
