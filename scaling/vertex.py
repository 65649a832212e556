"""A sub-grid optimum: the minimum of a quadratic in the log hyperparameters through one point's runs near its best.

One hyperparameter: the parabola through the three lowest-loss runs. Several (a joint grid, e.g. lr × batch):
the quadratic surface, 1 + k + k(k+1)/2 coefficients, fitted by least squares to the runs in the window of
three grid values per axis about the best run (shifted inward at an edge), so batch sizes are never mixed into
a 1-D parabola in the learning rate. No convex interior minimum (a flat or saddle-shaped window), or too few
distinct runs to determine the surface: the best run stands. The vertex is clipped to the grid's box, as the
data say nothing beyond it. Solved with lstsq and an explicit Hessian: no polyfit, so no RankWarning.
"""

import itertools

import numpy as np


def _features(x_NxK: np.ndarray) -> np.ndarray:
  k = x_NxK.shape[1]
  quad = [x_NxK[:, i] * x_NxK[:, j] for i, j in itertools.combinations_with_replacement(range(k), 2)]
  return np.column_stack([np.ones(len(x_NxK)), x_NxK, *quad])


def _window(x_NxK: np.ndarray, best: int) -> np.ndarray:
  """The runs whose every coordinate is among the three grid values nearest the best run's, per axis."""
  keep = np.ones(len(x_NxK), bool)
  for a in range(x_NxK.shape[1]):
    grid = np.unique(x_NxK[:, a])
    i = int(np.searchsorted(grid, x_NxK[best, a]))
    lo = min(max(i - 1, 0), max(grid.size - 3, 0))
    keep &= np.isin(x_NxK[:, a], grid[lo : lo + 3])
  return np.flatnonzero(keep)


def vertex(h_NxK, loss_N) -> tuple[np.ndarray, bool]:
  """(the optimum's hyperparameters (K,), whether a convex quadratic gave it rather than the best run)."""
  h = np.asarray(h_NxK, float).reshape(len(loss_N), -1)
  x = np.log(h)
  L = np.asarray(loss_N, float)
  best = int(np.argmin(L))
  k = x.shape[1]
  rows = np.argsort(L, kind="stable")[:3] if k == 1 else _window(x, best)
  F = _features(x[rows])
  c, _, rank, _ = np.linalg.lstsq(F, L[rows], rcond=None)
  if rank < F.shape[1]:  # the window does not determine the surface
    return h[best], False
  g = c[1 : 1 + k]
  H = np.zeros((k, k))
  for (i, j), q in zip(itertools.combinations_with_replacement(range(k), 2), c[1 + k :]):
    H[i, j] += q
    H[j, i] += q  # the diagonal gets 2·q: the Hessian of q·x_i²
  if np.linalg.eigvalsh(H).min() <= 0:  # not convex: no interior minimum
    return h[best], False
  v = np.linalg.solve(H, -g)
  return np.exp(np.clip(v, x.min(axis=0), x.max(axis=0))), True
