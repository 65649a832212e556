"""Rows that time a `scalezoo` command as a user runs it: a fresh process each time, wall seconds, cold."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import numpy as np

# the old way, for the baseline: every model traced with jax.eval_shape in the listing's process
_LIVE = "import scalezoo.zoo as z; from scalezoo.zoo import catalog as c; [c.entry(n) for n in z.names()]"


def _wall(args: list[str]) -> float:
  t = time.perf_counter()
  subprocess.run([sys.executable, *args], check=True, stdout=subprocess.DEVNULL)
  return time.perf_counter() - t


def bench_models(sz, log, goal: str) -> dict:
  """`scalezoo models` (python -m scalezoo.cli models) vs counting every model live, as it did before the
  catalog table; the live count (slow) runs once, the command `cli_reps` times."""
  base = _wall(["-c", _LIVE])
  log(f"  every model traced live (the listing before zoo/catalog.json): {base:.1f}s")
  ours = []
  for r in range(sz.get("cli_reps", 5)):
    ours.append(_wall(["-m", "scalezoo.cli", "models"]))
    log(f"  repeat {r + 1}: scalezoo models {ours[-1]:.2f}s")
  return {
    "name": "models_cli",
    "ours_s": float(np.median(ours)),
    "baseline": "every model counted by jax.eval_shape (the listing before zoo/catalog.json)",
    "baseline_s": base,
    "speedup": base / float(np.median(ours)),
    "goal": goal,
    "ours_runs_s": [round(x, 3) for x in ours],
    "baseline_runs_s": [round(base, 3)],
  }


# the expansion before sweep.variants.Variants, for the baseline: every run of the grid parsed and hashed
_EXPAND_EACH = """
import copy, itertools, sys
from scalezoo.train import config as C
raw = C.read_toml(sys.argv[1])
paths = [C.key_path(k) for k in raw["axes"]]
for values in itertools.product(*raw["axes"].values()):
  r = copy.deepcopy(raw["base"])
  for p, v in zip(paths, values):
    C.assign(r, p, v)
  C.parse(r).run_id()
"""


def grid_spec(path, seeds: int) -> str:
  """A grid of 10 widths x `seeds` seeds (10 * seeds runs), as a user writes a seed study."""
  path.write_text(
    f'name = "grid"\n[base]\nmodel = "mlp"\ndata = "digits"\nsteps = 100\n[base.model_args]\nwidth = 8\n'
    f'[base.data_args]\nflat = true\n[axes]\n"model_args.width" = {list(range(8, 88, 8))}\n'
    f"seed = {list(range(seeds))}\n"
  )
  return str(path)


def _timed(args: list[str]) -> dict:
  """Wall and CPU seconds and peak RSS of `python ARGS` in a fresh process."""
  t = time.perf_counter()
  p = subprocess.Popen([sys.executable, *args], stdout=subprocess.DEVNULL)
  _, status, use = os.wait4(p.pid, 0)
  p.returncode = os.waitstatus_to_exitcode(status)
  if p.returncode:
    raise RuntimeError(f"{args}: exit {p.returncode}")
  return {"s": time.perf_counter() - t, "cpu_s": use.ru_utime + use.ru_stime, "rss_mb": use.ru_maxrss / 1024}


def bench_sweep_expand(sz, log, goal: str, tmp) -> dict:
  """`scalezoo sweep SPEC --dry-run` of a 10^5-run grid (10 widths x 10^4 seeds), cold in a fresh process, vs
  parsing and hashing every run as the expansion did before Variants (once); and the same for 10^6 runs."""
  spec = grid_spec(tmp / "grid1e5.toml", sz.get("expand_seeds", 10_000))
  dry = ["-m", "scalezoo.cli", "sweep", spec, "--out", str(tmp / "expand_out"), "--dry-run"]
  base = _timed(["-c", _EXPAND_EACH, spec])
  log(f"  every run parsed and hashed (the expansion before sweep.variants.Variants): {base['s']:.1f}s")
  ours = []
  for r in range(sz.get("cli_reps", 5)):
    ours.append(_timed(dry))
    log(f"  repeat {r + 1}: --dry-run {ours[-1]['s']:.2f}s ({ours[-1]['cpu_s']:.2f} s CPU)")
  big_spec = grid_spec(tmp / "grid1e6.toml", 10 * sz.get("expand_seeds", 10_000))
  big = _timed([*dry[:3], big_spec, *dry[4:]])
  log(f"  10x the grid: --dry-run {big['s']:.2f}s ({big['cpu_s']:.2f} s CPU, {big['rss_mb']:.0f} MB peak RSS)")
  s = float(np.median([o["s"] for o in ours]))
  return {
    "name": "sweep_expand",
    "ours_s": s,
    "baseline": "every run parsed and hashed (the expansion before sweep.variants.Variants)",
    "baseline_s": base["s"],
    "speedup": base["s"] / s,
    "goal": goal,
    "runs": 10 * sz.get("expand_seeds", 10_000),
    "ours_cpu_s": float(np.median([o["cpu_s"] for o in ours])),
    "ours_peak_rss_mb": max(o["rss_mb"] for o in ours),
    "ten_times_runs_s": big["s"],
    "ten_times_runs_cpu_s": big["cpu_s"],
    "ten_times_runs_peak_rss_mb": big["rss_mb"],
    "ours_runs_s": [round(o["s"], 3) for o in ours],
    "baseline_runs_s": [round(base["s"], 3)],
  }
