"""Sweeps: a TOML spec (a base run config plus axes) expanded as a grid, run, and appended to runs.jsonl.

    [base]                       # any run config
    model = "mlp"
    [axes]                       # dotted config keys -> values; the grid is their product
    "model_args.width" = [8, 16, 32]
    seed = [0, 1, 2]
    [sweep]
    executor = "local"           # local | process | ray

Runs that share a compiled shape (they differ only in seed and learning rate) train together under jax.vmap.
Running the same command again skips ended runs and resumes cut-off groups from their checkpoints.
"""

from __future__ import annotations

import copy
import dataclasses
import itertools
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from train import config as C
from train import store
from train.loop import fit_group, group_key

SWEEP_KEYS = {"executor": str, "group": bool, "max_group": int, "address": str, "workers": int}


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
  if not isinstance(base, dict) or not isinstance(axes, dict):
    raise C.ConfigError(f"{where}: 'base' and 'axes' must be tables")
  for k, v in axes.items():
    if not isinstance(v, list) or not v:
      raise C.ConfigError(f"{where}: axis 'axes.{k}' must be a non-empty list of values, got {v!r}")
  settings = {"executor": "local", "group": True, "max_group": 64, "address": "", "workers": 2}
  for k, v in raw.get("sweep", {}).items():
    if k not in SWEEP_KEYS:
      raise C.ConfigError(f"{where}: unknown key 'sweep.{k}'; allowed: {', '.join(sorted(SWEEP_KEYS))}")
    if not isinstance(v, SWEEP_KEYS[k]) or isinstance(v, bool) != (SWEEP_KEYS[k] is bool):
      raise C.ConfigError(f"{where}: 'sweep.{k}' must be {SWEEP_KEYS[k].__name__}, got {v!r}")
    settings[k] = v
  if settings["executor"] not in ("local", "process", "ray"):
    raise C.ConfigError(f"{where}: 'sweep.executor' is {settings['executor']!r}; allowed: local, process, ray")
  runs, seen = [], set()
  for values in itertools.product(*axes.values()):
    r = copy.deepcopy(base)
    for key, value in zip(axes, values):
      C.set_key(r, f"{key}={_toml(value)}", where=f"{where}: axes")
    cfg = C.parse(r, f"{where} (run with {dict(zip(axes, values))})")
    if cfg.run_id() not in seen:
      seen.add(cfg.run_id())
      runs.append(cfg)
  return Sweep(str(raw.get("name", Path(where).stem)), runs, settings, raw)


def _toml(value: Any) -> str:
  if isinstance(value, str):
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
  if isinstance(value, bool):
    return "true" if value else "false"
  if isinstance(value, dict):
    return "{" + ", ".join(f"{k} = {_toml(v)}" for k, v in value.items()) + "}"
  if isinstance(value, list):
    return "[" + ", ".join(_toml(v) for v in value) + "]"
  return repr(value)


def load(path: str | Path, overrides: list[str] = ()) -> Sweep:
  raw = C.read_toml(path)
  for s in overrides:
    C.set_key(raw, s)
  return parse(raw, str(path))


def groups(runs: list[C.RunConfig], enabled: bool = True, max_group: int = 64) -> list[list[C.RunConfig]]:
  """Runs that share a compiled shape, in first-seen order, split into groups of at most max_group."""
  by_key: dict[str, list[C.RunConfig]] = {}
  for r in runs:
    by_key.setdefault(group_key(r) if enabled else r.run_id(), []).append(r)
  return [g[i:i + max_group] for g in by_key.values() for i in range(0, len(g), max_group)]


def group_id(group: list[C.RunConfig]) -> str:
  import hashlib

  return hashlib.sha256(",".join(sorted(r.run_id() for r in group)).encode()).hexdigest()[:12]


