"""`scalezoo plan`: a sweep's cost before launch: params, tokens, FLOPs, memory per device, hours."""

from __future__ import annotations

from pathlib import Path

from scalezoo.cli.common import UsageError


def add(sub) -> None:
  p = sub.add_parser("plan", help="a sweep's cost before launch: params, tokens, FLOPs, memory per device, hours")
  p.add_argument("spec")
  p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a spec key")
  p.add_argument("--chip", default="h100", help="h100 (default), a100, v5e, v4, cpu")
  p.add_argument("--chips", default="1", help="how many chips the mesh spans (default 1)")
  p.add_argument("--mfu", default="0.4", help="MFU for the hours, in (0, 1] (default 0.4), or a run folder")
  p.add_argument("--compile", metavar="TOPOLOGY", help="compile every run for v5e:4x4, h100:8, ... (XLA's bytes)")
  p.add_argument("--json", metavar="FILE", help="with --compile: the report as JSON")


def run(args) -> int:
  from scalezoo import sweep
  from scalezoo.sweep import plan
  from scalezoo.train import mfu as mfu_lib

  try:
    chips, mfu = int(args.chips), None if Path(args.mfu).is_dir() else float(args.mfu)
  except ValueError:
    raise UsageError(f"--chips {args.chips!r} must be an integer and --mfu {args.mfu!r} a number") from None
  mfu = mfu_lib.measured(args.mfu) if mfu is None else mfu  # a run folder: the MFU it measured
  plan.check_args(args.chip, chips, mfu)  # before the spec is read: bad flags answer at once
  if args.compile:  # XLA's word for a target (sweep/compile_plan.py)
    from scalezoo.sweep import compile_plan
    from scalezoo.train import target

    target.parse(args.compile)
    print(compile_plan.main(sweep.load(args.spec, args.set), args.compile, args.json, mfu)[1])
    return 0
  if args.json:
    raise UsageError("--json goes with --compile TOPOLOGY")
  _, text = plan.plan(sweep.load(args.spec, args.set), args.chip, chips, mfu)
  print(text)
  return 0
