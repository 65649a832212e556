"""Double descent: does a test-error curve fall, rise to a peak and fall again, beyond noise?

The noise per point is the standard error across seeds (y_runs, one row per seed) or, without seeds, a robust
estimate from the curve itself: the MAD of its second differences (white noise of σ gives var 6σ²; an isolated
peak barely moves a median). The peak is the most prominent local maximum (scipy's prominence: its height
above the higher of the minima before and after it). It counts as double descent only if
  - its prominence is significant against a monotone null: curves drawn as the best non-increasing fit
    (isotonic regression) plus the estimated noise, p = P(max prominence under the null ≥ observed) < alpha,
    and prominence ≥ z_min noise units;
  - it dominates: no other peak reaches `dominance` × its prominence (a plateau with wiggles has many similar
    peaks, so no single one is the second descent's bump);
  - the curve falls before it (the minimum before the peak is not the first point).
"""

from dataclasses import asdict, dataclass

import numpy as np
from scipy.signal import find_peaks

from scalezoo.scaling.checks import as_array


@dataclass
class DoubleDescent:
  found: bool
  reason: str
  peak_x: float | None = None
  peak_y: float | None = None
  min_before_x: float | None = None
  min_before_y: float | None = None
  min_after_x: float | None = None
  min_after_y: float | None = None
  prominence: float = 0.0  # on the tested scale: log y (a ratio) in log mode
  z: float = 0.0  # prominence in noise units
  p_value: float = 1.0
  noise: float = 0.0  # the noise level used at the peak
  interpolation_threshold: float | None = None

  def to_dict(self) -> dict:
    return asdict(self)


def isotonic_decreasing(y, w) -> np.ndarray:
  """Weighted least-squares non-increasing fit (pool adjacent violators)."""
  vals, wts, sizes = [], [], []
  for yi, wi in zip(y, w):
    vals.append(yi), wts.append(wi), sizes.append(1)
    while len(vals) > 1 and vals[-2] < vals[-1]:
      v2, w2, s2 = vals.pop(), wts.pop(), sizes.pop()
      vals[-1] = (vals[-1] * wts[-1] + v2 * w2) / (wts[-1] + w2)
      wts[-1] += w2
      sizes[-1] += s2
  return np.repeat(vals, sizes)


def robust_noise(y) -> float:
  """σ of white noise on a smooth curve, from the MAD of second differences."""
  if y.shape[0] < 5:
    return float(np.std(y))
  d2 = y[:-2] - 2 * y[1:-1] + y[2:]
  return float(1.4826 * np.median(np.abs(d2 - np.median(d2))) / np.sqrt(6.0))


def _max_prominence(y_BxN) -> np.ndarray:
  out = np.zeros(y_BxN.shape[0])
  for i, row in enumerate(y_BxN):
    _, props = find_peaks(row, prominence=0)
    if props["prominences"].size:
      out[i] = props["prominences"].max()
  return out


def interpolation_threshold(x, train_error, tol: float | None = None) -> float | None:
  """Where train error reaches ~0: the first such x, or, if it is ~0 from the start (sample-wise: small
  training sets are memorised), the last x of that initial run."""
  te = np.asarray(train_error, np.float64)
  tol = tol if tol is not None else max(1e-3 * float(np.nanmax(np.abs(te))), 1e-12)
  zero = np.abs(te) <= tol
  if not zero.any():
    return None
  if zero[0]:
    return float(x[np.argmin(zero) - 1]) if not zero.all() else float(x[-1])
  return float(x[np.argmax(zero)])


