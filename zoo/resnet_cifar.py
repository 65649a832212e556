"""CIFAR ResNets and plain nets (He et al. 2016, sec. 4.2): 6n+2 layers, widths 16-32-64 times `width`/16.

Option A shortcuts are parameter-free: a strided subsample and zero-padded channels. Option B projects with a
1x1 conv + BN when the shape changes; "none" gives the plain net with the same layers and no shortcuts.

Convolutions are `Conv`: nn.Conv's parameter and forward op, with the backward pass written as two canonical forward
convolutions (input gradient: dy against the flipped kernel; kernel gradient: the input against dy). XLA:CPU runs
those on its fast convolution kernels, while the transposed convolutions that autodiff emits fell back to naive
loops inside the train step (~40x slower for ResNet-20). Forward-mode autodiff (jax.jvp) of these models is not
supported.
"""

from __future__ import annotations

import functools

import flax.linen as nn
import jax
import jax.numpy as jnp

from scalezoo.zoo.registry import ModelSpec, normal_input, register

_NHWC = ("NHWC", "HWIO", "NHWC")


@functools.partial(jax.custom_vjp, nondiff_argnums=(2, 3))
def conv(x_BxHxWxC: jax.Array, w_KxKxCxF: jax.Array, stride: int, pad: int) -> jax.Array:
  """nn.Conv's op: a KxK convolution with `stride` and symmetric zero padding `pad`, NHWC and HWIO."""
  return jax.lax.conv_general_dilated(x_BxHxWxC, w_KxKxCxF, (stride, stride), ((pad, pad), (pad, pad)),
                                      dimension_numbers=_NHWC)


def _conv_fwd(x, w, stride, pad):
  return conv(x, w, stride, pad), (x, w)


def _channels_first(x_BxHxWxC: jax.Array) -> jax.Array:
  """x.transpose(3, 1, 2, 0), with the channels moved by an exact identity matmul first: a plain transpose let XLA
  recompute the BN/ReLU/residual chain that produced x inside the (slow, strided) transpose loop, once per layer
  that reads it (ResNet-20 step: ~18% more CPU time). A dot is no fusion producer, so x is read as stored."""
  B, H, W, C = x_BxHxWxC.shape
  x_CxBxN = jax.lax.dot_general(jnp.eye(C, dtype=x_BxHxWxC.dtype), x_BxHxWxC.reshape(B, H * W, C),
                                (((1,), (2,)), ((), ())), precision=jax.lax.Precision.HIGHEST)
  return x_CxBxN.reshape(C, B, H, W).transpose(0, 2, 3, 1)


def _conv_bwd(stride, pad, res, dy_BxHoxWoxF):
  x, w = res
  K, H, Ho = w.shape[0], x.shape[1], dy_BxHoxWoxF.shape[1]
  # input gradient: dy dilated by the stride and padded, convolved (stride 1) with the flipped, transposed kernel
  lo = K - 1 - pad
  hi = H - (stride * (Ho - 1) + 1) - lo + K - 1
  dyp = jax.lax.pad(dy_BxHoxWoxF, jnp.zeros((), dy_BxHoxWoxF.dtype),
                    ((0, 0, 0), (lo, hi, stride - 1), (lo, hi, stride - 1), (0, 0, 0)))
  dx = jax.lax.conv_general_dilated(dyp, jnp.flip(w, (0, 1)).swapaxes(2, 3), (1, 1), "VALID", dimension_numbers=_NHWC)
  # kernel gradient: a stride-1 convolution of the input (channels as batch, examples as features) with dy as the
  # kernel (dilated by the stride), which leaves a KxK output
  span = stride * (Ho - 1) + 1
  hi = max(K - 1 - H - pad + span, 0)
  dw = jax.lax.conv_general_dilated(_channels_first(x), dy_BxHoxWoxF.transpose(1, 2, 0, 3), (1, 1),
                                    ((pad, hi), (pad, hi)), rhs_dilation=(stride, stride), dimension_numbers=_NHWC)
  dw = dw[:, :K, :K, :].transpose(1, 2, 0, 3)
  return dx.astype(x.dtype), dw.astype(w.dtype)


conv.defvjp(_conv_fwd, _conv_bwd)


class Conv(nn.Module):
  """nn.Conv(features, (K, K), (s, s), padding=((p, p), (p, p)), use_bias=False): same parameter, same forward."""

  features: int
  kernel: int = 3
  stride: int = 1

  @nn.compact
  def __call__(self, x_BxHxWxC: jax.Array) -> jax.Array:
    K = self.kernel
    w = self.param("kernel", nn.initializers.lecun_normal(), (K, K, x_BxHxWxC.shape[-1], self.features))
    x, w = nn.dtypes.promote_dtype(x_BxHxWxC, w)
    return conv(x, w, self.stride, (K - 1) // 2)


def _bn(train: bool, name: str) -> nn.BatchNorm:
  return nn.BatchNorm(use_running_average=not train, momentum=0.9, epsilon=1e-5, name=name)


class CifarBlock(nn.Module):
  features: int
  stride: int
  shortcut: str  # "A", "B" or "none"

  @nn.compact
  def __call__(self, x_BxHxWxC: jax.Array, train: bool) -> jax.Array:
    h = nn.relu(_bn(train, "bn1")(Conv(self.features, 3, self.stride, name="conv1")(x_BxHxWxC)))
    h = _bn(train, "bn2")(Conv(self.features, 3, 1, name="conv2")(h))
    if self.shortcut == "none":
      return nn.relu(h)
    x = x_BxHxWxC
    if self.stride != 1 or x.shape[-1] != self.features:
      if self.shortcut == "A":
        x = x[:, :: self.stride, :: self.stride, :]
        extra = self.features - x.shape[-1]
        x = jnp.pad(x, ((0, 0), (0, 0), (0, 0), (extra // 2, extra - extra // 2)))
      else:
        x = Conv(self.features, 1, self.stride, name="down_conv")(x)
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
    h = Conv(self.width, 3, 1, name="conv1")(x_BxHxWxC)
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
