"""`scalezoo models`: list every model with its family, parameter count and input shape."""

from __future__ import annotations

from pathlib import Path

from scalezoo.cli.common import UsageError


def add(sub) -> None:
  p = sub.add_parser("models", help="list every model with its family, parameter count and input shape")
  p.add_argument("name", nargs="?", help="one model: its options with their defaults, input shape rule and reference")
  p.add_argument("--family", help="only this family")


def run(args) -> int:
  if args.name:
    from scalezoo import zoo
    from scalezoo.zoo import catalog

    if args.name not in zoo.names():
      raise UsageError(f"unknown model {args.name!r}; known models: {', '.join(zoo.names())}")
    print(catalog.describe(args.name))
    return 0
  table = _catalog()
  rows = []
  for name, row in table.items():
    if args.family and row["family"] != args.family:
      continue
    rows.append((name, row["family"], f"{row['params']:,}", " ".join(row["inputs"]), row["task"]))
  if not rows:
    families = sorted({r["family"] for r in table.values()})
    raise UsageError(f"no models in family {args.family!r}; families: {', '.join(families)}")
  widths = [max(len(r[i]) for r in rows + [("name", "family", "params", "input", "task")]) for i in range(5)]
  head = ("name", "family", "params", "input", "task")
  for r in [head] + rows:
    print("  ".join(c.rjust(w) if i == 2 else c.ljust(w) for i, (c, w) in enumerate(zip(r, widths))).rstrip())
  print("(reference configs; `scalezoo models NAME` lists a model's options, e.g. its image or context size)")
  return 0


def _catalog() -> dict:
  """zoo/catalog.json, read without importing the zoo (importing JAX and Flax alone is slow): the reference
  configs' counts and shapes, which tests/test_zoo_counts.py checks against the registry and eval_shape."""
  import importlib.util
  import json

  where = importlib.util.find_spec("scalezoo.zoo").submodule_search_locations[0]
  return json.loads((Path(where) / "catalog.json").read_text())
