"""The sweep's driver: checks the input, holds the folder's lock, hands groups to an executor and alone appends
their records to runs.jsonl, so every run id appears there once."""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import Callable
from pathlib import Path

from scalezoo.data import atomic
from scalezoo.sweep import executors, store
from scalezoo.sweep.group import compile_cache_dir
from scalezoo.sweep.spec import Sweep, group_id, groups, links, spec_text
from scalezoo.train import config as C
from scalezoo.train import faults, outdir, writers
from scalezoo.train.loop import load_split
from scalezoo.train.memory import check_model_fits
from scalezoo.train.progress import Progress

ENDED = ("finished", "diverged", "failed")


class Lock(outdir.FolderLock):
  """One sweep per results folder (outdir.FolderLock on out/.lock)."""

  def __init__(self, out: Path):
    super().__init__(out, "sweep")


def check(sweep: Sweep, out: Path) -> None:
  """Bad input found before anything is written: a results path that is a file, data that does not load, a model
  that does not fit in memory."""
  if out.exists() and not out.is_dir():
    raise C.ConfigError(f"{out}: exists and is not a folder; --out needs a results folder")
  writers.require(k for cfg in sweep.runs for k in cfg.log)
  if sweep.settings["executor"] == "ray" and sweep.settings["address"]:
    return  # the data lives on the cluster, maybe not here
  info: dict[str, dict] = {}
  for cfg in sweep.runs:
    key = json.dumps([cfg.data, cfg.data_seed, cfg.data_args], sort_keys=True)
    if key not in info:
      try:
        info[key] = load_split(cfg).info
      except (ValueError, OSError) as e:
        raise C.ConfigError(f"data {cfg.data!r} {C.show(cfg.data_args)}: {str(e).splitlines()[0][:300]}") from None
  sized = set()
  for group in groups(sweep.runs, sweep.settings["group"], sweep.settings["max_group"], sweep.parents):
    cfg = group[0]
    data_key = json.dumps([cfg.data, cfg.data_seed, cfg.data_args], sort_keys=True)
    key = json.dumps([cfg.model, cfg.model_args, data_key, len(group)], sort_keys=True)
    if key not in sized:
      sized.add(key)
      check_model_fits(cfg, info[data_key], len(group))


@faults.deferring  # SIGINT/SIGTERM: the group in training checkpoints and stops; ended groups' records are kept
def run(sweep: Sweep, out: str | Path, *, log: Callable[[str], None] = print, progress: bool = True) -> dict[str, int]:
  """Run every run of `sweep` not yet ended in out/runs.jsonl with its executor; returns counts by status."""
  out = Path(out).absolute()
  check(sweep, out)
  outdir.check_out(out, "results", ("runs.jsonl", "spec.toml", ".lock"), ("checkpoints", ".cache"))
  with Lock(out):
    cache = compile_cache_dir(out)
    ended = {r["run_id"] for r in store.read(out) if r.get("status") in ENDED}
    everything = groups(sweep.runs, sweep.settings["group"], sweep.settings["max_group"], sweep.parents)
    todo = [g for g in everything if any(c.run_id() not in ended for c in g)]
    n_todo = sum(c.run_id() not in ended for g in todo for c in g)
    atomic.write_atomic(out / "spec.toml", spec_text(sweep))
    log(
      f"sweep {sweep.name}: {len(sweep.runs)} runs, {len(sweep.runs) - n_todo} already ended, {n_todo} to run "
      f"in {len(todo)} group{'s' * (len(todo) != 1)} ({sweep.settings['executor']} executor)"
    )
    overall = Progress(n_todo, f"sweep {sweep.name}", enabled=progress)
    done, t0 = 0, time.perf_counter()
    link = links(everything, sweep.parents)
    # A branch starts from its stable group's checkpoint, so it never runs beside or before that group: in waves,
    # each of stable (and plain) groups or of branches; in this process a stable group is followed by its branches,
    # elsewhere all stable groups run first (they train in parallel).
    is_branch = lambda g: "parent" in link.get(group_id(g), {})
    if sweep.settings["executor"] == "local":
      waves = [list(w) for _, w in itertools.groupby(todo, key=is_branch)]
    else:
      waves = [[g for g in todo if not is_branch(g)], [g for g in todo if is_branch(g)]]
    for wave in waves:
      waiting = [g for g in wave if is_branch(g) and not all(sweep.parents[c.run_id()][0] in ended for c in g)]
      if waiting:
        log(f"{len(waiting)} branch groups wait for their stable runs, which have no record yet: run again")
      wave = [g for g in wave if g not in waiting]
      job = executors.Job(wave, out, sweep.settings, cache, progress, log, link)
      for group, records in executors.get(sweep.settings["executor"])(job) if wave else ():
        new = [r for r in records if r["run_id"] not in ended]
        for rec in new:
          store.append(out / "runs.jsonl", rec)  # the driver is the only writer
          ended.add(rec["run_id"])
        done += len(new)
        by_status = {s: sum(r["status"] == s for r in new) for s in ENDED}
        summary = ", ".join(f"{n} {s}" for s, n in by_status.items() if n)
        overall.update(
          done, f"| group {group_id(group)} ended at {time.perf_counter() - t0:.0f}s: {summary}", force=True
        )
        if signum := faults.take():  # between groups: stop before starting the next one
          raise faults.Interrupted(signum)
    overall.close()
  counts: dict[str, int] = {}
  final = {r["run_id"]: r for r in store.read(out)}
  for r in sweep.runs:
    s = final.get(r.run_id(), {}).get("status", "missing")
    counts[s] = counts.get(s, 0) + 1
  return counts
