"""The critical batch size as a power law in the model size (or data): Zhang et al. 2025's procedure.

"How Does Critical Batch Size Scale in Pre-training?" (ICLR 2025; their plots/chinchilla.ipynb, cell 5). Per size,
the steps S to reach a target loss are measured at a grid of batch sizes B (each run's best learning rate), and
S(B) = a + b/B is fitted by least squares in log space (log S against log(a + b/B)): a is the fewest steps any
batch needs, b the examples a tiny batch needs. The critical batch is where S exceeds perfect linear scaling from a
reference batch B0 by the overhead ε: a + b/B = (1 + ε)·S(B0)·B0/B, so B_crit = (1 + ε)·B0 + ε·b/a (the notebook's
ε = 0.2, B0 = 256 sequences; it solves b − 5a·B + 5a·1.2·256 = 0). Then B_crit = c·N^β by least squares of log
B_crit on log N (their cell 7: 93.2·N^0.468, N in millions). Intervals: a two-level percentile bootstrap, the
sizes resampled and, within each, its (B, S) runs, so both the scatter about the law and each size's noise count.
"""

from dataclasses import dataclass, field

import numpy as np

from scalezoo.scaling import laws, lsq

DELTA = 1e3  # the Huber δ of the polish, far above any log residual: plain least squares, as curve_fit


@dataclass
class CriticalBatch:
  on: str  # the size column the law is in (N, D, ...)
  coef: float  # c in B_crit = c·X^β
  exponent: float  # β
  intervals: dict  # "c" and "beta" -> (lo, hi), the `ci` bootstrap interval
  sizes: list  # per size: X, a, b, B_crit, batches, rmse_log (of log S about a + b/B)
  overhead: float  # ε
  reference: float  # B0, in the batch column's units
  rmse_log: float  # of log B_crit about the law
  ci: float = 0.95
  conventions: dict = field(default_factory=dict)
  warnings: list = field(default_factory=list)  # sizes whose a or b ended at its bound: B_crit not identified

  def predict(self, X) -> np.ndarray:
    return self.coef * np.asarray(X, float) ** self.exponent

  def summary(self) -> str:
    per = ", ".join(f"{s['X']:g}: {s['B_crit']:.1f}" for s in self.sizes)
    (c0, c1), (b0, b1) = self.intervals["c"], self.intervals["beta"]
    return (
      f"B_crit = {self.coef:.4g}·{self.on}^{self.exponent:.3f}  ({self.ci:.0%} intervals: c [{c0:.3g}, {c1:.3g}], "
      f"beta [{b0:.3f}, {b1:.3f}]; log-RMSE {self.rmse_log:.3f})\nper {self.on} (B_crit = (1+ε)·B0 + ε·b/a, "
      f"ε {self.overhead:g}, B0 {self.reference:g}): {per}"
    ) + "".join(f"\nwarning: {w}" for w in self.warnings)

  def to_dict(self) -> dict:
    return {
      "formula": f"B_crit = c·{self.on}^beta",
      "c": self.coef,
      "beta": self.exponent,
      "intervals": {k: list(v) for k, v in self.intervals.items()},
      "ci": self.ci,
      "overhead": self.overhead,
      "reference": self.reference,
      "rmse_log": self.rmse_log,
      "sizes": self.sizes,
      "conventions": self.conventions,
      "warnings": self.warnings,
    }


def critical_batch(a, b, overhead: float = 0.2, reference: float = 256.0):
  """The batch at which S(B) = a + b/B needs (1 + overhead)× the steps of linear scaling from `reference`."""
  return (1 + overhead) * reference + overhead * np.asarray(b, float) / np.asarray(a, float)


def steps_to_target(step, loss, target: float) -> float:
  """The first logged step whose loss is below `target` (the notebook's `< goal`), NaN if none is."""
  step, loss = np.asarray(step, float), np.asarray(loss, float)
  hit = np.flatnonzero(np.isfinite(loss) & (loss < target))
  return float(step[hit[0]]) if hit.size else float("nan")


