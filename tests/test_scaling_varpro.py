"""Variable projection, the default fit for power and chinchilla: exact on noise-free surfaces, bounded exponents."""

import numpy as np
import pytest

from scalezoo import scaling
from scalezoo.scaling import laws, lsq
from scalezoo.scaling.optimal import _chinchilla_closed

SURFACES = [
  {"alpha": 0.31, "beta": 0.31, "A": 400.0, "B": 400.0, "E": 1.69},
  {"alpha": 0.34, "beta": 0.28, "A": 406.4, "B": 410.7, "E": 1.69},
  {"alpha": 0.5, "beta": 0.2, "A": 200.0, "B": 800.0, "E": 1.5},
]


BUDGETS = np.logspace(17, 21, 5)


def isoflop_design(p, budgets=BUDGETS, per_budget=15):
  """15 sizes per budget over ±1 decade of N around the budget's optimum, D = C / (6 N)."""
  N_opt = _chinchilla_closed(p, budgets)[0]
  N = (N_opt[:, None] * np.logspace(-1, 1, per_budget)[None, :]).ravel()
  C = np.repeat(budgets, per_budget)
  return {"N": N, "D": C / (6 * N)}, C


@pytest.mark.parametrize("p", SURFACES, ids=["a=b", "chinchilla-like", "a>>b"])
def test_noise_free_surfaces_recover_all_five_parameters(p):
  X, _ = isoflop_design(p)
  L = laws.chinchilla.predict(p, X)
  fit = scaling.fit_law("chinchilla", X, L)
  assert fit.method == "varpro"
  for k, v in p.items():
    assert fit.params[k] == pytest.approx(v, rel=1e-6), k
  assert fit.stats["cond"] > 1 and np.isfinite(fit.stats["cond"])
  assert fit.warnings == []


@pytest.mark.long  # compiles the grid's L-BFGS over 4,500 starts
def test_varpro_and_the_jax_grid_reach_the_same_optimum_on_noisy_data():
  X, L = scaling.synthetic_chinchilla(n_points=120, noise=0.02, seed=3)
  vp = scaling.fit_law("chinchilla", X, L)
  grid = scaling.fit_law("chinchilla", X, L, method="grid")
  assert vp.objective <= grid.objective * (1 + 1e-7)
  for k in vp.params:
    assert vp.params[k] == pytest.approx(grid.params[k], rel=2e-3), k


def test_decreasing_law_keeps_its_exponent_positive_and_says_so():
  # a loss that rises with N: the unbounded fit returned a negative exponent; this one stops at 0 and warns
  N = np.array([1e3, 3e3, 1e4, 3e4, 1e5, 3e5])
  L = np.array([0.30, 0.31, 0.33, 0.34, 0.36, 0.38])
  fit = scaling.fit_law("power", {"N": N}, L, bootstrap=32)
  assert fit.params["alpha"] >= 0
  assert all(v >= 0 for v in fit.samples["alpha"])
  assert "alpha is at its lower bound 0: the data show no decrease along this input" in fit.warnings
  assert any("not monotone in N" in w for w in fit.warnings)


def test_fixed_asymptote_is_held_and_the_rest_recovered():
  p = SURFACES[1]
  X, _ = isoflop_design(p)
  L = laws.chinchilla.predict(p, X)
  fit = scaling.fit_law("chinchilla", X, L, fixed={"E": 1.69})
  assert "E" not in fit.params and fit.fixed == {"E": 1.69}
  for k in ("A", "B", "alpha", "beta"):
    assert fit.params[k] == pytest.approx(p[k], rel=1e-6), k
  assert np.allclose(fit.predict(X), L, rtol=1e-9)
  wrong = scaling.fit_law("chinchilla", X, L, fixed={"E": 1.0})  # a wrong E: the fit must absorb it elsewhere
  assert wrong.objective > 100 * fit.objective
  again = scaling.Fit.from_json(fit.to_json())
  assert np.allclose(again.predict(X), L, rtol=1e-9) and again.fixed == {"E": 1.69}


def test_fixed_asymptote_on_the_grid_path_matches_varpro():
  N = np.logspace(3, 6, 12)
  L = 0.3 + 50 * N**-0.4
  vp = scaling.fit_law("power", {"N": N}, L, fixed={"E": 0.3})
  assert vp.params["alpha"] == pytest.approx(0.4, rel=1e-6) and vp.params["A"] == pytest.approx(50, rel=1e-6)
  law = laws.fix(laws.power, E=0.3)
  assert law.n_params == 2 and law.to_params(law.from_params({"A": 50.0, "alpha": 0.4}))["E"] == pytest.approx(0.3)


def test_bootstrap_is_deterministic_and_each_resample_is_a_fit():
  X, L = scaling.synthetic_chinchilla(n_points=60, noise=0.01, seed=1)
  a = scaling.fit_law("chinchilla", X, L, bootstrap=16, seed=5)
  b = scaling.fit_law("chinchilla", X, L, bootstrap=16, seed=5)
  assert np.array_equal(a.theta_samples, b.theta_samples) and np.array_equal(a.theta, b.theta)
  # resample 0 refitted alone from the same starts lands on the same optimum
  idx = np.random.default_rng(5).integers(0, 60, (16, 60))[0]
  logX = np.log(np.stack([X["N"], X["D"]]))
  one = lsq.polish(laws.chinchilla, a.theta[None], logX, np.log(L), delta=1e-3, idx_BxN=idx[None])
  assert lsq.huber_sum(
    lsq.residual_and_jac(laws.chinchilla, a.theta_samples[:1], logX[:, idx[None]], np.log(L)[idx[None]])[0], 1e-3
  )[0] <= one.objective[0] * (1 + 1e-9)


def test_jacobian_is_the_derivative():
  rng = np.random.default_rng(0)
  th = np.array([0.5, 5.0, 6.0, 0.3, 0.35])
  logX = np.log(np.stack([np.exp(rng.uniform(18, 23, 7)), np.exp(rng.uniform(22, 26, 7))]))
  r, J = lsq.residual_and_jac(laws.chinchilla, th[None], logX[:, None], np.zeros((1, 7)))
  for i in range(5):
    e = np.zeros(5)
    e[i] = 1e-6
    num = (laws.chinchilla.log_predict(th + e, logX, np) - laws.chinchilla.log_predict(th - e, logX, np)) / 2e-6
    assert np.allclose(J[0, i], num, atol=1e-7)
  assert np.allclose(r[0], laws.chinchilla.log_predict(th, logX, np))
