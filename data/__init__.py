"""Data sets by name, all offline: `load(name, n_train=..., noise=..., seed=...) -> Split`."""

from __future__ import annotations

from typing import Any

from scalezoo.data import (  # noqa: F401  (each registers its data sets)
  digits,
  idx,
  karate,
  mnist1d,
  npz,
  pycode,
  random_features,
  sbm,
  seq2seq,
  sequences,
  teacher_student,
  text,
  tokens,
)
from scalezoo.data.base import Arrays, DataSpec, Split, add_label_noise, names, register, spec, standardize
from scalezoo.data.base import subsample_train as _subsample


def load(name: str, *, n_train: int | None = None, noise: float = 0.0, seed: int = 0, **options: Any) -> Split:
  """The split of data set `name`, its training set cut to `n_train` and `noise` of its labels flipped.

  The split and the subset are pure functions of `seed`; val and test do not depend on n_train or noise.
  """
  s = spec(name)
  unknown = sorted(set(options) - set(s.options))
  if unknown:
    allowed = ", ".join(sorted(s.options)) or "none"
    raise ValueError(f"data set {name!r} has no option {unknown[0]!r}; options: {allowed}")
  split = s.load(seed=seed, **{**s.options, **options})
  if "stream" in split.info:  # training windows stream from disk (tokens): nothing in memory to cut or relabel
    if n_train is not None or noise:
      raise ValueError(f"data set {name!r} streams its training set from disk; n_train and noise do not apply")
    return split
  split = _subsample(split, n_train, seed)
  split = add_label_noise(split, noise, seed)
  if split.info.get("standardize", True) and split.train["x"].dtype.kind == "f":
    split = standardize(split)
  return split


__all__ = ["Arrays", "DataSpec", "Split", "load", "names", "register", "spec"]
