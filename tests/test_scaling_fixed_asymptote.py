"""A fixed asymptote for every law that has one (issue 19): E (or Err's ε, the loss-curve forms' L0) held at a
given value, the rest fitted; `scalezoo fit --fix E=…` goes through the same `laws.fix`."""

import numpy as np
import pytest

from scalezoo import scaling
from scalezoo.scaling import laws, overtraining  # noqa: F401  overtraining registers gadre and err_link

# a law, its asymptote's name, true parameters and inputs on which to check it
CASES = {
  "power": ("E", {"E": 1.5, "A": 30.0, "alpha": 0.3}, {"N": np.logspace(3, 7, 12)}),
  "chinchilla": (
    "E",
    {"E": 1.69, "A": 406.4, "B": 410.7, "alpha": 0.34, "beta": 0.28},
    {"N": np.logspace(7, 10, 12), "D": np.logspace(9, 12, 12)[::-1]},
  ),
  "data_constrained": (
    "E",
    {"E": 1.87, "A": 521.0, "B": 1488.0, "alpha": 0.35, "beta": 0.35, "R_D": 15.4, "R_N": 5.3},
    {"N": np.logspace(8, 10, 12), "D": np.logspace(10, 12, 12), "U": np.logspace(9, 11, 12)},
  ),
  "gadre": (
    "E",
    {"E": 1.8, "a": 60.0, "b": 900.0, "eta": 0.15},
    {"C": np.logspace(17, 21, 12), "M": np.geomspace(5, 320, 12)},
  ),
  "err_link": ("eps", {"eps": 0.9, "k": 10.0, "gamma": 1.6}, {"L": np.linspace(2.0, 4.0, 12)}),
  "bnsl": ("E", {"E": 0.5, "B": 20.0, "c0": 0.2, "c1": 0.3, "d1": 1e4, "f1": 0.5}, {"x": np.logspace(2, 6, 12)}),
}
NO_ASYMPTOTE = {"kaplan"}  # L = [(N_c/N)^(α_N/α_D) + D_c/D]^α_D → 0: nothing to fix


def _law(name):
  return laws.get("bnsl", k=1) if name == "bnsl" else laws.get(name)


def test_every_registered_law_is_covered():
  assert set(laws.LAWS) - NO_ASYMPTOTE <= set(CASES)


@pytest.mark.parametrize("name", sorted(CASES))
def test_fixing_the_asymptote_keeps_the_law_and_drops_the_parameter(name):
  key, p, X = CASES[name]
  law = _law(name)
  fixed = laws.fix(law, **{key: p[key]})
  assert key not in fixed.params and len(fixed.params) == len(law.params) - 1
  theta = fixed.from_params({k: v for k, v in p.items() if k != key})
  assert fixed.to_params(theta)[key] == pytest.approx(p[key])
  logX = np.log(np.stack([X[k] for k in (law.inputs or list(X))]))
  got = fixed.log_predict(theta, logX, np)
  assert np.allclose(got, law.log_predict(law.from_params(p), logX, np), rtol=1e-12)


def test_power_fit_with_a_fixed_asymptote_recovers_the_rest():
  key, p, X = CASES["power"]
  L = laws.power.predict(p, X)
  fit = scaling.fit_law("power", X, L, fixed={"E": 1.5})
  assert fit.fixed == {"E": 1.5} and fit.params["alpha"] == pytest.approx(0.3, rel=1e-6)


@pytest.mark.long  # compiles the JAX grid fitter for gadre
def test_gadre_fit_with_a_fixed_asymptote_recovers_the_rest():
  key, p, X = CASES["gadre"]
  L = overtraining.gadre.predict(p, X)
  fit = scaling.fit_law("gadre", X, L, fixed={"E": p["E"]})
  assert fit.fixed == {"E": p["E"]} and fit.params["eta"] == pytest.approx(p["eta"], rel=1e-3)


def test_compute_optimal_of_a_fit_with_E_held():
  """The closed-form allocation needs E, which a fit with E held does not list among its fitted params."""
  true, X = CASES["chinchilla"][1], CASES["chinchilla"][2]
  N, D = (g.ravel() for g in np.meshgrid(X["N"][::3], X["D"][::3]))
  L = laws.get("chinchilla").predict(true, {"N": N, "D": D})
  fit = scaling.fit_law("chinchilla", {"N": N, "D": D}, L, fixed={"E": true["E"]}, bootstrap=20, seed=0)
  o = scaling.compute_optimal(fit, 1e21)
  p = fit.params
  assert o.a[0] == pytest.approx(p["beta"] / (p["alpha"] + p["beta"]), rel=1e-9)
  assert o.L_opt[0] == pytest.approx(float(fit.predict({"N": o.N_opt, "D": o.D_opt})[0]), rel=1e-9)
  assert o.L_opt[0] > true["E"] and o.intervals["a"][0][0] <= o.a[0] <= o.intervals["a"][1][0]
