"""Teacher-student: Gaussian inputs labelled by a fixed random MLP, a task whose true function we know and size."""

from __future__ import annotations

import functools

import numpy as np

from scalezoo.data.base import DataSpec, Split, random_split, register, stratified_split, take

OPTIONS = {"dim": 20, "n": 10000, "num_classes": 10, "noise_std": 0.0, "width": 64, "depth": 2, "data_seed": 0}


def teacher(x_ND: np.ndarray, rng: np.random.Generator, out: int, width: int, depth: int) -> np.ndarray:
  """A tanh MLP with N(0, 1/fan_in) weights (so every layer stays O(1)), `depth` hidden layers -> (N, out)."""
  h = x_ND
  for _ in range(depth):
    h = np.tanh(h @ rng.normal(0, h.shape[1] ** -0.5, (h.shape[1], width)) + rng.normal(0, 0.1, width))
  return h @ rng.normal(0, h.shape[1] ** -0.5, (h.shape[1], out))


@functools.lru_cache(maxsize=8)
def _generate(dim, n, num_classes, noise_std, width, depth, data_seed) -> tuple[np.ndarray, np.ndarray]:
  rng_w, rng_x, rng_e = (np.random.default_rng([data_seed, k]) for k in range(3))  # teacher fixed; n only adds data
  x = rng_x.normal(size=(n, dim))
  f = teacher(x, rng_w, max(num_classes, 1), width, depth)
  f = f + noise_std * rng_e.normal(size=f.shape)  # regression: noisy targets; classification: noisy logits
  y = f.argmax(1).astype(np.int32) if num_classes else f[:, 0].astype(np.float32)
  return x.astype(np.float32), y


def load(
  *, seed: int, dim: int, n: int, num_classes: int, noise_std: float, width: int, depth: int, data_seed: int
) -> Split:
  x, y = _generate(dim, n, num_classes, float(noise_std), width, depth, data_seed)
  a = {"x": x, "y": y}
  if num_classes:
    parts = stratified_split(y, (0.70, 0.15, 0.15), seed)
    info = dict(
      task="classification", num_classes=num_classes, class_counts=np.bincount(y, minlength=num_classes).tolist()
    )
  else:
    parts = random_split(n, (0.70, 0.15, 0.15), seed)
    info = dict(task="regression")
  info |= dict(
    input_shape=(dim,),
    standardize=False,
    source=f"teacher tanh MLP width={width} depth={depth} "
    f"data_seed={data_seed}, x ~ N(0, I_{dim}), noise_std={noise_std}",
  )
  return Split(*(take(a, p) for p in parts), info)


register(
  DataSpec(
    "teacher_student",
    load,
    "classification",
    OPTIONS,
    "Gaussian x (N, dim) labelled by a random tanh "
    "MLP teacher: argmax of num_classes noisy logits, or a noisy scalar target when num_classes=0",
  )
)
