"""`scalezoo coordcheck`: μP's coordinate check: mean |activation| per layer against width."""

from __future__ import annotations

from scalezoo.cli.common import UsageError


def add(sub) -> None:
  p = sub.add_parser("coordcheck", help="μP's coordinate check: mean |activation| per layer against width")
  p.add_argument("config")
  p.add_argument("--widths", default="64,128,256,512", help="comma-separated widths (default 64,128,256,512)")
  p.add_argument("--steps", default="5", help="training steps recorded (default 5)")
  p.add_argument("--seeds", default="1", help="inits averaged over (default 1)")
  p.add_argument("--both", action="store_true", help="measure SP and μP side by side (needs [mup] base)")
  p.add_argument("--out", required=True, help="folder: coordcheck.csv, coordcheck.json, coordcheck.png")
  p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a config key")


def run(args) -> int:
  from scalezoo.studies import coordcheck
  from scalezoo.train import config

  try:
    widths = [int(w) for w in args.widths.split(",")]
    steps, seeds = int(args.steps), int(args.seeds)
  except ValueError:
    raise UsageError(f"--widths must be comma-separated ints, --steps and --seeds ints; got {args.widths!r}") from None
  cfg = config.load(args.config, args.set)
  pars = ["sp", "mup"] if args.both else [cfg.parametrization]
  cfgs = [config.parse({**cfg.to_dict(), "parametrization": p}, args.config) for p in pars]
  rows = [r for c in cfgs for r in coordcheck.measure(c, widths, steps, seeds)]
  for p, by_layer in coordcheck.write(rows, args.out).items():
    worst = max(by_layer, key=by_layer.get)
    print(f"{p}: largest max/min over widths at step {steps - 1}: {by_layer[worst]:.2f} ({worst})")
  print(f"wrote {args.out}/coordcheck.csv, coordcheck.json, coordcheck.png")
  return 0
