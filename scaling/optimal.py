"""Compute-optimal allocation, Hoffmann et al. 2022's three ways.

approach 3 `compute_optimal(fit, C)`: minimise the fitted L(N, D) subject to FLOPs(N, D) = C. For chinchilla
with C = 6ND it is closed form: N_opt = G·(C/6)^a, D_opt = (C/6)^b / G, a = β/(α+β), b = α/(α+β),
G = (αA/(βB))^(1/(α+β)). Any other law or FLOPs function is solved numerically on a log-N grid.
approach 1 `envelope(...)`: the lower envelope of training curves over compute, its argmin N fitted as C^a.
approach 2 `isoflop(...)`: per compute budget a parabola of L in log N; the minima fitted as power laws.
Each carries percentile-bootstrap intervals (approach 3 from the fit's bootstrap samples).
"""

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from scalezoo.scaling.checks import as_array


def _pct(samples: np.ndarray, ci: float, axis=0):
  q = 100 * (1 - ci) / 2
  return np.nanpercentile(samples, q, axis=axis), np.nanpercentile(samples, 100 - q, axis=axis)


def _slope(logC, logY) -> tuple[float, float]:
  """Least-squares log-log line: returns (exponent, intercept)."""
  if np.unique(logC).size < 2:
    return np.nan, np.nan
  a, c = np.polyfit(logC, logY, 1)
  return float(a), float(c)


@dataclass
class Allocation:
  C: np.ndarray
  N_opt: np.ndarray
  D_opt: np.ndarray
  L_opt: np.ndarray
  a: np.ndarray  # d log N_opt / d log C
  b: np.ndarray  # d log D_opt / d log C
  intervals: dict = field(default_factory=dict)  # name -> (lo, hi), each like C


def _chinchilla_closed(p: dict, C):
  alpha, beta = p["alpha"], p["beta"]
  G = (alpha * p["A"] / (beta * p["B"])) ** (1.0 / (alpha + beta))
  a, b = beta / (alpha + beta), alpha / (alpha + beta)
  N = G * (C / 6.0) ** a
  D = (C / 6.0) ** b / G
  L = p["E"] + p["A"] / N**alpha + p["B"] / D**beta
  return N, D, L, a + 0 * C, b + 0 * C


def numeric_optimum(predict: Callable, flops: Callable, C, n_grid=2001):
  """argmin over a log-N grid of L(N, D(N)) with flops(N, D(N)) = C; D by bisection in log D."""
  logC = np.log(C)[:, None]
  logN = logC * np.linspace(0.02, 0.98, n_grid)[None, :]  # N between C^0.02 and C^0.98
  N = np.exp(logN)
  if flops is None:  # C = 6ND
    return _argmin(N, np.exp(logC) / (6.0 * N), predict)
  lo, hi = np.full_like(N, -5.0), np.broadcast_to(logC + 5.0, N.shape).copy()
  for _ in range(80):  # flops increases in D
    mid = 0.5 * (lo + hi)
    over = flops(N, np.exp(mid)) > np.broadcast_to(np.exp(logC), N.shape)
    hi, lo = np.where(over, mid, hi), np.where(over, lo, mid)
  return _argmin(N, np.exp(0.5 * (lo + hi)), predict)


def _argmin(N, D, predict):
  """Grid argmin per row, refined by the vertex of the parabola through it and its neighbours (in log N)."""
  L = predict(N, D)
  i = np.clip(np.nanargmin(np.where(np.isfinite(L), L, np.inf), axis=1), 1, N.shape[1] - 2)
  r = np.arange(N.shape[0])
  l0, l1, l2 = L[r, i - 1], L[r, i], L[r, i + 1]
  curv = l0 - 2 * l1 + l2
  off = np.where(curv > 0, np.clip(0.5 * (l0 - l2) / np.where(curv > 0, curv, 1.0), -1, 1), 0.0)
  lerp = lambda A: np.exp(np.log(A[r, i]) + off * (np.log(A[r, i + 1]) - np.log(A[r, i - 1])) / 2)
  Nb, Db = lerp(N), lerp(D)
  return Nb, Db, predict(Nb[:, None], Db[:, None])[:, 0]


