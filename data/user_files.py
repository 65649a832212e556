"""Helpers for data sets read from a user's files: a clear error at the boundary, and the split rule."""

from __future__ import annotations

import pathlib

import numpy as np

from scalezoo.data.base import Split, random_split, stratified_split, take


def existing(path: str, name: str, expected: str) -> pathlib.Path:
  if not path:
    raise ValueError(f"data set {name!r} needs a path option: {expected}")
  p = pathlib.Path(path)
  if not p.is_file():
    raise ValueError(f"{name}: no file at {str(path)!r}; expected {expected}")
  return p


def task_of(y: np.ndarray, task: str) -> str:
  """'auto': integer labels are classes, anything else a regression target."""
  if task == "auto":
    return "classification" if y.dtype.kind in "iub" else "regression"
  if task not in ("classification", "regression"):
    raise ValueError(f"task must be 'auto', 'classification' or 'regression', got {task!r}")
  return task


def split_given(train: dict, test: dict | None, val: dict | None, task: str, seed: int, info: dict) -> Split:
  """70/15/15 of `train` when no test part is given; else val is 15% of train (unless given) and test is as given."""
  strat = lambda y, f: stratified_split(y, f, seed) if task == "classification" else random_split(len(y), f, seed)
  if test is None:
    tr, va, te = strat(train["y"], (0.70, 0.15, 0.15))
    parts = take(train, tr), take(train, va), take(train, te)
  elif val is None:
    tr, va, _ = strat(train["y"], (0.85, 0.15, 0.0))
    parts = take(train, tr), take(train, va), test
  else:
    parts = train, val, test
  if task == "classification":
    y = np.concatenate([p["y"] for p in parts]).astype(np.int64)
    if y.min() < 0:
      raise ValueError(f"{info['source']}: class labels must be non-negative integers, found {y.min()}")
    info = {"num_classes": int(y.max()) + 1, **info}
    parts = tuple({**p, "y": p["y"].astype(np.int32)} for p in parts)
  return Split(*parts, {"task": task, "input_shape": parts[0]["x"].shape[1:], **info})
