"""`scalezoo demo`: the main job: an MLP scaling sweep on MNIST-1D, fitted and plotted."""

from __future__ import annotations

from pathlib import Path


def add(sub) -> None:
  p = sub.add_parser("demo", help="the main job: an MLP scaling sweep on MNIST-1D, fitted and plotted")
  p.add_argument("--out", default="results/demo")
  p.add_argument("--fresh", action="store_true", help="train every run again (drop OUT's runs.jsonl and checkpoints)")
  p.add_argument("--spec", help="another sweep spec to run, fit and plot the demo's way (default: the packaged demo)")
  p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a spec key")
  p.add_argument("--quiet", action="store_true")


def run(args) -> int:
  from scalezoo.studies import demo

  return demo.main(Path(args.out), progress=not args.quiet, fresh=args.fresh, spec=args.spec, overrides=args.set)