def compute_optimal(fit, C, *, flops: Callable | None = None, ci: float | None = None) -> Allocation:
  """N_opt, D_opt, L_opt and the exponents a, b at compute C (scalar or array) for a fit over (N, D).

  flops(N, D) -> FLOPs (default 6·N·D). Intervals come from the fit's bootstrap samples, if any.
  """
  if set(fit.inputs) != {"N", "D"}:
    raise ValueError(f"compute_optimal needs a law over N and D, got inputs {list(fit.inputs)} ({fit.law})")
  C = as_array("C", np.atleast_1d(np.asarray(C, np.float64)), positive=True)
  ci = ci or fit.ci
  law = fit.law_obj

  def solve(params: dict):
    if flops is None and fit.law == "chinchilla":
      return _chinchilla_closed({**fit.fixed, **params}, C)  # a held E is not among the fitted params
    f = flops
    pred = lambda N, D: law.predict(params, {"N": N.ravel(), "D": D.ravel()}).reshape(N.shape)
    N, D, L = numeric_optimum(pred, f, C)
    N2, D2, _ = numeric_optimum(pred, f, C * 2.0)
    return N, D, L, np.log(N2 / N) / np.log(2.0), np.log(D2 / D) / np.log(2.0)

  N, D, L, a, b = solve(fit.params)
  out = Allocation(C=C, N_opt=N, D_opt=D, L_opt=L, a=a, b=b)
  samples = fit.samples
  if samples:
    B = len(next(iter(samples.values())))
    draws = [solve({k: v[i] for k, v in samples.items()}) for i in range(B)]
    for j, name in enumerate(("N_opt", "D_opt", "L_opt", "a", "b")):
      out.intervals[name] = _pct(np.stack([d[j] for d in draws]), ci)
  return out


@dataclass
class Frontier:
  """Approach 1 or 2: optimal points per compute and their power-law fits N_opt ∝ C^a, D_opt ∝ C^b."""

  C: np.ndarray
  N_opt: np.ndarray
  D_opt: np.ndarray
  L_opt: np.ndarray
  a: float
  b: float
  coef: dict  # log-log intercepts: log N_opt = a log C + coef['N'], log D_opt = b log C + coef['D']
  intervals: dict = field(default_factory=dict)  # 'a', 'b' -> (lo, hi)
  detail: dict = field(default_factory=dict)  # approach 2: per-budget parabola coefficients and points
  warnings: list = field(default_factory=list)  # approach 2: its bias, measured on these profiles

  def N_at(self, C):
    return np.exp(self.a * np.log(C) + self.coef["N"])

  def D_at(self, C):
    return np.exp(self.b * np.log(C) + self.coef["D"])


def _envelope_once(curves, N, n_grid, D_of):
  lo = max(np.min(f) for f, _ in curves)  # compute range covered by the lower envelope
  lo = min(lo, np.min([np.max(f) for f, _ in curves]))
  hi = max(np.max(f) for f, _ in curves)
  grid = np.exp(np.linspace(np.log(lo), np.log(hi), n_grid))
  Lg = np.full((len(curves), n_grid), np.inf)
  for r, (f, l) in enumerate(curves):
    inside = (grid >= f[0]) & (grid <= f[-1])
    Lg[r, inside] = np.interp(np.log(grid[inside]), np.log(f), l)
  best = np.argmin(Lg, axis=0)
  ok = np.isfinite(Lg[best, np.arange(n_grid)])
  C, Nopt = grid[ok], N[best[ok]]
  return C, Nopt, D_of(Nopt, C), Lg[best[ok], np.arange(n_grid)[ok]]


