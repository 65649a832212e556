"""The reference fitter: scipy's L-BFGS-B from every grid start, one after another (Epoch AI's procedure).

Slow (one start at a time) but independent of our batched L-BFGS: tests and benchmarks compare the two on the same
grid and objective.
"""

import jax
import jax.numpy as jnp
import numpy as np
from scipy.optimize import minimize

from scalezoo.scaling import laws as _laws
from scalezoo.scaling.checks import as_positive_inputs
from scalezoo.scaling.fit import Fit, fit_stats, huber


def fit_reference_scipy(law, inputs: dict, loss, *, grid=None, huber_delta: float = 1e-3) -> Fit:
  """Fit by scipy.optimize.minimize(method='L-BFGS-B') from every row of `grid` (default: the law's grid)."""
  law = _laws.get(law)
  keys = law.input_names(inputs)
  X = as_positive_inputs({k: inputs[k] for k in keys}, loss)
  logL = np.log(X.pop("__loss__"))
  logX = np.stack([np.log(X[k]) for k in keys])
  starts = law.grid(logX, logL) if grid is None else np.asarray(grid, np.float64)
  with jax.enable_x64(True):
    lx, ll = jnp.asarray(logX), jnp.asarray(logL)
    vg = jax.jit(jax.value_and_grad(lambda th: jnp.sum(huber(law.log_predict(th, lx, jnp) - ll, huber_delta))))

    def fun(th):
      f, g = vg(jnp.asarray(th))
      return float(f), np.asarray(g, np.float64)

    best = None
    for th0 in starts:
      r = minimize(fun, th0, jac=True, method="L-BFGS-B")
      if np.isfinite(r.fun) and (best is None or r.fun < best.fun):
        best = r
  if best is None:
    raise ValueError("no start reached a finite objective")
  theta = np.asarray(best.x)
  return Fit(
    law=law.name,
    inputs=keys,
    params={k: float(v) for k, v in law.to_params(theta).items()},
    theta=theta,
    objective=float(best.fun),
    stats=fit_stats(law, theta, logX, logL, huber_delta, None),
    law_kwargs=law.kwargs,
    method="scipy",
    huber_delta=huber_delta,
  )
