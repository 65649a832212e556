"""The sweep's driver: checks the input, holds the folder's lock, hands groups to an executor and alone appends
their records to runs.jsonl, so every run id appears there once."""

from __future__ import annotations

import fcntl
import json
import os
import time
from collections.abc import Callable
from pathlib import Path

from scalezoo.train import config as C
from scalezoo.train import files, writers
from scalezoo.train.loop import load_split
from scalezoo.train.progress import Progress
from scalezoo.train.sweep import executors, store
from scalezoo.train.sweep.group import compile_cache_dir
from scalezoo.train.sweep.spec import Sweep, group_id, groups, spec_text

ENDED = ("finished", "diverged", "failed")


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
        raise C.ConfigError(
          f"{self.path.parent}: another sweep (pid {pid}) is running on this folder; wait for it "
          f"to end or stop it, then run again"
        ) from None
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
  writers.require(k for cfg in sweep.runs for k in cfg.log)
  if sweep.settings["executor"] == "ray" and sweep.settings["address"]:
    return  # the data lives on the cluster, maybe not here
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
  out = Path(out).absolute()
  check(sweep, out)
  out.mkdir(parents=True, exist_ok=True)
  with Lock(out):
    cache = compile_cache_dir(out)
    ended = {r["run_id"] for r in store.read(out) if r.get("status") in ENDED}
    todo = [
      g
      for g in groups(sweep.runs, sweep.settings["group"], sweep.settings["max_group"])
      if any(c.run_id() not in ended for c in g)
    ]
    n_todo = sum(c.run_id() not in ended for g in todo for c in g)
    files.write_atomic(out / "spec.toml", spec_text(sweep))
    log(
      f"sweep {sweep.name}: {len(sweep.runs)} runs, {len(sweep.runs) - n_todo} already ended, {n_todo} to run "
      f"in {len(todo)} group{'s' * (len(todo) != 1)} ({sweep.settings['executor']} executor)"
    )
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