def envelope(
  flops_curves,
  loss_curves,
  N,
  *,
  n_grid: int = 1500,
  D_of: Callable | None = None,
  bootstrap: int = 0,
  seed: int = 0,
  ci: float = 0.95,
) -> Frontier:
  """Approach 1: for each of n_grid compute values, the run with the lowest (interpolated) loss; fit N_opt(C).

  flops_curves, loss_curves: one array per run (the training curve); N: each run's size. D_opt = C/(6 N_opt)
  unless D_of(N, C) is given. Bootstrap resamples whole runs.
  """
  N = as_array("N", N, positive=True)
  if len(flops_curves) != N.shape[0] or len(loss_curves) != N.shape[0]:
    raise ValueError(
      f"mismatched lengths: {len(flops_curves)} flops curves, {len(loss_curves)} loss curves, {N.shape[0]} sizes"
    )
  curves = []
  for i, (f, l) in enumerate(zip(flops_curves, loss_curves)):
    f, l = as_array(f"flops curve {i}", f, positive=True), as_array(f"loss curve {i}", l)
    if f.shape != l.shape:
      raise ValueError(f"run {i}: flops curve has {f.shape[0]} points, loss curve {l.shape[0]}")
    o = np.argsort(f)
    curves.append((f[o], l[o]))
  if len(curves) < 2:
    raise ValueError("envelope needs at least 2 runs")
  D_of = D_of or (lambda Nn, C: C / (6.0 * Nn))

  def once(idx):
    C, Nopt, Dopt, L = _envelope_once([curves[i] for i in idx], N[idx], n_grid, D_of)
    (a, cN), (b, cD) = _slope(np.log(C), np.log(Nopt)), _slope(np.log(C), np.log(Dopt))
    return C, Nopt, Dopt, L, a, b, cN, cD

  C, Nopt, Dopt, L, a, b, cN, cD = once(np.arange(len(curves)))
  fr = Frontier(C=C, N_opt=Nopt, D_opt=Dopt, L_opt=L, a=a, b=b, coef={"N": cN, "D": cD})
  if bootstrap:
    rng = np.random.default_rng(seed)
    ab = np.array([once(rng.integers(0, len(curves), len(curves)))[4:6] for _ in range(bootstrap)])
    fr.intervals = {"a": _pct(ab[:, 0], ci), "b": _pct(ab[:, 1], ci)}
  return fr


def group_budgets(C, rtol: float = 0.05) -> np.ndarray:
  """Integer labels grouping compute values that agree within a relative rtol (sorted runs, chained)."""
  logC = np.log(C)
  order = np.argsort(logC)
  labels = np.empty(C.shape[0], np.int64)
  g, start = 0, logC[order[0]]
  for i in order:
    if logC[i] - start > np.log1p(rtol):
      g, start = g + 1, logC[i]
    labels[i] = g
  return labels


def _isoflop_once(logN, L, C, labels, min_points):
  rows = []
  for g in np.unique(labels):
    m = labels == g
    if np.unique(logN[m]).size < max(3, min_points):
      continue
    p2, p1, p0 = np.polyfit(logN[m], L[m], 2)
    if p2 <= 0:  # no interior minimum: this budget says nothing about N_opt
      continue
    x = -p1 / (2 * p2)
    rows.append((float(np.exp(np.mean(np.log(C[m])))), float(np.exp(x)), p0 + p1 * x + p2 * x * x, p2, p1, p0, g))
  return np.array(rows).reshape(-1, 7)


