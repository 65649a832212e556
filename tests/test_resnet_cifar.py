"""zoo.resnet_cifar's Conv: nn.Conv's forward bit for bit, and a hand-written backward equal to autodiff's."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from scalezoo.zoo.resnet_cifar import Conv, conv

# (input size, in channels, out channels, kernel, stride): every shape family ResNet-20/56 and option B use, odd
# sizes too (a strided window that does not reach the last row)
SHAPES = [(8, 3, 4, 3, 1), (8, 4, 6, 3, 2), (7, 4, 4, 3, 2), (6, 4, 8, 1, 2), (5, 2, 3, 1, 1)]


def _data(H, C, F, K):
  rng = np.random.default_rng(H * 1000 + C * 100 + F * 10 + K)
  x = jnp.asarray(rng.normal(size=(3, H, H, C)), jnp.float32)
  w = jnp.asarray(rng.normal(size=(K, K, C, F)) / np.sqrt(K * K * C), jnp.float32)
  return x, w


@pytest.mark.parametrize("H,C,F,K,s", SHAPES)
def test_forward_is_nn_conv_bit_for_bit(H, C, F, K, s):
  x, w = _data(H, C, F, K)
  p = (K - 1) // 2
  ref = nn.Conv(F, (K, K), (s, s), padding=((p, p), (p, p)), use_bias=False)
  v = {"params": {"kernel": w}}
  np.testing.assert_array_equal(jax.jit(Conv(F, K, s).apply)(v, x), jax.jit(ref.apply)(v, x))


@pytest.mark.parametrize("H,C,F,K,s", SHAPES)
def test_gradients_equal_autodiff(H, C, F, K, s):
  x, w = _data(H, C, F, K)
  p = (K - 1) // 2
  dy = jnp.asarray(np.random.default_rng(1).normal(size=conv(x, w, s, p).shape), jnp.float32)

  def reference(x, w):  # autodiff through lax's own convolution
    return jax.lax.conv_general_dilated(x, w, (s, s), ((p, p), (p, p)), dimension_numbers=("NHWC", "HWIO", "NHWC"))

  ours = jax.jit(lambda x, w: jax.vjp(lambda x, w: conv(x, w, s, p), x, w)[1](dy))(x, w)
  want = jax.jit(lambda x, w: jax.vjp(reference, x, w)[1](dy))(x, w)
  for got, ref in zip(ours, want, strict=True):
    assert got.shape == ref.shape and got.dtype == ref.dtype
    np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-5 * float(jnp.max(jnp.abs(ref))))
