"""The zoo's one convolution layer: nn.Conv's and nn.ConvTranspose's parameters and forward op, and on XLA:CPU a
hand-written backward made of canonical forward convolutions.

Autodiff's transposed convolutions (kernel in/out swapped, batch and features swapped, lhs-dilated) run on XLA:CPU
as naive loops inside a train step (ResNet-20: 37 s a step, 0.3 s with this backward). Here the input gradient is
dy, interior-padded by the stride, convolved with the flipped kernel; the kernel gradient is the input (channels as
batch, examples as features) convolved with dy as the kernel. Both are NHWC/HWIO convolutions, XLA:CPU's fast ones.
The custom VJP is chosen at trace time on the CPU backend only; elsewhere the plain lax op and autodiff run.
Forward-mode autodiff (jax.jvp) through the CPU path is unsupported (a custom_vjp).
"""

from __future__ import annotations

from collections.abc import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
from jax import lax

_NHWC = ("NHWC", "HWIO", "NHWC")
Pads = tuple[tuple[int, int], tuple[int, int]]


def conv2d(x_BxHxWxC: jax.Array, w_KxKxCgxF: jax.Array, strides: tuple[int, int], pads: Pads,
           lhs_dilation: tuple[int, int] = (1, 1), groups: int = 1) -> jax.Array:
  """lax.conv_general_dilated in NHWC/HWIO with explicit padding; the CPU backward when on the CPU backend."""
  if jax.default_backend() == "cpu":
    return _conv_cpu(x_BxHxWxC, w_KxKxCgxF, strides, pads, lhs_dilation, groups)
  return _conv(x_BxHxWxC, w_KxKxCgxF, strides, pads, lhs_dilation, groups)


def _conv(x, w, strides, pads, lhs_dilation, groups):
  return lax.conv_general_dilated(x, w, strides, pads, lhs_dilation, dimension_numbers=_NHWC,
                                  feature_group_count=groups)


_conv_cpu = jax.custom_vjp(_conv, nondiff_argnums=(2, 3, 4, 5))


def _fwd(x, w, strides, pads, lhs_dilation, groups):
  return _conv(x, w, strides, pads, lhs_dilation, groups), (x, w)


