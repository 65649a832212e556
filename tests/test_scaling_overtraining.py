"""Gadre et al. 2024's over-training law L(C, M) and the loss-to-error link, fitted and extrapolated."""

import numpy as np
import pytest

from scalezoo import scaling
from scalezoo.scaling import overtraining

TRUE = {"E": 1.8, "a": 60.0, "b": 900.0, "eta": 0.15}


@pytest.mark.long  # compiles the JAX grid fitter for a new law
def test_gadre_fit_on_small_multipliers_extrapolates_along_M():
  rng = np.random.default_rng(0)
  C = np.tile(np.logspace(17, 20, 6), 4)
  M = np.repeat([5.0, 10.0, 20.0, 40.0], 6)
  L = overtraining.gadre.predict(TRUE, {"C": C, "M": M}) * np.exp(0.002 * rng.normal(size=C.size))
  big_M = np.array([160.0, 320.0])
  Cx = np.array([1e20, 1e21])
  ex = scaling.extrapolation_check("gadre", {"C": C, "M": M}, L, by="M", cut=30.0)
  assert ex.fit.params["eta"] == pytest.approx(0.15, rel=0.05)
  assert np.max(np.abs(ex.rel_err)) < 0.01  # M = 40 predicted from M <= 20
  far = ex.fit.predict({"C": Cx, "M": big_M})
  assert far == pytest.approx(overtraining.gadre.predict(TRUE, {"C": Cx, "M": big_M}), rel=0.02)


@pytest.mark.long
def test_err_link_recovers_its_parameters():
  L = np.linspace(2.0, 4.0, 12)
  p = {"eps": 0.9, "k": 10.0, "gamma": 1.6}
  err = overtraining.err_link.predict(p, {"L": L})
  fit = scaling.fit_law("err_link", {"L": L}, err)
  for k, v in p.items():
    assert fit.params[k] == pytest.approx(v, rel=1e-3), k
