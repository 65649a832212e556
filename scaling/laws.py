"""Scaling laws as data: named parameters, a log-space form to fit, a starting grid and `predict`.

Each law is fitted in a log parametrisation (Hoffmann et al. 2022, approach 3): scale factors enter as their
logs (A = exp(a)) and the law itself as a log-sum-exp of its terms, so a fit never leaves the positive domain.
`log_predict(theta, logX, xp)` works with numpy or jax.numpy (`xp`): theta is (P,), logX is (k, n).
"""

import itertools
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np


def _log_sum_exp(terms, xp):
  """log Σ exp(terms) without the max shift: half the exps of the stable form, and the fit's line search
  rejects the overflowed trial points (inf) anyway. Used by the laws fitted with thousands of starts."""
  return xp.log(sum(xp.exp(t) for t in terms))


def _lse(terms, xp):
  """log Σ exp(terms), stable, for a list of equally shaped arrays."""
  m = terms[0]
  for t in terms[1:]:
    m = xp.maximum(m, t)
  m = xp.where(xp.isfinite(m), m, 0.0)
  return m + xp.log(sum(xp.exp(t - m) for t in terms))


@dataclass(frozen=True)
class Law:
  """A functional form: `params` are the public names, `theta` the fitted log-space vector."""

  name: str
  params: tuple[str, ...]
  inputs: tuple[str, ...] | None  # None: one free variable (any key: N, D, C, epochs, …)
  formula: str
  log_predict: Callable  # (theta, logX (k, n), xp) -> log L (n,)
  to_params: Callable  # theta (…, P) -> dict name -> array (…)
  from_params: Callable  # dict -> theta (P,)
  grid: Callable  # (logX (k, n), logL (n,)) -> starting thetas (S, P)
  kwargs: dict = field(default_factory=dict)
  # a sum of terms c_k·x^(−α_k): the input index of each term (None: the constant E), theta = (log c…, α…).
  # Such a law is fitted by variable projection (scaling.varpro, scaling.lsq) with its exponents in [0, 10].
  terms: tuple | None = None
  fixed: dict = field(default_factory=dict)  # parameters held at given values (see `fix`), not fitted
  base: "Law | None" = None  # the law `fix` made this one from

  @property
  def n_params(self) -> int:
    return len(self.params)

  def predict(self, params: dict, inputs: dict) -> np.ndarray:
    """L at `inputs` (dict name -> array) for named `params`, in float64 numpy."""
    keys = self.input_names(inputs)
    logX = np.stack([np.log(np.asarray(inputs[k], np.float64)) for k in keys])
    theta = np.asarray(self.from_params(params), np.float64)
    return np.exp(self.log_predict(theta, logX, np))

  def input_names(self, inputs: dict) -> tuple[str, ...]:
    if self.inputs is None:
      if len(inputs) != 1:
        raise ValueError(f"law {self.name!r} takes one input variable, got keys {sorted(inputs)}")
      return (next(iter(inputs)),)
    missing = [k for k in self.inputs if k not in inputs]
    if missing:
      raise ValueError(f"law {self.name!r} needs inputs {list(self.inputs)}; missing {missing}")
    return self.inputs


def product_grid(*axes) -> np.ndarray:
  return np.array(list(itertools.product(*axes)), np.float64)


HOFFMANN_EXP = (0.0, 0.5, 1.0, 1.5, 2.0)
HOFFMANN_E = (-1.0, -0.5, 0.0, 0.5, 1.0)
HOFFMANN_AB = (0.0, 5.0, 10.0, 15.0, 20.0, 25.0)


# power: L = E + A x^-alpha;  theta = (e, a, alpha)
def _power_log(theta, logX, xp):
  e, a, alpha = theta[0], theta[1], theta[2]
  return xp.log(xp.exp(e) + xp.exp(a - alpha * logX[0]))


power = Law(
  name="power",
  params=("E", "A", "alpha"),
  inputs=None,
  formula="L = E + A·x^(−α)",
  log_predict=_power_log,
  to_params=lambda th: {"E": np.exp(th[..., 0]), "A": np.exp(th[..., 1]), "alpha": th[..., 2]},
  from_params=lambda p: np.array([np.log(p["E"]), np.log(p["A"]), p["alpha"]], np.float64),
  grid=lambda logX, logL: product_grid(HOFFMANN_E, HOFFMANN_AB, (0.0, 0.25, 0.5, 1.0, 1.5, 2.0)),
  terms=(None, 0),
)


