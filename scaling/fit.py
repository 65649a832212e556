"""fit_law: approach-3 fitting of a scaling law, with percentile-bootstrap intervals, conditioning and warnings.

The objective is the SUM over points of Huber_δ(log L̂ − log L) (δ = 1e-3); summed, not averaged, because
the mean shrinks the objective ~n-fold and stops L-BFGS early (Besiroglu et al. 2024).

Two methods. "varpro" (the default for laws that are sums of power terms: power, chinchilla) searches the
exponents on a grid with the coefficients from a non-negative linear solve (scaling.varpro), then polishes the
best few with scipy's bounded trust-region least squares on the same objective (scaling.lsq): milliseconds, no
JAX. "grid" (every other law, or `grid=` starts) runs L-BFGS from every row of a starting grid (Hoffmann's 4,500
for chinchilla) as one vmapped, jitted batch in float64 inside `jax.enable_x64` (the process-wide setting is
left alone); a bootstrap resample is a vector of multinomial counts used as weights, so all resamples share one
shape and one compiled program.

A design that cannot identify the law is refused (ValueError, one line); a fit that ends at a bound, on a flat
optimum, or follows a non-monotone curve with a monotone law carries `warnings`; every fit records its
`conventions` (what N, D, C and the loss are, the runs, the objective, the optimizer, the starts).
"""

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from scalezoo.scaling import laws as _laws
from scalezoo.scaling.checks import as_positive_inputs

METHODS = ("grid", "varpro")
MAX_BOOTSTRAP = 10_000  # resamples: more changes the intervals' third digit and costs minutes
BOOTSTRAP_FTOL = 1e-9  # a resample's refit stops here: its parameters to ~1e-5, far inside the intervals' width
SMALL = 1 << 16  # rows x points below which screening in float32 costs more (compiling) than it saves
SEGMENT = 16  # iterations between compactions of the rows still going
MIN_ROWS = 64  # below this many rows a batch is not compacted: per-pass overhead outweighs the arithmetic saved
SHRINK = 4  # the batch is compacted once at most 1/SHRINK of its rows are still going
_SOLVERS = {}


def huber(r, delta, xp=None):
  if xp is None:
    import jax.numpy as xp
  a = xp.abs(r)
  return xp.where(a <= delta, 0.5 * r * r, delta * (a - 0.5 * delta))


def _solver(law: _laws.Law, delta: float, x64: bool):
  """(start, advance): jitted, vmapped over rows (start, weights); points shared."""
  import jax
  import jax.numpy as jnp

  from scalezoo.scaling import lbfgs

  key = (law.name, tuple(sorted(law.kwargs.items())), tuple(sorted(law.fixed.items())), law.formula, float(delta), x64)
  if key not in _SOLVERS:

    def objective(w, logX, logL):
      return lambda th: jnp.sum(w * huber(law.log_predict(th, logX, jnp) - logL, delta))

    start = lambda theta0, w, logX, logL: lbfgs.start(objective(w, logX, logL), theta0)
    advance = lambda s, w, logX, logL, until: lbfgs.advance(objective(w, logX, logL), s, until)
    _SOLVERS[key] = (
      jax.jit(jax.vmap(start, in_axes=(0, 0, None, None))),
      jax.jit(jax.vmap(advance, in_axes=(0, 0, None, None, None))),
    )
  return _SOLVERS[key]


