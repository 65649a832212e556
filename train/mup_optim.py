"""μP's per-layer learning rates as an Optax transform: each update multiplied by its parameter's multiplier,
looked up by path (zoo/mup.py). Chained after the optimizer, so the multiplier scales the whole step (the learning
rate, and AdamW's decoupled weight decay with it, as a per-layer learning rate does)."""

from __future__ import annotations

import jax
import optax

from scalezoo.zoo.mup import Mup
from scalezoo.zoo.sharding import path_of


def scale_by_mup(mup: Mup, optimizer: str) -> optax.GradientTransformation:
  def update(updates, state, params=None):
    del params
    scale = lambda keys, u: u * mup.lr_multiplier(path_of(keys), optimizer)
    return jax.tree_util.tree_map_with_path(scale, updates), state

  return optax.GradientTransformation(lambda params: optax.EmptyState(), update)


def with_mup(tx: optax.GradientTransformationExtraArgs, mup: Mup | None, optimizer: str):
  """`tx` itself under the standard parametrization; else tx then μP's multipliers."""
  return tx if mup is None else optax.chain(tx, scale_by_mup(mup, optimizer))