# chinchilla: L = E + A/N^alpha + B/D^beta;  theta = (e, a, b, alpha, beta), Hoffmann's 4,500-point grid
def _chinchilla_log(theta, logX, xp):
  e, a, b, alpha, beta = theta[0], theta[1], theta[2], theta[3], theta[4]
  return xp.log(xp.exp(e) + xp.exp(a - alpha * logX[0]) + xp.exp(b - beta * logX[1]))


chinchilla = Law(
  name="chinchilla",
  params=("E", "A", "B", "alpha", "beta"),
  inputs=("N", "D"),
  formula="L = E + A/N^α + B/D^β",
  log_predict=_chinchilla_log,
  to_params=lambda th: {
    "E": np.exp(th[..., 0]),
    "A": np.exp(th[..., 1]),
    "B": np.exp(th[..., 2]),
    "alpha": th[..., 3],
    "beta": th[..., 4],
  },
  from_params=lambda p: np.array([np.log(p["E"]), np.log(p["A"]), np.log(p["B"]), p["alpha"], p["beta"]], np.float64),
  grid=lambda logX, logL: product_grid(HOFFMANN_E, HOFFMANN_AB, HOFFMANN_AB, HOFFMANN_EXP, HOFFMANN_EXP),
  terms=(None, 0, 1),
)


# kaplan: L = [(N_c/N)^(alpha_N/alpha_D) + D_c/D]^alpha_D;  theta = (log N_c, log D_c, alpha_N, alpha_D)
def _kaplan_log(theta, logX, xp):
  nc, dc, alpha_N, alpha_D = theta[0], theta[1], theta[2], theta[3]
  return alpha_D * _log_sum_exp([alpha_N / alpha_D * (nc - logX[0]), dc - logX[1]], xp)


kaplan = Law(
  name="kaplan",
  params=("N_c", "D_c", "alpha_N", "alpha_D"),
  inputs=("N", "D"),
  formula="L = [(N_c/N)^(α_N/α_D) + D_c/D]^α_D",
  log_predict=_kaplan_log,
  to_params=lambda th: {
    "N_c": np.exp(th[..., 0]),
    "D_c": np.exp(th[..., 1]),
    "alpha_N": th[..., 2],
    "alpha_D": th[..., 3],
  },
  from_params=lambda p: np.array([np.log(p["N_c"]), np.log(p["D_c"]), p["alpha_N"], p["alpha_D"]], np.float64),
  grid=lambda logX, logL: product_grid(
    (10.0, 20.0, 30.0, 40.0), (10.0, 20.0, 30.0, 40.0), (0.05, 0.1, 0.3, 0.6), (0.05, 0.1, 0.3, 0.6)
  ),
)


