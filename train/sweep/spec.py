"""Sweeps: a TOML spec (a base run config plus axes) expanded as a grid, run, and appended to runs.jsonl.

    [base]                       # any run config
    model = "mlp"
    [axes]                       # dotted config keys -> values; the grid is their product
    "model_args.width" = [8, 16, 32]
    seed = [0, 1, 2]
    "model_args.depth, optimizer.lr" = [[1, 1e-2], [4, 3e-3]]  # keys joined by commas move together (zipped)
    [sweep]
    executor = "local"           # local | process | ray
    checkpoint_every = 100       # cadence when the base config leaves it 0 (default: about 5 per run)
    [tiny]                       # applied to every run after its axes under `--set sweep.tiny=true`
    "model_args.width" = 4       # dotted config keys -> values: a smoke-test version of the grid

Runs that share a compiled shape (they differ only in seed and learning rate) train together under jax.vmap.
Only the driver appends to runs.jsonl. Running the same command again skips ended runs and resumes cut-off
groups from their checkpoints; groups are formed from the whole grid, so a resumed group has the same members
(and the same numbers) as an uninterrupted one.
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import importlib.util
import itertools
import json
import math
from pathlib import Path
from typing import Any

from scalezoo.train import config as C

MAX_RUNS = 1_000_000  # runs in one grid: each is validated and hashed before the sweep starts
SWEEP_KEYS = {
  "executor": str,
  "group": bool,
  "max_group": int,
  "address": str,
  "workers": int,
  "checkpoint_every": int,
  "tiny": bool,
}


@dataclasses.dataclass(frozen=True)
class Sweep:
  name: str
  runs: list[C.RunConfig]
  settings: dict[str, Any]
  raw: dict[str, Any]


def parse(raw: dict[str, Any], where: str) -> Sweep:
  unknown = sorted(set(raw) - {"name", "base", "axes", "sweep", "description", "tiny"})
  if unknown:
    allowed = "axes, base, description, name, sweep, tiny"
    raise C.ConfigError(f"{where}: unknown key {C.show(unknown[0])}; allowed: {allowed}")
  base, axes, tiny = raw.get("base", {}), raw.get("axes", {}), raw.get("tiny", {})
  tables = (base, axes, tiny, raw.get("sweep", {}))
  if not all(isinstance(t, dict) for t in tables):
    raise C.ConfigError(f"{where}: 'base', 'axes', 'sweep' and 'tiny' must be tables")
  for k, v in axes.items():
    if not isinstance(v, list) or not v:
      raise C.ConfigError(f"{where}: axis {C.show('axes.' + k)} must be a non-empty list of values, got {C.show(v)}")
    width = len(_axis_keys(k))
    bad = next((x for x in v if not isinstance(x, list) or len(x) != width), None) if width > 1 else None
    if bad is not None:
      raise C.ConfigError(
        f"{where}: zipped axis {C.show('axes.' + k)} needs a list of {width} values per entry (one per key), "
        f"got {C.show(bad)}"
      )
  settings = {
    "executor": "local",
    "group": True,
    "max_group": 64,
    "address": "",
    "workers": 2,
    "checkpoint_every": None,
    "tiny": False,
  }
  for k, v in raw.get("sweep", {}).items():
    if k not in SWEEP_KEYS:
      raise C.ConfigError(f"{where}: unknown key {C.show('sweep.' + k)}; allowed: {', '.join(sorted(SWEEP_KEYS))}")
    if not isinstance(v, SWEEP_KEYS[k]) or isinstance(v, bool) != (SWEEP_KEYS[k] is bool):
      raise C.ConfigError(f"{where}: 'sweep.{k}' must be {SWEEP_KEYS[k].__name__}, got {C.show(v)}")
    settings[k] = v
  check_settings(settings, where)
  cells = math.prod(len(v) for v in axes.values())
  if cells > MAX_RUNS:
    raise C.ConfigError(f"{where}: the grid has {cells:,} runs; at most {MAX_RUNS:,} per sweep (split it)")
  paths = [[C.key_path(k, f"{where}: axes") for k in _axis_keys(key)] for key in axes]
  values = list(axes.values())
  # Axes over seeds and learning rates (C.FREE_KEYS, unless the tiny mode sets them) are checked once per value;
  # a config is parsed once per combination of the other axes, and its variants made by C.Variants.
  tiny_keys = {tuple(C.key_path(k, f"{where}: tiny")) for k in tiny} if settings["tiny"] else set()
  free = [len(keys) == 1 and tuple(keys[0]) in C.FREE_KEYS and tuple(keys[0]) not in tiny_keys for keys in paths]
  free_paths = [tuple(keys[0]) for keys, f in zip(paths, free) if f]
  checked = [  # as parse() converts them (an int lr is a float)
    [C.check_value(tuple(keys[0]), v, f"{where}: axis {C.show(axis)}") for v in vs] if f else vs
    for axis, keys, f, vs in zip(axes, paths, free, values)
  ]
  variants: dict[tuple, C.Variants] = {}
  runs, seen = [], set()
  fixed_at, free_at = [a for a, f in enumerate(free) if not f], [a for a, f in enumerate(free) if f]
  for cell in itertools.product(*[range(len(v)) for v in values]):
    fixed = tuple([cell[a] for a in fixed_at])
    if (var := variants.get(fixed)) is None:
      at = [0 if f else i for i, f in zip(cell, free)]
      var = variants[fixed] = C.Variants(_parse_cell(base, axes, paths, at, tiny, settings, where), free_paths)
    cfg = var.make([checked[a][cell[a]] for a in free_at])
    if (rid := cfg.run_id()) not in seen:
      seen.add(rid)
      runs.append(cfg)
  return Sweep(str(raw.get("name", Path(where).stem)), runs, settings, raw)


def _parse_cell(base, axes, paths, cell, tiny, settings, where) -> C.RunConfig:
  """The run at index `cell` of the grid, parsed (every value checked, model and data options included)."""
  r = copy.deepcopy(base)
  chosen = [v[i] for v, i in zip(axes.values(), cell)]
  for keys, value in zip(paths, chosen):
    for path, v in zip(keys, value if len(keys) > 1 else [value]):
      C.assign(r, path, copy.deepcopy(v), f"{where}: axes")
  for k, v in tiny.items() if settings["tiny"] else ():  # the tiny mode: every size shrunk (e.g. configs/ladder)
    C.assign(r, C.key_path(k, f"{where}: tiny"), copy.deepcopy(v), f"{where}: tiny")
  try:
    return C.parse(r, where)
  except C.ConfigError:  # the message names the run: built only when needed
    return C.parse(r, f"{where} (run with {C.show(dict(zip(axes, chosen)))})")


def _axis_keys(axis: str) -> list[str]:
  """'a, b.c' -> ['a', 'b.c']: an axis over several keys at once (zipped), one list of values per entry."""
  return [k.strip() for k in axis.split(",")]


def check_settings(settings: dict[str, Any], where: str) -> None:
  if settings["executor"] not in ("local", "process", "ray"):
    raise C.ConfigError(f"{where}: 'sweep.executor' is {settings['executor']!r}; allowed: local, process, ray")
  for k, most in (("max_group", 65536), ("workers", 1024)):
    if settings[k] < 1:
      raise C.ConfigError(f"{where}: 'sweep.{k}' must be >= 1, got {settings[k]}")
    if settings[k] > most:
      raise C.ConfigError(f"{where}: 'sweep.{k}' must be <= {most}, got {C.show(settings[k])}")
  if not 0 <= (settings["checkpoint_every"] or 0) <= C.INT32:
    raise C.ConfigError(
      f"{where}: 'sweep.checkpoint_every' must be in [0, {C.INT32}], got {C.show(settings['checkpoint_every'])}"
    )
  if settings["executor"] == "ray" and importlib.util.find_spec("ray") is None:
    raise C.ConfigError(f"{where}: executor 'ray' needs the ray package: pip install 'scalezoo[cluster]'")


def _toml(value: Any) -> str:
  if isinstance(value, str):
    return json.dumps(value)  # a TOML basic string is a JSON string
  if isinstance(value, bool):
    return "true" if value else "false"
  if isinstance(value, dict):
    return "{" + ", ".join(f"{_key(k)} = {_toml(v)}" for k, v in value.items()) + "}"
  if isinstance(value, list):
    return "[" + ", ".join(_toml(v) for v in value) + "]"
  return repr(value)


def _key(k: str) -> str:
  return k if k.replace("_", "").replace("-", "").isalnum() else json.dumps(k)


def load(path: str | Path, overrides: list[str] = ()) -> Sweep:
  raw = C.read_toml(path)
  for s in overrides:
    C.set_key(raw, s)
  return parse(raw, str(path))


def groups(runs: list[C.RunConfig], enabled: bool = True, max_group: int = 64) -> list[list[C.RunConfig]]:
  """Runs that share a compiled shape, in first-seen order, split into groups of at most max_group."""
  by_key: dict[str, list[C.RunConfig]] = {}
  for r in runs:
    by_key.setdefault(r.program().run_id() if enabled else r.run_id(), []).append(r)
  return [g[i : i + max_group] for g in by_key.values() for i in range(0, len(g), max_group)]


def group_id(group: list[C.RunConfig]) -> str:
  return hashlib.sha256(",".join(sorted(r.run_id() for r in group)).encode()).hexdigest()[:12]


def checkpoint_cadence(cfg: C.RunConfig, setting: int | None) -> int:
  """The run's own checkpoint_every, else the sweep's, else about 5 checkpoints per run."""
  if cfg.checkpoint_every:
    return cfg.checkpoint_every
  return max(1, math.ceil(cfg.steps / 5)) if setting is None else setting


def spec_text(sweep: Sweep) -> str:
  """The spec as TOML (with --set overrides applied): `scalezoo sweep out/spec.toml` reruns the same grid."""
  lines = [f"name = {_toml(sweep.name)}"]
  for section in ("base", "axes", "sweep", "tiny"):
    body = sweep.raw.get(section)
    if body:
      lines.append(f"\n[{section}]")
      lines += [f"{_key(k)} = {_toml(v)}" for k, v in body.items()]
  return "\n".join(lines) + "\n"
