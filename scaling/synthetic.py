"""Synthetic Chinchilla-like points from a known law: for tests of the fitter and the benchmark."""

import numpy as np

from scalezoo.scaling import laws

TRUE = {"E": 1.82, "A": 482.0, "B": 2085.0, "alpha": 0.35, "beta": 0.37}


def synthetic_chinchilla(n_points: int = 250, noise: float = 0.01, seed: int = 0, params: dict | None = None):
  """(inputs, loss): N log-uniform in [7e7, 1.6e10], D in [5e9, 5e11], loss from the law × lognormal noise."""
  rng = np.random.default_rng(seed)
  N = np.exp(rng.uniform(np.log(7e7), np.log(1.6e10), n_points))
  D = np.exp(rng.uniform(np.log(5e9), np.log(5e11), n_points))
  L = laws.chinchilla.predict(params or TRUE, {"N": N, "D": D}) * np.exp(noise * rng.normal(size=n_points))
  return {"N": N, "D": D}, L