def solve_batch(law, theta0_SxP, W_SxN, logX_KxN, logL_N, *, delta=1e-3, max_iter=1000, x64=True, segment=SEGMENT):
  """L-BFGS from every row of theta0 with per-row point weights W, in float64 (or float32); numpy results.

  A vmapped while loop runs every row until the slowest stops, and starts differ widely in the iterations they
  need, so the batch runs `segment` iterations at a time, and once at most 1/SHRINK of its rows are still going
  they carry on alone, gathered into a batch rounded up to a power of two >= MIN_ROWS.
  Each row runs the same algorithm either way (its rounding can differ with the batch's shape)."""
  import jax
  import jax.numpy as jnp

  from scalezoo.scaling import lbfgs

  with jax.enable_x64(True):  # float32 runs in here too, so the float64 inputs are cast, not truncated with a warning
    dt = jnp.float64 if x64 else jnp.float32
    # pad the points with zero-weight copies to a power of two (>= 64): fits of nearby sizes share one program
    pad = _pow2(logL_N.shape[0], 64) - logL_N.shape[0]
    if pad:
      W_SxN = np.concatenate([W_SxN, np.zeros((W_SxN.shape[0], pad))], axis=1)
      logX_KxN = np.concatenate([logX_KxN, np.repeat(logX_KxN[:, :1], pad, axis=1)], axis=1)
      logL_N = np.concatenate([logL_N, np.repeat(logL_N[:1], pad)])
    start, advance = _solver(law, delta, x64)
    W, logX, logL = (jnp.asarray(a, dt) for a in (W_SxN, logX_KxN, logL_N))
    state = jax.tree.map(np.array, start(jnp.asarray(theta0_SxP, dt), W, logX, logL))
    W = np.asarray(W)
    going, size = np.flatnonzero(~state.stopped), len(theta0_SxP)
    if size <= MIN_ROWS:  # a small batch: one call
      segment = max_iter
    while going.size and int(state.it[going[0]]) < max_iter:
      if going.size <= size // SHRINK:  # a smaller batch (each size is a program to compile, so not too many)
        size = _pow2(going.size, MIN_ROWS)
      rows = np.concatenate([going, np.full(size - going.size, going[0])])  # pad with a repeat
      until = min(int(state.it[going[0]]) + segment, max_iter)
      got = advance(lbfgs.State(*(a[rows] for a in state)), W[rows], logX, logL, until)
      for a, b in zip(state, got):
        a[going] = np.asarray(b)[: going.size]
      going = going[~state.stopped[going]]
    return lbfgs.Result(*(np.asarray(a) for a in lbfgs.result(state)))


def _pow2(n: int, least: int) -> int:
  """The smallest power of two >= n, and at least `least`: batch shapes that share compiled programs."""
  return max(least, 1 << (n - 1).bit_length())


def _best(res, axis=-1):
  f = np.where(np.isfinite(res.f) & np.all(np.isfinite(res.x), -1), res.f, np.inf)
  return np.argmin(f, axis=axis), f


def screen_and_polish(law, starts_SxP, W_GxN, logX, logL, *, delta, max_iter, keep: int, screen_iter: int = 100):
  """Run every start in float32, keep the `keep` best of each weight group, polish those in float64.

  starts are shared by all G groups (rows of W: the data, or one bootstrap resample each). float32 halves
  the memory traffic and uses the vectorised exp, faster on CPU; the float64 polish restores full precision.
  Returns (best theta (G, P), best objective (G,), screening result, polish result).
  """
  from scalezoo.scaling import lbfgs

  G, S = W_GxN.shape[0], starts_SxP.shape[0]
  if G * S * _pow2(logL.shape[0], 64) <= SMALL:  # small batch: one float64 run, half the compiling
    res = solve_batch(
      law, np.tile(starts_SxP, (G, 1)), np.repeat(W_GxN, S, axis=0), logX, logL, delta=delta, max_iter=max_iter
    )
    i, f = _best(lbfgs.Result(*(a.reshape((G, S) + a.shape[1:]) for a in res)))
    return res.x.reshape(G, S, -1)[np.arange(G), i], f[np.arange(G), i], res, res
  screen = solve_batch(
    law,
    np.tile(starts_SxP, (G, 1)),
    np.repeat(W_GxN, S, axis=0),
    logX,
    logL,
    delta=delta,
    max_iter=min(screen_iter, max_iter),
    x64=False,
  )
  _, f = _best(screen)
  order = np.argsort(f.reshape(G, S), axis=1)[:, :keep]  # (G, keep)
  x0 = screen.x.reshape(G, S, -1)[np.arange(G)[:, None], order].reshape(G * keep, -1)
  x0 = np.where(np.isfinite(x0), x0, starts_SxP[order.reshape(-1) % S])
  polish = solve_batch(law, x0, np.repeat(W_GxN, keep, axis=0), logX, logL, delta=delta, max_iter=max_iter)
  i, f = _best(lbfgs.Result(*(a.reshape((G, keep) + a.shape[1:]) for a in polish)))
  x = polish.x.reshape(G, keep, -1)[np.arange(G), i]
  return x, f[np.arange(G), i], screen, polish


