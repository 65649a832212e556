"""Approach 2's bias without noise (Open-Athena 2026): parabola vertices miss the minima; approach 3 does not."""

import numpy as np
import pytest

from scalezoo import scaling
from scalezoo.scaling.optimal import _chinchilla_closed

BUDGETS = np.logspace(17, 21, 5)


def _profiles(p, drift=0.2):
  """15 sizes per budget over ±1 decade around a centre that drifts from the optimum by `drift` decades a budget
  (a fixed model ladder does this: its sizes do not follow N_opt(C))."""
  N_opt = _chinchilla_closed(p, BUDGETS)[0]
  centre = N_opt * 10 ** (drift * (np.arange(BUDGETS.size) - 2))
  N = (centre[:, None] * np.logspace(-1, 1, 15)[None, :]).ravel()
  C = np.repeat(BUDGETS, 15)
  return N, C, scaling.laws.chinchilla.predict(p, {"N": N, "D": C / (6 * N)}), N_opt


def test_parabolas_are_biased_without_noise_when_alpha_differs_from_beta():
  p = {"alpha": 0.5, "beta": 0.2, "A": 200.0, "B": 800.0, "E": 1.5}
  N, C, L, N_opt = _profiles(p)
  fr = scaling.isoflop(N, C, L)
  true_a = p["beta"] / (p["alpha"] + p["beta"])
  assert abs(fr.a - true_a) > 0.005  # 0.292 vs 0.286 on this grid
  assert np.max(np.abs(fr.N_opt / N_opt - 1)) > 0.1  # vertices up to 19% off the true N_opt
  # the result says so, measures it, and names the alternative
  assert "arXiv 2603.22339" in fr.warnings[0] and "compute_optimal" in fr.warnings[0]
  assert any("a cubic moves their vertices" in w for w in fr.warnings)
  assert np.nanmax(np.abs(fr.detail["vertex_shift"])) > 0.05
  # fitting the surface recovers the allocation exactly from the same points
  fit = scaling.fit_law("chinchilla", {"N": N, "D": C / (6 * N)}, L)
  a3 = scaling.compute_optimal(fit, BUDGETS)
  assert a3.a[0] == pytest.approx(true_a, rel=1e-6)
  assert np.allclose(a3.N_opt, N_opt, rtol=1e-5)


def test_symmetric_centred_profiles_are_not_flagged_as_biased():
  p = {"alpha": 0.31, "beta": 0.31, "A": 400.0, "B": 400.0, "E": 1.69}
  N, C, L, N_opt = _profiles(p, drift=0.0)
  fr = scaling.isoflop(N, C, L)
  assert fr.a == pytest.approx(0.5, abs=1e-9) and np.allclose(fr.N_opt, N_opt, rtol=1e-6)
  assert len(fr.warnings) == 1  # the general caveat only: no measured asymmetry
