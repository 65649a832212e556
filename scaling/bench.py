"""bench_fit: timings of the batched fitter on synthetic Chinchilla-like data, for the benchmark to quote."""

import time

import numpy as np

from scaling import laws
from scaling.fit import fit_law

TRUE = {"E": 1.82, "A": 482.0, "B": 2085.0, "alpha": 0.35, "beta": 0.37}


def synthetic_chinchilla(n_points: int = 250, noise: float = 0.01, seed: int = 0, params: dict | None = None):
  """(inputs, loss): N log-uniform in [7e7, 1.6e10], D in [5e9, 5e11], loss from the law × lognormal noise."""
  rng = np.random.default_rng(seed)
  N = np.exp(rng.uniform(np.log(7e7), np.log(1.6e10), n_points))
  D = np.exp(rng.uniform(np.log(5e9), np.log(5e11), n_points))
  L = laws.chinchilla.predict(params or TRUE, {"N": N, "D": D}) * np.exp(noise * rng.normal(size=n_points))
  return {"N": N, "D": D}, L


def _timed(f):
  t = time.perf_counter()
  out = f()
  return out, time.perf_counter() - t


def bench_fit(n_points: int = 250, n_starts: int = 4500, bootstrap: int = 1000, seed: int = 0) -> dict:
  """Seconds for: the first fit (compile + run), a warm full-grid fit, a warm fit + bootstrap resamples."""
  X, L = synthetic_chinchilla(n_points, seed=seed)
  grid = laws.chinchilla.grid(None, None)
  if n_starts != grid.shape[0]:
    grid = grid[np.random.default_rng(seed).choice(grid.shape[0], n_starts, replace=n_starts > grid.shape[0])]
  kw = {"grid": grid}
  fit, cold = _timed(lambda: fit_law("chinchilla", X, L, **kw))
  fit, warm = _timed(lambda: fit_law("chinchilla", X, L, **kw))
  fitb, _ = _timed(lambda: fit_law("chinchilla", X, L, bootstrap=bootstrap, seed=seed, **kw))  # compiles its shapes
  fitb, boot = _timed(lambda: fit_law("chinchilla", X, L, bootstrap=bootstrap, seed=seed + 1, **kw))
  return {"n_points": n_points, "n_starts": int(grid.shape[0]), "bootstrap": bootstrap, "fit_cold_s": cold,
          "fit_warm_s": warm, "fit_plus_bootstrap_warm_s": boot, "bootstrap_only_s": boot - warm,
          "params": fit.params, "true": TRUE}
