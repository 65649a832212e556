"""Hyperparameter scaling laws: the optimal learning rate (or batch size) as a power law in N, D or C.

The form of DeepSeek LLM (Bi et al. 2024, §3.1): η_opt = a·C^b, B_opt = c·C^d. Their procedure, followed here
by default (`method="near_optimal"`): at every point (a compute budget, or an (N, D) pair) a grid of the
hyperparameter is trained; every run whose loss is within `tol` (relative, their 0.25%) of the point's best is
"near-optimal", and the power law is fitted by least squares of log h on log X over all near-optimal runs, not
only the argmins (a flat optimum contributes its whole flat band). `method="argmin"` fits the best run of each
point; `method="parabola"` the vertex of a parabola in log h through each point's three best runs (a sub-grid
optimum, kept inside the grid). Intervals: percentiles of a bootstrap over points (each point takes its
near-optimal runs with it). Several inputs give log h = log a + Σ b_i·log X_i.

A joint grid (lr × batch at every point, as DeepSeek tuned): the optimum of each point is the joint one, its
near-optimal band the runs within tol of the joint best, and "parabola" a quadratic surface in (log lr, log B)
(scaling.vertex); each band or vertex gives one value per hyperparameter, so one procedure gives both laws.
A column the grid tuned but the law leaves out is profiled out: each setting of `hparam` at its best run.
"""

from dataclasses import dataclass, field

import numpy as np

from scalezoo.scaling.vertex import vertex

METHODS = ("near_optimal", "argmin", "parabola")


@dataclass
class HparamLaw:
  hparam: str
  on: tuple  # the inputs of the power law, e.g. ("C",) or ("N", "D")
  coef: float  # a in h = a·Π X_i^b_i
  exponents: dict  # input -> b
  intervals: dict  # "a" and every input -> (lo, hi), the `ci` bootstrap interval
  method: str
  tol: float
  n_points: int
  n_fit: int  # runs in the regression (near-optimal runs, or one per point)
  rmse_log: float  # RMSE of log h about the fitted law
  edge_points: int  # points whose best run sits at an edge of their grid (the optimum may lie outside it)
  points: list = field(default_factory=list)  # per point: inputs, best h, best loss, near-optimal h
  ci: float = 0.95
  conventions: dict = field(default_factory=dict)  # what N, D, C and the loss are, which runs (Li et al. 2025)

  def predict(self, inputs: dict) -> np.ndarray:
    log_h = np.log(self.coef) + sum(b * np.log(np.asarray(inputs[k], float)) for k, b in self.exponents.items())
    return np.exp(log_h)

  def summary(self) -> str:
    law = f"{self.hparam}_opt = {self.coef:.4g}" + "".join(f"·{k}^{b:+.3f}" for k, b in self.exponents.items())
    iv = ", ".join(f"{k} [{lo:.3g}, {hi:.3g}]" for k, (lo, hi) in self.intervals.items())
    return (
      f"{law}  ({self.method}, tol {self.tol:g}; {self.n_fit} runs from {self.n_points} points, "
      f"{self.edge_points} with the best at a grid edge; log-RMSE {self.rmse_log:.3f}; {self.ci:.0%} intervals: {iv})"
    )

  def to_dict(self) -> dict:
    return {
      "hparam": self.hparam,
      "on": list(self.on),
      "formula": f"{self.hparam}_opt = a·" + "·".join(f"{k}^b_{k}" for k in self.on),
      "a": self.coef,
      "exponents": self.exponents,
      "intervals": {k: list(v) for k, v in self.intervals.items()},
      "ci": self.ci,
      "method": self.method,
      "tol": self.tol,
      "n_points": self.n_points,
      "n_fit": self.n_fit,
      "rmse_log": self.rmse_log,
      "edge_points": self.edge_points,
      "conventions": self.conventions,
      "points": self.points,
    }