def bnsl(k: int = 1) -> Law:
  """Broken neural scaling law (Caballero et al. 2022) with k breaks:

  L = E + B·x^(−c0)·Π_i (1 + (x/d_i)^(1/f_i))^(−c_i·f_i).
  Past break i the log-log slope changes by −c_i; a negative c_i bends the curve upward, so two breaks can
  describe double descent. theta = (e, b, c0, [c_i, log d_i, log f_i] * k).
  """
  if k < 1:
    raise ValueError(f"bnsl needs k >= 1 breaks, got {k}")
  names = ("E", "B", "c0") + tuple(f"{p}{i}" for i in range(1, k + 1) for p in ("c", "d", "f"))

  def log_predict(theta, logX, xp):
    x = logX[0]
    body = theta[1] - theta[2] * x
    for i in range(k):
      c, logd, logf = theta[3 + 3 * i], theta[4 + 3 * i], theta[5 + 3 * i]
      f = xp.exp(logf)
      body = body - c * f * xp.logaddexp(0.0, (x - logd) / f)
    return _lse([body, theta[0] + 0.0 * x], xp)

  def to_params(th):
    out = {"E": np.exp(th[..., 0]), "B": np.exp(th[..., 1]), "c0": th[..., 2]}
    for i in range(k):
      out[f"c{i + 1}"] = th[..., 3 + 3 * i]
      out[f"d{i + 1}"] = np.exp(th[..., 4 + 3 * i])
      out[f"f{i + 1}"] = np.exp(th[..., 5 + 3 * i])
    return out

  def from_params(p):
    th = [np.log(p["E"]), np.log(p["B"]), p["c0"]]
    for i in range(1, k + 1):
      th += [p[f"c{i}"], np.log(p[f"d{i}"]), np.log(p[f"f{i}"])]
    return np.array(th, np.float64)

  def grid(logX, logL):
    lo, hi = float(np.min(logL)), float(np.max(logL))
    # breaks start at evenly spaced positions inside the data, so each one has points on both sides
    qs = np.quantile(logX[0], np.linspace(0.2, 0.8, 3))
    per_break = [(-1.0, 0.5, 1.0), tuple(qs), (-1.0, 0.0)]
    axes = [(lo - 2.0, lo - 0.2), (hi, hi + 3.0), (0.0, 0.3, 1.0)] + per_break * k
    return product_grid(*axes)

  return Law(
    name="bnsl",
    params=names,
    inputs=None,
    formula="L = E + B·x^(−c0)·Π(1+(x/d_i)^(1/f_i))^(−c_i f_i)",
    log_predict=log_predict,
    to_params=to_params,
    from_params=from_params,
    grid=grid,
    kwargs={"k": k},
  )


def fix(law: Law, **values) -> Law:
  """`law` with some parameters held at given values (e.g. a fixed asymptote E, for when a free one comes out
  too optimistic): theta holds the free parameters only; `to_params` still reports all of them."""
  if not values:
    return law
  if law.base is not None:
    return fix(law.base, **(law.fixed | values))
  bad = [k for k in values if k not in law.params]
  if bad:
    raise ValueError(f"law {law.name!r} has no parameter {bad[0]!r} to fix; parameters: {list(law.params)}")
  full = law.from_params({k: 1.0 for k in law.params} | values)
  fixed_at = np.array([k in values for k in law.params])
  free_idx = np.flatnonzero(~fixed_at)

  def expand(th, xp=np):
    cols = [None] * law.n_params
    for j, i in enumerate(free_idx):
      cols[i] = th[..., j]
    for i in np.flatnonzero(fixed_at):
      cols[i] = full[i] + 0.0 * th[..., 0]
    return xp.stack(cols, axis=-1)

  return Law(
    name=law.name,
    params=tuple(k for k in law.params if k not in values),
    inputs=law.inputs,
    formula=law.formula + "  (" + ", ".join(f"{k}={v:g} fixed" for k, v in values.items()) + ")",
    log_predict=lambda th, logX, xp: law.log_predict(expand(th, xp), logX, xp),
    to_params=lambda th: law.to_params(expand(np.asarray(th))),
    from_params=lambda p: law.from_params({**p, **values})[free_idx],
    grid=lambda logX, logL: np.unique(law.grid(logX, logL)[:, free_idx], axis=0),
    kwargs=law.kwargs,
    fixed={k: float(v) for k, v in values.items()},
    base=law,
  )


LAWS = {"power": power, "chinchilla": chinchilla, "kaplan": kaplan}


def get(law, **kwargs) -> Law:
  """A Law from a Law or a name: power | chinchilla | kaplan | bnsl (k=1, or k=… / 'bnsl2')."""
  if isinstance(law, Law):
    return law
  if not isinstance(law, str):
    raise ValueError(f"law must be a name or a Law, got {type(law).__name__}")
  if law.startswith("bnsl"):
    suffix = law[4:].lstrip("_k")
    if suffix and not suffix.isdigit():
      raise ValueError(f"unknown law {law!r}; use 'bnsl', 'bnsl2', … or laws.bnsl(k)")
    return bnsl(int(suffix) if suffix else int(kwargs.get("k", 1)))
  if law not in LAWS:
    raise ValueError(f"unknown law {law!r}; known: {sorted(LAWS) + ['bnsl']}")
  return LAWS[law]


def names() -> list[str]:
  return sorted(LAWS) + ["bnsl"]