@dataclass
class Fit:
  law: str
  inputs: tuple[str, ...]
  params: dict[str, float]
  theta: np.ndarray
  objective: float
  stats: dict
  intervals: dict[str, tuple[float, float]] = field(default_factory=dict)
  theta_samples: np.ndarray | None = None  # (B, P) bootstrap fits in the law's log parametrisation
  law_kwargs: dict = field(default_factory=dict)
  method: str = "grid"
  huber_delta: float = 1e-3
  ci: float = 0.95
  meta: dict = field(default_factory=dict)
  warnings: list[str] = field(default_factory=list)  # at a bound, flat optimum, non-monotone data, ...
  conventions: dict = field(default_factory=dict)  # what N, D, C and the loss are; runs; objective; optimizer
  fixed: dict = field(default_factory=dict)  # parameters held at given values, not fitted

  @property
  def law_obj(self) -> _laws.Law:
    return _laws.fix(_laws.get(self.law, **self.law_kwargs), **self.fixed)

  @property
  def samples(self) -> dict[str, np.ndarray]:
    """Bootstrap draws of each named parameter (empty without a bootstrap)."""
    if self.theta_samples is None:
      return {}
    return {k: np.asarray(v, np.float64) for k, v in self.law_obj.to_params(self.theta_samples).items()}

  def _logX(self, inputs: dict):
    named = {k: inputs[k] for k in self.inputs if k in inputs}
    if len(named) != len(self.inputs):
      raise ValueError(f"predict needs inputs {list(self.inputs)}, got keys {sorted(inputs)}")
    return np.stack([np.log(v) for v in as_positive_inputs(named, None).values()])

  def predict(self, inputs: dict) -> np.ndarray:
    """Fitted L at `inputs` (dict with this fit's input names; other keys are ignored)."""
    return np.exp(self.law_obj.log_predict(self.theta, self._logX(inputs), np))

  def predict_interval(self, inputs: dict, ci: float | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Pointwise percentile band of the bootstrap fits' predictions."""
    if self.theta_samples is None:
      raise ValueError("predict_interval needs a fit made with bootstrap > 0")
    logX = self._logX(inputs)
    preds = np.stack([np.exp(self.law_obj.log_predict(th, logX, np)) for th in self.theta_samples])
    q = 100 * (1 - (ci or self.ci)) / 2
    return np.percentile(preds, q, axis=0), np.percentile(preds, 100 - q, axis=0)

  def summary(self) -> str:
    """A printable table: parameter, value, interval; then residual statistics."""
    pct = f"{100 * self.ci:g}% CI"
    rows = [
      f"{self.law}: {self.law_obj.formula}   [{self.method}, n={self.stats['n']}, inputs={list(self.inputs)}]",
      f"{'param':>10} {'value':>13} {pct:>29}",
    ]
    for k, v in self.params.items():
      lo, hi = self.intervals.get(k, (np.nan, np.nan))
      rows.append(f"{k:>10} {v:13.6g}  [{lo:12.6g}, {hi:12.6g}]")
    for k, v in self.fixed.items():
      rows.append(f"{k:>10} {v:13.6g}  (fixed)")
    s = self.stats
    rows.append(
      f"huber objective {s['objective']:.6g}, log-residual RMSE {s['rmse_log']:.4g}, "
      f"mean |rel. err| {s['mean_abs_rel_err']:.4g}, max {s['max_abs_rel_err']:.4g}"
    )
    if "cond" in s:
      rows.append(
        f"conditioning: Jacobian condition number {s['cond']:.3g}, flattest direction {s['flattest_rms']:.3g}"
      )
    rows += [f"conventions: {k} = {v}" for k, v in self.conventions.items()]
    rows += [f"WARNING: {w}" for w in self.warnings]
    return "\n".join(rows)

  def caption(self) -> str:
    """The conventions and warnings as a figure caption (a few short lines)."""
    c = "; ".join(f"{k}: {v}" for k, v in self.conventions.items())
    return "\n".join([c] + [f"WARNING: {w}" for w in self.warnings])

  def to_dict(self) -> dict:
    clean = lambda v: None if v is None or not np.isfinite(v) else float(v)
    return {
      "law": self.law,
      "law_kwargs": self.law_kwargs,
      "inputs": list(self.inputs),
      "method": self.method,
      "params": {k: clean(v) for k, v in self.params.items()},
      "theta": [clean(v) for v in self.theta],
      "intervals": {k: [clean(a), clean(b)] for k, (a, b) in self.intervals.items()},
      "objective": clean(self.objective),
      "stats": {k: clean(v) for k, v in self.stats.items()},
      "huber_delta": self.huber_delta,
      "ci": self.ci,
      "meta": self.meta,
      "warnings": list(self.warnings),
      "conventions": self.conventions,
      "fixed": self.fixed,
      "theta_samples": None if self.theta_samples is None else [[clean(v) for v in r] for r in self.theta_samples],
    }

  def to_json(self) -> str:
    return json.dumps(self.to_dict(), indent=1)

  @classmethod
  def from_json(cls, text: str) -> "Fit":
    d = json.loads(text)
    nan = lambda v: np.nan if v is None else float(v)
    ts = d.get("theta_samples")
    return cls(
      law=d["law"],
      inputs=tuple(d["inputs"]),
      params={k: nan(v) for k, v in d["params"].items()},
      theta=np.array([nan(v) for v in d["theta"]]),
      objective=nan(d["objective"]),
      stats={k: nan(v) for k, v in d["stats"].items()},
      intervals={k: (nan(a), nan(b)) for k, (a, b) in d["intervals"].items()},
      theta_samples=None if ts is None else np.array([[nan(v) for v in r] for r in ts], np.float64),
      law_kwargs=d.get("law_kwargs", {}),
      method=d.get("method", "grid"),
      huber_delta=d.get("huber_delta", 1e-3),
      ci=d.get("ci", 0.95),
      meta=d.get("meta", {}),
      warnings=list(d.get("warnings", [])),
      conventions=d.get("conventions", {}),
      fixed=d.get("fixed", {}),
    )

  def save(self, path) -> Path:
    path = Path(path)
    path.write_text(self.to_json())
    return path

  @classmethod
  def load(cls, path) -> "Fit":
    return cls.from_json(Path(path).read_text())


def fit_stats(law, theta, logX, logL, delta, res) -> dict:
  r = law.log_predict(theta, logX, np) - logL
  rel = np.exp(r) - 1.0
  out = {
    "n": float(logL.shape[0]),
    "n_params": float(law.n_params),
    "objective": float(np.sum(huber(r, delta, np))),
    "rmse_log": float(np.sqrt(np.mean(r * r))),
    "mae_log": float(np.mean(np.abs(r))),
    "max_abs_log": float(np.max(np.abs(r))),
    "mean_abs_rel_err": float(np.mean(np.abs(rel))),
    "max_abs_rel_err": float(np.max(np.abs(rel))),
  }
  if res is not None:
    out |= {
      "n_starts": float(res.f.shape[0]),
      "converged_frac": float(np.mean(res.converged)),
      "max_iters": float(np.max(res.iters)),
    }
  return out


def _check_settings(**kw) -> None:
  """One line naming the first bad setting and what is allowed."""
  rules = {
    "huber_delta": (lambda v: v > 0, "> 0"),
    "bootstrap": (
      lambda v: isinstance(v, (int, np.integer)) and 0 <= v <= MAX_BOOTSTRAP,
      f"an integer in [0, {MAX_BOOTSTRAP}]",
    ),
    "bootstrap_starts": (lambda v: v >= 1, ">= 1"),
    "ci": (lambda v: 0 < v < 1, "in (0, 1)"),
    "max_iter": (lambda v: v >= 1, ">= 1"),
    "polish": (lambda v: v >= 1, ">= 1"),
  }
  for k, v in kw.items():
    ok, allowed = rules[k]
    if not ok(v):
      raise ValueError(f"{k}={v!r} is not allowed; {k} must be {allowed}")


def fit_law(
  law,
  inputs: dict,
  loss,
  *,
  bootstrap: int = 0,
  seed: int = 0,
  huber_delta: float = 1e-3,
  method: str | None = None,
  grid=None,
  fixed: dict | None = None,
  max_iter: int = 1000,
  screen_iter: int = 100,
  polish: int = 16,
  bootstrap_starts: int = 4,
  ci: float = 0.95,
  meta: dict | None = None,
  conventions: dict | None = None,
) -> Fit:
  """Fit `law` (name or Law) to loss at `inputs` (dict name -> 1-D array).

  method="varpro" (the default for power and chinchilla): exponents searched on a grid with the coefficients
  from non-negative least squares, the `polish` best polished by bounded least squares on the Huber objective;
  a bootstrap resample is refitted from the `bootstrap_starts` best distinct polished optima.
  method="grid" (the default otherwise, and whenever `grid` (S, P) starts are given): L-BFGS from every row of
  the law's starting grid (Hoffmann's 4,500 points for chinchilla): every start runs `screen_iter` float32
  iterations, the `polish` best run on in float64 to convergence (`max_iter` cap); bootstrap resamples are
  refitted from the `bootstrap_starts` best solutions of the full fit. Intervals are percentiles at level `ci`.
  fixed: parameters held at given values, e.g. {"E": 1.69} (a fixed asymptote). conventions: what N, D, C and
  the loss are, which runs and checkpoints went in (recorded with the fit's own objective, optimizer, starts).
  """
  law = _laws.get(law)
  _check_settings(
    huber_delta=huber_delta,
    bootstrap=bootstrap,
    bootstrap_starts=bootstrap_starts,
    ci=ci,
    max_iter=max_iter,
    polish=polish,
  )
  if fixed:
    law = _laws.fix(law, **fixed)
  base = law.base or law
  can_varpro = base.terms is not None and set(law.fixed) <= {"E"} and grid is None
  method = method or ("varpro" if can_varpro else "grid")
  if method not in METHODS:
    raise ValueError(f"unknown method {method!r}; use one of {METHODS}")
  if method == "varpro" and not can_varpro:
    why = (
      "grid= starts"
      if grid is not None
      else f"law {law.name!r}" + (" with these fixed parameters" if law.fixed else "")
    )
    raise ValueError(f"method='varpro' does not apply to {why}; it fits sums of power terms (power, chinchilla)")
  keys = law.input_names(inputs)
  X = as_positive_inputs({k: inputs[k] for k in keys}, loss)
  L = X.pop("__loss__")
  n = L.shape[0]
  from scalezoo.scaling import diagnose

  diagnose.check_design(law, keys, X, n)
  logX, logL = np.stack([np.log(X[k]) for k in keys]), np.log(L)
  run = _fit_varpro if method == "varpro" else _fit_grid
  theta, f, samples, stats, at_bound, how = run(
    law, logX, logL, L, huber_delta=huber_delta, bootstrap=bootstrap, seed=seed, grid=grid, max_iter=max_iter,
    screen_iter=screen_iter, polish=polish, bootstrap_starts=bootstrap_starts,
  )  # fmt: skip
  held = {k for k, _ in at_bound}  # a parameter at a bound is flat there by construction: not counted
  cols = [i for i, k in enumerate(law.params) if k not in held] or list(range(law.n_params))
  cond = diagnose.conditioning(diagnose.jacobian(law, theta, logX)[:, cols])
  fit = Fit(
    law=law.name,
    inputs=keys,
    params={k: float(v) for k, v in law.to_params(theta).items() if k not in law.fixed},
    theta=theta,
    objective=f,
    stats=fit_stats(law, theta, logX, logL, huber_delta, None) | stats | cond,
    law_kwargs=law.kwargs,
    method=method,
    huber_delta=huber_delta,
    ci=ci,
    meta=dict(meta or {}),
    fixed=dict(law.fixed),
  )
  fit.conventions = dict(conventions or {}) | {
    "objective": f"sum of Huber_delta(log L_hat - log L), delta={huber_delta:g}",
    "optimizer": how,
    "method": method,
    "bootstrap": f"{bootstrap} case resamples, {100 * ci:g}% percentile intervals" if bootstrap else "none",
  }
  if law.fixed:
    fit.conventions["fixed"] = ", ".join(f"{k}={v:g}" for k, v in law.fixed.items())
  if bootstrap:
    fit.theta_samples = samples
    q = 100 * (1 - ci) / 2
    fit.intervals = {
      k: (float(np.nanpercentile(v, q)), float(np.nanpercentile(v, 100 - q))) for k, v in fit.samples.items()
    }
  fit.warnings = (
    diagnose.bound_warnings(at_bound)
    + diagnose.flat_warnings(law, theta, cond, fit.theta_samples, ci)
    + diagnose.monotone_warnings(law, keys, X, L, fit.stats["rmse_log"])
  )
  return fit


def _fit_varpro(law, logX, logL, L, *, huber_delta, bootstrap, seed, polish, bootstrap_starts, **_):
  from scalezoo.scaling import lsq
  from scalezoo.scaling.varpro import varpro_starts

  base = law.base or law
  free = np.array([k not in law.fixed for k in base.params])
  theta_fixed = base.from_params({k: 1.0 for k in base.params} | law.fixed)
  starts = varpro_starts(base, logX, L, free=(free, theta_fixed))[:polish]
  got = lsq.polish(base, starts, logX, logL, delta=huber_delta, free=free)
  order = np.argsort(np.where(np.isfinite(got.objective), got.objective, np.inf))
  best = int(order[0])
  tops = [got.theta[best]]  # the best distinct optima (basins) start the bootstrap's refits
  for i in order[1:]:
    if len(tops) < bootstrap_starts and all(np.max(np.abs(got.theta[i] - t)) > 1e-3 for t in tops):
      tops.append(got.theta[i])
  samples, at_bound_frac = None, 0.0
  if bootstrap:
    n, T = L.shape[0], len(tops)
    idx = np.random.default_rng(seed).integers(0, n, (bootstrap, n))
    starts_b = np.tile(tops, (bootstrap, 1))
    idx_b = np.repeat(idx, T, 0)
    bs = lsq.polish(base, starts_b, logX, logL, delta=huber_delta, free=free, idx_BxN=idx_b, ftol=BOOTSTRAP_FTOL)
    f = np.where(np.isfinite(bs.objective), bs.objective, np.inf).reshape(bootstrap, T)
    pick = np.arange(bootstrap) * T + np.argmin(f, axis=1)
    samples = bs.theta[pick][:, free]
    at_bound_frac = float(np.mean([bool(bs.at_bound[i]) for i in pick]))
  stats = {
    "n_starts": float(starts.shape[0]),
    "iters": float(got.iters[best]),
    "bootstrap_at_bound_frac": at_bound_frac,
  }
  how = (
    f"variable projection: exponents on a {EXP_GRID} grid, (coefficients) by NNLS, the best {starts.shape[0]} "
    f"polished by bounded Levenberg-Marquardt (exponents in [0, {lsq.EXP_MAX:g}])"
  )
  return got.theta[best][free], float(got.objective[best]), samples, stats, got.at_bound[best], how


EXP_GRID = "63-point [0.02, 2.5] per exponent"


def _fit_grid(
  law, logX, logL, L, *, huber_delta, bootstrap, seed, grid, max_iter, screen_iter, polish, bootstrap_starts
):
  n = L.shape[0]
  if grid is not None:
    starts = np.asarray(grid, np.float64)
    if starts.ndim != 2 or starts.shape[1] != law.n_params or not np.all(np.isfinite(starts)):
      raise ValueError(f"grid must be a finite (S, {law.n_params}) array of log-space starts, got {starts.shape}")
  else:
    starts = law.grid(logX, logL)
  theta, f, screen, _ = screen_and_polish(
    law, starts, np.ones((1, n)), logX, logL, delta=huber_delta, max_iter=max_iter,
    keep=min(polish, starts.shape[0]), screen_iter=screen_iter,
  )  # fmt: skip
  theta, f = theta[0], float(f[0])
  if not np.isfinite(f):
    raise ValueError(f"no start of law {law.name!r} reached a finite objective; check the data or pass grid=")
  samples = None
  if bootstrap:
    _, f_screen = _best(screen)
    top = screen.x[np.argsort(f_screen)[: bootstrap_starts - 1]]
    top = np.concatenate([theta[None], top])  # the polished optimum and the next-best screened basins
    W_BxN = np.random.default_rng(seed).multinomial(n, np.full(n, 1.0 / n), size=bootstrap).astype(np.float64)
    samples, _, _, _ = screen_and_polish(
      law, top, W_BxN, logX, logL, delta=huber_delta, max_iter=max_iter, keep=1, screen_iter=screen_iter
    )
  stats = {
    "n_starts": float(screen.f.shape[0]),
    "converged_frac": float(np.mean(screen.converged)),
    "max_iters": float(np.max(screen.iters)),
  }
  how = f"batched L-BFGS (float32 screen, float64 polish) from {starts.shape[0]} grid starts, {polish} polished"
  at_bound = []
  if law.name in ("power", "chinchilla"):  # the grid path is unbounded: say so when an exponent went negative
    at_bound = [(k, "lower") for k, v in law.to_params(theta).items() if k in ("alpha", "beta") and v < 0]
  return theta, f, samples, stats, at_bound, how