def _channels_first(x_BxHxWxC: jax.Array, groups: int) -> jax.Array:
  """x as (C/G, H, W, G*B): channels in the batch slot, (group, example) as features. The channels are moved by an
  exact identity matmul first: a plain transpose let XLA recompute the BN/ReLU/residual chain that produced x
  inside the (slow, strided) transpose loop, once per layer that reads it (ResNet-20 step: ~18% more CPU time). A
  dot is no fusion producer, so x is read as stored."""
  B, H, W, C = x_BxHxWxC.shape
  x_CxBxN = lax.dot_general(jnp.eye(C, dtype=x_BxHxWxC.dtype), x_BxHxWxC.reshape(B, H * W, C),
                            (((1,), (2,)), ((), ())), precision=lax.Precision.HIGHEST)
  x = x_CxBxN.reshape(groups, C // groups, B, H, W).transpose(1, 3, 4, 0, 2)
  return x.reshape(C // groups, H, W, groups * B)


def _bwd(strides, pads, lhs_dilation, groups, res, dy_BxHoxWoxF):
  x, w = res
  K, H, Ho = w.shape[:2], x.shape[1:3], dy_BxHoxWoxF.shape[1:3]
  Cg, F = w.shape[2:]
  # input gradient: dy dilated by the stride, padded so that a VALID convolution with the flipped kernel, strided
  # by the forward's lhs dilation, lands on every input pixel
  cfg = [(0, 0, 0)]
  for k, h, ho, s, d, (lo, _) in zip(K, H, Ho, strides, lhs_dilation, pads):
    low = k - 1 - lo
    cfg.append((low, k + d * (h - 1) - s * (ho - 1) - 1 - low, s - 1))
  dyp = lax.pad(dy_BxHoxWoxF, jnp.zeros((), dy_BxHoxWoxF.dtype), cfg + [(0, 0, 0)])
  w_t = jnp.flip(w, (0, 1)).reshape(*K, Cg, groups, F // groups).transpose(0, 1, 4, 3, 2)
  dx = lax.conv_general_dilated(dyp, w_t.reshape(*K, F // groups, groups * Cg), lhs_dilation, "VALID",
                                dimension_numbers=_NHWC, feature_group_count=groups)
  # kernel gradient: the (lhs-dilated) input, channels as batch, convolved (stride 1) with dy as the kernel dilated
  # by the stride; padded high just enough to leave a KxK output
  xd = x
  if lhs_dilation != (1, 1):
    xd = lax.pad(x, jnp.zeros((), x.dtype), [(0, 0, 0)] + [(0, 0, d - 1) for d in lhs_dilation] + [(0, 0, 0)])
  conv_pads = []
  for k, h, ho, s, (lo, _) in zip(K, xd.shape[1:3], Ho, strides, pads):
    conv_pads.append((lo, max(k - 1 - h - lo + s * (ho - 1) + 1, 0)))
  B = x.shape[0]
  dy_t = dy_BxHoxWoxF.transpose(1, 2, 0, 3)  # (Ho, Wo, B, F): HWIO with examples as inputs
  dw = lax.conv_general_dilated(_channels_first(xd, groups), dy_t, (1, 1), conv_pads, rhs_dilation=strides,
                                dimension_numbers=_NHWC, feature_group_count=groups)
  del B
  dw = dw[:, : K[0], : K[1], :].transpose(1, 2, 0, 3)
  return dx.astype(x.dtype), dw.astype(w.dtype)


_conv_cpu.defvjp(_fwd, _bwd)


def _pair(v: int | Sequence[int]) -> tuple[int, int]:
  return (v, v) if isinstance(v, int) else tuple(v)


def _pads(padding, pads_of_str) -> Pads:
  if isinstance(padding, str):
    return pads_of_str(padding)
  if isinstance(padding, int):
    return ((padding, padding),) * 2
  return tuple((p, p) if isinstance(p, int) else tuple(p) for p in padding)


class Conv(nn.Module):
  """nn.Conv (2-D, NHWC) with the same parameters, initialisers and forward op: kernel_size, strides, padding
  ('SAME', 'VALID', an int or per-dimension pairs), feature_group_count, use_bias."""

  features: int
  kernel_size: Sequence[int]
  strides: int | Sequence[int] = 1
  padding: str | int | Sequence = "SAME"
  feature_group_count: int = 1
  use_bias: bool = True
  kernel_init: nn.initializers.Initializer = nn.linear.default_kernel_init
  bias_init: nn.initializers.Initializer = nn.initializers.zeros_init()

  @nn.compact
  def __call__(self, x_BxHxWxC: jax.Array) -> jax.Array:
    K, strides = tuple(self.kernel_size), _pair(self.strides)
    C = x_BxHxWxC.shape[-1]
    w = self.param("kernel", self.kernel_init, (*K, C // self.feature_group_count, self.features), jnp.float32)
    b = self.param("bias", self.bias_init, (self.features,), jnp.float32) if self.use_bias else None
    x, w, b = nn.dtypes.promote_dtype(x_BxHxWxC, w, b)
    pads = _pads(self.padding, lambda p: tuple(lax.padtype_to_pads(x.shape[1:3], K, strides, p)))
    y = conv2d(x, w, strides, pads, groups=self.feature_group_count)
    return y if b is None else y + b.reshape(1, 1, 1, -1)


def _transpose_pads(k: int, s: int, padding: str) -> tuple[int, int]:
  """lax.conv_transpose's padding for 'SAME'/'VALID' (its _conv_transpose_padding)."""
  if padding == "SAME":
    total, lo = k + s - 2, (k - 1 if s > k - 1 else -(-(k + s - 2) // 2))
  elif padding == "VALID":
    total, lo = k + s - 2 + max(k - s, 0), k - 1
  else:
    raise ValueError(f"padding must be 'SAME', 'VALID' or explicit pairs, got {padding!r}")
  return lo, total - lo


class ConvTranspose(nn.Module):
  """nn.ConvTranspose (2-D, NHWC, transpose_kernel=False) with the same parameters and forward op: a fractionally
  strided convolution (input dilated by the stride), the kernel not flipped."""

  features: int
  kernel_size: Sequence[int]
  strides: int | Sequence[int] = 1
  padding: str | int | Sequence = "SAME"
  use_bias: bool = True
  kernel_init: nn.initializers.Initializer = nn.linear.default_kernel_init
  bias_init: nn.initializers.Initializer = nn.initializers.zeros_init()

  @nn.compact
  def __call__(self, x_BxHxWxC: jax.Array) -> jax.Array:
    K, strides = tuple(self.kernel_size), _pair(self.strides)
    w = self.param("kernel", self.kernel_init, (*K, x_BxHxWxC.shape[-1], self.features), jnp.float32)
    b = self.param("bias", self.bias_init, (self.features,), jnp.float32) if self.use_bias else None
    x, w, b = nn.dtypes.promote_dtype(x_BxHxWxC, w, b)
    pads = _pads(self.padding, lambda p: tuple(_transpose_pads(k, s, p) for k, s in zip(K, strides)))
    y = conv2d(x, w, (1, 1), pads, lhs_dilation=strides)
    return y if b is None else y + b.reshape(1, 1, 1, -1)
