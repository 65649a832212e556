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
    [branches]                   # WSD cooldown branches (docs/sweeps.md): instead of one run per budget,
    steps = [256, 512, 1024]     # one stable run per grid point and, per budget D (steps, or tokens = [...]),
    cooldown = 0.2               # a branch from its checkpoint at (1 - cooldown) * D that cools down to D

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

from scalezoo.sweep.variants import Variants
from scalezoo.train import config as C
from scalezoo.train import optim

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
  parents: dict[str, tuple[str, int]] = dataclasses.field(default_factory=dict)  # branch id -> (stable id, step)


def parse(raw: dict[str, Any], where: str) -> Sweep:
  unknown = sorted(set(raw) - {"name", "base", "axes", "sweep", "description", "tiny", "branches"})
  if unknown:
    allowed = "axes, base, branches, description, name, sweep, tiny"
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
  if "branches" in raw:
    return _with_branches(raw, base, axes, tiny, paths, settings, where)
  values = list(axes.values())
  # Axes over seeds and learning rates (C.FREE_KEYS, unless the tiny mode sets them) are checked once per value;
  # a config is parsed once per combination of the other axes, and its variants made by Variants.
  tiny_keys = {tuple(C.key_path(k, f"{where}: tiny")) for k in tiny} if settings["tiny"] else set()
  free = [len(keys) == 1 and tuple(keys[0]) in C.FREE_KEYS and tuple(keys[0]) not in tiny_keys for keys in paths]
  free_paths = [tuple(keys[0]) for keys, f in zip(paths, free) if f]
  checked = [  # as parse() converts them (an int lr is a float)
    [C.check_value(tuple(keys[0]), v, f"{where}: axis {C.show(axis)}") for v in vs] if f else vs
    for axis, keys, f, vs in zip(axes, paths, free, values)
  ]
  variants: dict[tuple, Variants] = {}
  runs, seen = [], set()
  fixed_at, free_at = [a for a, f in enumerate(free) if not f], [a for a, f in enumerate(free) if f]
  for cell in itertools.product(*[range(len(v)) for v in values]):
    fixed = tuple([cell[a] for a in fixed_at])
    if (var := variants.get(fixed)) is None:
      at = [0 if f else i for i, f in zip(cell, free)]
      var = variants[fixed] = Variants(_parse_cell(base, axes, paths, at, tiny, settings, where), free_paths)
    cfg = var.make([checked[a][cell[a]] for a in free_at])
    if (rid := cfg.run_id()) not in seen:
      seen.add(rid)
      runs.append(cfg)
  return Sweep(str(raw.get("name", Path(where).stem)), runs, settings, raw)


def _grid(base, axes, tiny, paths, settings, where):
  """(raw run dict, its axis values) for every cell of the grid, tiny overrides applied."""
  for values in itertools.product(*axes.values()):
    yield _raw_run(base, paths, values, tiny, settings, where), values


def _raw_run(base, paths, values, tiny, settings, where) -> dict[str, Any]:
  r = copy.deepcopy(base)
  for keys, value in zip(paths, values):
    for path, v in zip(keys, value if len(keys) > 1 else [value]):
      C.assign(r, path, copy.deepcopy(v), f"{where}: axes")
  for k, v in tiny.items() if settings["tiny"] else ():  # the tiny mode: every size shrunk (e.g. configs/ladder)
    C.assign(r, C.key_path(k, f"{where}: tiny"), copy.deepcopy(v), f"{where}: tiny")
  return r


def _parse_run(r, values, axes, where) -> C.RunConfig:
  try:
    return C.parse(r, where)
  except C.ConfigError:  # the message names the run: built only when needed
    return C.parse(r, f"{where} (run with {C.show(dict(zip(axes, values)))})")