def detect_double_descent(
  x,
  y=None,
  *,
  y_runs=None,
  train_error=None,
  train_tol: float | None = None,
  alpha: float = 0.01,
  z_min: float = 3.0,
  dominance: float = 0.5,
  n_null: int = 2000,
  log: bool | None = None,
  seed: int = 0,
) -> DoubleDescent:
  """Test-error curve y(x) (x: model size, training-set size or epochs). y_runs (R, n): one row per seed, y
  defaults to their (geometric, in log mode) mean. train_error (n,) marks the interpolation threshold.
  log (default: when every value is > 0) tests on log y: errors near the threshold vary multiplicatively
  across seeds (one seed 5x another), which a linear-scale standard error would call noise. See the module doc."""
  x = as_array("x", x)
  if y_runs is not None:
    y_runs = np.asarray(y_runs, np.float64)
    if y_runs.ndim != 2 or y_runs.shape[1] != x.shape[0]:
      raise ValueError(f"y_runs must be (seeds, {x.shape[0]}), got {y_runs.shape}")
    if not np.all(np.isfinite(y_runs)):
      raise ValueError("y_runs has NaN/inf values")
  if y is None and y_runs is None:
    raise ValueError("give y or y_runs")
  if log is None:
    log = bool(np.all(np.asarray(y if y is not None else y_runs, np.float64) > 0)) and (
      y_runs is None or bool(np.all(y_runs > 0))
    )
  if y is None:
    y = np.exp(np.log(y_runs).mean(axis=0)) if log else y_runs.mean(axis=0)
  y = as_array("y", y)
  if log and np.any(y <= 0):
    raise ValueError("log=True needs y > 0")
  if y.shape != x.shape:
    raise ValueError(f"mismatched lengths: x {x.shape[0]}, y {y.shape[0]}")
  if x.shape[0] < 5:
    raise ValueError(f"need >= 5 points to tell a peak from noise, got {x.shape[0]}")
  o = np.argsort(x, kind="stable")
  x, y_user = x[o], y[o]
  y = np.log(y_user) if log else y_user  # the test runs on this scale; positions are reported in user units
  thr = None
  if train_error is not None:
    te = as_array("train_error", train_error)
    if te.shape != x.shape:
      raise ValueError(f"mismatched lengths: x {x.shape[0]}, train_error {te.shape[0]}")
    thr = interpolation_threshold(x, te[o], train_tol)

  scale = max(float(np.ptp(y)), float(np.max(np.abs(y))), 1e-300)
  if y_runs is not None and y_runs.shape[0] >= 2:
    runs = np.log(y_runs[:, o]) if log else y_runs[:, o]
    sigma = runs.std(axis=0, ddof=1) / np.sqrt(y_runs.shape[0])
    sigma = np.maximum(sigma, max(0.1 * float(np.median(sigma)), 1e-9 * scale))
  else:
    sigma = np.full(x.shape, max(robust_noise(y), 1e-9 * scale))

  peaks, props = find_peaks(y, prominence=0)
  if peaks.size == 0:
    return DoubleDescent(
      False, "no interior peak (monotone or U-shaped)", interpolation_threshold=thr, noise=float(np.median(sigma))
    )
  order = np.argsort(props["prominences"])[::-1]
  k = order[0]
  p, lb, rb, prom = peaks[k], props["left_bases"][k], props["right_bases"][k], float(props["prominences"][k])
  second = float(props["prominences"][order[1]]) if order.size > 1 else 0.0
  base = lb if y[lb] >= y[rb] else rb
  noise = float(np.hypot(sigma[p], sigma[base]))
  null = isotonic_decreasing(y, 1.0 / sigma**2)
  sims = null[None, :] + np.random.default_rng(seed).normal(size=(n_null, y.shape[0])) * sigma[None, :]
  p_value = float((1 + np.sum(_max_prominence(sims) >= prom)) / (1 + n_null))
  res = DoubleDescent(
    found=False,
    reason="",
    peak_x=float(x[p]),
    peak_y=float(y_user[p]),
    min_before_x=float(x[lb]),
    min_before_y=float(y_user[lb]),
    min_after_x=float(x[rb]),
    min_after_y=float(y_user[rb]),
    prominence=prom,
    z=prom / noise,
    p_value=p_value,
    noise=noise,
    interpolation_threshold=thr,
  )
  if p_value >= alpha or res.z < z_min:
    res.reason = f"peak not significant (p={p_value:.3g}, z={res.z:.2f}; need p<{alpha}, z>={z_min})"
  elif second > dominance * prom:
    res.reason = f"no dominant peak: another peak has {second / prom:.0%} of its prominence (wiggles)"
  elif lb == 0:
    res.reason = "the curve does not fall before the peak"
  else:
    res.found = True
    res.reason = f"peak at x={x[p]:.4g}: prominence {prom:.4g} = {res.z:.1f} noise units, p={p_value:.3g}"
  return res
