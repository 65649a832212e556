"""A run's configuration: TOML in, a validated frozen RunConfig out, and a stable id from its resolved form."""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import math
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
  name: str = "constant"  # constant | cosine | linear | step | wsd
  warmup: int = 0  # steps of linear warmup from 0
  final_fraction: float = 0.0  # cosine/linear end at lr * final_fraction
  step_every: int = 1000  # step: multiply by step_factor every step_every steps
  step_factor: float = 0.1
  plateau_patience: int = 0  # > 0: ReduceLROnPlateau (optax.contrib) on the training loss
  plateau_factor: float = 0.5
  # wsd (warmup-stable-decay, Hägele et al. 2024): constant after warmup, then down to lr * final_fraction over
  # the last `cooldown` fraction of the steps, shaped linear | cosine | 1-sqrt
  cooldown: float = 0.2
  cooldown_shape: str = "1-sqrt"


@dataclasses.dataclass(frozen=True)
class MupConfig:
  """μP's options (zoo/mup.py), read when parametrization = "mup"."""

  base: dict[str, Any] = dataclasses.field(default_factory=dict)  # the base model's width, e.g. {d_model = 64}
  zero_readout: bool = False  # zero-initialise the (untied) output layer
  zero_query: bool = False  # zero-initialise the attention queries


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
  checkpoint_every: int = 0  # 0: no checkpoints but one on an interrupt (not part of run_id: it changes no number)
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
  parametrization: str = "sp"  # sp (standard) | mup (Yang et al. 2022; options under [mup], zoo/mup.py)
  mup: MupConfig = dataclasses.field(default_factory=MupConfig)
  z_loss: float = 0.0  # a language model's z-loss weight (PaLM uses 1e-4): z_loss * log(Z)^2 in the training loss

  def to_dict(self) -> dict[str, Any]:
    return _plain(self)

  def run_id(self) -> str:
    """A hash of the resolved config: the same run always gets the same id. Keys added later are left out of the
    hash while they hold their default, so the ids of earlier runs (and resumable sweeps) stay as they were."""
    if (cached := self.__dict__.get("_run_id")) is not None:
      return cached
    rid = hashlib.sha256(id_blob(self).encode()).hexdigest()[:12]
    object.__setattr__(self, "_run_id", rid)  # a config is frozen: its id is computed once (a grid has 10^6)
    return rid

  def replace(self, **changes: Any) -> RunConfig:
    return dataclasses.replace(self, **changes)

  def program(self) -> RunConfig:
    """This config with seed and learning rate set aside (0 and 1.0): what fixes the compiled program, since runs
    differing only in those train together as inputs of one program (a sweep group under jax.vmap)."""
    return self.replace(seed=0, optimizer=dataclasses.replace(self.optimizer, lr=1.0))


def id_blob(cfg: RunConfig) -> str:
  """The JSON that run_id() hashes."""
  d = cfg.to_dict()
  for key in ADDED_LATER:
    *parents, leaf = key.split(".")  # "schedule.cooldown": a key inside a table
    node = functools.reduce(dict.__getitem__, parents, d)
    if node[leaf] == ADDED_LATER[key]:
      del node[leaf]
  d.update(NOT_IN_ID)
  d.pop("log", None)  # where metrics are written changes no number
  return json.dumps(d, sort_keys=True, separators=(",", ":"))


# Keys whose check involves no other key: a sweep's axes over them are checked once per value, not once per run.
FREE_KEYS = (("seed",), ("data_seed",), ("optimizer", "lr"))


def check_value(path: tuple[str, ...], value: Any, where: str) -> Any:
  """One value of a FREE_KEYS key checked and converted as parse() does (an int lr becomes a float)."""
  cls = RunConfig
  for p in path[:-1]:
    cls = _hints(cls)[p]
  return _check(".".join(path), value, _hints(cls)[path[-1]], where)


def _plain(x: Any) -> Any:
  """dataclasses.asdict for configs, several times faster: dataclasses, dicts and lists copied, the rest shared
  (TOML's values are immutable)."""
  if x is None or type(x) in (str, int, float, bool):
    return x
  if hasattr(type(x), "__dataclass_fields__"):
    return {name: _plain(getattr(x, name)) for name in _field_names(type(x))}
  if isinstance(x, dict):
    return {k: _plain(v) for k, v in x.items()}
  if isinstance(x, list | tuple):
    return type(x)(_plain(v) for v in x)
  return x


@functools.cache
def _field_names(cls) -> tuple[str, ...]:
  return tuple(f.name for f in dataclasses.fields(cls))