class Lock:
  """One sweep per results folder: an exclusive lock file holding the owner's pid."""

  def __init__(self, out: Path):
    self.path = out / ".lock"

  def __enter__(self):
    try:
      fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
    except FileExistsError:
      pid = self.path.read_text().strip() or "?"
      if pid.isdigit() and not _alive(int(pid)):
        self.path.unlink(missing_ok=True)  # the owner died (SIGKILL): the lock is stale
        return self.__enter__()
      raise C.ConfigError(f"{self.path.parent}: another sweep (pid {pid}) is running on this folder") from None
    os.write(fd, str(os.getpid()).encode())
    os.close(fd)
    return self

  def __exit__(self, *exc):
    self.path.unlink(missing_ok=True)


def _alive(pid: int) -> bool:
  try:
    os.kill(pid, 0)
  except ProcessLookupError:
    return False
  except PermissionError:
    return True
  return True


def run(
  sweep: Sweep,
  out: str | Path,
  *,
  log: Callable[[str], None] = print,
  progress: bool = True,
) -> dict[str, int]:
  """Run every run of `sweep` not yet in out/runs.jsonl; returns counts by status."""
  from train.progress import Progress

  out = Path(out)
  out.mkdir(parents=True, exist_ok=True)
  with Lock(out):
    enable_compile_cache(out)
    ended = {r["run_id"] for r in store.read(out) if r.get("status") in ("finished", "diverged", "failed")}
    todo = [r for r in sweep.runs if r.run_id() not in ended]
    (out / "spec.toml").write_text(_spec_text(sweep))
    log(f"sweep {sweep.name}: {len(sweep.runs)} runs, {len(sweep.runs) - len(todo)} already ended, {len(todo)} to run")
    overall = Progress(len(sweep.runs), "sweep", enabled=progress)
    done = len(sweep.runs) - len(todo)
    overall.update(done, force=True)
    for group in groups(todo, sweep.settings["group"], sweep.settings["max_group"]):
      gid = group_id(group)
      bar = Progress(group[0].steps, f"  group {gid} ({len(group)} runs)", enabled=progress)
      t0 = time.perf_counter()
      try:
        records = fit_group(group, checkpoint_dir=out / "checkpoints" / gid,
                            progress=lambda d, t, m, bar=bar: bar.update(d, m))
      except Exception as e:  # noqa: BLE001 - a failed run is recorded and the sweep goes on
        records = [_failed(r, e) for r in group]
      bar.close()
      for rec in records:
        store.append(out / "runs.jsonl", rec)
      done += len(group)
      statuses = ", ".join(f"{r['run_id']} {r['status']}" for r in records)
      overall.update(done, f"| {time.perf_counter() - t0:.1f}s: {statuses}", force=True)
    overall.close()
  counts: dict[str, int] = {}
  final = {r["run_id"]: r for r in store.read(out)}
  for r in sweep.runs:
    s = final.get(r.run_id(), {}).get("status", "missing")
    counts[s] = counts.get(s, 0) + 1
  return counts


def _failed(cfg: C.RunConfig, e: Exception) -> dict[str, Any]:
  return {"run_id": cfg.run_id(), "status": "failed", "config": cfg.to_dict(),
          "error": f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"[:500]}


def _spec_text(sweep: Sweep) -> str:
  lines = [f"name = {_toml(sweep.name)}"]
  for section in ("base", "axes", "sweep"):
    body = sweep.raw.get(section)
    if body:
      lines.append(f"\n[{section}]")
      lines += _table_lines(body, "")
  return "\n".join(lines) + "\n"


def _table_lines(table: dict[str, Any], prefix: str) -> list[str]:
  flat, nested = [], []
  for k, v in table.items():
    key = k if k.replace("_", "").isalnum() else _toml(k)
    (nested if isinstance(v, dict) else flat).append((key, v))
  lines = [f"{k} = {_toml(v)}" for k, v in flat]
  for k, v in nested:
    lines.append(f"{k} = {_toml(v)}")
  return lines


def enable_compile_cache(out: Path) -> None:
  """JAX's persistent compilation cache in the results folder: a repeated sweep skips most compilation."""
  import jax

  jax.config.update("jax_compilation_cache_dir", str((out / ".cache" / "jax").absolute()))
  jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
  jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
