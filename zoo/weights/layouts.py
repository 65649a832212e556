"""How one reference tensor becomes one zoo variable and back: a transform per kind of layer, exact (reshapes and
transposes only), so a round trip gives back the same bits.

A layout is a string: "id" (same shape), "vec" (any shape <-> the zoo's shape, e.g. torch's (D,) bias <-> flax
attention's (H, K)), "conv" (torch OIHW <-> flax HWIO), "linear:k" (torch (out, in) <-> a zoo kernel whose first k
axes are the inputs, e.g. flax attention's (H, K, D) out projection with k = 2), "conv1d:k" (Hugging Face's
Conv1D, already (in, out)), "linear_chw:C:H:W" (a classifier after a flatten: torch flattens (C, H, W), the zoo
(H, W, C)).
"""

from __future__ import annotations

import math

import numpy as np


def _parse(layout: str) -> tuple[str, list[int]]:
  kind, *args = layout.split(":")
  return kind, [int(a) for a in args]


def to_zoo(layout: str, t: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
  """The reference's tensor `t` in the zoo's layout; `shape` is the zoo variable's shape."""
  kind, args = _parse(layout)
  if kind == "id":
    z = t
  elif kind in ("vec", "conv1d"):
    z = t.reshape(shape) if t.size == math.prod(shape) else t
  elif kind == "conv":
    z = t.transpose(2, 3, 1, 0) if t.ndim == 4 else t
  elif kind == "linear":  # (out, in) must be (prod of the zoo's output axes, prod of its k input axes) exactly
    k = args[0] if args else 1
    z = t.T.reshape(shape) if t.shape == (math.prod(shape[k:]), math.prod(shape[:k])) else t
  elif kind == "linear_chw":
    C, H, W = args
    z = t.reshape(t.shape[0], C, H, W).transpose(0, 2, 3, 1).reshape(t.shape[0], -1).T if t.ndim == 2 else t
  else:
    raise ValueError(f"unknown layout {layout!r}")
  return np.ascontiguousarray(z)


def to_reference(layout: str, z: np.ndarray) -> np.ndarray:
  """The zoo variable `z` in the reference's layout (the inverse of `to_zoo`)."""
  kind, args = _parse(layout)
  if kind == "id":
    t = z
  elif kind == "vec":
    t = z.reshape(-1)
  elif kind == "conv1d":
    t = z.reshape(math.prod(z.shape[: args[0]]), -1)
  elif kind == "conv":
    t = z.transpose(3, 2, 0, 1)
  elif kind == "linear":
    t = z.reshape(math.prod(z.shape[: args[0] if args else 1]), -1).T
  elif kind == "linear_chw":
    C, H, W = args
    t = z.T.reshape(z.shape[1], H, W, C).transpose(0, 3, 1, 2).reshape(z.shape[1], -1)
  else:
    raise ValueError(f"unknown layout {layout!r}")
  return np.ascontiguousarray(t)
