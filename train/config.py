"""A run's configuration: TOML in, a validated frozen RunConfig out, and a stable id from its resolved form."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import tomllib
import typing
from pathlib import Path
from typing import Any


class ConfigError(ValueError):
  """Bad user input: the message is one line naming the file, the key and what is allowed."""


@dataclasses.dataclass(frozen=True)
class OptimizerConfig:
  name: str = "adam"  # sgd | adam | adamw | rmsprop | adagrad | lion
  lr: float = 1e-3
  weight_decay: float = 0.0
  momentum: float = 0.0  # sgd and rmsprop
  nesterov: bool = False
  b1: float = 0.9
  b2: float = 0.999
  eps: float = 1e-8
  clip_norm: float = 0.0  # global-norm gradient clipping; 0 is off


@dataclasses.dataclass(frozen=True)
class ScheduleConfig:
  name: str = "constant"  # constant | cosine | linear | step
  warmup: int = 0  # steps of linear warmup from 0
  final_fraction: float = 0.0  # cosine/linear end at lr * final_fraction
  step_every: int = 1000  # step: multiply by step_factor every step_every steps
  step_factor: float = 0.1
  plateau_patience: int = 0  # > 0: ReduceLROnPlateau (optax.contrib) on the training loss
  plateau_factor: float = 0.5


@dataclasses.dataclass(frozen=True)
class RunConfig:
  model: str = "mlp"
  data: str = "mnist1d"
  steps: int = 1000
  batch_size: int = 128
  seed: int = 0  # model init, dropout and data order
  data_seed: int = 0  # the split, training-set subsample and label noise
  model_args: dict[str, Any] = dataclasses.field(default_factory=dict)
  data_args: dict[str, Any] = dataclasses.field(default_factory=dict)  # n_train, noise and the set's options
  optimizer: OptimizerConfig = dataclasses.field(default_factory=OptimizerConfig)
  schedule: ScheduleConfig = dataclasses.field(default_factory=ScheduleConfig)
  eval_every: int = 0  # 0: about 20 evaluations per run
  eval_examples: int = 0  # evaluate on a fixed random subset of this many examples of each split (0: all)
  checkpoint_every: int = 0  # 0: no checkpoints
  divergence_factor: float = 100.0  # a train loss above this multiple of the first one ends the run
  early_stopping_patience: int = 0  # evaluations without a better val loss before stopping; 0 is off
  precision: str = "f32"  # f32 | bf16 (bf16 compute, f32 params)
  devices: int = 1  # data-parallel devices; 0 means every visible device (used when `mesh` is not set)
  # The device mesh: {data = -1, fsdp = 1, tensor = 1}; -1 is every device the others leave (train/mesh.py)
  mesh: dict[str, Any] = dataclasses.field(default_factory=dict)
  microbatches: int = 1  # gradient accumulation: each step's batch in this many pieces, one update
  remat: str = "none"  # none | block (recompute each transformer block in the backward pass) | full
  augment: bool = False  # random shifts/flips for image inputs
  # A finished run to start from: its folder (record.json + checkpoints/, as `scalezoo train --out` writes it) or an
  # Orbax checkpoint folder holding one run. Parameters (and batch_stats) whose path and shape match are restored;
  # the rest (a head of another size) keep their fresh init; the optimizer state starts fresh. "" is off.
  init_from: str = ""
  # Live metric writers (train/writers.py): jsonl (the record's curve), tensorboard, wandb. Not in the run id.
  log: list[str] = dataclasses.field(default_factory=lambda: ["jsonl"])

  def to_dict(self) -> dict[str, Any]:
    return dataclasses.asdict(self)

  def run_id(self) -> str:
    """A hash of the resolved config: the same run always gets the same id. Keys added later are left out of the
    hash while they hold their default, so the ids of earlier runs (and resumable sweeps) stay as they were."""
    d = self.to_dict()
    for key in ADDED_LATER:
      if d[key] == ADDED_LATER[key]:
        del d[key]
    d.pop("log", None)  # where metrics are written changes no number
    blob = json.dumps(d, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()[:12]

  def replace(self, **changes: Any) -> RunConfig:
    return dataclasses.replace(self, **changes)

  def program(self) -> RunConfig:
    """This config with seed and learning rate set aside (0 and 1.0): what fixes the compiled program, since runs
    differing only in those train together as inputs of one program (a sweep group under jax.vmap)."""
    return self.replace(seed=0, optimizer=dataclasses.replace(self.optimizer, lr=1.0))


# key -> default: left out of run_id() while at the default
ADDED_LATER = {"init_from": "", "mesh": {}, "microbatches": 1, "remat": "none", "log": ["jsonl"]}

ALLOWED = {
  "optimizer.name": ("sgd", "adam", "adamw", "rmsprop", "adagrad", "lion"),
  "schedule.name": ("constant", "cosine", "linear", "step"),
  "precision": ("f32", "bf16"),
  "remat": ("none", "block", "full"),
}
POSITIVE = {"steps", "batch_size", "optimizer.lr", "microbatches"}
MESH_AXES = ("data", "fsdp", "tensor")
NON_NEGATIVE = {
  "seed",
  "data_seed",
  "eval_every",
  "eval_examples",
  "checkpoint_every",
  "early_stopping_patience",
  "devices",
  "optimizer.weight_decay",
  "optimizer.momentum",
  "optimizer.clip_norm",
  "schedule.warmup",
  "schedule.final_fraction",
  "schedule.plateau_patience",
}


def _build(cls, raw: dict[str, Any], prefix: str, where: str):
  hints = typing.get_type_hints(cls)
  fields = {f.name for f in dataclasses.fields(cls)}
  out = {}
  for key, value in raw.items():
    path = prefix + key
    if key not in fields:
      raise ConfigError(f"{where}: unknown key {path!r}; allowed: {', '.join(sorted(prefix + f for f in fields))}")
    hint = hints[key]
    if dataclasses.is_dataclass(hint):
      if not isinstance(value, dict):
        raise ConfigError(f"{where}: {path!r} must be a table of options, got {value!r}")
      out[key] = _build(hint, value, path + ".", where)
      continue
    out[key] = _check(path, value, hint, where)
  return cls(**out)


def _check(path: str, value: Any, hint: Any, where: str) -> Any:
  origin = typing.get_origin(hint) or hint
  if origin is list:  # `log`, the one list-valued key
    from scalezoo.train.writers import KINDS

    if not isinstance(value, list) or any(v not in KINDS for v in value):
      raise ConfigError(f"{where}: {path!r} must be a list of writers from {', '.join(KINDS)}, got {value!r}")
    return list(value)
  if origin is dict:
    if not isinstance(value, dict):
      raise ConfigError(f"{where}: {path!r} must be a table, got {value!r}")
    return dict(value)
  if hint is float and isinstance(value, int) and not isinstance(value, bool):
    value = float(value)
  if hint is int and isinstance(value, float) and value.is_integer():
    value = int(value)
  if not isinstance(value, hint) or (hint is not bool and isinstance(value, bool)):
    raise ConfigError(f"{where}: {path!r} must be {hint.__name__}, got {value!r}")
  if path in ALLOWED and value not in ALLOWED[path]:
    raise ConfigError(f"{where}: {path!r} is {value!r}; allowed: {', '.join(ALLOWED[path])}")
  if path in POSITIVE and not value > 0:
    raise ConfigError(f"{where}: {path!r} must be > 0, got {value!r}")
  if path in NON_NEGATIVE and value < 0:
    raise ConfigError(f"{where}: {path!r} must be >= 0, got {value!r}")
  return value


def parse(raw: dict[str, Any], where: str = "config") -> RunConfig:
  """A validated RunConfig from a plain dict, with model and data names and their options checked."""
  cfg = _build(RunConfig, raw, "", where)
  _check_names(cfg, where)
  return cfg


def _check_names(cfg: RunConfig, where: str) -> None:
  from scalezoo import zoo
  from scalezoo.train import data

  try:
    zoo.resolve(cfg.model, **cfg.model_args)
  except ValueError as e:
    raise ConfigError(f"{where}: 'model'/'model_args': {e}") from None
  try:
    spec = data.spec(cfg.data)
  except ValueError as e:
    raise ConfigError(f"{where}: 'data': {e}") from None
  allowed = {"n_train", "noise", *spec.options}
  for k in cfg.data_args:
    if k not in allowed:
      names = ", ".join(sorted(allowed))
      raise ConfigError(f"{where}: unknown key 'data_args.{k}' for data {cfg.data!r}; allowed: {names}")
  for axis, size in cfg.mesh.items():
    if axis not in MESH_AXES:
      raise ConfigError(f"{where}: unknown mesh axis {axis!r}; allowed: {', '.join(MESH_AXES)}")
    if isinstance(size, bool) or not isinstance(size, int) or not (size >= 1 or size == -1):
      raise ConfigError(f"{where}: 'mesh.{axis}' must be a positive int or -1 (the remaining devices), got {size!r}")
  if cfg.batch_size % cfg.microbatches:
    raise ConfigError(f"{where}: 'microbatches' = {cfg.microbatches} must divide batch_size = {cfg.batch_size}")
  n_train, noise = cfg.data_args.get("n_train"), cfg.data_args.get("noise", 0.0)
  if n_train is not None and (not isinstance(n_train, int) or isinstance(n_train, bool) or n_train <= 0):
    raise ConfigError(f"{where}: 'data_args.n_train' must be a positive int, got {n_train!r}")
  if isinstance(noise, bool) or not isinstance(noise, int | float) or not 0 <= noise <= 1:
    raise ConfigError(f"{where}: 'data_args.noise' must be a fraction in [0, 1], got {noise!r}")


def set_key(raw: dict[str, Any], assignment: str, where: str = "--set") -> None:
  """Apply one `a.b=value` override. The key is a TOML key (quote a part holding dots: `axes."model_args.width"`);
  the value a TOML value, else kept as a string."""
  if "=" not in assignment:
    raise ConfigError(f"{where}: expected key=value, got {assignment!r}")
  key, text = assignment.split("=", 1)
  try:
    node, path = tomllib.loads(f"{key.strip()} = 0"), []
  except tomllib.TOMLDecodeError:
    raise ConfigError(f"{where}: {key.strip()!r} is not a TOML key") from None
  while isinstance(node, dict):
    ((part, node),) = node.items()
    path.append(part)
  try:
    value = tomllib.loads(f"v = {text}")["v"]
  except tomllib.TOMLDecodeError:
    value = text
  *parents, leaf = path
  node = raw
  for p in parents:
    node = node.setdefault(p, {})
    if not isinstance(node, dict):
      raise ConfigError(f"{where}: {key!r} goes through {p!r}, which is not a table")
  node[leaf] = value


def read_toml(path: str | Path) -> dict[str, Any]:
  path = Path(path)
  try:
    return tomllib.loads(path.read_text())
  except FileNotFoundError:
    raise ConfigError(f"{path}: no such file") from None
  except tomllib.TOMLDecodeError as e:
    raise ConfigError(f"{path}: not valid TOML ({e})") from None
  except (OSError, UnicodeDecodeError) as e:
    raise ConfigError(f"{path}: cannot read ({e})") from None


def load(path: str | Path, overrides: list[str] = ()) -> RunConfig:
  raw = read_toml(path)
  for s in overrides:
    set_key(raw, s)
  return parse(raw, str(path))
