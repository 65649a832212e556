"""The zoo's one convolution layer: nn.Conv's and nn.ConvTranspose's parameters and forward op, and on XLA:CPU a
hand-written backward made of canonical (NHWC/HWIO) forward convolutions.

Autodiff's transposed convolutions (kernel in/out swapped, batch and features swapped) ran as naive loops on
XLA:CPU inside the engine's scanned train chunk, many times slower than forward convolutions (a bare jit of one
step was as fast either way). Here the input gradient is dy, dilated by the stride, convolved with the
flipped kernel; the kernel gradient is the input (channels as batch, examples as features) convolved with dy as
the kernel. The custom VJP is chosen at trace time on the CPU backend only; elsewhere the plain lax op and autodiff
run. Forward-mode autodiff (jax.jvp) through the CPU path is unsupported (a custom_vjp).
"""

from __future__ import annotations

from collections.abc import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
from jax import lax

_NHWC = ("NHWC", "HWIO", "NHWC")
Pads = tuple[tuple[int, int], tuple[int, int]]


def conv2d(
  x_BxHxWxC: jax.Array,
  w_KxKxCgxF: jax.Array,
  strides: tuple[int, int],
  pads: Pads,
  lhs_dilation: tuple[int, int] = (1, 1),
  groups: int = 1,
) -> jax.Array:
  """lax.conv_general_dilated in NHWC/HWIO with explicit padding; the CPU backward when on the CPU backend."""
  if jax.default_backend() == "cpu":
    return _conv_cpu(x_BxHxWxC, w_KxKxCgxF, strides, pads, lhs_dilation, groups)
  return _conv(x_BxHxWxC, w_KxKxCgxF, strides, pads, lhs_dilation, groups)


def _conv(x, w, strides, pads, lhs_dilation, groups):
  return lax.conv_general_dilated(
    x, w, strides, pads, lhs_dilation, dimension_numbers=_NHWC, feature_group_count=groups
  )


_conv_cpu = jax.custom_vjp(_conv, nondiff_argnums=(2, 3, 4, 5))


def _fwd(x, w, strides, pads, lhs_dilation, groups):
  return _conv(x, w, strides, pads, lhs_dilation, groups), (x, w)


def _channels_first(x_BxHxWxC: jax.Array, groups: int) -> jax.Array:
  """x as (C/G, H, W, G*B): channels in the batch slot, (group, example) as features. Ungrouped, the channels are
  moved by an exact identity matmul first: a plain transpose let XLA recompute the BN/ReLU/residual chain that
  produced x inside the (slow, strided) transpose loop, once per layer that reads it. A dot is no fusion producer,
  so x is read as stored. Grouped (depthwise), that dot would cost C/G times
  the convolution itself, so it is a plain transpose."""
  B, H, W, C = x_BxHxWxC.shape
  if groups == 1:
    x_CxBxN = lax.dot_general(
      jnp.eye(C, dtype=x_BxHxWxC.dtype),
      x_BxHxWxC.reshape(B, H * W, C),
      (((1,), (2,)), ((), ())),
      precision=lax.Precision.HIGHEST,
    )
    return x_CxBxN.reshape(C, B, H, W).transpose(0, 2, 3, 1)
  x = x_BxHxWxC.reshape(B, H, W, groups, C // groups).transpose(4, 1, 2, 3, 0)
  return x.reshape(C // groups, H, W, groups * B)


def _conv_unswapped(lhs, rhs, strides, cfg, rhs_dilation=(1, 1), groups=1):
  """lax.pad(lhs, cfg) convolved VALID with rhs (NHWC/HWIO). XLA folds the pad into the convolution, and its
  algebraic simplifier swaps the operands of a convolution whose window has more taps than its input has pixels,
  which XLA:CPU then runs as a slow naive loop (a 2x2 input under a 3x3 kernel, as in ResNet-18's last stage at
  64x64). There the padded input is kept behind an optimization barrier: no fold, no swap. (The forward's own
  swapped convolutions stay: another algorithm would change the forward's bits.)"""
  lhs_p = lax.pad(lhs, jnp.zeros((), lhs.dtype), [(0, 0, 0), *cfg, (0, 0, 0)])
  if rhs.shape[0] * rhs.shape[1] > lhs.shape[1] * lhs.shape[2]:
    lhs_p = lax.optimization_barrier(lhs_p)
  return lax.conv_general_dilated(
    lhs_p, rhs, strides, "VALID", rhs_dilation=rhs_dilation, dimension_numbers=_NHWC, feature_group_count=groups
  )


def _bwd(strides, pads, lhs_dilation, groups, res, dy_BxHoxWoxF):
  x, w = res
  (K0, K1, Cg, F), Ho = w.shape, dy_BxHoxWoxF.shape[1:3]
  # input gradient: dy dilated by the stride and padded so that a VALID convolution with the flipped kernel,
  # strided by the forward's lhs dilation, lands on every input pixel
  cfg = []
  for k, h, ho, s, d, (lo, _) in zip((K0, K1), x.shape[1:3], Ho, strides, lhs_dilation, pads):
    cfg.append((k - 1 - lo, d * (h - 1) + lo - s * (ho - 1), s - 1))
  w_t = jnp.flip(w, (0, 1)).reshape(K0, K1, Cg, groups, F // groups).transpose(0, 1, 4, 3, 2)
  dx = _conv_unswapped(dy_BxHoxWoxF, w_t.reshape(K0, K1, F // groups, groups * Cg), lhs_dilation, cfg, groups=groups)
  # kernel gradient: the (lhs-dilated, padded) input with channels as batch, convolved (stride 1) with dy as the
  # kernel, dilated by the stride; the high pad leaves exactly a KxK output
  cfg = []
  for k, h, ho, s, d, (lo, _) in zip((K0, K1), x.shape[1:3], Ho, strides, lhs_dilation, pads):
    cfg.append((lo, k - 1 - lo + s * (ho - 1) - d * (h - 1), d - 1))
  dy_t = dy_BxHoxWoxF.transpose(1, 2, 0, 3)  # (Ho, Wo, B, F): HWIO with the examples as inputs
  dw = _conv_unswapped(_channels_first(x, groups), dy_t, (1, 1), cfg, strides, groups)
  return dx.astype(x.dtype), dw.transpose(1, 2, 0, 3).astype(w.dtype)


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
