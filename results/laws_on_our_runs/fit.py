"""Gadre et al. 2024's over-training law and loss-to-error link applied to this kit's own committed runs (issue 19):
their papers' data are not in ../shared/data nor tests/data, so the procedures run on runs we have.

Run from the repository root: `nice -n 10 .venv/bin/python results/laws_on_our_runs/fit.py` (about 3 minutes on
the 2-core EPYC: the JAX grid fitter compiles once per law). Writes fits.json here.
"""

import json
import warnings
from pathlib import Path

import numpy as np

from scalezoo import scaling
from scalezoo.scaling import overtraining  # noqa: F401  registers gadre and err_link

HERE = Path(__file__).parent
ROOT = HERE.parents[1]
LM = [ROOT / "results/lm_scaling" / d for d in (".", "long", "seeds", "edges")]


def _cols(dirs, keys):
  cols = {k: [] for k in keys}
  for d in dirs:
    t = scaling.finished(scaling.table(d))
    for k in keys:
      cols[k] += list(t[k])
  return {k: np.array(v) for k, v in cols.items()}


def _ex(ex):
  e = np.abs(ex.rel_err)
  return {
    "fitted": int(ex.train.sum()),
    "held_out": int(e.size),
    "cut": ex.cut,
    "params": ex.fit.params,
    "fixed": ex.fit.fixed,
    "fit_mean_abs_rel_err": ex.fit.stats["mean_abs_rel_err"],
    "mean_abs_rel_err": float(e.mean()),
    "median_abs_rel_err": float(np.median(e)),
    "max_abs_rel_err": float(e.max()),
  }


def overtraining_along_M():
  """L(C, M) on the best-lr run of every seed-0 (N, D) point of lm_scaling; fit on M below a cut, predict above.
  Chinchilla's and Kaplan's laws on the same split, for scale."""
  r = _cols(LM, ["params_non_embedding", "tokens_seen", "metrics.val_bits_per_byte", "config.seed"])
  N, D, L = r["params_non_embedding"].astype(float), r["tokens_seen"].astype(float), r["metrics.val_bits_per_byte"]
  i = np.sort(scaling.best_per_point(np.where(r["config.seed"] == 0, L, np.nan), {"N": N, "D": D}).index)
  N, D, L = N[i], D[i], L[i]
  M, C = D / N, 6 * N * D
  out = {"points": int(i.size), "M range": [float(M.min()), float(M.max())]}
  for name, keep in (("all points", np.ones_like(M, bool)), ("runs >= 1024 steps", D >= 1024 * 2048)):
    for cut in (100.0, 300.0):
      k = keep
      row = {"gadre": _ex(scaling.extrapolation_check("gadre", {"C": C[k], "M": M[k]}, L[k], by="M", cut=cut))}
      for law in ("chinchilla", "kaplan"):
        row[law] = _ex(scaling.extrapolation_check(law, {"N": N[k], "D": D[k]}, L[k], by=M[k], cut=cut))
      out[f"{name}, fit M < {cut:g}"] = row
      print(name, cut, {k2: round(v["median_abs_rel_err"], 4) for k2, v in row.items()}, flush=True)
  return out


def err_link():
  """Err(L) = ε − k·exp(−γ·L): top-1 error on the test split against the loss, fitted on the cheaper runs (C or
  training-set size below the 80th percentile), predicted on the rest; free ε and ε fixed at chance."""
  out = {}
  r = _cols(LM, ["params_non_embedding", "tokens_seen", "metrics.val_bits_per_byte", "metrics.test_accuracy"])
  L, err = r["metrics.val_bits_per_byte"].astype(float), 1 - r["metrics.test_accuracy"].astype(float)
  C = 6 * r["params_non_embedding"] * r["tokens_seen"]
  sets = {"lm_scaling: next-byte error vs val bits/byte (149 runs)": (L, err, C, 1 - 1 / 256)}
  for d, chance in (("data_scaling/mnist1d", 0.9), ("demo", 0.9), ("sweep_tiny", 0.9)):
    t = _cols([ROOT / "results" / d], ["metrics.test_loss", "metrics.test_accuracy", "examples_seen"])
    Lc, e = t["metrics.test_loss"].astype(float), 1 - t["metrics.test_accuracy"].astype(float)
    sets[f"{d}: test error vs test loss ({Lc.size} runs)"] = (Lc, e, 1 / Lc, chance)  # predict the lowest losses
  for name, (L, e, by, chance) in sets.items():
    row = {}
    for tag, fixed in (("free eps", None), (f"eps fixed at chance {chance:.4g}", {"eps": chance})):
      with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ex = scaling.extrapolation_check("err_link", {"L": L}, e, by=by, frac=0.8, fixed=fixed)
      row[tag] = _ex(ex)
    out[name] = row
    print(name, {k: round(v["mean_abs_rel_err"], 4) for k, v in row.items()}, flush=True)
  return out


def main():
  out = {}
  for name, part in (("err_link", err_link), ("overtraining (Gadre et al. 2024) along M", overtraining_along_M)):
    out[name] = part()
    (HERE / "fits.json").write_text(json.dumps(out, indent=1, default=float) + "\n")  # after each part


if __name__ == "__main__":
  main()
