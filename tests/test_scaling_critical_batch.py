"""scaling.fit_critical_batch on Zhang et al. 2025's published points (tests/data/critical_batch, MIT) and on a
synthetic design with a known law."""

import json
import warnings
from pathlib import Path

import numpy as np
import pytest

from scalezoo.scaling.critical_batch import critical_batch, fit_critical_batch, fit_steps

DATA = Path(__file__).parent / "data" / "critical_batch" / "steps_to_target.json"
# the notebook's outputs (plots/chinchilla.ipynb cell 5; SOURCE.md): a, b, B_crit per size in millions
PUBLISHED = {
  85: (1293.8268694659337, 2834258.0888740215, 745.3201466381583),
  151: (1752.4211962796799, 5677478.783007255, 955.1582414387951),
  302: (2095.3497601960876, 11383269.891870424, 1393.726947253441),
  604: (2459.9274969089824, 19449688.58779496, 1888.5221009346358),
  1200: (3897.306597333535, 43381130.22429582, 2533.4108017868743),
}


def _published_runs():
  rows = json.loads(DATA.read_text())["rows"]
  return {
    "N": np.array([r["N_millions"] for r in rows], float),
    "batch": np.array([r["batch_size_sequences"] for r in rows], float),
    "steps": np.array([r["steps_to_target"] for r in rows], float),
  }


def test_reproduces_the_published_critical_batches_and_law():
  with warnings.catch_warnings():
    warnings.simplefilter("error")  # no RuntimeWarning from the fit or the bootstrap
    fit = fit_critical_batch(_published_runs(), bootstrap=300)
  for s in fit.sizes:
    a, b, crit = PUBLISHED[int(s["X"])]
    # scipy's curve_fit stopped at its default tolerance; the kit's polish lands within 1e-7 of its a and b
    assert s["a"] == pytest.approx(a, rel=1e-6) and s["b"] == pytest.approx(b, rel=1e-6)
    assert round(s["B_crit"], 2) == round(crit, 2)  # 745.32, 955.16, 1393.73, 1888.52, 2533.41
  assert fit.coef == pytest.approx(93.196814043949, rel=1e-5)
  assert fit.exponent == pytest.approx(0.4682782328130422, abs=1e-6)
  lo, hi = fit.intervals["beta"]
  assert lo < fit.exponent < hi and hi - lo < 0.5
  assert fit.predict(1200) == pytest.approx(2578.188, rel=1e-4)  # cell 7's forecast at 1.2B
  assert "B_crit = 93.2·N^0.468" in fit.summary()


def test_the_critical_batch_is_where_steps_exceed_linear_scaling_by_the_overhead():
  a, b, B0, eps = 1500.0, 4e6, 256.0, 0.2
  S = lambda B: a + b / B
  Bc = critical_batch(a, b, eps, B0)
  assert S(Bc) == pytest.approx((1 + eps) * S(B0) * B0 / Bc, rel=1e-12)
  assert critical_batch(a, b, 0.5, B0) > Bc  # more overhead allowed: a larger batch


def test_fit_steps_is_exact_on_exact_data_from_a_far_start():
  B = 2.0 ** np.arange(4, 14)
  a, b, rmse = fit_steps(B, 37.0 + 9e5 / B)
  assert a[0] == pytest.approx(37.0, rel=1e-8) and b[0] == pytest.approx(9e5, rel=1e-8) and rmse[0] < 1e-8


def test_recovers_a_known_law_with_noise():
  """S = a + b/B per size with 3% log-normal noise, a and b chosen so B_crit = 400·N^0.35 exactly."""
  rng = np.random.default_rng(3)
  Ns = np.logspace(1, 4, 6)
  B = 2.0 ** np.arange(5, 16)
  rows = []
  for N in Ns:
    a = 800.0 * N**0.2
    b = (400.0 * N**0.35 - 1.2 * 256) * a / 0.2  # inverts critical_batch
    S = (a + b / B) * np.exp(0.03 * rng.normal(size=B.size))
    rows += [(N, x, s) for x, s in zip(B, S)]
  N, Bs, S = np.array(rows).T
  fit = fit_critical_batch({"N": N, "batch": Bs, "steps": S}, bootstrap=400, seed=1)
  assert fit.exponent == pytest.approx(0.35, abs=0.03)
  lo, hi = fit.intervals["beta"]
  assert lo < 0.35 < hi
  for s, x in zip(fit.sizes, Ns):
    assert s["B_crit"] == pytest.approx(400.0 * x**0.35, rel=0.15)


def test_refusals_are_one_line():
  r = _published_runs()
  cases = [
    ({k: v[:18] for k, v in r.items()}, "2 values of 'N'; a power law in N needs at least 3"),
    ({k: v[r["batch"] <= 128] for k, v in r.items()}, "N = 85 has 2 batch sizes"),
    (r | {"steps": np.where(r["batch"] == 64, np.inf, r["steps"])}, "column 'steps' must be positive and finite"),
    ({k: v for k, v in r.items() if k != "batch"}, "no column 'batch'"),
  ]
  for runs, words in cases:
    with pytest.raises(ValueError, match=words) as e:
      fit_critical_batch(runs, bootstrap=0)
    assert "\n" not in str(e.value)
  with pytest.raises(ValueError, match="overhead -0.2"):
    fit_critical_batch(r, overhead=-0.2, bootstrap=0)
