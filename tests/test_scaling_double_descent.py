"""Double-descent detection: min-norm random-features regression peaks at p = n; no false alarms."""

import numpy as np
import pytest

from scalezoo import scaling


def _random_features(n=40, d=8, widths=None, seeds=4, noise=0.3):
  """Test and train MSE of min-norm least squares on ReLU random features, per width p and seed."""
  widths = np.unique(np.round(np.logspace(np.log10(5), np.log10(400), 28)).astype(int)) if widths is None else widths
  test, train = np.zeros((seeds, widths.size)), np.zeros((seeds, widths.size))
  for s in range(seeds):
    rng = np.random.default_rng(s)
    beta = rng.normal(size=d) / np.sqrt(d)
    X, Xt = rng.normal(size=(n, d)), rng.normal(size=(1000, d))
    y, yt = X @ beta + noise * rng.normal(size=n), Xt @ beta
    W = rng.normal(size=(d, widths.max())) / np.sqrt(d)
    for j, p in enumerate(widths):
      F, Ft = np.maximum(X @ W[:, :p], 0), np.maximum(Xt @ W[:, :p], 0)
      w = np.linalg.pinv(F) @ y
      test[s, j], train[s, j] = np.mean((Ft @ w - yt) ** 2), np.mean((F @ w - y) ** 2)
  return widths, test, train


def test_detects_random_features_peak_at_interpolation_threshold():
  p, test, train = _random_features()
  res = scaling.detect_double_descent(p, y_runs=test, train_error=train.mean(0))
  assert res.found, res.reason
  assert 30 <= res.peak_x <= 55  # n = 40
  assert res.min_before_x < res.peak_x < res.min_after_x
  assert res.interpolation_threshold == pytest.approx(40, rel=0.15)
  assert res.p_value < 0.01
  # also from the mean curve alone (noise estimated from the curve)
  assert scaling.detect_double_descent(p, test.mean(0)).found


def test_monotone_curves_are_not_double_descent():
  x = np.logspace(2, 5, 30)
  for seed in range(10):
    rng = np.random.default_rng(seed)
    y = 0.2 + 3 * x**-0.3
    runs = y[None, :] * np.exp(0.02 * rng.normal(size=(3, 30)))
    assert not scaling.detect_double_descent(x, y_runs=runs).found
    assert not scaling.detect_double_descent(x, runs[0]).found
  assert not scaling.detect_double_descent(x, 0.2 + 3 * x**-0.3).found  # noiseless


def test_plateau_with_wiggles_is_not_double_descent():
  x = np.logspace(2, 5, 40)
  for seed in range(10):
    rng = np.random.default_rng(seed)
    y = 0.5 + 0.5 * np.exp(-x / 300) + 0.01 * np.sin(np.log(x) * 6 + seed) + 0.003 * rng.normal(size=40)
    assert not scaling.detect_double_descent(x, y).found, seed


def test_bad_input():
  with pytest.raises(ValueError, match="mismatched"):
    scaling.detect_double_descent(np.arange(6.0), np.arange(5.0))
  with pytest.raises(ValueError, match="NaN"):
    scaling.detect_double_descent(np.arange(6.0), np.array([1, 2, np.nan, 1, 0, 1.0]))
  with pytest.raises(ValueError, match=">= 5"):
    scaling.detect_double_descent(np.arange(3.0), np.arange(3.0))


def test_sample_wise_threshold():
  n = np.arange(1.0, 11.0)
  assert scaling.interpolation_threshold(n, np.r_[np.zeros(4), np.linspace(0.1, 0.5, 6)]) == 4.0
