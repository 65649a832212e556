"""μP's optimizer rules (Yang et al. 2022, Table 8): per-layer learning-rate multipliers by the parameter's role
(zoo/mup.py names the roles), as an Optax transform chained after the optimizer, so the multiplier scales the whole
step (the learning rate, and AdamW's decoupled weight decay with it, as a per-layer learning rate does).

With m = width / base width: hidden matrices Adam(W) lr x 1/m, SGD x 1; vector-like parameters Adam x 1, SGD x m;
parameters that do not grow x 1. Adam-like optimizers (adam, adamw, lion, rmsprop, adagrad normalise the gradient's
scale) take Adam's rules."""

from __future__ import annotations

import jax
import optax

from scalezoo.train.config import RunConfig
from scalezoo.zoo import mup as zoo_mup
from scalezoo.zoo.sharding import path_of

ADAM_LIKE = ("adam", "adamw", "lion", "rmsprop", "adagrad")


def of_config(cfg: RunConfig) -> zoo_mup.Mup | None:
  """The μP transform a RunConfig asks for, or None under the standard parametrization."""
  if cfg.parametrization != "mup":
    return None
  m = cfg.mup
  return zoo_mup.make(cfg.model, cfg.model_args, m.base, zero_readout=m.zero_readout, zero_query=m.zero_query)


def lr_multiplier(mup: zoo_mup.Mup, path: str, optimizer: str) -> float:
  role = zoo_mup.role_of(path)
  if role == "fixed":
    return 1.0
  if optimizer in ADAM_LIKE:
    return 1.0 / mup.ratio if role == "hidden" else 1.0
  return 1.0 if role == "hidden" else mup.ratio  # SGD: hidden fan-out/fan-in ratio is 1, vector-like x m


def scale_by_mup(mup: zoo_mup.Mup, optimizer: str) -> optax.GradientTransformation:
  def update(updates, state, params=None):
    del params
    scale = lambda keys, u: u * lr_multiplier(mup, path_of(keys), optimizer)
    return jax.tree_util.tree_map_with_path(scale, updates), state

  return optax.GradientTransformation(lambda params: optax.EmptyState(), update)


def with_mup(tx: optax.GradientTransformationExtraArgs, mup: zoo_mup.Mup | None, optimizer: str):
  """`tx` itself under the standard parametrization; else tx then μP's multipliers."""
  return tx if mup is None else optax.chain(tx, scale_by_mup(mup, optimizer))
