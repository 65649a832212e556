"""The laws fitted to this kit's own lm_scaling runs (tests/data/lm_scaling, from results/lm_scaling): the
procedures of results/lm_scaling/hparam_law.py and results/laws_on_our_runs/fit.py, pinned to their committed
numbers."""

import csv
from pathlib import Path

import numpy as np
import pytest

from scalezoo import scaling
from scalezoo.scaling import overtraining  # noqa: F401  registers gadre and err_link

GADRE_MEDIAN = 0.0783  # results/laws_on_our_runs/fits.json: all points, fit M < 100
ROWS = list(csv.DictReader((Path(__file__).parent / "data" / "lm_scaling" / "runs.csv").open()))
R = {k: np.array([float(r[k]) for r in ROWS]) for k in ROWS[0] if k not in ("folder", "run_id")}


def test_optimal_learning_rate_law_on_lm_scaling():
  fit = scaling.fit_hparam_law(R, hparam="lr", loss="val_bits_per_byte", on="N", point=("N", "D", "seed"))
  assert fit.n_points == 43 and fit.n_fit == 48 and fit.edge_points == 0
  assert fit.exponents["N"] == pytest.approx(-0.607, abs=5e-4)
  lo, hi = fit.intervals["N"]
  assert lo == pytest.approx(-0.706, abs=5e-3) and hi == pytest.approx(-0.494, abs=5e-3)


def _best_points():
  best = {}
  for i in np.flatnonzero(R["seed"] == 0):
    k = (R["N"][i], R["D"][i])
    if k not in best or R["val_bits_per_byte"][i] < R["val_bits_per_byte"][best[k]]:
      best[k] = i
  i = np.array(sorted(best.values()))
  return R["N"][i], R["D"][i], R["val_bits_per_byte"][i]


@pytest.mark.long  # compiles the JAX grid fitter for gadre
def test_gadre_extrapolation_along_M_on_lm_scaling():
  N, D, L = _best_points()
  M, C = D / N, 6 * N * D
  ex = scaling.extrapolation_check("gadre", {"C": C, "M": M}, L, by="M", cut=100.0)
  assert int(ex.train.sum()) == 19 and ex.rel_err.size == 21
  assert np.median(np.abs(ex.rel_err)) == pytest.approx(GADRE_MEDIAN, rel=0.02)


@pytest.mark.long
def test_err_link_on_lm_scaling():
  L, err = R["val_bits_per_byte"], 1 - R["test_accuracy"]
  ex = scaling.extrapolation_check("err_link", {"L": L}, err, by=6 * R["N"] * R["D"], frac=0.8)
  assert np.mean(np.abs(ex.rel_err)) == pytest.approx(0.0262, rel=0.02)
