"""BatchNorm as flax builds it, or with PyTorch's running-variance update, for models that import torch weights.

Both normalise a training batch with its biased variance; PyTorch's BatchNorm2d then moves the running variance
toward the unbiased one (n / (n - 1) times the biased), flax's toward the biased one. `variance="unbiased"` gives
PyTorch's update with the same variables (params scale/bias, batch_stats mean/var); "biased" is flax's own
nn.BatchNorm, unchanged. PyTorch's momentum m is flax's 1 - m (0.1 -> 0.9).
"""

from __future__ import annotations

import math

import flax.linen as nn
import jax
import jax.numpy as jnp
from jax import lax

VARIANCES = ("biased", "unbiased")


class TorchBatchNorm(nn.Module):
  """nn.BatchNorm's variables and eval-mode function; in train mode PyTorch's unbiased running-variance update."""

  use_running_average: bool
  momentum: float = 0.9
  epsilon: float = 1e-5
  scale_init: nn.initializers.Initializer = nn.initializers.ones

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    C = x.shape[-1]
    ra_mean = self.variable("batch_stats", "mean", lambda: jnp.zeros((C,), jnp.float32))
    ra_var = self.variable("batch_stats", "var", lambda: jnp.ones((C,), jnp.float32))
    scale = self.param("scale", self.scale_init, (C,), jnp.float32)
    bias = self.param("bias", nn.initializers.zeros, (C,), jnp.float32)
    if self.use_running_average:
      mean, var = ra_mean.value, ra_var.value
    else:
      axes = tuple(range(x.ndim - 1))
      n = math.prod(x.shape[:-1])
      mean, var = x.mean(axes), x.var(axes)
      if not self.is_initializing():
        m = self.momentum
        ra_mean.value = m * ra_mean.value + (1 - m) * mean
        ra_var.value = m * ra_var.value + (1 - m) * var * (n / max(n - 1, 1))
    shape = (1,) * (x.ndim - 1) + (C,)
    mul = (lax.rsqrt(var + self.epsilon) * scale).reshape(shape)
    return (x - mean.reshape(shape)) * mul + bias.reshape(shape)


def batch_norm(
  train: bool,
  name: str,
  *,
  momentum: float,
  epsilon: float,
  variance: str = "biased",
  scale_init: nn.initializers.Initializer = nn.initializers.ones,
) -> nn.Module:
  if variance not in VARIANCES:
    raise ValueError(f"bn_variance must be one of {', '.join(VARIANCES)}, got {variance!r}")
  cls = nn.BatchNorm if variance == "biased" else TorchBatchNorm
  return cls(use_running_average=not train, momentum=momentum, epsilon=epsilon, scale_init=scale_init, name=name)