def _point_optima(h_NxK, L, method, tol) -> list:
  """Per hyperparameter, the optimum values this point contributes: its near-optimal band, its best run, or the
  vertex of a quadratic in log h (scaling.vertex)."""
  best = int(np.argmin(L))
  if method == "near_optimal":
    rows = np.flatnonzero(L <= L[best] * (1 + tol))
    return [h_NxK[rows, j] for j in range(h_NxK.shape[1])]
  if method == "argmin":
    return [h_NxK[[best], j] for j in range(h_NxK.shape[1])]
  v, _ = vertex(h_NxK, L)
  return [v[[j]] for j in range(h_NxK.shape[1])]


def _points(runs, hparams, loss, on, point, method, tol):
  """Per hyperparameter, the list of points: inputs, best value and loss, at an edge, optima."""
  cols = [np.asarray(runs[k]).tolist() for k in point]
  keys = list(zip(*cols))
  H_all = np.column_stack([np.asarray(runs[h], float) for h in hparams])
  L_all = np.asarray(runs[loss], float)
  X_all = {k: np.asarray(runs[k], float) for k in on}
  out = {h: [] for h in hparams}
  for key in dict.fromkeys(keys):
    m = np.array([k == key for k in keys]) & np.isfinite(L_all)
    H, L = H_all[m], L_all[m]
    X = {k: v[m] for k, v in X_all.items()}
    where = dict(zip(point, key))
    for k, v in X.items():
      if not np.allclose(v, v[0], rtol=1e-9):
        raise ValueError(f"input {k!r} varies within the point {where}; make it part of `point`")
    need = 3 if method == "parabola" else 2
    for j, h in enumerate(hparams):
      if np.unique(H[:, j]).size < need:
        raise ValueError(f"point {where} trained {np.unique(H[:, j]).size} {h} values; {method} needs >= {need}")
    # each distinct setting once, at its lowest loss: a column the grid also tuned (a batch axis under a 1-D
    # lr law) is profiled out, never mixed into one parabola
    uniq, inv = np.unique(H, axis=0, return_inverse=True)
    Lu = np.full(len(uniq), np.inf)
    np.minimum.at(Lu, inv.ravel(), L)
    best = int(np.argmin(Lu))
    opt = _point_optima(uniq, Lu, method, tol)
    for j, h in enumerate(hparams):
      out[h].append(
        {
          **{k: float(v[0]) for k, v in X.items()},
          "best": float(uniq[best, j]),
          "best_loss": float(Lu[best]),
          "edge": bool(uniq[best, j] in (uniq[:, j].min(), uniq[:, j].max())),
          "opt": [float(x) for x in opt[j]],
        }
        | ({"at": {g: float(uniq[best, i]) for i, g in enumerate(hparams)}} if len(hparams) > 1 else {})
      )
  return out


def _regress(pts, on):
  logX = np.array([[1.0, *[np.log(p[k]) for k in on]] for p in pts for _ in p["opt"]])
  logh = np.log([x for p in pts for x in p["opt"]])
  w, *_ = np.linalg.lstsq(logX, logh, rcond=None)
  return w, float(np.sqrt(np.mean((logX @ w - logh) ** 2))), logh.size


