"""ResNet for ImageNet (He et al. 2015) as torchvision v1.5 builds it: stride in the 3x3, convs without bias.

Each block's last BN scale starts at zero (Goyal et al. 2017, as flax's example does; torchvision starts it at one).
"""

from __future__ import annotations

import flax.linen as nn
import jax

from scalezoo.zoo.batchnorm import batch_norm
from scalezoo.zoo.conv import Conv
from scalezoo.zoo.registry import ModelSpec, normal_input, register


def _conv(features: int, k: int, stride: int = 1, name: str | None = None) -> Conv:
  # torch-style symmetric padding (flax "SAME" pads stride-2 convs asymmetrically)
  return Conv(features, (k, k), (stride, stride), padding=((k // 2, k // 2),) * 2, use_bias=False, name=name)


def _bn(train: bool, name: str, zero: bool = False, variance: str = "biased") -> nn.Module:
  scale_init = nn.initializers.zeros if zero else nn.initializers.ones
  return batch_norm(train, name, momentum=0.9, epsilon=1e-5, variance=variance, scale_init=scale_init)


class BasicBlock(nn.Module):
  features: int
  stride: int = 1
  bn_variance: str = "biased"

  @nn.compact
  def __call__(self, x_BxHxWxC: jax.Array, train: bool) -> jax.Array:
    v = self.bn_variance
    h = nn.relu(_bn(train, "bn1", variance=v)(_conv(self.features, 3, self.stride, "conv1")(x_BxHxWxC)))
    h = _bn(train, "bn2", zero=True, variance=v)(_conv(self.features, 3, 1, "conv2")(h))
    return nn.relu(h + _shortcut(x_BxHxWxC, self.features, self.stride, train, v))


class Bottleneck(nn.Module):
  features: int
  stride: int = 1
  bn_variance: str = "biased"

  @nn.compact
  def __call__(self, x_BxHxWxC: jax.Array, train: bool) -> jax.Array:
    v = self.bn_variance
    h = nn.relu(_bn(train, "bn1", variance=v)(_conv(self.features, 1, 1, "conv1")(x_BxHxWxC)))
    h = nn.relu(_bn(train, "bn2", variance=v)(_conv(self.features, 3, self.stride, "conv2")(h)))
    h = _bn(train, "bn3", zero=True, variance=v)(_conv(self.features * 4, 1, 1, "conv3")(h))
    return nn.relu(h + _shortcut(x_BxHxWxC, self.features * 4, self.stride, train, v))


def _shortcut(x_BxHxWxC: jax.Array, out: int, stride: int, train: bool, variance: str) -> jax.Array:
  if stride == 1 and x_BxHxWxC.shape[-1] == out:
    return x_BxHxWxC
  # called inside the block's compact scope, so these submodules belong to the block
  return _bn(train, "down_bn", variance=variance)(_conv(out, 1, stride, "down_conv")(x_BxHxWxC))


class ResNet(nn.Module):
  stage_sizes: tuple[int, ...] = (2, 2, 2, 2)
  bottleneck: bool = False
  width: int = 64
  num_classes: int = 1000
  bn_variance: str = "biased"  # "unbiased": PyTorch's running-variance update (zoo/batchnorm.py)

  @nn.compact
  def __call__(self, x_BxHxWxC: jax.Array, *, train: bool = False) -> jax.Array:
    block = Bottleneck if self.bottleneck else BasicBlock
    h = nn.relu(_bn(train, "bn1", variance=self.bn_variance)(_conv(self.width, 7, 2, "conv1")(x_BxHxWxC)))
    h = nn.max_pool(h, (3, 3), (2, 2), padding=((1, 1), (1, 1)))
    for s, n in enumerate(self.stage_sizes):
      for i in range(n):
        stride = 2 if s > 0 and i == 0 else 1
        h = block(self.width * 2**s, stride, self.bn_variance, name=f"layer{s + 1}_{i}")(h, train)
    h = h.mean(axis=(1, 2))
    return nn.Dense(self.num_classes, name="fc")(h)


_VARIANTS = {
  "resnet18": ((2, 2, 2, 2), False, 11_689_512),
  "resnet34": ((3, 4, 6, 3), False, 21_797_672),
  "resnet50": ((3, 4, 6, 3), True, 25_557_032),
  "resnet101": ((3, 4, 23, 3), True, 44_549_160),
  "resnet152": ((3, 8, 36, 3), True, 60_192_808),
}

for _name, (_stages, _bottleneck, _count) in _VARIANTS.items():
  register(
    ModelSpec(
      name=_name,
      family="resnet",
      build=lambda image_size, in_channels, stage_sizes, **cfg: ResNet(tuple(stage_sizes), **cfg),
      defaults=dict(
        image_size=224,
        in_channels=3,
        stage_sizes=_stages,
        bottleneck=_bottleneck,
        width=64,
        num_classes=1000,
        bn_variance="biased",
      ),
      inputs=lambda b, cfg: (normal_input((b, cfg["image_size"], cfg["image_size"], cfg["in_channels"])),),
      reference_params=_count,  # torchvision
    )
  )
