"""Linear-teacher regression for random-features double descent (Belkin et al. 2019; Mei & Montanari 2019).

Targets are y = x @ beta + noise_std * eps with x ~ N(0, I_dim) and |beta| = 1. The intended model is a random-features
regressor fit by minimum-norm least squares: phi(x) = relu(x @ W / sqrt(dim)) with W ~ N(0, 1) of shape (dim, P),
a = pinv(phi(X_train)) @ y_train. Sweeping P across n_train, test error peaks near P = n_train (interpolation
threshold) and falls again beyond it; the noise makes the peak sharp. `features` and `min_norm_fit` give that model.
"""

from __future__ import annotations

import functools

import numpy as np

from scalezoo.data.base import DataSpec, Split, random_split, register, take

OPTIONS = {"dim": 100, "n": 4000, "noise_std": 0.5, "data_seed": 0}


def features(x_ND: np.ndarray, P: int, seed: int = 0) -> np.ndarray:
  """ReLU random features (N, P) of a fixed seed-driven projection."""
  W_DP = np.random.default_rng(seed).normal(size=(x_ND.shape[1], P))
  return np.maximum(x_ND @ W_DP / np.sqrt(x_ND.shape[1]), 0).astype(np.float32)


def min_norm_fit(phi_NP: np.ndarray, y_N: np.ndarray) -> np.ndarray:
  """The minimum-norm least-squares weights (P,): interpolates the training set once P >= N."""
  return np.linalg.lstsq(phi_NP.astype(np.float64), y_N.astype(np.float64), rcond=None)[0]


@functools.lru_cache(maxsize=8)
def _generate(dim: int, n: int, noise_std: float, data_seed: int) -> tuple[np.ndarray, np.ndarray]:
  rng_b, rng_x, rng_e = (np.random.default_rng([data_seed, k]) for k in range(3))
  beta = rng_b.normal(size=dim)
  beta /= np.linalg.norm(beta)  # signal variance 1, so noise_std**2 is the noise-to-signal ratio
  x = rng_x.normal(size=(n, dim))
  y = x @ beta + noise_std * rng_e.normal(size=n)
  return x.astype(np.float32), y.astype(np.float32)


def load(*, seed: int, dim: int, n: int, noise_std: float, data_seed: int) -> Split:
  x, y = _generate(dim, n, float(noise_std), data_seed)
  a = {"x": x, "y": y}
  info = dict(
    task="regression",
    input_shape=(dim,),
    standardize=False,
    bayes_mse=float(noise_std) ** 2,
    source=f"linear teacher |beta|=1 dim={dim} noise_std={noise_std} data_seed={data_seed}",
  )
  return Split(*(take(a, p) for p in random_split(n, (0.70, 0.15, 0.15), seed)), info)


register(
  DataSpec(
    "random_features",
    load,
    "regression",
    OPTIONS,
    "Gaussian x (N, dim), y = x @ beta + noise: min-norm random-features regression sweeps for double descent",
  )
)
