"""The best run per point of a grid that tuned a hyperparameter (the learning rate, ...): a law is fitted to each
point's best run, since a mistuned run measures the tuning, not the scale (Hoffmann et al. 2022 and DeepSeek fit
the best of each grid; the lm_scaling study does too)."""

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Best:
  index: np.ndarray  # the best run of each point (lowest finite loss, the first of ties), in the order of the
  # points' first runs
  runs: int  # the runs that had a finite loss: the candidates
  point: tuple[str, ...]  # the columns that make a point
  tuned: dict  # column -> the most values it takes within one point: the axes the grid tuned

  @property
  def points(self) -> int:
    return len(self.index)

  def summary(self) -> str:
    on = f"point = ({', '.join(self.point)})"
    if not self.tuned:
      return f"one run per point ({on}): {self.runs} runs fitted"
    tuned = ", ".join(f"{k} ({n} values)" for k, n in self.tuned.items())
    return f"best run per point: {self.runs} runs -> {self.points} points ({on}), lowest loss over {tuned}"


def _key(v) -> object:
  if isinstance(v, float | np.floating):
    return None if np.isnan(v) else float(v)
  return v.item() if isinstance(v, np.generic) else repr(v)  # lists and dicts (object columns) by their text


def best_per_point(L, point: dict, others: dict | None = None) -> Best:
  """The run with the lowest finite loss L at each point: runs share a point when they agree on every column of
  `point` (name -> array, e.g. N, D and the seed). `others` (name -> array, e.g. the config's columns) are only
  reported: those that vary within a point are `tuned`."""
  L = np.asarray(L, np.float64)
  cols = {k: np.asarray(v) for k, v in point.items()}
  for k, v in cols.items():
    if v.shape != L.shape:
      raise ValueError(f"point column {k!r} has {v.shape[0] if v.ndim else 0} rows; the loss has {L.size}")
  groups: dict[tuple, list[int]] = {}
  for i in np.flatnonzero(np.isfinite(L)):
    groups.setdefault(tuple(_key(cols[k][i]) for k in cols), []).append(int(i))
  index = np.array([min(rows, key=lambda j: L[j]) for rows in groups.values()], np.int64)
  tuned = {}
  for k, v in (others or {}).items():
    most = max((len({_key(v[j]) for j in rows}) for rows in groups.values()), default=0)
    if k not in cols and most > 1:
      tuned[k] = most
  return Best(index, sum(len(r) for r in groups.values()), tuple(cols), tuned)
