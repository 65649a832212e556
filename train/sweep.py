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

Runs that share a compiled shape (they differ only in seed and learning rate) train together under jax.vmap.
Only the driver appends to runs.jsonl. Running the same command again skips ended runs and resumes cut-off
groups from their checkpoints; groups are formed from the whole grid, so a resumed group has the same members
(and the same numbers) as an uninterrupted one.
"""

from __future__ import annotations

import copy
import dataclasses
import fcntl
import hashlib
import importlib.util
import itertools
import json
import math
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from train import config as C
from train import store

SWEEP_KEYS = {"executor": str, "group": bool, "max_group": int, "address": str, "workers": int, "checkpoint_every": int}
ENDED = ("finished", "diverged", "failed")


@dataclasses.dataclass(frozen=True)
class Sweep:
  name: str
  runs: list[C.RunConfig]
  settings: dict[str, Any]
  raw: dict[str, Any]


def parse(raw: dict[str, Any], where: str) -> Sweep:
  unknown = sorted(set(raw) - {"name", "base", "axes", "sweep", "description"})
  if unknown:
    raise C.ConfigError(f"{where}: unknown key {unknown[0]!r}; allowed: axes, base, description, name, sweep")
  base, axes = raw.get("base", {}), raw.get("axes", {})
  if not isinstance(base, dict) or not isinstance(axes, dict) or not isinstance(raw.get("sweep", {}), dict):
    raise C.ConfigError(f"{where}: 'base', 'axes' and 'sweep' must be tables")
  for k, v in axes.items():
    if not isinstance(v, list) or not v:
      raise C.ConfigError(f"{where}: axis 'axes.{k}' must be a non-empty list of values, got {v!r}")
    width = len(_axis_keys(k))
    bad = next((x for x in v if not isinstance(x, list) or len(x) != width), None) if width > 1 else None
    if bad is not None:
      raise C.ConfigError(f"{where}: zipped axis 'axes.{k}' needs a list of {width} values per entry (one per "
                          f"key), got {bad!r}")
  settings = {"executor": "local", "group": True, "max_group": 64, "address": "", "workers": 2,
              "checkpoint_every": None}
  for k, v in raw.get("sweep", {}).items():
    if k not in SWEEP_KEYS:
      raise C.ConfigError(f"{where}: unknown key 'sweep.{k}'; allowed: {', '.join(sorted(SWEEP_KEYS))}")
    if not isinstance(v, SWEEP_KEYS[k]) or isinstance(v, bool) != (SWEEP_KEYS[k] is bool):
      raise C.ConfigError(f"{where}: 'sweep.{k}' must be {SWEEP_KEYS[k].__name__}, got {v!r}")
    settings[k] = v
  check_settings(settings, where)
  runs, seen = [], set()
  for values in itertools.product(*axes.values()):
    r = copy.deepcopy(base)
    for key, value in zip(axes, values):
      keys = _axis_keys(key)
      for k, v in zip(keys, value if len(keys) > 1 else [value]):
        C.set_key(r, f"{k}={_toml(v)}", where=f"{where}: axes")
    cfg = C.parse(r, f"{where} (run with {dict(zip(axes, values))})")
    if cfg.run_id() not in seen:
      seen.add(cfg.run_id())
      runs.append(cfg)
  return Sweep(str(raw.get("name", Path(where).stem)), runs, settings, raw)


def _axis_keys(axis: str) -> list[str]:
  """'a, b.c' -> ['a', 'b.c']: an axis over several keys at once (zipped), one list of values per entry."""
  return [k.strip() for k in axis.split(",")]


def check_settings(settings: dict[str, Any], where: str) -> None:
  if settings["executor"] not in ("local", "process", "ray"):
    raise C.ConfigError(f"{where}: 'sweep.executor' is {settings['executor']!r}; allowed: local, process, ray")
  for k in ("max_group", "workers"):
    if settings[k] < 1:
      raise C.ConfigError(f"{where}: 'sweep.{k}' must be >= 1, got {settings[k]}")
  if (settings["checkpoint_every"] or 0) < 0:
    raise C.ConfigError(f"{where}: 'sweep.checkpoint_every' must be >= 0, got {settings['checkpoint_every']}")
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
  from train.loop import group_key

  by_key: dict[str, list[C.RunConfig]] = {}
  for r in runs:
    by_key.setdefault(group_key(r) if enabled else r.run_id(), []).append(r)
  return [g[i:i + max_group] for g in by_key.values() for i in range(0, len(g), max_group)]


def group_id(group: list[C.RunConfig]) -> str:
  return hashlib.sha256(",".join(sorted(r.run_id() for r in group)).encode()).hexdigest()[:12]


def checkpoint_cadence(cfg: C.RunConfig, setting: int | None) -> int:
  """The run's own checkpoint_every, else the sweep's, else about 5 checkpoints per run."""
  if cfg.checkpoint_every:
    return cfg.checkpoint_every
  return max(1, math.ceil(cfg.steps / 5)) if setting is None else setting


def run_group(cfgs: list[C.RunConfig], out: Path, every: int | None,
              progress: Callable[[int, int, str], None] | None = None) -> list[dict[str, Any]]:
  """Train one group into out/checkpoints/<group id>; a failure becomes a `failed` record per run, never a raise.

  The checkpoint cadence is a sweep setting, not part of a run's config: the records keep the spec's config
  and run id, so they match `scalezoo train` on the same config.
  """
  from train.loop import fit_group

  n = checkpoint_cadence(cfgs[0], every)
  try:
    records = fit_group([c.replace(checkpoint_every=n) for c in cfgs], checkpoint_dir=out / "checkpoints" /
                        group_id(cfgs), progress=progress)
  except Exception as e:  # noqa: BLE001 - a failed run is recorded and the sweep goes on
    records = [failed(c, f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}") for c in cfgs]
  for rec, cfg in zip(records, cfgs):
    rec.update(run_id=cfg.run_id(), config=cfg.to_dict())
  return records


def checkpoint_step(out: Path, group: list[C.RunConfig]) -> int | None:
  """The newest checkpoint's step of a group that was cut off, if any."""
  d = out / "checkpoints" / group_id(group)
  steps = [int(p.name) for p in d.iterdir() if p.name.isdigit()] if d.is_dir() else []
  return max(steps, default=None)