def fit_steps(B, S, idx=None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
  """(a, b, rmse of log S) of S = a + b/B by least squares in log space, per row of idx (resamples; default one
  row of all runs): scaling.lsq's bounded Levenberg–Marquardt on the power law with its exponent held at 1."""
  logB, logS = np.log(np.asarray(B, float)), np.log(np.asarray(S, float))
  idx = np.arange(logB.size)[None] if idx is None else np.asarray(idx)
  # start: the linear least-squares line S = a + b·(1/B) of each row, kept positive
  X = np.stack([np.ones(idx.shape), np.exp(-logB[idx])], -1)
  ab = np.linalg.pinv(X) @ np.exp(logS[idx])[..., None]
  a0 = np.maximum(ab[:, 0, 0], 0.1 * np.exp(logS[idx]).min(axis=1))
  b0 = np.maximum(ab[:, 1, 0], 1e-3 * a0 * np.exp(logB[idx]).min(axis=1))
  theta0 = np.stack([np.log(a0), np.log(b0), np.ones_like(a0)], 1)  # (e, a, alpha) of laws.power
  free = np.array([True, True, False])
  p = lsq.polish(laws.power, theta0, logB[None], logS, delta=DELTA, free=free, idx_BxN=idx, ftol=1e-15, max_iter=500)
  rmse = np.sqrt(2 * p.objective / idx.shape[1])  # the objective is Σ r²/2 below δ
  return np.exp(p.theta[:, 0]), np.exp(p.theta[:, 1]), rmse


def _resamples(n: int, R: int, rng) -> np.ndarray:
  """R resamples of n runs with repeats, each with at least 3 distinct runs (a + b/B has 2 parameters)."""
  idx = rng.integers(0, n, (R, n))
  bad = np.array([np.unique(r).size < 3 for r in idx])
  while bad.any():
    idx[bad] = rng.integers(0, n, (int(bad.sum()), n))
    bad = np.array([np.unique(r).size < 3 for r in idx])
  return idx


def _law(logX, logB):
  A = np.stack([np.ones_like(logX), logX], -1)
  w, *_ = np.linalg.lstsq(A, logB, rcond=None)
  return w, float(np.sqrt(np.mean((A @ w - logB) ** 2)))


def fit_critical_batch(
  runs: dict,
  *,
  on: str = "N",
  batch: str = "batch",
  steps: str = "steps",
  overhead: float = 0.2,
  reference: float = 256.0,
  bootstrap: int = 1000,
  ci: float = 0.95,
  seed: int = 0,
  conventions: dict | None = None,
) -> CriticalBatch:
  """B_crit per value of `on` and as a power law in it, from runs: columns (name -> array, one entry per batch
  size per size) holding `on`, `batch` and `steps` (the first step each run reached the target loss; its best
  learning rate). reference: B0 in `batch`'s units (the notebook's 256 sequences)."""
  for k in (on, batch, steps):
    if k not in runs:
      raise ValueError(f"the runs have no column {k!r}; columns: {sorted(runs)[:12]}")
  X, B, S = (np.asarray(runs[k], float) for k in (on, batch, steps))
  if not X.shape == B.shape == S.shape or X.ndim != 1:
    raise ValueError(
      f"columns {on!r}, {batch!r}, {steps!r} must be 1-d and of one length: {X.shape}, {B.shape}, {S.shape}"
    )
  for k, v in ((on, X), (batch, B), (steps, S)):
    if not np.all(np.isfinite(v) & (v > 0)):
      raise ValueError(f"column {k!r} must be positive and finite (a run that never reached the target: leave it out)")
  if not (0 < overhead and 0 < reference and np.isfinite(reference)):
    raise ValueError(f"overhead {overhead!r} and reference {reference!r} must be positive")
  sizes = np.unique(X)
  if sizes.size < 3:
    raise ValueError(f"{sizes.size} values of {on!r}; a power law in {on} needs at least 3")
  rows = [np.flatnonzero(X == x) for x in sizes]
  for x, r in zip(sizes, rows):
    if np.unique(B[r]).size < 3:
      raise ValueError(f"{on} = {x:g} has {np.unique(B[r]).size} batch sizes; S = a + b/B needs at least 3")
  per, crit, notes = [], np.empty(sizes.size), []
  rng = np.random.default_rng(seed)
  boot = np.empty((bootstrap, sizes.size))
  for i, r in enumerate(rows):
    a, b, rmse = fit_steps(B[r], S[r])
    crit[i] = critical_batch(a[0], b[0], overhead, reference)
    per.append({"X": float(sizes[i]), "a": float(a[0]), "b": float(b[0]), "B_crit": float(crit[i])})
    per[-1] |= {"batches": int(r.size), "rmse_log": float(rmse[0])}
    floor = lsq.FLOOR * S[r].max() * (1 + 1e-6)  # the polish's lower bound on a and b
    if a[0] <= floor:
      notes.append(f"{on} = {sizes[i]:g}: steps still fall as 1/B at the largest batch (a at its bound of 0): "
                   "B_crit is not identified; train larger batches")  # fmt: skip
    if b[0] <= floor:
      notes.append(f"{on} = {sizes[i]:g}: steps do not fall with batch size (b at its bound of 0)")
    if bootstrap:
      a, b, _ = fit_steps(B[r], S[r], _resamples(r.size, bootstrap, rng))
      boot[:, i] = critical_batch(a, b, overhead, reference)
  w, rmse = _law(np.log(sizes), np.log(crit))
  draws = []
  for j in range(bootstrap):
    pick = rng.integers(0, sizes.size, sizes.size)
    if np.unique(pick).size >= 2:  # a line needs two distinct sizes
      draws.append(_law(np.log(sizes[pick]), np.log(boot[j, pick]))[0])
  draws = np.array(draws).reshape(-1, 2)
  q = 100 * np.array([(1 - ci) / 2, (1 + ci) / 2])
  lo, hi = np.percentile(draws, q, axis=0) if len(draws) else np.full((2, 2), np.nan)
  return CriticalBatch(
    on=on,
    coef=float(np.exp(w[0])),
    exponent=float(w[1]),
    intervals={"c": (float(np.exp(lo[0])), float(np.exp(hi[0]))), "beta": (float(lo[1]), float(hi[1]))},
    sizes=per,
    overhead=float(overhead),
    reference=float(reference),
    rmse_log=rmse,
    ci=ci,
    conventions={
      "steps": "least squares of log S on log(a + b/B) per size",
      "law": f"least squares of log B_crit on log {on}",
      "bootstrap": f"{len(draws)} resamples of the sizes, each size's runs resampled within",
    }
    | dict(conventions or {}),
    warnings=notes,
  )
