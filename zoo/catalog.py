"""The zoo at a glance: every registered model's family, task, parameter count and input shapes, and one model's
options, input shape rule and reference.

Counting a model traces it (jax.eval_shape), about half a second each, so `scalezoo models` reads the reference
configs' counts from catalog.json beside this file. tests/test_zoo_counts.py checks that table against eval_shape
for every model, so it cannot drift; after changing a model, `python -m scalezoo.zoo.catalog` rewrites it. A model
missing from the table (registered since) is counted live.
"""

from __future__ import annotations

import inspect
import json
import re
import sys
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp

from scalezoo.zoo import registry

PATH = Path(__file__).with_name("catalog.json")
_PRIMES = (47, 53, 59, 61, 67, 71, 73, 79, 83, 89, 97, 101, 103, 107, 109, 113)  # sentinels for the shape rule


def input_shapes(name: str, **overrides: Any) -> list[tuple[int, ...]]:
  """The example inputs' shapes at batch size 1, traced only (jax.random inside would otherwise compile)."""
  out = jax.eval_shape(lambda: registry.example_input(name, 1, **overrides))
  return [tuple(x.shape) for x in out]


def params(name: str) -> int:
  """The reference config's trainable parameters, live (eval_shape over the model and its inputs)."""
  out = {}

  def f():
    out["params"] = registry.abstract_variables(name)["params"]
    return jnp.zeros(())

  jax.eval_shape(f)
  return registry.size_of(out["params"])


def entry(name: str) -> dict[str, Any]:
  """One row of the table, computed live."""
  s = registry.spec(name)
  shapes = ["x".join(map(str, shape[1:])) for shape in input_shapes(name)]
  return {"family": s.family, "task": s.task, "params": params(name), "inputs": shapes}


def load() -> dict[str, dict[str, Any]]:
  return json.loads(PATH.read_text())


def rows() -> dict[str, dict[str, Any]]:
  """Every registered model's row: from the table, or live for a model the table does not hold."""
  table = load()
  return {n: table[n] if n in table else entry(n) for n in registry.names()}


def input_rule(name: str) -> list[str]:
  """Each input's shape in terms of the options, e.g. "(B, image_size, image_size, in_channels) float32".

  Found by evaluating the input function with every positive integer option set to a distinct prime: a dimension
  equal to an option's prime is that option, anything else is a constant. The rule is checked against the
  reference config's own shapes; where it does not reproduce them, the plain shapes are given."""
  s = registry.spec(name)
  cfg = registry.resolve(name)
  ints = [k for k, v in cfg.items() if isinstance(v, int) and not isinstance(v, bool) and v > 0]
  sentinel = dict(zip(ints, _PRIMES))
  if len(ints) > len(_PRIMES) - 1:
    sentinel = {}
  batch = _PRIMES[len(sentinel)]
  probe = jax.eval_shape(lambda: s.inputs(batch, {**cfg, **sentinel}))
  real = jax.eval_shape(lambda: s.inputs(2, cfg))
  by_value = {v: k for k, v in sentinel.items()}
  out = []
  for p, r in zip(probe, real):
    dims = ["B" if d == batch else by_value.get(d, str(d)) for d in p.shape]
    again = tuple(2 if d == "B" else int(cfg[d]) if d in cfg else int(d) for d in dims)
    if len(p.shape) != len(r.shape) or again != tuple(r.shape):
      dims = ["B"] + [str(d) for d in r.shape[1:]]
    out.append(f"({', '.join(dims)}{',' if len(dims) == 1 else ''}) {r.dtype}")
  return out


def describe(name: str) -> str:
  """`scalezoo models NAME`: the model's options with their defaults, its input shape rule and its reference."""
  s = registry.spec(name)
  row = rows()[name]
  lines = [
    f"{name}: family {s.family}, task {s.task}, {row['params']:,} parameters in the reference config",
    f"reference: {_reference(s)}",
  ]
  if s.reference_params is not None:
    lines.append(f"published count: {s.reference_params:,} (the reference config matches it; a test checks)")
  if s.embedding:
    lines.append(f"embedding parameters (Kaplan's split): {', '.join(s.embedding)}")
  lines.append("inputs: " + "; ".join(input_rule(name)) + "  (B: batch)")
  lines.append(f"options (zoo.create({name!r}, **overrides); a sweep's model_args.KEY):")
  width = max(len(k) for k in s.defaults)
  lines += [f"  {k.ljust(width)}  {_value(v)}" for k, v in s.defaults.items()]
  return "\n".join(lines)


def _reference(s: registry.ModelSpec) -> str:
  """The first sentence of the model file's docstring, which names the paper and the layout followed."""
  doc = inspect.getdoc(sys.modules.get(s.build.__module__)) or ""
  para = " ".join(doc.split("\n\n")[0].split())
  m = re.search(r"(?<!et al)\.(?=\s+[A-Z]|$)", para)
  return para[: m.start() + 1] if m else para or "none given"


def _value(v: Any) -> str:
  if isinstance(v, tuple):
    return "[" + ", ".join(map(repr, v)) + "]"
  return repr(v) if not isinstance(v, bool) else str(v).lower()


def main() -> int:
  """Rewrite catalog.json from the registry (every model traced: too slow for `scalezoo models` to do live)."""
  table = {n: entry(n) for n in registry.names()}
  lines = [f" {json.dumps(n)}: {json.dumps(row)}" for n, row in table.items()]  # a model a line: short diffs
  PATH.write_text("{\n" + ",\n".join(lines) + "\n}\n")
  print(f"{PATH}: {len(table)} models")
  return 0


if __name__ == "__main__":  # python -m scalezoo.zoo.catalog (importing scalezoo.zoo registered every model)
  sys.exit(main())
