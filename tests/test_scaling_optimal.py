"""Compute-optimal allocation: closed-form relations, and Hoffmann's approaches 1, 2 and 3 agreeing."""

import numpy as np
import pytest

from scalezoo import scaling
from scalezoo.scaling import laws

TRUE = {"E": 1.69, "A": 406.4, "B": 410.7, "alpha": 0.34, "beta": 0.28}  # Hoffmann et al.'s approach-3 law
A_TRUE = TRUE["beta"] / (TRUE["alpha"] + TRUE["beta"])  # 0.4516


def _fit_from(params):
  th = laws.chinchilla.from_params(params)
  return scaling.Fit(law="chinchilla", inputs=("N", "D"), params=params, theta=th, objective=0.0, stats={})


def test_closed_form_relations():
  alloc = scaling.compute_optimal(_fit_from(TRUE), np.logspace(18, 24, 7))
  np.testing.assert_allclose(alloc.a + alloc.b, 1.0)
  np.testing.assert_allclose(alloc.a, A_TRUE)
  np.testing.assert_allclose(6 * alloc.N_opt * alloc.D_opt, alloc.C, rtol=1e-10)
  # the numeric path (any FLOPs function) agrees with the closed form
  num = scaling.compute_optimal(_fit_from(TRUE), np.logspace(18, 24, 7), flops=lambda N, D: 6.0 * N * D)
  np.testing.assert_allclose(num.N_opt, alloc.N_opt, rtol=0.02)
  np.testing.assert_allclose(num.a, A_TRUE, atol=0.01)
  np.testing.assert_allclose(6 * num.N_opt * num.D_opt, num.C, rtol=1e-6)


def test_approaches_1_2_3_agree_on_synthetic_chinchilla():
  rng = np.random.default_rng(0)
  law = lambda N, D: laws.chinchilla.predict(TRUE, {"N": N, "D": D})
  # approach 3: a parametric fit to scattered runs
  N3, D3 = np.exp(rng.uniform(np.log(1e7), np.log(1e10), 240)), np.exp(rng.uniform(np.log(1e8), np.log(1e12), 240))
  fit = scaling.fit_law(
    "chinchilla", {"N": N3, "D": D3}, law(N3, D3) * np.exp(0.003 * rng.normal(size=240)), method="varpro"
  )
  a3 = scaling.compute_optimal(fit, 1e21).a[0]
  # approach 2: IsoFLOP profiles
  budgets = np.logspace(18, 21, 7)
  Ns, Cs = [], []
  for C in budgets:
    n_opt = 0.6 * (C / 6) ** A_TRUE
    Ns.append(n_opt * np.logspace(-0.6, 0.6, 9))
    Cs.append(np.full(9, C))
  N2, C2 = np.concatenate(Ns), np.concatenate(Cs)
  iso = scaling.isoflop(N2, C2, law(N2, C2 / (6 * N2)) * np.exp(0.001 * rng.normal(size=N2.size)), bootstrap=50)
  # approach 1: the lower envelope of training curves
  sizes = np.logspace(7, 10, 40)
  flops, losses = [], []
  for N in sizes:
    D = np.logspace(8, 12.5, 60)
    flops.append(6 * N * D)
    losses.append(law(np.full_like(D, N), D))
  env = scaling.envelope(flops, losses, sizes, n_grid=500)
  env_mask = (env.C > 1e18) & (env.C < 1e22)  # inside the swept range
  a1 = np.polyfit(np.log(env.C[env_mask]), np.log(env.N_opt[env_mask]), 1)[0]
  assert a3 == pytest.approx(A_TRUE, abs=0.03)
  assert iso.a == pytest.approx(A_TRUE, abs=0.03)
  assert a1 == pytest.approx(A_TRUE, abs=0.05)
  assert iso.a + iso.b == pytest.approx(1.0, abs=1e-9)
  lo, hi = iso.intervals["a"]
  assert lo <= iso.a <= hi


def test_bootstrap_intervals_of_allocation():
  X, L = scaling.synthetic_chinchilla(240, noise=0.01, seed=1)
  fit = scaling.fit_law("chinchilla", X, L, method="varpro", bootstrap=32)
  alloc = scaling.compute_optimal(fit, [1e21, 1e23])
  lo, hi = alloc.intervals["a"]
  assert np.all(lo <= alloc.a) and np.all(alloc.a <= hi)
  assert np.all(alloc.intervals["N_opt"][0] < alloc.intervals["N_opt"][1])


def test_bad_input():
  with pytest.raises(ValueError, match="over N and D"):
    fit = scaling.Fit(
      law="power", inputs=("C",), params={"E": 1, "A": 1, "alpha": 1}, theta=np.zeros(3), objective=0.0, stats={}
    )
    scaling.compute_optimal(fit, 1e20)
  with pytest.raises(ValueError, match="> 0"):
    scaling.compute_optimal(_fit_from(TRUE), -1.0)
  with pytest.raises(ValueError, match="mismatched"):
    scaling.isoflop(np.ones(5), np.ones(4), np.ones(5))
