"""`scalezoo sweep`: run a grid of runs from a sweep spec."""

from __future__ import annotations

import sys


def add(sub) -> None:
  p = sub.add_parser("sweep", help="run a grid of runs from a sweep spec")
  p.add_argument("spec")
  p.add_argument("--out", required=True, help="results folder: runs.jsonl, spec.toml, checkpoints/")
  p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a spec key")
  p.add_argument("--dry-run", action="store_true", help="print one run id per line and run nothing")
  p.add_argument("--executor", choices=["local", "process", "ray"], help="override sweep.executor")
  p.add_argument("--quiet", action="store_true")


def run(args) -> int:
  from scalezoo import sweep

  spec = sweep.load(args.spec, args.set)  # the whole grid is validated before anything is written
  if args.executor:
    spec.settings["executor"] = args.executor
    sweep.check_settings(spec.settings, args.spec)
  if args.dry_run:  # one run id per line; with branches, what each run is (one write: 10^6 lines)
    stable = {pid for pid, _ in spec.parents.values()}
    lines = []
    for r in spec.runs:
      if r.run_id() in spec.parents:
        pid, step = spec.parents[r.run_id()]
        lines.append(f"{r.run_id()} branch of {pid} at step {step}, cooling down to {r.steps}\n")
      else:
        lines.append(r.run_id() + (f" stable to step {r.steps}" if r.run_id() in stable else "") + "\n")
    sys.stdout.write("".join(lines))
    return 0
  counts = sweep.run(spec, args.out, progress=not args.quiet)
  print("runs: " + ", ".join(f"{v} {k}" for k, v in sorted(counts.items())))
  if counts.get("missing"):
    print("some runs have no record (a worker died); run the same command again to retry them", file=sys.stderr)
  return 1 if counts.get("failed") or counts.get("missing") else 0
