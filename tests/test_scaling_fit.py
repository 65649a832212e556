"""fit_law: parameter recovery per law, agreement with scipy, the Epoch reconstruction of Chinchilla, bad input."""

import csv
import hashlib
import os
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scalezoo import scaling
from scalezoo.scaling import laws

# Epoch's points extracted from Hoffmann et al.'s Figure 4 are not vendored: the upstream repository
# (epoch-research/analyzing-chinchilla) has no license. The test runs where a copy lies beside the checkout
# (../shared/data/chinchilla_epoch/, or $SCALEZOO_EPOCH_CSV) and checks it is that file byte for byte.
EPOCH = Path(
  os.environ.get("SCALEZOO_EPOCH_CSV")
  or Path(__file__).resolve().parents[2] / "shared" / "data" / "chinchilla_epoch" / "svg_extracted_data.csv"
)
EPOCH_SHA256 = "193478df4e90f040016431996c45682659306840ecdadf83cfb9cd5ca0aa1b30"
EPOCH_SKIP = (
  f"Epoch's Chinchilla points are not vendored (their repository has no license) and {EPOCH} is absent; "
  "set SCALEZOO_EPOCH_CSV to a copy of epoch-research/analyzing-chinchilla data/svg_extracted_data.csv"
)
# Besiroglu et al. 2024 (arXiv:2404.10102), Table 1: estimate (standard error)
PUBLISHED = {
  "E": (1.8172, 0.03),
  "A": (482.01, 124.58),
  "B": (2085.43, 1293.23),
  "alpha": (0.3478, 0.02),
  "beta": (0.3658, 0.02),
}


def _power_data(n=40, noise=0.01, seed=0, E=0.3, A=50.0, alpha=0.4):
  rng = np.random.default_rng(seed)
  N = np.exp(rng.uniform(np.log(1e3), np.log(1e6), n))
  return {"N": N}, (E + A * N**-alpha) * np.exp(noise * rng.normal(size=n))


def test_power_recovers_parameters_and_intervals_cover():
  X, L = _power_data()
  fit = scaling.fit_law("power", X, L, bootstrap=64)
  assert fit.params["alpha"] == pytest.approx(0.4, abs=0.03)
  assert fit.params["E"] == pytest.approx(0.3, abs=0.03)
  for k, true in {"E": 0.3, "A": 50.0, "alpha": 0.4}.items():
    lo, hi = fit.intervals[k]
    assert lo <= fit.params[k] <= hi
    assert lo < true < hi, (k, lo, true, hi)
  np.testing.assert_allclose(fit.predict(X), laws.power.predict({"E": 0.3, "A": 50.0, "alpha": 0.4}, X), rtol=0.03)


def test_power_on_data_axis_uses_any_input_name():
  X, L = _power_data(seed=1)
  fit = scaling.fit_law("power", {"D": X["N"]}, L)
  assert fit.inputs == ("D",)
  assert fit.params["alpha"] == pytest.approx(0.4, abs=0.03)
  with pytest.raises(ValueError, match="predict needs inputs"):
    fit.predict({"N": X["N"]})


def test_chinchilla_recovers_parameters_varpro():
  X, L = scaling.synthetic_chinchilla(240, noise=0.005, seed=3)  # 240 points: shares the Epoch test's program
  fit = scaling.fit_law("chinchilla", X, L, method="varpro")
  t = scaling.synthetic.TRUE
  assert fit.params["alpha"] == pytest.approx(t["alpha"], abs=0.03)
  assert fit.params["beta"] == pytest.approx(t["beta"], abs=0.03)
  assert fit.params["E"] == pytest.approx(t["E"], abs=0.05)
  assert fit.stats["rmse_log"] < 0.007


