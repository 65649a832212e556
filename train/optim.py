"""Optax optimizers and schedules from config. The learning rate may be a traced value, so runs that differ
only in it can train together under jax.vmap."""

from __future__ import annotations

import jax.numpy as jnp
import optax

from scalezoo.train.config import OptimizerConfig, ScheduleConfig


def schedule(s: ScheduleConfig, steps: int, lr) -> optax.Schedule:
  warm = min(s.warmup, max(steps - 1, 0))
  end = lr * s.final_fraction
  if s.name == "constant":
    main = optax.constant_schedule(lr)
  elif s.name == "cosine":
    main = optax.cosine_decay_schedule(lr, max(steps - warm, 1), alpha=s.final_fraction)
  elif s.name == "linear":
    main = optax.linear_schedule(lr, end, max(steps - warm, 1))
  elif s.name == "step":
    main = optax.exponential_decay(lr, s.step_every, s.step_factor, staircase=True)
  elif s.name == "wsd":
    return wsd(s, steps, lr)
  else:
    raise ValueError(f"unknown schedule {s.name!r}")
  if warm == 0:
    return main
  return optax.join_schedules([optax.linear_schedule(0.0, lr, warm), main], [warm])


def cooldown_start(steps: int, cooldown: float) -> int:
  """The step where a wsd run of `steps` steps starts to cool down: a stable run's checkpoint there is a branch's
  start (sweep/spec.py)."""
  return steps - int(cooldown * steps + 0.5)


COOLDOWN_SHAPES = {  # progress p in [0, 1) through the cooldown -> the fraction of the way from lr to the end
  "linear": lambda p: p,
  "cosine": lambda p: 0.5 * (1 - jnp.cos(jnp.pi * p)),
  "1-sqrt": jnp.sqrt,  # Hägele et al. 2024: lr * (1 - sqrt(p)), their best shape
}


def wsd(s: ScheduleConfig, steps: int, lr) -> optax.Schedule:
  """Warmup-stable-decay: linear warmup from 0, lr until cooldown_start, then down to lr * final_fraction.

  Before the cooldown the value does not depend on `steps` (nor on the cooldown): a run of any length agrees bit
  for bit with a longer or a constant one up to its cooldown, so a cooldown can branch from a stable run."""
  warm = min(s.warmup, max(steps - 1, 0))
  start = max(cooldown_start(steps, s.cooldown), warm)
  length, shape = max(steps - start, 1), COOLDOWN_SHAPES[s.cooldown_shape]

  def value(count):
    t = jnp.asarray(count, jnp.float32)
    up = lr * t / max(warm, 1)
    down = lr - (lr - lr * s.final_fraction) * shape(jnp.clip((t - start) / length, 0.0, 1.0))
    return jnp.where(t < warm, up, jnp.where(t < start, lr, down))

  return value


def optimizer(o: OptimizerConfig, s: ScheduleConfig, steps: int, lr=None) -> optax.GradientTransformationExtraArgs:
  lr = o.lr if lr is None else lr
  sched = schedule(s, steps, lr)
  wd = o.weight_decay
  match o.name:
    case "sgd":
      base = optax.sgd(sched, momentum=o.momentum or None, nesterov=o.nesterov)
    case "adam":
      base = optax.adam(sched, b1=o.b1, b2=o.b2, eps=o.eps)
    case "adamw":
      base = optax.adamw(sched, b1=o.b1, b2=o.b2, eps=o.eps, weight_decay=wd)
    case "rmsprop":
      base = optax.rmsprop(sched, eps=o.eps, momentum=o.momentum or None, nesterov=o.nesterov)
    case "adagrad":
      base = optax.adagrad(sched, eps=o.eps)
    case "lion":
      base = optax.lion(sched, b1=o.b1, b2=o.b2, weight_decay=wd)
    case _:
      raise ValueError(f"unknown optimizer {o.name!r}")
  parts = []
  if o.clip_norm > 0:
    parts.append(optax.clip_by_global_norm(o.clip_norm))
  if wd > 0 and o.name not in ("adamw", "lion"):  # L2-style decay added to the gradient (coupled)
    parts.append(optax.add_decayed_weights(wd))
  parts.append(base)
  if s.plateau_patience > 0:
    parts.append(optax.contrib.reduce_on_plateau(factor=s.plateau_factor, patience=s.plateau_patience))
  return optax.chain(*parts)