# key -> default: left out of run_id() while at the default
ADDED_LATER = {
  "init_from": "",
  "mesh": {},
  "microbatches": 1,
  "remat": "none",
  "log": ["jsonl"],
  "parametrization": "sp",
  "mup": {"base": {}, "zero_readout": False, "zero_query": False},
}
# Settings that change no number of the run: hashed at their default, so a config that leaves them at it keeps the
# id it always had, and one that sets them has the same id as one that does not (checkpoints are at chunk ends).
NOT_IN_ID = {"checkpoint_every": 0}
ADDED_LATER.update({"schedule.cooldown": 0.2, "schedule.cooldown_shape": "1-sqrt"})  # the wsd schedule
ADDED_LATER["z_loss"] = 0.0

ALLOWED = {
  "optimizer.name": ("sgd", "adam", "adamw", "rmsprop", "adagrad", "lion"),
  "schedule.name": ("constant", "cosine", "linear", "step", "wsd"),
  "schedule.cooldown_shape": ("linear", "cosine", "1-sqrt"),
  "precision": ("f32", "bf16"),
  "remat": ("none", "block", "full"),
  "parametrization": ("sp", "mup"),
}
POSITIVE = {"steps", "batch_size", "optimizer.lr", "microbatches"}
MESH_AXES = ("data", "fsdp", "tensor")
LOG_KINDS = ("jsonl", "tensorboard", "wandb")  # the live metric writers (train/writers.py)
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
  "z_loss",
}


INT32 = 2**31 - 1  # step counters and batch sizes are int32 on the device
SEED_MAX = 2**32 - 1  # jax.random.key(seed) keeps 32 bits: 2**32 would be seed 0 again
INT64 = 2**63 - 1
# key -> (test, what is allowed); every float must also be finite and every int within int64
RANGES = {
  "steps": (lambda v: v <= INT32, f"<= {INT32}"),
  "batch_size": (lambda v: v <= INT32, f"<= {INT32}"),
  "eval_every": (lambda v: v <= INT32, f"<= {INT32}"),
  "checkpoint_every": (lambda v: v <= INT32, f"<= {INT32}"),
  "eval_examples": (lambda v: v <= INT32, f"<= {INT32}"),
  "early_stopping_patience": (lambda v: v <= INT32, f"<= {INT32}"),
  "schedule.warmup": (lambda v: v <= INT32, f"<= {INT32}"),
  "schedule.step_every": (lambda v: 0 < v <= INT32, f"in [1, {INT32}]"),
  "schedule.plateau_patience": (lambda v: v <= INT32, f"<= {INT32}"),
  "seed": (lambda v: v <= SEED_MAX, f"in [0, {SEED_MAX}] (a 32-bit PRNG seed)"),
  "devices": (lambda v: v <= 65536, "in [0, 65536]"),
  "divergence_factor": (lambda v: v > 1, "> 1 (a train loss this many times the first ends the run)"),
  "optimizer.b1": (lambda v: 0 <= v < 1, "in [0, 1)"),
  "optimizer.b2": (lambda v: 0 <= v < 1, "in [0, 1)"),
  "optimizer.momentum": (lambda v: 0 <= v < 1, "in [0, 1)"),
  "optimizer.eps": (lambda v: v >= 0, ">= 0"),
  "schedule.final_fraction": (lambda v: 0 <= v <= 1, "in [0, 1]"),
  "schedule.cooldown": (lambda v: 0 <= v <= 1, "in [0, 1] (the fraction of the steps that cools down)"),
  "schedule.step_factor": (lambda v: v > 0, "> 0"),
  "schedule.plateau_factor": (lambda v: 0 < v <= 1, "in (0, 1]"),
}
MAX_DEPTH = 16  # nested tables in model_args/data_args (and TOML files): deeper is refused, not recursed into
SHOW = 80  # characters of a bad value echoed back


def show(value: Any) -> str:
  """A value for an error message: its repr, cut to SHOW characters (a 5 MB value is not one line)."""
  text = repr(value)
  return text if len(text) <= SHOW else text[: SHOW - 3] + "..."


def depth(x: Any, limit: int = MAX_DEPTH + 1) -> int:
  """How deeply tables and lists nest in x (counted up to `limit`, so it never recurses far)."""
  if limit <= 0 or not isinstance(x, dict | list):
    return 0
  children = x.values() if isinstance(x, dict) else x
  return 1 + max((depth(c, limit - 1) for c in children), default=0)