def isoflop(
  N,
  C,
  L,
  *,
  budgets=None,
  rtol: float = 0.05,
  min_points: int = 3,
  D_of: Callable | None = None,
  bootstrap: int = 0,
  seed: int = 0,
  ci: float = 0.95,
) -> Frontier:
  """Approach 2: runs grouped by compute budget (labels `budgets`, else C within rtol); per budget a parabola
  L = p0 + p1·log N + p2·log² N gives N_opt at its vertex; N_opt(C) and D_opt(C) are then fitted as power
  laws. Bootstrap resamples runs within each budget. Budgets whose parabola opens downward are dropped."""
  N, C, L = as_array("N", N, positive=True), as_array("C", C, positive=True), as_array("loss", L)
  if not N.shape == C.shape == L.shape:
    raise ValueError(f"mismatched lengths: N {N.shape[0]}, C {C.shape[0]}, loss {L.shape[0]}")
  labels = group_budgets(C, rtol) if budgets is None else np.unique(np.asarray(budgets), return_inverse=True)[1]
  D_of = D_of or (lambda Nn, Cc: Cc / (6.0 * Nn))

  def once(idx):
    r = _isoflop_once(np.log(N[idx]), L[idx], C[idx], labels[idx], min_points)
    if r.shape[0] < 2:
      return r, np.nan, np.nan, np.nan, np.nan
    Dopt = D_of(r[:, 1], r[:, 0])
    (a, cN), (b, cD) = _slope(np.log(r[:, 0]), np.log(r[:, 1])), _slope(np.log(r[:, 0]), np.log(Dopt))
    return r, a, b, cN, cD

  r, a, b, cN, cD = once(np.arange(N.shape[0]))
  if r.shape[0] < 2:
    raise ValueError(
      f"isoflop needs >= 2 budgets with >= {max(3, min_points)} model sizes and a minimum inside; "
      f"found {r.shape[0]} (budgets: {np.unique(labels).size})"
    )
  fr = Frontier(
    C=r[:, 0],
    N_opt=r[:, 1],
    D_opt=D_of(r[:, 1], r[:, 0]),
    L_opt=r[:, 2],
    a=a,
    b=b,
    coef={"N": cN, "D": cD},
    detail={"parabola": r[:, 3:6], "labels": labels},
  )
  fr.warnings, fr.detail["vertex_shift"] = _bias_warnings(N, L, labels, r)
  if bootstrap:
    rng = np.random.default_rng(seed)
    groups = [np.flatnonzero(labels == g) for g in np.unique(labels)]
    ab = np.array([once(np.concatenate([rng.choice(g, g.size) for g in groups]))[1:3] for _ in range(bootstrap)])
    fr.intervals = {"a": _pct(ab[:, 0], ci), "b": _pct(ab[:, 1], ci)}
  return fr


APPROACH2_BIAS = (
  "approach 2 is biased even without noise: a parabola's vertex misses the minimum of a profile that is not a "
  "parabola in log N (alpha != beta) or is sampled off-centre (Open-Athena 2026, arXiv 2603.22339); for the "
  "allocation without that bias fit the surface: fit_law('chinchilla', {'N': N, 'D': D}, L), compute_optimal(fit, C)"
)
SHIFT_TOL = 0.01  # a vertex that a cubic moves by more than this (relative N) is flagged


def vertex_shift(logN, L, p2, p1) -> float:
  """How far a cubic's minimum sits from the parabola's vertex, as a relative change of N (nan with < 5 sizes):
  a measured lower bound on the parabola's bias for this profile."""
  if np.unique(logN).size < 5:
    return np.nan
  c = logN.mean()
  q3, q2, q1, _ = np.polyfit(logN - c, L, 3)
  x2 = -p1 / (2 * p2) - c
  roots = np.roots([3 * q3, 2 * q2, q1])
  roots = roots[np.isreal(roots)].real
  roots = roots[6 * q3 * roots + 2 * q2 > 0]  # minima
  if roots.size == 0:
    return np.nan
  return float(np.exp(roots[np.argmin(np.abs(roots - x2))] - x2) - 1)


def _bias_warnings(N, L, labels, r) -> tuple[list, np.ndarray]:
  shifts = np.array(
    [
      vertex_shift(np.log(N[labels == g]), L[labels == g], p2, p1)
      for g, p2, p1 in zip(r[:, 6].astype(int), r[:, 3], r[:, 4])
    ]
  )
  out = [APPROACH2_BIAS]
  worst = np.nanmax(np.abs(shifts)) if np.any(np.isfinite(shifts)) else np.nan
  if worst > SHIFT_TOL:
    out.append(
      f"these profiles are not parabolas: a cubic moves their vertices by up to {worst:.1%} in N_opt; the "
      "exponents and N_opt above carry a bias of that order"
    )
  return out, shifts


def pareto_frontier(C, L) -> np.ndarray:
  """Indices of the runs no cheaper run beats (the compute frontier of final losses), in order of C."""
  C, L = np.asarray(C, float), np.asarray(L, float)
  keep, best = [], np.inf
  for i in np.lexsort((L, C)):  # by C, ties by L: of runs at equal cost only the best can be on the frontier
    if L[i] < best:
      best = L[i]
      keep.append(i)
  return np.array(keep, np.int64)
