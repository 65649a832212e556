"""CIFAR ResNets and plain nets (He et al. 2016, sec. 4.2): 6n+2 layers, widths 16-32-64 times `width`/16.

Option A shortcuts are parameter-free: a strided subsample and zero-padded channels. Option B projects with a
1x1 conv + BN when the shape changes; "none" gives the plain net with the same layers and no shortcuts.

Convolutions are zoo.conv's (nn.Conv's parameters and forward, a CPU backward of canonical convolutions).
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp

from scalezoo.zoo.conv import Conv
from scalezoo.zoo.registry import ModelSpec, normal_input, register


def _conv(features: int, k: int, stride: int, name: str) -> Conv:
  p = (k - 1) // 2
  return Conv(features, (k, k), stride, padding=((p, p), (p, p)), use_bias=False, name=name)


def _bn(train: bool, name: str) -> nn.BatchNorm:
  return nn.BatchNorm(use_running_average=not train, momentum=0.9, epsilon=1e-5, name=name)


class CifarBlock(nn.Module):
  features: int
  stride: int
  shortcut: str  # "A", "B" or "none"

  @nn.compact
  def __call__(self, x_BxHxWxC: jax.Array, train: bool) -> jax.Array:
    h = nn.relu(_bn(train, "bn1")(_conv(self.features, 3, self.stride, name="conv1")(x_BxHxWxC)))
    h = _bn(train, "bn2")(_conv(self.features, 3, 1, name="conv2")(h))
    if self.shortcut == "none":
      return nn.relu(h)
    x = x_BxHxWxC
    if self.stride != 1 or x.shape[-1] != self.features:
      if self.shortcut == "A":
        x = x[:, :: self.stride, :: self.stride, :]
        extra = self.features - x.shape[-1]
        x = jnp.pad(x, ((0, 0), (0, 0), (0, 0), (extra // 2, extra - extra // 2)))
      else:
        x = _conv(self.features, 1, self.stride, name="down_conv")(x)
        x = _bn(train, "down_bn")(x)
    return nn.relu(h + x)


class ResNetCifar(nn.Module):
  depth: int = 20  # 6n + 2
  width: int = 16  # channels of the first stage; stages use width, 2*width, 4*width
  shortcut: str = "A"
  num_classes: int = 10

  @nn.compact
  def __call__(self, x_BxHxWxC: jax.Array, *, train: bool = False) -> jax.Array:
    if (self.depth - 2) % 6:
      raise ValueError(f"CIFAR ResNet depth must be 6n+2 (20, 32, 44, 56, 110, ...), got {self.depth}")
    if self.shortcut not in ("A", "B", "none"):
      raise ValueError(f"shortcut must be 'A', 'B' or 'none', got {self.shortcut!r}")
    n = (self.depth - 2) // 6
    h = _conv(self.width, 3, 1, name="conv1")(x_BxHxWxC)
    h = nn.relu(_bn(train, "bn1")(h))
    for s in range(3):
      for i in range(n):
        stride = 2 if s > 0 and i == 0 else 1
        h = CifarBlock(self.width * 2**s, stride, self.shortcut, name=f"stage{s + 1}_{i}")(h, train)
    return nn.Dense(self.num_classes, name="fc")(h.mean(axis=(1, 2)))


def _spec(name: str, depth: int, shortcut: str, count: int | None) -> None:
  register(
    ModelSpec(
      name=name,
      family="resnet",
      build=lambda image_size, in_channels, **cfg: ResNetCifar(**cfg),
      defaults=dict(image_size=32, in_channels=3, depth=depth, width=16, shortcut=shortcut, num_classes=10),
      inputs=lambda b, cfg: (normal_input((b, cfg["image_size"], cfg["image_size"], cfg["in_channels"])),),
      reference_params=count,
    )
  )


_spec("resnet_cifar", 20, "A", None)  # the size family: sweep depth and width
_spec("resnet20", 20, "A", 269_722)  # He et al. 2016 table 6 says 0.27M
_spec("resnet56", 56, "A", 853_018)  # 0.85M
_spec("plain20", 20, "none", 269_722)  # no shortcut has parameters under option A, so the counts agree
_spec("plain56", 56, "none", 853_018)
