"""Whole loss curves under any learning-rate schedule: the Multi-Power Law (Luo et al. 2025) and the simpler
form of Tissue et al. 2024, fitted on some schedules and used to predict others.

A schedule is the learning rate of every step, warmup included (`Curve.lrs`), and the steps at which the loss was
logged; S1(t) = Σ_{τ≤t} η_τ is the area under it (the warmup's share is Luo et al.'s S_W).

Multi-Power: L(t) = L0 + A·S1(t)^(−α) − LD(t), LD(t) = B·Σ_{k≤t} (η_{k−1} − η_k)·G(η_k^(−γ)·S_k(t)),
S_k(t) = Σ_{τ=k..t} η_τ, G(x) = 1 − (C·x + 1)^(−β): every drop of the learning rate buys a loss reduction that
grows with the area trained after it. theta = (L0, A, α, B, C, β, γ), as published.
As in Luo et al.'s code the sum runs over warmup steps too (their rise, with G ≈ 1 there, adds B·η_peak).
Tissue et al.: L(t) = L0 + A·S1(t)^(−α) − C·S2(t), S2(t) = Σ_{i≤t} m_i, m_i = λ·m_{i−1} + (η_{i−1} − η_i) over the
steps after warmup: the annealing area with momentum λ. theta = (L0, A, α, C), λ = 0.999 as in the paper.
Both are fitted by summed Huber loss (δ = 1e-3) on log L, Luo et al.'s objective.
"""

from dataclasses import dataclass

import numpy as np

MPL_PARAMS = ("L0", "A", "alpha", "B", "C", "beta", "gamma")
TISSUE_PARAMS = ("L0", "A", "alpha", "C")


# the schedules of Luo et al.'s runs (their src/lr_schedules.py, MIT): linear warmup from 0, then the named shape
def _warm(warmup, peak):
  return np.linspace(0, peak, warmup)


def cosine(warmup, total, peak, end):
  s = np.arange(total)[warmup:]
  return np.concatenate(
    [_warm(warmup, peak), end + 0.5 * (peak - end) * (1 + np.cos(np.pi * (s - warmup) / (total - warmup)))]
  )


def constant(warmup, total, peak):
  return np.concatenate([_warm(warmup, peak), np.full(total - warmup, peak)])


def two_stage(warmup, total, peak, lr_b, stage_a):
  return np.concatenate([_warm(warmup, peak), np.full(stage_a - warmup, peak), np.full(total - stage_a, lr_b)])


def wsd(warmup, total, decay, peak, end, linear=False):
  s = np.arange(total)[decay:]
  u = (s - decay) / (total - decay)
  tail = peak * (1 - u) + end * u if linear else peak ** (1 - u) * end**u
  return np.concatenate([_warm(warmup, peak), np.full(decay - warmup, peak), tail])


@dataclass
class Curve:
  name: str
  lrs: np.ndarray  # (T,) the learning rate of every step, warmup included
  steps: np.ndarray  # (n,) the steps at which the loss was logged
  loss: np.ndarray  # (n,)


def multi_power(theta, c: Curve, chunk: int = 64) -> np.ndarray:
  """L(t) = L0 + A·S1(t)^(−α) + B·Σ_{k≤t} (η_k − η_{k−1})·G(η_k^(−γ)·S_k(t)), S1 the area including warmup."""
  L0, A, alpha, B, C, beta, gamma = theta
  eta = c.lrs
  cs = np.cumsum(eta)
  gap = np.concatenate([[0.0], np.diff(eta)])
  k = np.flatnonzero(gap[1:] != 0) + 1
  LD = np.zeros(c.steps.size)
  for i in range(0, c.steps.size, chunk):  # (logged steps x drops) in chunks: memory stays small
    t = c.steps[i : i + chunk]
    Sk = cs[t][:, None] - cs[k - 1][None, :]  # Σ_{τ=k..t} η_τ
    G = 1.0 - (1.0 + C * eta[k][None, :] ** (-gamma) * Sk) ** (-beta)
    LD[i : i + chunk] = np.sum(np.where(k[None, :] <= t[:, None], gap[k][None, :] * G, 0.0), axis=1)
  return L0 + A * cs[c.steps] ** (-alpha) + B * LD


def _tissue_areas(c: Curve, lam: float, warmup: int) -> tuple[np.ndarray, np.ndarray]:
  """S1 and S2 at the logged steps: the lr area, and the annealing area with momentum λ after warmup."""
  from scipy.signal import lfilter

  eta = c.lrs
  drop = np.concatenate([[0.0], eta[:-1] - eta[1:]])
  drop[:warmup] = 0.0
  m = lfilter([1.0], [1.0, -lam], drop)  # m_i = λ·m_{i−1} + (η_{i−1} − η_i)
  return np.cumsum(eta)[c.steps], np.cumsum(m)[c.steps]


