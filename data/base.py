"""The shape every data set takes: a seed-driven train/val/test split of numpy arrays plus facts about it."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import numpy as np

Arrays = dict[str, np.ndarray]  # "x" inputs, "y" targets (and more for some tasks), equal first dimension


@dataclasses.dataclass(frozen=True)
class Split:
  train: Arrays
  val: Arrays
  test: Arrays
  info: dict[str, Any]  # task, num_classes, input_shape, source facts (file list hash, ...)

  @property
  def task(self) -> str:
    return self.info["task"]


@dataclasses.dataclass(frozen=True)
class DataSpec:
  name: str
  load: Callable[..., Split]  # load(*, seed, **options) -> Split (before n_train / noise are applied)
  task: str
  options: dict[str, Any] = dataclasses.field(default_factory=dict)  # option name -> default
  about: str = ""


_REGISTRY: dict[str, DataSpec] = {}


def register(spec: DataSpec) -> DataSpec:
  if spec.name in _REGISTRY:
    raise ValueError(f"data set {spec.name!r} is already registered")
  _REGISTRY[spec.name] = spec
  return spec


def names() -> list[str]:
  return sorted(_REGISTRY)


def spec(name: str) -> DataSpec:
  try:
    return _REGISTRY[name]
  except KeyError:
    raise ValueError(f"unknown data set {name!r}; known data sets: {', '.join(names())}") from None


def stratified_split(y: np.ndarray, fractions: tuple[float, float, float], seed: int) -> list[np.ndarray]:
  """Index arrays for train/val/test, stratified by class, a pure function of `seed`."""
  rng = np.random.default_rng(seed)
  parts: list[list[np.ndarray]] = [[], [], []]
  for c in np.unique(y):
    idx = rng.permutation(np.flatnonzero(y == c))
    n_val, n_test = round(len(idx) * fractions[1]), round(len(idx) * fractions[2])
    cut = len(idx) - n_val - n_test
    parts[0].append(idx[:cut])
    parts[1].append(idx[cut : cut + n_val])
    parts[2].append(idx[cut + n_val :])
  return [np.sort(np.concatenate(p)) for p in parts]


def random_split(n: int, fractions: tuple[float, float, float], seed: int) -> list[np.ndarray]:
  idx = np.random.default_rng(seed).permutation(n)
  n_val, n_test = round(n * fractions[1]), round(n * fractions[2])
  cut = n - n_val - n_test
  return [np.sort(idx[:cut]), np.sort(idx[cut : cut + n_val]), np.sort(idx[cut + n_val :])]


def take(arrays: Arrays, idx: np.ndarray) -> Arrays:
  return {k: v[idx] for k, v in arrays.items()}


def subsample_train(split: Split, n_train: int | None, seed: int) -> Split:
  """The first `n_train` examples of a seed-driven permutation: a smaller set is nested in a larger one."""
  n = len(split.train["x"])
  if n_train is None or n_train == n:
    return split
  if not 0 < n_train <= n:
    raise ValueError(f"n_train must be between 1 and {n} for this data set, got {n_train}")
  idx = np.sort(np.random.default_rng([seed, 1]).permutation(n)[:n_train])
  return dataclasses.replace(split, train=take(split.train, idx))


def add_label_noise(split: Split, noise: float, seed: int) -> Split:
  """Replace a `noise` fraction of training labels by a uniformly random *other* class."""
  if noise == 0:
    return split
  if not 0 <= noise <= 1:
    raise ValueError(f"noise must be a fraction in [0, 1], got {noise}")
  k = split.info.get("num_classes")
  if split.task != "classification" or not k:
    raise ValueError(f"label noise needs a classification data set, this one is {split.task!r}")
  y = split.train["y"].copy()
  rng = np.random.default_rng([seed, 2])
  flip = rng.permutation(len(y))[: round(noise * len(y))]
  y[flip] = (y[flip] + rng.integers(1, k, len(flip))) % k
  info = {**split.info, "noisy_labels": int(len(flip))}
  return dataclasses.replace(split, train={**split.train, "y": y}, info=info)


def standardize(split: Split) -> Split:
  """Scale inputs by the training set's mean and standard deviation (one scalar each)."""
  x = split.train["x"].astype(np.float32)
  mu, sd = float(x.mean()), float(x.std()) or 1.0
  norm = lambda a: {**a, "x": ((a["x"].astype(np.float32) - mu) / sd).astype(np.float32)}
  return dataclasses.replace(split, train=norm(split.train), val=norm(split.val), test=norm(split.test))