def test_kaplan_recovers_curve():
  rng = np.random.default_rng(0)
  N, D = np.exp(rng.uniform(np.log(1e6), np.log(1e9), 60)), np.exp(rng.uniform(np.log(1e8), np.log(1e11), 60))
  true = {"N_c": 8.8e13, "D_c": 5.4e13, "alpha_N": 0.076, "alpha_D": 0.095}
  L = laws.kaplan.predict(true, {"N": N, "D": D}) * np.exp(0.003 * rng.normal(size=60))
  fit = scaling.fit_law("kaplan", {"N": N, "D": D}, L)
  assert fit.params["alpha_N"] == pytest.approx(0.076, rel=0.2)
  assert fit.params["alpha_D"] == pytest.approx(0.095, rel=0.2)
  assert fit.stats["rmse_log"] < 0.005


def test_bnsl_fits_a_broken_power_law_and_bends_upward():
  x = np.exp(np.linspace(0, 7, 60))
  true = {"E": 0.1, "B": 3.0, "c0": 0.3, "c1": 0.6, "d1": 50.0, "f1": 0.5}
  y = laws.bnsl(1).predict(true, {"x": x}) * np.exp(0.003 * np.random.default_rng(0).normal(size=60))
  fit = scaling.fit_law("bnsl", {"x": x}, y)
  assert fit.stats["rmse_log"] < 0.006
  assert fit.params["c0"] + fit.params["c1"] == pytest.approx(0.9, abs=0.15)  # slope after the break
  up = laws.bnsl(2).predict(
    {"E": 0.05, "B": 1.0, "c0": 0.5, "c1": -1.5, "d1": 20.0, "f1": 0.3, "c2": 2.0, "d2": 60.0, "f2": 0.3}, {"x": x}
  )
  assert np.any(np.diff(up) > 0) and up[-1] < up.max()  # double-descent shape is expressible


def test_matches_scipy_reference_on_the_same_grid():
  X, L = _power_data(seed=5)
  grid = laws.power.grid(None, None)[::10]  # 15 of the 150 starts
  ours = scaling.fit_law("power", X, L, grid=grid)
  ref = scaling.fit_reference_scipy("power", X, L, grid=grid)
  assert ours.objective <= ref.objective * (1 + 1e-6)  # we never stop worse than scipy's L-BFGS-B
  np.testing.assert_allclose(ours.predict(X), ref.predict(X), rtol=2e-3)


def test_json_round_trip(tmp_path):
  X, L = _power_data(seed=2)
  fit = scaling.fit_law("power", X, L, bootstrap=64, meta={"x": "N"})
  back = scaling.Fit.load(fit.save(tmp_path / "fit.json"))
  assert back.params == fit.params and back.intervals == fit.intervals and back.meta == {"x": "N"}
  np.testing.assert_allclose(back.predict(X), fit.predict(X))
  np.testing.assert_allclose(back.predict_interval(X)[0], fit.predict_interval(X)[0])
  assert "alpha" in back.summary()


def _epoch():
  assert hashlib.sha256(EPOCH.read_bytes()).hexdigest() == EPOCH_SHA256, f"{EPOCH} is not Epoch's file"
  rows = list(csv.DictReader(EPOCH.open()))
  N = np.array([float(r["Model Size"]) for r in rows])
  C = np.array([float(r["Training FLOP"]) for r in rows])
  L = np.array([float(r["loss"]) for r in rows])
  keep = np.argsort(L)[:-5]  # Epoch drop the 5 highest-loss runs
  return {"N": N[keep], "D": C[keep] / (6 * N[keep])}, L[keep]


@pytest.mark.skipif(not EPOCH.exists(), reason=EPOCH_SKIP)
@pytest.mark.parametrize("method", ["varpro", pytest.param("grid", marks=pytest.mark.slow)])
def test_epoch_chinchilla_reproduces_published_fit(method):
  X, L = _epoch()
  fit = scaling.fit_law("chinchilla", X, L, method=method)
  # Same data, same objective, same optimum: the only differences are optimiser stopping points, so each
  # estimate must sit well inside a quarter of Epoch's own standard error of it.
  for k, (pub, se) in PUBLISHED.items():
    assert abs(fit.params[k] - pub) < 0.25 * se, (k, fit.params[k], pub)