def tissue(theta, c: Curve, lam: float = 0.999, warmup: int = 2160) -> np.ndarray:
  """L(t) = L0 + A·S1(t)^(−α) − C·S2(t), S2 the annealing area with momentum λ over the drops after warmup."""
  L0, A, alpha, C = theta
  S1, S2 = _tissue_areas(c, lam, warmup)
  return L0 + A * S1 ** (-alpha) - C * S2


def tissue_start(curves: list, *, lam: float = 0.999, warmup: int = 2160, fixed: dict | None = None) -> np.ndarray:
  """A start for the Tissue fit by variable projection: given α the form is linear in (L0, A, C), so α runs over a
  grid and (L0, A, C) >= 0 come from a non-negative least-squares solve weighted by 1/L (≈ the log-loss residual).
  Local starts fail here: S1^(−α) and S2 are nearly collinear along a schedule, and from a poor start the fit
  trades C against A and L0 and stops in a far minimum (the 100M model: held-out PredE 0.047 from [2.4, 0.65,
  0.43, 1.0], 0.0013 from this start)."""
  from scipy.optimize import nnls

  fixed = fixed or {}
  S1, S2 = (np.concatenate(a) for a in zip(*[_tissue_areas(c, lam, warmup) for c in curves]))
  y = np.concatenate([c.loss for c in curves])
  w = 1.0 / y
  alphas = [fixed["alpha"]] if "alpha" in fixed else np.linspace(0.02, 2.0, 100)
  best = (np.inf, None)
  for a in alphas:
    cols = {"L0": np.ones_like(y), "A": S1 ** (-a), "C": -S2}
    rhs = y - sum(fixed[k] * v for k, v in cols.items() if k in fixed)
    free = [k for k in cols if k not in fixed]
    coef, r = nnls(np.stack([cols[k] for k in free], 1) * w[:, None], rhs * w)
    if r < best[0]:
      best = (r, dict(zip(free, coef)) | {"alpha": a})
  p = best[1] | fixed
  return np.array([p[k] for k in TISSUE_PARAMS])


def fit(
  form: str, curves: list, theta0=None, *, delta: float = 1e-3, fixed: dict | None = None, lam: float = 0.999
) -> tuple[np.ndarray, float]:
  """`form` ('multi_power' or 'tissue') fitted to the curves: Σ Huber_δ(log L − log L̂) (Luo et al.'s objective),
  by scipy's bounded trust-region least squares (parameters >= 0). Returns (theta, objective), theta complete.

  theta0: the start (all parameters); for 'tissue' it defaults to `tissue_start`'s variable-projection start.
  fixed: parameters held at given values, e.g. {"L0": 2.9} (a fixed asymptote). lam: Tissue's momentum λ."""
  from scipy.optimize import least_squares

  names = MPL_PARAMS if form == "multi_power" else TISSUE_PARAMS
  if form not in ("multi_power", "tissue"):
    raise ValueError(f"form {form!r} is not 'multi_power' or 'tissue'")
  fixed = fixed or {}
  bad = [k for k in fixed if k not in names]
  if bad:
    raise ValueError(f"{form} has no parameter {bad[0]!r} to fix; parameters: {list(names)}")
  if theta0 is None:
    if form == "multi_power":
      raise ValueError("multi_power needs a start theta0 (7 values: L0, A, alpha, B, C, beta, gamma)")
    theta0 = tissue_start(curves, lam=lam, fixed=fixed)
  full = np.array([fixed.get(k, v) for k, v in zip(names, np.asarray(theta0, float))])
  free = np.array([k not in fixed for k in names])
  f = multi_power if form == "multi_power" else (lambda th, c: tissue(th, c, lam=lam))
  y = np.log(np.concatenate([c.loss for c in curves]))

  def resid(th_free):
    th = full.copy()
    th[free] = th_free
    return np.log(np.maximum(np.concatenate([f(th, c) for c in curves]), 1e-10)) - y

  res = least_squares(resid, full[free], bounds=(0.0, np.inf), loss="huber", f_scale=delta, x_scale="jac", max_nfev=400)
  theta = full.copy()
  theta[free] = res.x
  r = np.abs(resid(res.x))
  return theta, float(np.sum(np.where(r < delta, 0.5 * r * r, delta * (r - 0.5 * delta))))


def metrics(pred: np.ndarray, loss: np.ndarray) -> dict:
  """The paper's metrics: R², MAE, RMSE, PredE (mean relative error), WorstE (max relative error)."""
  r = pred - loss
  rel = np.abs(r) / loss
  return {
    "R2": float(1 - np.sum(r**2) / np.sum((loss - loss.mean()) ** 2)),
    "MAE": float(np.mean(np.abs(r))),
    "RMSE": float(np.sqrt(np.mean(r**2))),
    "PredE": float(np.mean(rel)),
    "WorstE": float(np.max(rel)),
  }