def _law(pts, hparam, on, method, tol, bootstrap, ci, seed, conventions) -> HparamLaw:
  w, rmse, n_fit = _regress(pts, on)
  rng = np.random.default_rng(seed)  # one seed: the laws of a joint fit see the same resamples
  draws = []
  for _ in range(bootstrap):
    sample = [pts[i] for i in rng.integers(0, len(pts), len(pts))]
    if len({tuple(p[k] for k in on) for p in sample}) >= len(on) + 1:  # a resample must still span the inputs
      draws.append(_regress(sample, on)[0])
  draws = np.array(draws).reshape(-1, len(on) + 1)
  q = 100 * np.array([(1 - ci) / 2, (1 + ci) / 2])
  lo, hi = np.percentile(draws, q, axis=0) if len(draws) else np.full((2, len(on) + 1), np.nan)
  intervals = {"a": (float(np.exp(lo[0])), float(np.exp(hi[0])))}
  intervals |= {k: (float(lo[i + 1]), float(hi[i + 1])) for i, k in enumerate(on)}
  return HparamLaw(
    hparam=hparam,
    on=on,
    coef=float(np.exp(w[0])),
    exponents={k: float(w[i + 1]) for i, k in enumerate(on)},
    intervals=intervals,
    method=method,
    tol=float(tol),
    n_points=len(pts),
    n_fit=n_fit,
    rmse_log=rmse,
    edge_points=sum(p["edge"] for p in pts),
    points=pts,
    ci=ci,
    conventions={
      "objective": f"least squares of log {hparam} on log {', '.join(on)}",
      "bootstrap": f"{len(draws)} resamples of the points",
    }
    | conventions,
  )


def fit_hparam_law(
  runs: dict,
  *,
  hparam: str | tuple,
  loss: str,
  on=("C",),
  point=None,
  method: str = "near_optimal",
  tol: float = 0.0025,
  bootstrap: int = 1000,
  ci: float = 0.95,
  seed: int = 0,
  conventions: dict | None = None,
) -> "HparamLaw | dict[str, HparamLaw]":
  """The optimal `hparam` as a power law in the inputs `on`, from runs that trained a grid of it per point.

  runs: columns (name -> array, one entry per run; e.g. `scaling.table(dir)` plus derived columns) holding
  `hparam`, `loss` and every name in `on` and `point`. point: the columns that identify a point (default `on`);
  runs that share them are one grid; a setting repeated within a point counts once, at its lowest loss (a tuned
  column left out of `hparam` is profiled out; average seeds first, as `report.hparam_dir` does).
  tol: relative loss band of the near-optimal runs (DeepSeek's 0.25%).
  hparam: one name, or several (e.g. ("lr", "batch_size")) that each point tuned as a joint grid: the optimum is
  the joint one (the best run, the band of runs within tol of it, or the vertex of a quadratic surface in the
  logs) and the result is a dict name -> HparamLaw, one law per hyperparameter.
  conventions: recorded with the fit, e.g. {"N": "non-embedding", "C": "6ND", "loss": "val bits/byte"}."""
  if method not in METHODS:
    raise ValueError(f"method {method!r} is not one of {list(METHODS)}")
  if not 0 <= tol < 1:
    raise ValueError(f"tol {tol!r} must be in [0, 1): the relative loss band around each point's best")
  hparams = (hparam,) if isinstance(hparam, str) else tuple(hparam)
  if not hparams or len(set(hparams)) < len(hparams):
    raise ValueError(f"hparam {hparam!r}: give one name or several distinct names")
  on = (on,) if isinstance(on, str) else tuple(on)
  point = on if point is None else ((point,) if isinstance(point, str) else tuple(point))
  for k in (*hparams, loss, *on, *point):
    if k not in runs:
      raise ValueError(f"the runs have no column {k!r}; columns: {sorted(runs)[:12]}…")
  for k in (*hparams, *on):
    v = np.asarray(runs[k], float)
    if not np.all(np.isfinite(v) & (v > 0)):
      raise ValueError(f"column {k!r} must be positive and finite for a power law")
  pts = _points(runs, hparams, loss, on, point, method, tol)
  n = len(pts[hparams[0]])
  need = len(on) + 2
  if n < need:
    raise ValueError(f"{n} points, a power law in {'·'.join(on)} needs at least {need} (one more than its parameters)")
  conv = {"points": f"runs sharing {', '.join(point)}"}
  if len(hparams) > 1:
    conv["joint"] = f"each point's optimum over its joint grid of {' × '.join(hparams)}"
  conv |= dict(conventions or {})
  laws = {h: _law(pts[h], h, on, method, tol, bootstrap, ci, seed, conv) for h in hparams}
  return laws[hparam] if isinstance(hparam, str) else laws