@functools.cache
def _hints(cls) -> dict[str, Any]:
  return typing.get_type_hints(cls)


@functools.cache
def _fields(cls) -> frozenset[str]:
  return frozenset(f.name for f in dataclasses.fields(cls))


def _build(cls, raw: dict[str, Any], prefix: str, where: str):
  hints = _hints(cls)
  fields = _fields(cls)
  out = {}
  for key, value in raw.items():
    path = prefix + key
    if key not in fields:
      raise ConfigError(f"{where}: unknown key {show(path)}; allowed: {', '.join(sorted(prefix + f for f in fields))}")
    hint = hints[key]
    if dataclasses.is_dataclass(hint):
      if not isinstance(value, dict):
        raise ConfigError(f"{where}: {path!r} must be a table of options, got {show(value)}")
      out[key] = _build(hint, value, path + ".", where)
      continue
    out[key] = _check(path, value, hint, where)
  return cls(**out)


def _check(path: str, value: Any, hint: Any, where: str) -> Any:
  origin = typing.get_origin(hint) or hint
  if origin is list:  # `log`, the one list-valued key
    if not isinstance(value, list) or any(v not in LOG_KINDS for v in value):
      raise ConfigError(f"{where}: {path!r} must be a list of writers from {', '.join(LOG_KINDS)}, got {value!r}")
    return list(value)
  if origin is dict:
    if not isinstance(value, dict):
      raise ConfigError(f"{where}: {path!r} must be a table, got {show(value)}")
    if depth(value) > MAX_DEPTH:
      raise ConfigError(f"{where}: {path!r} nests more than {MAX_DEPTH} levels deep")
    return dict(value)
  if hint is float and isinstance(value, int) and not isinstance(value, bool):
    if abs(value) > INT64:
      raise ConfigError(f"{where}: {path!r} must be a finite number, got {show(value)}")
    value = float(value)
  if hint is int and isinstance(value, float) and value.is_integer():
    value = int(value)
  if not isinstance(value, hint) or (hint is not bool and isinstance(value, bool)):
    raise ConfigError(f"{where}: {path!r} must be {hint.__name__}, got {show(value)}")
  if path in ALLOWED and value not in ALLOWED[path]:
    raise ConfigError(f"{where}: {path!r} is {show(value)}; allowed: {', '.join(ALLOWED[path])}")
  if hint is float and not math.isfinite(value):
    raise ConfigError(f"{where}: {path!r} must be a finite number, got {show(value)}")
  if hint is int and not -INT64 - 1 <= value <= INT64:
    raise ConfigError(f"{where}: {path!r} must be a 64-bit integer, got {show(value)}")
  if path in POSITIVE and not value > 0:
    raise ConfigError(f"{where}: {path!r} must be > 0, got {show(value)}")
  if path in NON_NEGATIVE and value < 0:
    raise ConfigError(f"{where}: {path!r} must be >= 0, got {show(value)}")
  if path in RANGES and not RANGES[path][0](value):
    raise ConfigError(f"{where}: {path!r} must be {RANGES[path][1]}, got {show(value)}")
  return value


def parse(raw: dict[str, Any], where: str = "config") -> RunConfig:
  """A validated RunConfig from a plain dict, with model and data names and their options checked."""
  cfg = _build(RunConfig, raw, "", where)
  _check_names(cfg, where)
  return cfg


def _check_names(cfg: RunConfig, where: str) -> None:
  _check_mesh(cfg, where)
  if cfg.parametrization == "mup":
    from scalezoo.zoo import mup

    try:
      mup.check(cfg.model, cfg.model_args, cfg.mup.base, zero_readout=cfg.mup.zero_readout)
    except ValueError as e:
      raise ConfigError(f"{where}: 'mup': {e}") from None
  key = json.dumps([cfg.model, cfg.model_args, cfg.data, cfg.data_args], sort_keys=True, default=repr)
  if key in _NAMES_OK:
    return
  _check_names_once(cfg, where)
  if len(_NAMES_OK) < 100_000:
    _NAMES_OK.add(key)


def _check_mesh(cfg: RunConfig, where: str) -> None:
  for axis, size in cfg.mesh.items():
    if axis not in MESH_AXES:
      raise ConfigError(f"{where}: unknown mesh axis {axis!r}; allowed: {', '.join(MESH_AXES)}")
    if isinstance(size, bool) or not isinstance(size, int) or not (size >= 1 or size == -1):
      raise ConfigError(f"{where}: 'mesh.{axis}' must be a positive int or -1 (the devices left), got {show(size)}")
  if cfg.batch_size % cfg.microbatches:
    raise ConfigError(f"{where}: 'microbatches' = {cfg.microbatches} must divide batch_size = {cfg.batch_size}")


