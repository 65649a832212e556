"""EfficientNet (Tan & Le 2019) as torchvision builds it: MBConv blocks with squeeze-excitation, stochastic depth."""

from __future__ import annotations

import math

import flax.linen as nn
import jax

from scalezoo.zoo.batchnorm import batch_norm
from scalezoo.zoo.conv import Conv
from scalezoo.zoo.registry import ModelSpec, normal_input, register

# B0 stages: (expand ratio, kernel, stride, out channels, repeats)
STAGES = (
  (1, 3, 1, 16, 1),
  (6, 3, 2, 24, 2),
  (6, 5, 2, 40, 2),
  (6, 3, 2, 80, 3),
  (6, 5, 1, 112, 3),
  (6, 5, 2, 192, 4),
  (6, 3, 1, 320, 1),
)


def round_channels(v: float, d: int = 8) -> int:
  new = max(d, int(v + d / 2) // d * d)
  return new + d if new < 0.9 * v else new


# (momentum, epsilon, variance): TF's reference values by default; torchvision's B0 keeps BatchNorm2d's defaults
# (torch momentum 0.1, eps 1e-5, unbiased running variance): bn_momentum=0.9, bn_epsilon=1e-5, bn_variance="unbiased"
BN = tuple[float, float, str]


def _bn(train: bool, name: str, bn: BN = (0.99, 1e-3, "biased")) -> nn.Module:
  return batch_norm(train, name, momentum=bn[0], epsilon=bn[1], variance=bn[2])


class MBConv(nn.Module):
  out: int
  expand: int
  kernel: int
  stride: int
  drop_path: float
  bn: BN = (0.99, 1e-3, "biased")

  @nn.compact
  def __call__(self, x_BxHxWxC: jax.Array, train: bool) -> jax.Array:
    cin = x_BxHxWxC.shape[-1]
    mid = round_channels(cin * self.expand)
    h = x_BxHxWxC
    if mid != cin:
      h = nn.silu(_bn(train, "expand_bn", self.bn)(Conv(mid, (1, 1), use_bias=False, name="expand")(h)))
    p = self.kernel // 2
    h = Conv(
      mid,
      (self.kernel, self.kernel),
      (self.stride, self.stride),
      padding=((p, p), (p, p)),
      feature_group_count=mid,
      use_bias=False,
      name="depthwise",
    )(h)
    h = nn.silu(_bn(train, "depthwise_bn", self.bn)(h))
    # squeeze-excitation, squeezed to a quarter of the block's input width
    s = h.mean(axis=(1, 2), keepdims=True)
    s = nn.silu(Conv(max(1, cin // 4), (1, 1), name="se_reduce")(s))
    h = h * nn.sigmoid(Conv(mid, (1, 1), name="se_expand")(s))
    h = _bn(train, "project_bn", self.bn)(Conv(self.out, (1, 1), use_bias=False, name="project")(h))
    if self.stride == 1 and cin == self.out:
      # stochastic depth: drop the residual branch per example, rescaled like torchvision's "row" mode
      h = nn.Dropout(self.drop_path, broadcast_dims=(1, 2, 3), deterministic=not train)(h)
      h = h + x_BxHxWxC
    return h


class EfficientNet(nn.Module):
  width_mult: float = 1.0
  depth_mult: float = 1.0
  dropout: float = 0.2
  stochastic_depth: float = 0.2
  num_classes: int = 1000
  bn_momentum: float = 0.99
  bn_epsilon: float = 1e-3
  bn_variance: str = "biased"

  @nn.compact
  def __call__(self, x_BxHxWxC: jax.Array, *, train: bool = False) -> jax.Array:
    w = lambda c: round_channels(c * self.width_mult)
    bn = (self.bn_momentum, self.bn_epsilon, self.bn_variance)
    stem = Conv(w(32), (3, 3), (2, 2), padding=((1, 1), (1, 1)), use_bias=False, name="stem")(x_BxHxWxC)
    h = nn.silu(_bn(train, "stem_bn", bn)(stem))
    repeats = [int(math.ceil(r * self.depth_mult)) for *_, r in STAGES]
    total, k = sum(repeats), 0
    for s, ((expand, kernel, stride, out, _), n) in enumerate(zip(STAGES, repeats)):
      for i in range(n):
        h = MBConv(
          w(out),
          expand,
          kernel,
          stride if i == 0 else 1,
          self.stochastic_depth * k / total,
          bn,
          name=f"stage{s + 1}_{i}",
        )(h, train)
        k += 1
    h = Conv(4 * w(320), (1, 1), use_bias=False, name="head_conv")(h)
    h = nn.silu(_bn(train, "head_bn", bn)(h)).mean(axis=(1, 2))
    h = nn.Dropout(self.dropout, deterministic=not train)(h)
    return nn.Dense(self.num_classes, name="classifier")(h)


register(
  ModelSpec(
    name="efficientnet_b0",
    family="cnn",
    build=lambda image_size, in_channels, **cfg: EfficientNet(**cfg),
    defaults=dict(
      image_size=224,
      in_channels=3,
      width_mult=1.0,
      depth_mult=1.0,
      dropout=0.2,
      stochastic_depth=0.2,
      num_classes=1000,
      bn_momentum=0.99,
      bn_epsilon=1e-3,
      bn_variance="biased",
    ),
    inputs=lambda b, cfg: (normal_input((b, cfg["image_size"], cfg["image_size"], cfg["in_channels"])),),
    reference_params=5_288_548,  # torchvision
  )
)
