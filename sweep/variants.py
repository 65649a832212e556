"""A grid's runs that differ only in seed, data seed or learning rate (config.FREE_KEYS) made from one parsed config,
with their run ids, without parsing each."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from typing import Any

from scalezoo.train import config as C


class Variants:
  """Copies of one parsed config that differ only in some FREE_KEYS, with their run ids, far faster than
  parse() + run_id() per copy (a 10^6-run grid of seeds): the values are checked once each by check_value, and the
  id's JSON is the config's own with the values spliced in (json.dumps is compositional), so every id is bit for bit
  the one parse(...).run_id() gives."""

  def __init__(self, cfg: C.RunConfig, paths: list[tuple[str, ...]]):
    self.cfg, self.paths, self.optimizers = cfg, paths, {}
    marks = {path: f"\x00{i}\x00" for i, path in enumerate(paths)}
    blob = C.id_blob(self._copy([marks[p] for p in paths]))
    at = sorted((blob.index(json.dumps(m)), p) for p, m in marks.items())
    if any(blob.count(json.dumps(m)) != 1 for m in marks.values()):  # cannot happen for FREE_KEYS: a guard
      raise AssertionError(f"a free key's value is not in the run id once: {paths}")
    self.order = [paths.index(p) for _, p in at]  # the values in the order they appear in the JSON
    self.parts, start = [], 0
    for i, p in at:
      self.parts.append(blob[start:i])
      start = i + len(json.dumps(marks[p]))
    self.parts.append(blob[start:])

  def _copy(self, values: list[Any]) -> C.RunConfig:
    """The config with `values` at `paths`: its fields' objects shared (a config is frozen and never changed in
    place), __init__ skipped (parse() checked the rest already)."""
    new = object.__new__(C.RunConfig)
    new.__dict__.update(self.cfg.__dict__)
    new.__dict__.pop("_run_id", None)
    for path, v in zip(self.paths, values):
      if len(path) == 1:
        new.__dict__[path[0]] = v
      else:  # optimizer.lr: one OptimizerConfig per value
        if (opt := self.optimizers.get(v)) is None:  # check_value made every lr a float
          opt = self.optimizers[v] = dataclasses.replace(self.cfg.optimizer, lr=v)
        new.__dict__["optimizer"] = opt
    return new

  def make(self, values: list[Any]) -> C.RunConfig:
    new = self._copy(values)
    out = [self.parts[0]]
    for k, i in enumerate(self.order):
      out += (repr(values[i]), self.parts[k + 1])  # json.dumps of an int or a finite float is its repr
    new.__dict__["_run_id"] = hashlib.sha256("".join(out).encode()).hexdigest()[:12]
    return new