def _with_branches(raw, base, axes, tiny, paths, settings, where) -> Sweep:
  """The grid as stable runs (constant after warmup, up to the last branch point) and, per budget, a cooldown
  branch of each: the config of a from-scratch wsd run of that many steps (so it has that run's id and numbers),
  recorded with its parent."""
  b = raw["branches"]
  if not isinstance(b, dict) or set(b) - {"steps", "tokens", "cooldown"} or ("steps" in b) == ("tokens" in b):
    raise C.ConfigError(f"{where}: 'branches' must be a table of cooldown and one of steps or tokens (lists)")
  f = b.get("cooldown", 0.2)
  if isinstance(f, bool) or not isinstance(f, int | float) or not 0 < f < 1:
    raise C.ConfigError(f"{where}: 'branches.cooldown' must be a fraction in (0, 1), got {C.show(f)}")
  budgets = b.get("steps", b.get("tokens"))
  unit = "steps" if "steps" in b else "tokens"
  if not isinstance(budgets, list) or not budgets or any(type(v) is not int or v <= 0 for v in budgets):
    raise C.ConfigError(f"{where}: 'branches.{unit}' must be a non-empty list of positive ints, got {C.show(budgets)}")
  for key in ("steps", "early_stopping_patience"):
    if key in base or any(key in _axis_keys(k) for k in axes):
      raise C.ConfigError(f"{where}: {key!r} cannot be set with 'branches' (the branches set each run's steps)")
  name = base.get("schedule", {}).get("name", "wsd") if isinstance(base.get("schedule"), dict) else "wsd"
  if name != "wsd":
    raise C.ConfigError(f"{where}: 'branches' train the wsd schedule; 'base.schedule.name' is {C.show(name)}")
  runs, seen, parents = [], set(), {}
  for r, values in _grid(base, axes, tiny, paths, settings, where):
    r.setdefault("schedule", {})["name"] = "wsd"
    first = _parse_run(r, values, axes, where)
    per_step = 1 if unit == "steps" else first.batch_size * _context(first, where)
    if any(v % per_step for v in budgets):
      raise C.ConfigError(f"{where}: 'branches.tokens' must be multiples of {per_step} tokens per step, got {budgets}")
    steps = sorted({v // per_step for v in budgets})
    starts = [optim.cooldown_start(D, f) for D in steps]
    if starts[0] < 1 or any(s >= D for s, D in zip(starts, steps)) or len(set(starts)) < len(starts):
      raise C.ConfigError(
        f"{where}: budgets of {steps} steps with cooldown {f}: each needs its own branch point in [1, D)"
      )
    stable = _parse_run({**r, "steps": starts[-1], "schedule": {**r["schedule"], "cooldown": 0.0}}, values, axes, where)
    for cfg, parent in [(stable, None)] + [
      (_parse_run({**r, "steps": D, "schedule": {**r["schedule"], "cooldown": f}}, values, axes, where), (stable, s))
      for D, s in zip(steps, starts)
    ]:
      if (rid := cfg.run_id()) not in seen:
        seen.add(rid)
        runs.append(cfg)
        if parent:
          parents[rid] = (parent[0].run_id(), parent[1])
  return Sweep(str(raw.get("name", Path(where).stem)), runs, settings, raw, parents)


def _context(cfg: C.RunConfig, where: str) -> int:
  from scalezoo import data

  ctx = cfg.data_args.get("context", data.spec(cfg.data).options.get("context"))
  if not isinstance(ctx, int):
    raise C.ConfigError(f"{where}: 'branches.tokens' needs a token data set with a context; give 'branches.steps'")
  return ctx


def _parse_cell(base, axes, paths, cell, tiny, settings, where) -> C.RunConfig:
  """The run at index `cell` of the grid, parsed (every value checked, model and data options included)."""
  chosen = [v[i] for v, i in zip(axes.values(), cell)]
  return _parse_run(_raw_run(base, paths, chosen, tiny, settings, where), chosen, axes, where)


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


def groups(
  runs: list[C.RunConfig], enabled: bool = True, max_group: int = 64, parents: dict[str, tuple[str, int]] | None = None
) -> list[list[C.RunConfig]]:
  """Runs that share a compiled shape, in first-seen order, split into groups of at most max_group. With
  `parents` (Sweep.parents), each stable group is followed by its branches: per branch point, its members'
  branches in the members' order (they share a program too: they differ in seed and lr as their parents do)."""
  parents = parents or {}
  by_key: dict[str, list[C.RunConfig]] = {}
  for r in runs:
    if r.run_id() not in parents:
      by_key.setdefault(r.program().run_id() if enabled else r.run_id(), []).append(r)
  roots = [g[i : i + max_group] for g in by_key.values() for i in range(0, len(g), max_group)]
  child = {parents[r.run_id()]: r for r in runs if r.run_id() in parents}
  steps: dict[str, set[int]] = {}
  for pid, step in child:
    steps.setdefault(pid, set()).add(step)
  branches = lambda g: [[child[(c.run_id(), k)] for c in g] for k in sorted(steps.get(g[0].run_id(), ()))]
  return [b for g in roots for b in [g, *branches(g)]]


def links(groups: list[list[C.RunConfig]], parents: dict[str, tuple[str, int]]) -> dict[str, dict[str, Any]]:
  """group id -> how it links to others: a stable group's {"keep": branch points}, a branch group's
  {"parent": stable group's id, "parents": its run ids in order, "step": the branch point}."""
  out: dict[str, dict[str, Any]] = {}
  keep: dict[str, list[int]] = {}
  for pid, step in parents.values():
    keep.setdefault(pid, []).append(step)
  for g in groups:
    if (first := g[0].run_id()) in parents:
      ids = [parents[c.run_id()][0] for c in g]
      out[group_id(g)] = {"parent": _gid(ids), "parents": ids, "step": parents[first][1]}
    elif first in keep:
      out[group_id(g)] = {"keep": sorted(set(keep[first]))}
  return out


def group_id(group: list[C.RunConfig]) -> str:
  return _gid([r.run_id() for r in group])


def _gid(run_ids: list[str]) -> str:
  return hashlib.sha256(",".join(sorted(run_ids)).encode()).hexdigest()[:12]


def checkpoint_cadence(cfg: C.RunConfig, setting: int | None) -> int:
  """The run's own checkpoint_every, else the sweep's, else about 5 checkpoints per run."""
  if cfg.checkpoint_every:
    return cfg.checkpoint_every
  return max(1, math.ceil(cfg.steps / 5)) if setting is None else setting


def spec_text(sweep: Sweep) -> str:
  """The spec as TOML (with --set overrides applied): `scalezoo sweep out/spec.toml` reruns the same grid."""
  lines = [f"name = {_toml(sweep.name)}"]
  for section in ("base", "axes", "sweep", "tiny", "branches"):
    body = sweep.raw.get(section)
    if body:
      lines.append(f"\n[{section}]")
      lines += [f"{_key(k)} = {_toml(v)}" for k, v in body.items()]
  return "\n".join(lines) + "\n"
