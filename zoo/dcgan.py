"""DCGAN (Radford et al. 2015) as in PyTorch's DCGAN example: 4x4 (transposed) convs, BN, no biases.

image_size is any power of two >= 8: the generator grows 1 -> 4 -> ... -> image_size, the discriminator mirrors
it. The reference counts (64x64x3, nz=100, 64 base features) are PyTorch's example; the paper gives none.
"""

from __future__ import annotations

import math

import flax.linen as nn
import jax

from scalezoo.zoo.conv import Conv, ConvTranspose
from scalezoo.zoo.registry import ModelSpec, normal_input, register

_init = nn.initializers.normal(0.02)


def _bn(train: bool, name: str) -> nn.BatchNorm:
  return nn.BatchNorm(
    use_running_average=not train, momentum=0.9, epsilon=1e-5, scale_init=nn.initializers.normal(0.02), name=name
  )


def _levels(image_size: int) -> int:
  n = int(math.log2(image_size)) - 2
  if n < 1 or 4 * 2**n != image_size:
    raise ValueError(f"DCGAN image_size must be a power of two >= 8, got {image_size}")
  return n


class Generator(nn.Module):
  image_size: int = 64
  channels: int = 3
  features: int = 64  # ngf: width of the last hidden layer

  @nn.compact
  def __call__(self, z_BxZ: jax.Array, *, train: bool = False) -> jax.Array:
    n = _levels(self.image_size)
    h = z_BxZ.reshape(z_BxZ.shape[0], 1, 1, -1)
    h = ConvTranspose(
      self.features * 2 ** (n - 1), (4, 4), padding="VALID", use_bias=False, kernel_init=_init, name="convt_0"
    )(h)  # 1x1 -> 4x4
    h = nn.relu(_bn(train, "bn_0")(h))
    for i in range(1, n):
      h = ConvTranspose(
        self.features * 2 ** (n - 1 - i),
        (4, 4),
        (2, 2),
        padding="SAME",
        use_bias=False,
        kernel_init=_init,
        name=f"convt_{i}",
      )(h)
      h = nn.relu(_bn(train, f"bn_{i}")(h))
    h = ConvTranspose(
      self.channels, (4, 4), (2, 2), padding="SAME", use_bias=False, kernel_init=_init, name=f"convt_{n}"
    )(h)
    return nn.tanh(h)  # images in [-1, 1]


class Discriminator(nn.Module):
  image_size: int = 64
  features: int = 64  # ndf: width of the first layer

  @nn.compact
  def __call__(self, x_BxHxWxC: jax.Array, *, train: bool = False) -> jax.Array:
    n = _levels(self.image_size)
    h = x_BxHxWxC
    for i in range(n):
      h = Conv(
        self.features * 2**i,
        (4, 4),
        (2, 2),
        padding=((1, 1), (1, 1)),
        use_bias=False,
        kernel_init=_init,
        name=f"conv_{i}",
      )(h)
      if i > 0:
        h = _bn(train, f"bn_{i}")(h)
      h = nn.leaky_relu(h, 0.2)
    h = Conv(1, (4, 4), padding="VALID", use_bias=False, kernel_init=_init, name=f"conv_{n}")(h)  # 4x4 -> 1x1
    return h.reshape(h.shape[0])  # logits_B


register(
  ModelSpec(
    name="dcgan_generator",
    family="gan",
    build=lambda latent, **cfg: Generator(**cfg),
    defaults=dict(latent=100, image_size=64, channels=3, features=64),
    inputs=lambda b, cfg: (normal_input((b, cfg["latent"])),),
    task="generative",
    reference_params=3_576_704,  # PyTorch DCGAN example
  )
)

register(
  ModelSpec(
    name="dcgan_discriminator",
    family="gan",
    build=lambda channels, **cfg: Discriminator(**cfg),
    defaults=dict(image_size=64, channels=3, features=64),
    inputs=lambda b, cfg: (normal_input((b, cfg["image_size"], cfg["image_size"], cfg["channels"])),),
    task="generative",
    reference_params=2_765_568,  # PyTorch DCGAN example
  )
)
