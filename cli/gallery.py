"""`scalezoo gallery`: train every zoo family on a task that suits it (results/zoo_gallery)."""

from __future__ import annotations


def add(sub) -> None:
  p = sub.add_parser("gallery", help="train every zoo family on a task that suits it (results/zoo_gallery)")
  p.add_argument("--out", default="results/zoo_gallery")
  p.add_argument("--quick", action="store_true", help="tiny budgets: a smoke run")
  p.add_argument("--only", action="append", help="only this entry (repeatable)")


def run(args) -> int:
  from scalezoo.studies import gallery

  return gallery.main(args.out, quick=args.quick, only=args.only)
