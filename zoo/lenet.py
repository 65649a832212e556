"""LeNet-5 in its modern form (LeCun et al. 1998): C3 fully connected to S2, no RBF output layer."""

from __future__ import annotations

import flax.linen as nn
import jax

from scalezoo.zoo.conv import Conv
from scalezoo.zoo.registry import ModelSpec, normal_input, register

ACTIVATIONS = {"tanh": nn.tanh, "relu": nn.relu, "sigmoid": nn.sigmoid}


class LeNet5(nn.Module):
  num_classes: int = 10
  activation: str = "tanh"
  pool: str = "avg"  # "avg" (subsampling, as in the paper) or "max"

  @nn.compact
  def __call__(self, x_BxHxWxC: jax.Array, *, train: bool = False) -> jax.Array:
    act = ACTIVATIONS[self.activation]
    pool = nn.avg_pool if self.pool == "avg" else nn.max_pool
    h = pool(act(Conv(6, (5, 5), padding="VALID", name="c1")(x_BxHxWxC)), (2, 2), (2, 2))  # 28 -> 14
    h = pool(act(Conv(16, (5, 5), padding="VALID", name="c3")(h)), (2, 2), (2, 2))  # 10 -> 5
    h = h.reshape(h.shape[0], -1)
    h = act(nn.Dense(120, name="c5")(h))
    h = act(nn.Dense(84, name="f6")(h))
    return nn.Dense(self.num_classes, name="head")(h)


register(
  ModelSpec(
    name="lenet5",
    family="cnn",
    build=lambda image_size, in_channels, **cfg: LeNet5(**cfg),
    defaults=dict(image_size=32, in_channels=1, num_classes=10, activation="tanh", pool="avg"),
    inputs=lambda b, cfg: (normal_input((b, cfg["image_size"], cfg["image_size"], cfg["in_channels"])),),
    reference_params=61_706,  # 156 + 2,416 + 48,120 + 10,164 + 850
  )
)
