"""Variable projection starts: for fixed exponents, E + A·N^−α (+ B·D^−β) is linear in (E, A, B) ≥ 0.

Every exponent pair on a fine grid gets its coefficients from a non-negative least-squares solve (exact, by
enumerating the active sets of at most three unknowns, vectorised over the grid). The best few exponent
settings become L-BFGS starts for the full log-space Huber objective, which then polishes them: the search
runs over 2 dimensions instead of 5, so a few dozen starts replace Hoffmann's 4,500.
"""

import itertools

import numpy as np

EXPONENTS = np.linspace(0.02, 2.5, 63)


def nnls_small(F_GxNxK: np.ndarray, y_N: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
  """min ||F c − y||² s.t. c ≥ 0 for each of G small problems (K ≤ 3 unknowns). Returns (c_GxK, rss_G)."""
  G, _, K = F_GxNxK.shape
  best_c, best_rss = np.zeros((G, K)), np.full(G, np.inf)
  for mask in itertools.product((False, True), repeat=K):
    idx = [i for i, m in enumerate(mask) if m]
    if not idx:
      continue
    Fs = F_GxNxK[:, :, idx]
    c = _lstsq(Fs, y_N)
    rss = np.sum((np.einsum("gnk,gk->gn", Fs, c) - y_N[None, :]) ** 2, axis=1)
    better = np.all(c >= 0, axis=1) & (rss < best_rss)
    full = np.zeros((G, K))
    full[:, idx] = c
    best_c[better], best_rss[better] = full[better], rss[better]
  return best_c, best_rss


def _lstsq(F_GxNxK, y_N):
  # column-scaled normal equations: the features span many orders of magnitude
  s_GxK = np.sqrt(np.sum(F_GxNxK**2, axis=1)) + 1e-300
  Fn = F_GxNxK / s_GxK[:, None, :]
  M = np.einsum("gnk,gnj->gkj", Fn, Fn) + 1e-12 * np.eye(Fn.shape[-1])[None]
  r = np.einsum("gnk,n->gk", Fn, y_N)
  return np.linalg.solve(M, r[..., None])[..., 0] / s_GxK


def varpro_starts(law, logX: np.ndarray, L: np.ndarray, n_best: int = 24, free=None) -> np.ndarray:
  """Log-space starting points (n_best, P) for a law with `terms` (power, chinchilla) from the NNLS exponent
  search. Rows are weighted by 1/L, so the linear fit's residuals approximate the log-space ones. `free`: a
  bool mask over theta; a fixed coefficient (E) is subtracted from L and keeps its value in theta."""
  if law.terms is None:
    raise ValueError(f"method='varpro' supports laws that are sums of power terms (power, chinchilla), not {law.name!r}")
  theta_fixed = np.zeros(law.n_params) if free is None else np.asarray(free[1], np.float64)
  free = np.ones(law.n_params, bool) if free is None else np.asarray(free[0], bool)
  K = len(law.terms)
  inputs = [t for t in law.terms if t is not None]
  exps = np.array(list(itertools.product(EXPONENTS, repeat=len(inputs))))  # (G, k)
  y, feats, cols = L.copy(), [], []
  j = 0
  for k, t in enumerate(law.terms):
    if t is None:
      f = np.ones((exps.shape[0], L.shape[0]))
    else:
      f = np.exp(-exps[:, j, None] * logX[t][None, :])
      j += 1
    if free[k]:
      feats.append(f / L)
      cols.append(k)
    else:
      y = y - np.exp(theta_fixed[k]) * f[0]  # only a constant term (E) can be fixed: f is the same for all G
  c, rss = nnls_small(np.stack(feats, axis=-1), y / L)
  order = np.argsort(rss)[:n_best]
  floor = 1e-8 * float(np.max(L))  # a zero coefficient starts small but finite (its log is fitted)
  theta = np.tile(theta_fixed, (order.size, 1))
  theta[:, cols] = np.log(np.maximum(c[order], floor))
  theta[:, K:] = exps[order]  # (e, a[, b], alpha[, beta]) matches the laws' theta order
  return theta
