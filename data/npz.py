"""A user's numpy .npz file: arrays x, y (split 70/15/15 here) or x_train, y_train, x_test, y_test [, x_val, y_val].

Arrays are used as stored: float inputs are standardized by `data.load`, integer inputs (tokens, raw pixels)
are not, so scale uint8 images before saving them.
"""

from __future__ import annotations

import zipfile

import numpy as np

from scalezoo.data.base import DataSpec, Split, register
from scalezoo.data.user_files import existing, split_given, task_of

EXPECTED = "a .npz with arrays x, y or x_train, y_train, x_test, y_test (optionally x_val, y_val)"


def _read(path: str) -> dict[str, np.ndarray]:
  p = existing(path, "npz", EXPECTED)
  try:
    with np.load(p, allow_pickle=False) as f:
      return {k: f[k] for k in f.files}
  except (OSError, ValueError, zipfile.BadZipFile) as e:
    raise ValueError(f"npz: cannot read {str(path)!r} as {EXPECTED} ({e})") from None


def _pair(a: dict[str, np.ndarray], suffix: str, path: str) -> dict[str, np.ndarray] | None:
  kx, ky = f"x{suffix}", f"y{suffix}"
  if kx not in a and ky not in a:
    return None
  if kx not in a or ky not in a or len(a[kx]) != len(a[ky]):
    raise ValueError(
      f"npz: {str(path)!r} needs {kx} and {ky} with equal first dimension; found { {k: v.shape for k, v in a.items()} }"
    )
  return {"x": a[kx], "y": a[ky]}


def load(*, seed: int, path: str = "", task: str = "auto") -> Split:
  a = _read(path)
  train = _pair(a, "", path) or _pair(a, "_train", path)
  test, val = _pair(a, "_test", path), _pair(a, "_val", path)
  if train is None or ("x" in a and test is not None) or (val is not None and test is None):
    raise ValueError(f"npz: {str(path)!r} has arrays {sorted(a)}; expected {EXPECTED}")
  for k, v in a.items():
    if np.issubdtype(v.dtype, np.inexact) and not np.isfinite(v).all():
      raise ValueError(f"npz: {str(path)!r}: array {k!r} holds NaN or infinite values; replace or drop those rows")
  t = task_of(train["y"], task)
  return split_given(train, test, val, t, seed, {"source": f"npz file {path}"})


register(
  DataSpec(
    "npz",
    load,
    "classification",
    {"path": "", "task": "auto"},
    "a user's .npz (x, y or x_train/y_train/x_test/y_test); integer y means classification unless task says otherwise",
  )
)
