"""Variable projection starts: for fixed exponents, E + A·N^−α (+ B·D^−β) is linear in (E, A, B) ≥ 0.

Every exponent pair on a fine grid gets its coefficients from a non-negative least-squares solve (exact, by
enumerating the active sets of at most three unknowns, vectorised over the grid). The best few exponent
settings become L-BFGS starts for the full log-space Huber objective, which then polishes them: the search
runs over 2 dimensions instead of 5, so a few dozen starts replace Hoffmann's 4,500.
"""

import itertools

import numpy as np

EXPONENTS = np.linspace(0.02, 2.5, 63)


def nnls_gram(G_GxKxK: np.ndarray, Fy_GxK: np.ndarray, yy: float) -> tuple[np.ndarray, np.ndarray]:
  """min ||F c − y||² s.t. c ≥ 0 for each of G small problems (K ≤ 3 unknowns) given the Gram matrices F'F,
  F'y and y'y: exact, by enumerating the active sets. Returns (c_GxK, rss_G)."""
  G, K, _ = G_GxKxK.shape
  best_c, best_rss = np.zeros((G, K)), np.full(G, np.inf)
  for mask in itertools.product((False, True), repeat=K):
    idx = [i for i, m in enumerate(mask) if m]
    if not idx:
      continue
    M, r = G_GxKxK[:, idx][:, :, idx], Fy_GxK[:, idx]
    s = np.sqrt(np.einsum("gkk->gk", M)) + 1e-300  # column scaling: the features span many orders of magnitude
    Mn = M / s[:, :, None] / s[:, None, :] + 1e-12 * np.eye(len(idx))[None]
    c = np.linalg.solve(Mn, (r / s)[..., None])[..., 0] / s
    rss = yy - 2 * np.sum(c * r, axis=1) + np.einsum("gk,gkj,gj->g", c, M, c)
    full = np.zeros((G, K))
    full[:, idx] = c
    better = np.all(c >= 0, axis=1) & (rss < best_rss)
    best_c[better], best_rss[better] = full[better], rss[better]
  return best_c, best_rss


def varpro_starts(law, logX: np.ndarray, L: np.ndarray, n_best: int = 24, free=None) -> np.ndarray:
  """Log-space starting points (n_best, P) for a law with `terms` (power, chinchilla) from the NNLS exponent
  search. Rows are weighted by 1/L, so the linear fit's residuals approximate the log-space ones. `free`: a
  bool mask over theta and theta's fixed values; a fixed coefficient (E) is subtracted from L.

  Each feature depends on one exponent, so the Gram matrix of every grid point is assembled from products of
  per-exponent feature banks (63 × n): the cost grows with the grid's side, not its size."""
  if law.terms is None:
    raise ValueError(
      f"method='varpro' supports laws that are sums of power terms (power, chinchilla), not {law.name!r}"
    )
  theta_fixed = np.zeros(law.n_params) if free is None else np.asarray(free[1], np.float64)
  free = np.ones(law.n_params, bool) if free is None else np.asarray(free[0], bool)
  K = len(law.terms)
  n_exp = sum(t is not None for t in law.terms)
  grid_idx = np.array(list(itertools.product(range(EXPONENTS.size), repeat=n_exp)))  # (G, k)
  y = L.copy()
  banks, which, cols = [], [], []  # per free term: its feature bank (rows: exponents) and its grid column
  j = 0
  for k, t in enumerate(law.terms):
    bank = np.ones((1, L.shape[0])) if t is None else np.exp(-EXPONENTS[:, None] * logX[t][None, :])
    col = None if t is None else j
    j += t is not None
    if free[k]:
      banks.append(bank / L)
      which.append(col)
      cols.append(k)
    else:
      y = y - np.exp(theta_fixed[k]) * bank[0]  # only a constant term (E) can be fixed
  y = y / L
  pick = lambda i: np.zeros(grid_idx.shape[0], np.int64) if which[i] is None else grid_idx[:, which[i]]
  F = len(banks)
  Gram = np.empty((grid_idx.shape[0], F, F))
  Fy = np.empty((grid_idx.shape[0], F))
  for a in range(F):
    Fy[:, a] = (banks[a] @ y)[pick(a)]
    for b in range(a, F):
      Gram[:, a, b] = Gram[:, b, a] = (banks[a] @ banks[b].T)[pick(a), pick(b)]
  c, rss = nnls_gram(Gram, Fy, float(y @ y))
  order = np.argsort(rss)[:n_best]
  floor = 1e-8 * float(np.max(L))  # a zero coefficient starts small but finite (its log is fitted)
  theta = np.tile(theta_fixed, (order.size, 1))
  theta[:, cols] = np.log(np.maximum(c[order], floor))
  theta[:, K:] = EXPONENTS[grid_idx[order]]  # (e, a[, b], alpha[, beta]) matches the laws' theta order
  return theta
