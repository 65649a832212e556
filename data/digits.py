"""scikit-learn's bundled 8x8 handwritten digits (UCI optdigits test set, 1797 images, 10 classes): no download."""

from __future__ import annotations

import functools

import numpy as np

from scalezoo.data.base import DataSpec, Split, register, stratified_split, take


@functools.lru_cache(maxsize=4)
def _images(size: int) -> tuple[np.ndarray, np.ndarray]:
  from sklearn.datasets import load_digits

  d = load_digits()
  x = (d.images / 16.0).astype(np.float32)  # pixel counts 0..16 -> [0, 1]
  if size != 8:
    if size < 8:
      raise ValueError(f"digits: size must be at least 8, got {size}")
    f = size // 8  # nearest-neighbour upscale by a whole factor, then centre in zeros (LeNet-5 wants 32x32)
    x = np.kron(x, np.ones((1, f, f), np.float32))
    lo = (size - 8 * f) // 2
    x = np.pad(x, ((0, 0), (lo, size - 8 * f - lo), (lo, size - 8 * f - lo)))
  return x[..., None], d.target.astype(np.int32)


def load(*, seed: int, flat: bool = False, size: int = 8) -> Split:
  x_NHW1, y = _images(size)
  x = x_NHW1.reshape(len(x_NHW1), -1) if flat else x_NHW1
  tr, va, te = stratified_split(y, (0.70, 0.15, 0.15), seed)
  a = {"x": x, "y": y}
  info = dict(
    task="classification",
    num_classes=10,
    input_shape=x.shape[1:],
    standardize=False,
    source=f"sklearn.datasets.load_digits (1797 images) size={size}",
  )
  return Split(take(a, tr), take(a, va), take(a, te), info)


register(
  DataSpec(
    "digits",
    load,
    "classification",
    {"flat": False, "size": 8},
    "scikit-learn 8x8 digits in [0, 1], x (N, size, size, 1) or flat (N, size*size); size=32 upscales 4x for LeNet-5",
  )
)