def failed(cfg: C.RunConfig, error: str) -> dict[str, Any]:
  return {"run_id": cfg.run_id(), "status": "failed", "config": cfg.to_dict(), "error": error[:500]}


class Lock:
  """One sweep per results folder: an flock on out/.lock (the kernel drops it when its owner dies, so a lock
  file left by a killed sweep is simply taken over). The file holds the owner's pid for the message."""

  def __init__(self, out: Path):
    self.path, self.fd = out / ".lock", None

  def __enter__(self):
    while True:
      fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
      try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
      except BlockingIOError:
        pid = os.read(fd, 32).decode(errors="replace").strip() or "?"
        os.close(fd)
        raise C.ConfigError(f"{self.path.parent}: another sweep (pid {pid}) is running on this folder; wait for it "
                            f"to end or stop it, then run again") from None
      try:
        if os.stat(self.path).st_ino == os.fstat(fd).st_ino:
          break
      except FileNotFoundError:
        pass
      os.close(fd)  # the previous owner removed the file between our open and flock: lock the new one
    os.ftruncate(fd, 0)
    os.write(fd, str(os.getpid()).encode())
    self.fd = fd
    return self

  def __exit__(self, *exc):
    self.path.unlink(missing_ok=True)  # while still locked, so no one locks the removed file
    os.close(self.fd)


