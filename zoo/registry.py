"""Models found by name: a spec per reference config or size family, size families as data."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np


@dataclasses.dataclass(frozen=True)
class ModelSpec:
  """How to build one named model.

  build: keyword arguments -> flax module (usually the module class or a functools.partial of it).
  defaults: the reference configuration; `zoo.create(name, **overrides)` merges overrides into it.
  inputs: (batch_size, resolved config) -> tuple of example positional inputs for `__call__`.
  embedding: names of top-level param subtrees that count as embeddings (Kaplan's split).
  """

  name: str
  family: str
  build: Callable[..., nn.Module]
  defaults: dict[str, Any]
  inputs: Callable[[int, dict[str, Any]], tuple[jax.Array, ...]]
  task: str = "classification"
  embedding: tuple[str, ...] = ()
  reference_params: int | None = None  # the published count this config must match
  active: Callable[[Any, dict[str, Any]], int] | None = None  # (params, config) -> those one token uses; None: all


_REGISTRY: dict[str, ModelSpec] = {}


def register(spec: ModelSpec) -> ModelSpec:
  if spec.name in _REGISTRY:
    raise ValueError(f"model {spec.name!r} is already registered")
  _REGISTRY[spec.name] = spec
  return spec


def names() -> list[str]:
  return sorted(_REGISTRY)


def spec(name: str) -> ModelSpec:
  try:
    return _REGISTRY[name]
  except KeyError:
    raise ValueError(f"unknown model {name!r}; known models: {', '.join(names())}") from None


def resolve(name: str, **overrides: Any) -> dict[str, Any]:
  """The full configuration of `name` with `overrides` applied; unknown keys are an error."""
  s = spec(name)
  unknown = sorted(set(overrides) - set(s.defaults))
  if unknown:
    raise ValueError(f"model {name!r} has no option {unknown[0]!r}; options: {', '.join(sorted(s.defaults))}")
  for k, v in overrides.items():
    _check_type(name, k, v, s.defaults[k])
  return {**s.defaults, **{k: tuple(v) if isinstance(v, list) else v for k, v in overrides.items()}}


def _check_type(name: str, key: str, value: Any, default: Any) -> None:
  """Overrides keep the type of the reference value (an int may stand for a float, a list for a tuple)."""
  if default is None:
    return
  ok = {
    bool: lambda v: isinstance(v, bool),
    int: lambda v: isinstance(v, int) and not isinstance(v, bool),
    float: lambda v: isinstance(v, int | float) and not isinstance(v, bool),
    str: lambda v: isinstance(v, str),
    tuple: lambda v: isinstance(v, list | tuple),
  }.get(type(default))
  if ok is not None and not ok(value):
    raise ValueError(f"model {name!r} option {key!r} must be {type(default).__name__}, got {value!r}")


def create(name: str, **overrides: Any) -> nn.Module:
  return spec(name).build(**resolve(name, **overrides))


def example_input(name: str, batch_size: int = 2, **overrides: Any) -> tuple[jax.Array, ...]:
  return spec(name).inputs(batch_size, resolve(name, **overrides))


def abstract_variables(name: str, **overrides: Any) -> dict:
  """Shapes of every variable collection, without allocating (jax.eval_shape)."""
  model = create(name, **overrides)
  xs = example_input(name, 1, **overrides)
  rngs = {"params": jax.random.key(0), "dropout": jax.random.key(1)}
  return jax.eval_shape(lambda: model.init(rngs, *xs, train=False))


def size_of(tree) -> int:
  return int(sum(x.size for x in jax.tree_util.tree_leaves(tree)))


def count_params(name: str, **overrides: Any) -> int:
  """Trainable parameters (the `params` collection only)."""
  return size_of(abstract_variables(name, **overrides)["params"])


def count_params_split(name: str, **overrides: Any) -> dict[str, int]:
  """Kaplan et al.'s split: all, embedding and non-embedding parameters; and `active`, those one token uses (a
  mixture of experts' routed experts count only as many as a token is sent to; all for other models)."""
  s, params = spec(name), abstract_variables(name, **overrides)["params"]
  emb = sum(size_of(params[k]) for k in s.embedding if k in params)
  total = size_of(params)
  active = total if s.active is None else s.active(params, resolve(name, **overrides))
  return {"all": total, "embedding": emb, "non_embedding": total - emb, "active": active}


def count_flops(name: str, batch_size: int = 1, **overrides: Any) -> float:
  """FLOPs of one forward pass in eval mode, by XLA's cost analysis of the compiled program."""
  model = create(name, **overrides)
  xs = example_input(name, batch_size, **overrides)
  variables = abstract_variables(name, **overrides)
  fwd = jax.jit(lambda v, *a: model.apply(v, *a, train=False))
  return flops_of(fwd, variables, *xs)


def flops_of(fn, *args) -> float:
  """XLA's FLOP count for the jitted `fn` at these (possibly abstract) arguments: the kit's one FLOP counter, by
  cost analysis of the lowered program (no compile)."""
  cost = fn.lower(*args).cost_analysis()
  if isinstance(cost, list):  # older jax returned one dict per program
    cost = cost[0] if cost else {}
  return float(cost.get("flops", 0.0))


def normal_input(shape: tuple[int, ...], dtype=jnp.float32) -> jax.Array:
  # numpy, not jax.random: example inputs are made often and jax.random compiles once per new shape
  return jnp.asarray(np.random.default_rng(0).standard_normal(shape), dtype)


def token_input(shape: tuple[int, ...], vocab: int) -> jax.Array:
  return jnp.asarray(np.random.default_rng(0).integers(0, vocab, shape), jnp.int32)