BAD = [np.nan, np.inf, -1.0, 0.0]


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(bad=st.sampled_from(BAD), where=st.sampled_from(["N", "loss"]), i=st.integers(0, 9))
def test_bad_values_raise(bad, where, i):
  N, L = np.logspace(3, 6, 10), np.linspace(2, 1, 10)
  (N if where == "N" else L)[i] = bad
  with pytest.raises(ValueError, match="NaN|> 0"):
    scaling.fit_law("power", {"N": N}, L)


@settings(max_examples=25, deadline=None)
@given(n=st.integers(1, 30), m=st.integers(1, 30))
def test_mismatched_or_too_few_points_raise(n, m):
  N, L = np.logspace(3, 6, n), np.linspace(2, 1, m)
  if n == m and n >= 3:
    return
  with pytest.raises(ValueError, match="mismatched|fewer than"):
    scaling.fit_law("power", {"N": N}, L)


@settings(max_examples=20, deadline=None)
@given(name=st.from_regex(r"[a-z_]{1,10}", fullmatch=True).filter(lambda s: s not in laws.names() and "bnsl" not in s))
def test_unknown_law_raises(name):
  with pytest.raises(ValueError, match="unknown law"):
    scaling.fit_law(name, {"N": np.ones(5)}, np.ones(5))


def test_wrong_inputs_raise():
  with pytest.raises(ValueError, match="missing"):
    scaling.fit_law("chinchilla", {"N": np.logspace(3, 6, 10)}, np.ones(10))
  with pytest.raises(ValueError, match="one input"):
    scaling.fit_law("power", {"N": np.ones(5), "D": np.ones(5)}, np.ones(5))
  with pytest.raises(ValueError, match="1-D"):
    scaling.fit_law("power", {"N": np.ones((5, 2))}, np.ones(5))


@pytest.mark.slow
def test_interval_coverage_power():
  """Coverage of 90% percentile-bootstrap intervals over 40 synthetic replicates (printed for the report)."""
  hits = {"E": 0, "A": 0, "alpha": 0}
  R = 40
  for r in range(R):
    X, L = _power_data(seed=100 + r)
    fit = scaling.fit_law("power", X, L, bootstrap=200, ci=0.9, seed=r)
    for k, true in {"E": 0.3, "A": 50.0, "alpha": 0.4}.items():
      hits[k] += fit.intervals[k][0] <= true <= fit.intervals[k][1]
  print({k: v / R for k, v in hits.items()})
  assert all(v / R >= 0.7 for v in hits.values())


def test_compacted_batch_finds_what_the_uncompacted_one_finds():
  """solve_batch pauses the batch every `segment` iterations and drops finished rows. Rows follow the same
  algorithm either way; rounding may differ with the batch's shape, which can tip a long ill-conditioned run
  into another basin, so: the same best optimum, and nearly every row at the same objective."""
  from scalezoo.scaling.fit import solve_batch

  rng = np.random.default_rng(0)
  N, D = np.exp(rng.uniform(np.log(1e6), np.log(1e9), 60)), np.exp(rng.uniform(np.log(1e8), np.log(1e11), 60))
  L = laws.chinchilla.predict({"E": 1.7, "A": 400.0, "B": 2000.0, "alpha": 0.34, "beta": 0.28}, {"N": N, "D": D})
  L = L * np.exp(0.01 * rng.normal(size=60))
  grid = laws.chinchilla.grid(None, None)[::45]  # 100 starts that need 8 to 1000 iterations
  args = (laws.chinchilla, grid, np.ones((len(grid), 60)), np.log(np.stack([N, D])), np.log(L))
  whole = solve_batch(*args, max_iter=1000, segment=10**9)
  parts = solve_batch(*args, max_iter=1000, segment=5)
  assert np.ptp(whole.iters) > 500  # rows finish at very different times, so compaction really happened
  assert np.mean(np.isclose(parts.f, whole.f, rtol=1e-7)) >= 0.9
  assert np.mean(parts.converged == whole.converged) >= 0.9
  assert parts.f.min() == pytest.approx(whole.f.min(), rel=1e-10)
  np.testing.assert_allclose(parts.x[np.argmin(parts.f)], whole.x[np.argmin(whole.f)], rtol=1e-5)