def check(sweep: Sweep, out: Path) -> None:
  """Bad input found before anything is written: a results path that is a file, data that does not load."""
  if out.exists() and not out.is_dir():
    raise C.ConfigError(f"{out}: exists and is not a folder; --out needs a results folder")
  if sweep.settings["executor"] == "ray" and sweep.settings["address"]:
    return  # the data lives on the cluster, maybe not here
  from train.loop import load_split

  seen = set()
  for cfg in sweep.runs:
    key = json.dumps([cfg.data, cfg.data_seed, cfg.data_args], sort_keys=True)
    if key not in seen:
      seen.add(key)
      try:
        load_split(cfg)
      except (ValueError, OSError) as e:
        raise C.ConfigError(f"data {cfg.data!r} {cfg.data_args}: {str(e).splitlines()[0]}") from None


def run(sweep: Sweep, out: str | Path, *, log: Callable[[str], None] = print, progress: bool = True) -> dict[str, int]:
  """Run every run of `sweep` not yet ended in out/runs.jsonl with its executor; returns counts by status."""
  from train import executors
  from train.progress import Progress

  out = Path(out).absolute()
  check(sweep, out)
  out.mkdir(parents=True, exist_ok=True)
  with Lock(out):
    cache = compile_cache_dir(out)
    ended = {r["run_id"] for r in store.read(out) if r.get("status") in ENDED}
    todo = [g for g in groups(sweep.runs, sweep.settings["group"], sweep.settings["max_group"])
            if any(c.run_id() not in ended for c in g)]
    n_todo = sum(c.run_id() not in ended for g in todo for c in g)
    (out / "spec.toml").write_text(spec_text(sweep))
    log(f"sweep {sweep.name}: {len(sweep.runs)} runs, {len(sweep.runs) - n_todo} already ended, {n_todo} to run "
        f"in {len(todo)} group{'s' * (len(todo) != 1)} ({sweep.settings['executor']} executor)")
    overall = Progress(n_todo, f"sweep {sweep.name}", enabled=progress)
    done, t0 = 0, time.perf_counter()
    job = executors.Job(todo, out, sweep.settings, cache, progress, log)
    for group, records in executors.get(sweep.settings["executor"])(job):
      new = [r for r in records if r["run_id"] not in ended]
      for rec in new:
        store.append(out / "runs.jsonl", rec)  # the driver is the only writer
        ended.add(rec["run_id"])
      done += len(new)
      by_status = {s: sum(r["status"] == s for r in new) for s in ENDED}
      summary = ", ".join(f"{n} {s}" for s, n in by_status.items() if n)
      overall.update(done, f"| group {group_id(group)} ended at {time.perf_counter() - t0:.0f}s: {summary}", force=True)
    overall.close()
  counts: dict[str, int] = {}
  final = {r["run_id"]: r for r in store.read(out)}
  for r in sweep.runs:
    s = final.get(r.run_id(), {}).get("status", "missing")
    counts[s] = counts.get(s, 0) + 1
  return counts


def spec_text(sweep: Sweep) -> str:
  """The spec as TOML (with --set overrides applied): `scalezoo sweep out/spec.toml` reruns the same grid."""
  lines = [f"name = {_toml(sweep.name)}"]
  for section in ("base", "axes", "sweep"):
    body = sweep.raw.get(section)
    if body:
      lines.append(f"\n[{section}]")
      lines += [f"{_key(k)} = {_toml(v)}" for k, v in body.items()]
  return "\n".join(lines) + "\n"


def compile_cache_dir(out: Path) -> Path:
  """out/.cache/jax, or $JAX_COMPILATION_CACHE_DIR to share one cache across sweeps."""
  return Path(os.environ.get("JAX_COMPILATION_CACHE_DIR") or out / ".cache" / "jax").absolute()


def use_compile_cache(cache: Path) -> None:
  """JAX's persistent compilation cache: a repeated or resumed sweep, and every worker process, loads compiled
  programs from here instead of compiling them again."""
  import jax
  from jax.experimental.compilation_cache import compilation_cache

  if jax.config.jax_compilation_cache_dir != str(cache):
    jax.config.update("jax_compilation_cache_dir", str(cache))
    compilation_cache.reset_cache()  # JAX reads the setting once per process; a new folder needs a reset
  jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
  jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
