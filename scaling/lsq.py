"""The variable-projection polish: bounded Levenberg–Marquardt on the log-space Huber objective, batched in numpy.

For laws that are a sum of terms c_k·x_j^(−α_k) (power, chinchilla: `Law.terms`), log L̂ is a log-sum-exp of
log c_k − α_k·log x_j, and its Jacobian is the terms' softmax weights: exact and cheap. Each row of a batch
(a start, or a start on one bootstrap resample) minimises Σ Huber_δ(r), r = log L̂ − log L, by damped
iteratively reweighted Gauss–Newton: weights w = ψ(r)/r = min(1, δ/|r|) make the quadratic a majoriser of the
Huber loss, so a step that lowers the linearised model lowers the objective unless the law's curvature says
otherwise, and then the damping grows. Box bounds keep exponents in [0, EXP_MAX] (a decreasing law stays
decreasing) and log-coefficients above log(FLOOR·max L) (an absent term reaches its floor instead of −∞);
a coordinate at a bound whose gradient points outward is held there. No JAX, nothing compiled: a few hundred
rows of a thousand points take a fraction of a second.
"""

from dataclasses import dataclass

import numpy as np

EXP_MAX = 10.0  # an exponent beyond this is a step, not a power law: reported as at its bound
FLOOR = 1e-8  # relative to max L: the smallest coefficient (its log is the lower bound)


@dataclass
class Polished:
  theta: np.ndarray  # (B, P) full theta, fixed entries included
  objective: np.ndarray  # (B,) Σ Huber_δ(r)
  iters: np.ndarray  # (B,)
  at_bound: list  # per row: [(name, "lower" | "upper"), ...] of free parameters at a bound


def residual_and_jac(law, theta_BxP, logX_KxBxN, logL_BxN):
  """r = log L̂ − log L (B, n) and dr/dtheta as (B, P, n) (parameter-major: contiguous rows for the products)."""
  B, P = theta_BxP.shape
  n = logL_BxN.shape[-1]
  t, exp_of = [], []
  j = len(law.terms)
  for k, inp in enumerate(law.terms):
    if inp is None:
      t.append(np.broadcast_to(theta_BxP[:, k, None], (B, n)))
      exp_of.append(None)
    else:
      t.append(theta_BxP[:, k, None] - theta_BxP[:, j, None] * logX_KxBxN[inp])
      exp_of.append(j)
      j += 1
  m = t[0]
  for tk in t[1:]:
    m = np.maximum(m, tk)
  J = np.empty((B, P, n))
  s = np.zeros((B, n))
  for k, tk in enumerate(t):
    np.exp(tk - m, out=J[:, k])
    s += J[:, k]
  r = m + np.log(s) - logL_BxN
  K = len(t)
  J[:, :K] /= s[:, None, :]  # softmax weights: d log L̂ / d log c_k
  for k, j in enumerate(exp_of):
    if j is not None:
      np.multiply(J[:, k], -logX_KxBxN[law.terms[k]], out=J[:, j])
  return r, J


def huber_sum(r, delta):
  a = np.abs(r)
  return np.sum(np.where(a <= delta, 0.5 * r * r, delta * (a - 0.5 * delta)), axis=-1)


def bounds(law, L_max: float) -> tuple[np.ndarray, np.ndarray]:
  K, P = len(law.terms), law.n_params
  lo = np.concatenate([np.full(K, np.log(FLOOR * L_max)), np.zeros(P - K)])
  hi = np.concatenate([np.full(K, np.inf), np.full(P - K, EXP_MAX)])
  return lo, hi


def polish(
  law, theta0_BxP, logX, logL, *, delta, free=None, idx_BxN=None, max_iter: int = 300, ftol: float = 1e-13
) -> Polished:
  """Minimise Σ Huber_δ(log L̂ − log L) from each row of theta0 over the `free` entries (bool mask; default all),
  on all points or, row b, on the points idx_BxN[b] (a bootstrap resample: indices with repeats). A row stops
  when an accepted step lowers the objective by at most `ftol` of itself, or its gradient vanishes."""
  x = np.array(theta0_BxP, np.float64, ndmin=2)
  B, P = x.shape
  free = np.ones(P, bool) if free is None else np.asarray(free, bool)
  lo, hi = bounds(law, float(np.exp(np.max(logL))))  # from all points: a resample's fit has the same bounds
  lo, hi = np.where(free, lo, -np.inf), np.where(free, hi, np.inf)
  if idx_BxN is None:
    lX, lL = logX[:, None, :], logL[None, :]
  else:
    lX, lL = logX[:, idx_BxN], logL[idx_BxN]
  x = np.clip(x, lo, hi)

  def evaluate(x, rows):
    r, J = residual_and_jac(law, x, lX[:, rows] if lX.shape[1] > 1 else lX, lL[rows] if lL.shape[0] > 1 else lL)
    return r, J, huber_sum(r, delta)

  r, J, f = evaluate(x, slice(None))
  lam = np.full(B, 1e-3)
  going = np.ones(B, bool)
  iters = np.zeros(B, np.int64)
  for _ in range(max_iter):
    rows = np.flatnonzero(going)
    if rows.size == 0:
      break
    rr, JJ, xx = r[rows], J[rows], x[rows]
    psi = np.clip(rr, -delta, delta)
    w = np.where(np.abs(rr) <= delta, 1.0, delta / np.maximum(np.abs(rr), 1e-300))
    g = (JJ @ psi[..., None])[..., 0]
    H = JJ @ (JJ * w[:, None, :]).transpose(0, 2, 1)
    # held: fixed entries, and entries at a bound whose descent direction leaves the box
    held = ~free[None, :] | ((xx <= lo) & (g > 0)) | ((xx >= hi) & (g < 0))
    g = np.where(held, 0.0, g)
    H = np.where(held[:, :, None] | held[:, None, :], 0.0, H)
    d = np.einsum("bpp->bp", H)
    scale = np.maximum(d, 1e-12 * np.max(d, axis=1, keepdims=True) + 1e-300)
    A = H + (lam[rows, None] * scale + held)[:, :, None] * np.eye(P)[None]
    step = -np.linalg.solve(A, g[..., None])[..., 0]
    xn = np.clip(xx + np.where(held, 0.0, step), lo, hi)
    rn, Jn, fn = evaluate(xn, rows)
    ok = np.isfinite(fn) & (fn <= f[rows])
    decrease = f[rows] - np.where(ok, fn, f[rows])
    x[rows[ok]], r[rows[ok]], J[rows[ok]], f[rows[ok]] = xn[ok], rn[ok], Jn[ok], fn[ok]
    lam[rows] = np.where(ok, np.maximum(lam[rows] / 3, 1e-12), lam[rows] * 4)
    iters[rows] += 1
    tiny_step = np.max(np.abs(xn - xx), axis=1) <= 1e-13 * (1 + np.max(np.abs(xx), axis=1))
    done = (ok & ((decrease <= ftol * np.maximum(f[rows], 1e-300)) | tiny_step)) | (lam[rows] > 1e12)
    done |= np.max(np.abs(g), axis=1) <= 1e-14  # a zero-residual fit: converged exactly
    going[rows[done]] = False
  names = law.params
  tol = 1e-7 * np.maximum(1.0, np.abs(x))
  at_bound = [
    [(names[i], "lower") for i in range(P) if free[i] and x[b, i] - lo[i] <= tol[b, i]]
    + [(names[i], "upper") for i in range(P) if free[i] and np.isfinite(hi[i]) and hi[i] - x[b, i] <= tol[b, i]]
    for b in range(B)
  ]
  return Polished(x, f, iters, at_bound)
