"""What a fit can and cannot say: designs refused before fitting, warnings attached after.

Refused (ValueError, one line naming what is missing): fewer points than parameters, fewer distinct designs
than parameters, an input of the law that takes one value only (one distinct D cannot identify B and β).
Warned (`Fit.warnings`): a parameter at a bound of the parametrisation; a flat optimum, where the Jacobian
has a direction along which the fit hardly changes (RMS change of log L̂ below FLAT_RMS per unit step of theta)
or the bootstrap spreads a parameter over more than FLAT_DECADES decades (scale parameters) or FLAT_SPAN
(exponents); a loss that rises with an input of a decreasing law by more than max(RISE, 2 × the fit's log RMSE).
"""

import numpy as np

FLAT_RMS = 1e-4
FLAT_DECADES = 3.0
FLAT_SPAN = 1.0
RISE = 0.02
DECREASING = ("power", "chinchilla", "kaplan")  # laws whose loss falls in every input


def check_design(law, keys, X: dict, n: int) -> None:
  """Refuse a design from which `law` cannot be identified."""
  P = law.n_params
  if n < P:
    raise ValueError(f"{n} points are fewer than the {P} parameters of law {law.name!r}; add runs or fix a parameter")
  for k in keys:
    u = np.unique(X[k])
    if u.size < 2:
      raise ValueError(
        f"one distinct {k} ({u[0]:.6g}) cannot identify law {law.name!r}'s dependence on {k}; "
        f"vary {k} across runs"
        + (f" or fit a law of one input (--law power --x {_other(keys, k)})" if len(keys) > 1 else "")
      )
  designs = np.unique(np.stack([X[k] for k in keys], axis=1), axis=0).shape[0]
  if designs < P:
    raise ValueError(
      f"{designs} distinct values of {'(' + ', '.join(keys) + ')' if len(keys) > 1 else keys[0]} are fewer than "
      f"the {P} parameters of law {law.name!r}; add runs at other sizes or fix a parameter"
    )


def _other(keys, k):
  return next(x for x in keys if x != k)


def jacobian(law, theta, logX, h=1e-6) -> np.ndarray:
  """d log L̂ / d theta (n, P) by central differences (any law; numpy)."""
  cols = []
  for i in range(theta.shape[0]):
    e = np.zeros_like(theta)
    e[i] = h * max(1.0, abs(theta[i]))
    cols.append((law.log_predict(theta + e, logX, np) - law.log_predict(theta - e, logX, np)) / (2 * e[i]))
  return np.stack(cols, axis=1)


def conditioning(J: np.ndarray) -> dict:
  """Singular values of the Jacobian in the fit's parametrisation: its condition number, and the RMS change of
  log L̂ over the points per unit step along the flattest direction (tiny: a flat optimum)."""
  s = np.linalg.svd(J, compute_uv=False)
  return {
    "cond": float(s[0] / s[-1]) if s[-1] > 0 else float("inf"),
    "flattest_rms": float(s[-1] / np.sqrt(J.shape[0])),
  }


def _is_log(law, theta) -> np.ndarray:
  """Which entries of theta are logs of the named parameter (exp-parametrised scale factors)."""
  p0 = law.to_params(theta)
  out = []
  for i, name in enumerate(law.params):
    e = np.zeros_like(theta)
    e[i] = 1.0
    v0, v1 = float(p0[name]), float(law.to_params(theta + e)[name])
    out.append(v0 != 0 and np.isclose(v1 / v0, np.e, rtol=1e-9))
  return np.array(out)


def bound_warnings(at_bound) -> list[str]:
  out = []
  for name, side in at_bound:
    if side == "upper":
      out.append(f"{name} is at its upper bound: the curve is a step, not a power law; the estimate is not meaningful")
    elif name[0].isupper() or name == "E":
      out.append(f"{name} is at its floor (~0): the data show no such term; consider fixing it or another law")
    else:
      out.append(f"{name} is at its lower bound 0: the data show no decrease along this input")
  return out


def flat_warnings(law, theta, cond: dict, theta_samples, ci: float) -> list[str]:
  out = []
  if cond["flattest_rms"] < FLAT_RMS:
    out.append(
      f"flat optimum: along the Jacobian's flattest direction a unit step of theta changes log L̂ by "
      f"{cond['flattest_rms']:.2g} RMS (condition number {cond['cond']:.2g}); the point estimate is one of many"
    )
  if theta_samples is not None and len(theta_samples) >= 8:
    q = 100 * (1 - ci) / 2
    lo, hi = np.nanpercentile(theta_samples, q, axis=0), np.nanpercentile(theta_samples, 100 - q, axis=0)
    logp = _is_log(law, theta)
    wide = [
      law.params[i]
      for i in range(theta.shape[0])
      if (hi[i] - lo[i]) > (FLAT_DECADES * np.log(10) if logp[i] else FLAT_SPAN)
    ]
    if wide:
      out.append(
        f"flat optimum: the bootstrap spreads {', '.join(wide)} over more than "
        f"{FLAT_DECADES:g} decades (scales) or {FLAT_SPAN:g} (exponents); the data do not pin them down"
      )
  return out


def monotone_warnings(law, keys, X: dict, L: np.ndarray, rmse_log: float) -> list[str]:
  """Rises of the loss along an input of a decreasing law, within groups of equal other inputs."""
  if law.name not in DECREASING:
    return []
  tol = max(RISE, 2 * rmse_log)
  out = []
  for k in keys:
    others = [o for o in keys if o != k]
    groups = np.unique(np.stack([X[o] for o in others], 1), axis=0, return_inverse=True)[1] if others else None
    worst = (0.0, None)
    for g in np.unique(groups) if groups is not None else [None]:
      m = np.ones(L.shape[0], bool) if g is None else groups.ravel() == g
      xs, inv = np.unique(X[k][m], return_inverse=True)
      if xs.size < 2:
        continue
      mean = np.bincount(inv, weights=L[m]) / np.bincount(inv)
      rise = mean[1:] / np.minimum.accumulate(mean)[:-1] - 1
      j = int(np.argmax(rise))
      if rise[j] > worst[0]:
        worst = (float(rise[j]), xs[j + 1])
    if worst[0] > tol:
      out.append(
        f"the loss is not monotone in {k}: it rises {worst[0]:.0%} (at {k}={worst[1]:.4g}) above its minimum at "
        f"smaller {k}, and the {law.name} law cannot rise; read its parameters with care"
      )
  return out
