"""`scalezoo plot`: draw a results folder's figures."""

from __future__ import annotations

from scalezoo.cli.common import results_dir


def add(sub) -> None:
  p = sub.add_parser("plot", help="draw a results folder's figures")
  p.add_argument("dir")


def run(args) -> int:
  results_dir(args.dir)
  import numpy as np

  from scalezoo.scaling import report

  notes = []
  with np.errstate(all="ignore"):  # a fixed E = 0 or a bootstrap's inf bounds: drawn as they are
    paths = report.plot_dir(args.dir, notes=notes)
  for path in paths:
    print(path)
  for note in notes:
    print(note)
  return 0
