"""Re-run part of a committed study with the current code and say how far its numbers moved.

    python results/rerun.py results/double_descent/model_wise [--budget-min 3] [--groups N]

Takes whole groups of the study's own spec.toml (so each group has the members it had), the cheapest first by their
recorded wall time, until the budget; trains them into <study>/rerun/ with `scalezoo sweep`'s driver (resumable:
run it again after a kill) and writes <study>/rerun/compare.json: per run, the committed and the new test metrics.
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
from pathlib import Path

import numpy as np

from scalezoo import scaling, sweep
from scalezoo.data.atomic import write_json

METRICS = ("test_loss", "test_accuracy", "test_bits_per_byte")


def pick(spec: sweep.Sweep, old: dict[str, dict], budget_s: float, max_groups: int) -> list[list]:
  """Whole groups, cheapest first (by the committed records' wall time), while they fit the budget."""
  gs = [
    g
    for g in sweep.groups(spec.runs, spec.settings["group"], spec.settings["max_group"])
    if all(c.run_id() in old for c in g)
  ]
  cost = lambda g: max((old[c.run_id()].get("wall_time") or math.inf) for c in g)
  chosen, total = [], 0.0
  for g in sorted(gs, key=cost):
    if len(chosen) >= max_groups or (chosen and total + cost(g) > budget_s):
      break
    chosen.append(g)
    total += cost(g)
  return chosen


def compare(old: dict[str, dict], new: list[dict]) -> dict:
  rows = []
  for r in new:
    o = old[r["run_id"]]
    row = {"run_id": r["run_id"], "status": [o["status"], r["status"]]}
    for m in METRICS:
      a, b = o.get("metrics", {}).get(m), r.get("metrics", {}).get(m)
      if a is not None and b is not None:
        row[m] = [a, b]
        row[f"{m}_rel_change"] = (b - a) / abs(a) if a else b - a
    rows.append(row)
  changes = {m: [abs(r[f"{m}_rel_change"]) for r in rows if f"{m}_rel_change" in r] for m in METRICS}
  summary = {
    m: {
      "runs": len(v),
      "median_abs_rel_change": float(np.median(v)),
      "max_abs_rel_change": float(max(v)),
      "identical": sum(x == 0 for x in v),
    }
    for m, v in changes.items()
    if v
  }
  return {"summary": summary, "runs": rows}


def main() -> None:
  p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  p.add_argument("study")
  p.add_argument("--budget-min", type=float, default=3.0)
  p.add_argument("--groups", type=int, default=4)
  a = p.parse_args()
  study = Path(a.study)
  spec = sweep.load(study / "spec.toml")
  old = {r["run_id"]: r for r in scaling.read_rows(study)}
  chosen = pick(spec, old, 60 * a.budget_min, a.groups)
  subset = sweep.Sweep(spec.name, [c for g in chosen for c in g], spec.settings, spec.raw)
  out = study / "rerun"
  counts = sweep.run(subset, out, progress=False)
  new = [r for r in scaling.read_rows(out) if r["run_id"] in old]
  commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
  write_json(
    out / "compare.json",
    {"study": str(study), "code_commit": commit, "counts": counts, "groups": len(chosen), **compare(old, new)},
  )
  print(json.dumps(compare(old, new)["summary"], indent=1))


if __name__ == "__main__":
  main()