_NAMES_OK: set[str] = set()  # model/data options already checked: a sweep's grid checks each combination once


def _check_names_once(cfg: RunConfig, where: str) -> None:
  from scalezoo import data, zoo

  try:
    zoo.resolve(cfg.model, **cfg.model_args)
  except ValueError as e:
    raise ConfigError(f"{where}: 'model'/'model_args': {str(e)[:300]}") from None
  try:
    spec = data.spec(cfg.data)
  except ValueError as e:
    raise ConfigError(f"{where}: 'data': {str(e)[:300]}") from None
  allowed = {"n_train", "noise", *spec.options}
  for k in cfg.data_args:
    if k not in allowed:
      names = ", ".join(sorted(allowed))
      raise ConfigError(f"{where}: unknown key {show('data_args.' + k)} for data {cfg.data!r}; allowed: {names}")
  n_train, noise = cfg.data_args.get("n_train"), cfg.data_args.get("noise", 0.0)
  if n_train is not None and (not isinstance(n_train, int) or isinstance(n_train, bool) or n_train <= 0):
    raise ConfigError(f"{where}: 'data_args.n_train' must be a positive int, got {show(n_train)}")
  if n_train is not None and n_train > INT32:
    raise ConfigError(f"{where}: 'data_args.n_train' must be <= {INT32}, got {show(n_train)}")
  if isinstance(noise, bool) or not isinstance(noise, int | float) or not 0 <= noise <= 1:
    raise ConfigError(f"{where}: 'data_args.noise' must be a fraction in [0, 1], got {show(noise)}")


def key_path(key: str, where: str = "--set") -> list[str]:
  """A TOML key's parts: `a."b.c"` -> ['a', 'b.c']."""
  try:
    node, path = tomllib.loads(f"{key.strip()} = 0"), []
  except tomllib.TOMLDecodeError:
    raise ConfigError(f"{where}: {show(key.strip())} is not a TOML key") from None
  while isinstance(node, dict):
    ((part, node),) = node.items()
    path.append(part)
  return path


def assign(raw: dict[str, Any], path: list[str], value: Any, where: str = "--set") -> None:
  """Set raw[path[0]][path[1]]... = value, making the tables on the way."""
  *parents, leaf = path
  node = raw
  for p in parents:
    node = node.setdefault(p, {})
    if not isinstance(node, dict):
      raise ConfigError(f"{where}: {show('.'.join(path))} goes through {show(p)}, which is not a table")
  node[leaf] = value


def set_key(raw: dict[str, Any], assignment: str, where: str = "--set") -> None:
  """Apply one `a.b=value` override. The key is a TOML key (quote a part holding dots: `axes."model_args.width"`);
  the value a TOML value, else kept as a string."""
  if "=" not in assignment:
    raise ConfigError(f"{where}: expected key=value, got {show(assignment)}")
  key, text = assignment.split("=", 1)
  path = key_path(key, where)
  try:
    value = tomllib.loads(f"v = {text}")["v"]
  except ValueError:  # not TOML (or an integer past Python's 4,300 digits): kept as a string
    value = text
  except RecursionError:
    raise ConfigError(f"{where}: the value of {show(key.strip())} nests too deeply") from None
  assign(raw, path, value, where)


def read_toml(path: str | Path) -> dict[str, Any]:
  path = Path(path)
  try:
    raw = tomllib.loads(path.read_text())
  except FileNotFoundError:
    raise ConfigError(f"{path}: no such file") from None
  except ValueError as e:  # TOMLDecodeError, or an integer past Python's 4,300 digits
    raise ConfigError(f"{path}: not valid TOML ({str(e)[:200]})") from None
  except (OSError, UnicodeDecodeError) as e:
    raise ConfigError(f"{path}: cannot read ({e})") from None
  except RecursionError:
    raise ConfigError(f"{path}: tables or arrays nest too deeply (at most {MAX_DEPTH} levels)") from None
  if depth(raw) > MAX_DEPTH + 2:  # a sweep spec's [axes] holds a run's tables one level down
    raise ConfigError(f"{path}: tables or arrays nest more than {MAX_DEPTH} levels deep")
  return raw


def load(path: str | Path, overrides: list[str] = ()) -> RunConfig:
  raw = read_toml(path)
  for s in overrides:
    set_key(raw, s)
  return parse(raw, str(path))
