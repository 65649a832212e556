"""The attention backends by name: "auto" keeps a CPU's einsums (the same bits as "xla"), the fused kernels' limits
are refused at the boundary; splash in Pallas' interpret mode equals the einsums (causal, sliding window, unmasked,
grouped queries, gradients, under a mesh); the fused kernels in programs compiled for H100s and v5e are
test_target's."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from scalezoo import zoo
from scalezoo.zoo import attention
from scalezoo.zoo import sharding as logical


def test_auto_is_xla_outside_a_gpu_step_and_cudnn_inside_one_where_it_applies():
  assert attention.backend_for("auto", jnp.bfloat16, False) == "xla"  # no step traced: no platform
  with logical.activation_sharding(None, (), "gpu"):
    assert attention.backend_for("auto", jnp.bfloat16, False) == "cudnn"
    assert attention.backend_for("auto", jnp.float32, False) == "xla"  # cuDNN's kernel takes bf16 or f16
    assert attention.backend_for("auto", jnp.bfloat16, True) == "xla"  # dropout on the probabilities
    assert attention.backend_for("auto", jnp.bfloat16, False, shape=(197, 197, 64)) == "xla"  # ViT's odd length
    assert attention.backend_for("auto", jnp.bfloat16, False, shape=(256, 256, 36)) == "xla"  # heads of 36
  with logical.activation_sharding(None, (), "cpu"):
    assert attention.backend_for("auto", jnp.bfloat16, False) == "xla"


@pytest.mark.parametrize("dtype, dropout", [(jnp.float32, False), (jnp.bfloat16, True)])
def test_cudnn_outside_its_limits_is_refused(dtype, dropout):
  with pytest.raises(ValueError, match="attention 'cudnn' takes bf16 or f16, even lengths"):
    attention.backend_for("cudnn", dtype, dropout)
  with pytest.raises(ValueError, match="one of auto, xla, cudnn, splash"):
    attention.backend_for("flash", dtype, dropout)


def test_gpt_on_a_cpu_gives_the_same_bits_with_auto_and_xla():
  args = dict(d_model=32, n_layers=2, n_heads=2, vocab=64, context=16, dtype="bfloat16")
  x = jax.random.randint(jax.random.key(0), (2, 16), 0, 64)
  auto, xla = zoo.create("gpt", **args), zoo.create("gpt", **args, attention="xla")
  variables = auto.init(jax.random.key(1), x)
  np.testing.assert_array_equal(np.asarray(auto.apply(variables, x)), np.asarray(xla.apply(variables, x)))


def test_auto_is_splash_in_a_tpu_step_where_its_blocks_tile_the_lengths():
  with logical.activation_sharding(None, (), "tpu"):
    assert attention.backend_for("auto", jnp.float32, False, shape=(256, 256, 64)) == "splash"
    assert attention.backend_for("auto", jnp.float32, False, False, unmasked=True, shape=(128, 384, 64)) == "splash"
    assert attention.backend_for("auto", jnp.float32, False, shape=(197, 197, 64)) == "xla"  # ViT's 14 x 14 + 1
    assert attention.backend_for("auto", jnp.bfloat16, True, shape=(256, 256, 64)) == "xla"  # dropout
    assert attention.backend_for("auto", jnp.bfloat16, False, False, shape=(256, 256, 64)) == "xla"  # a padding mask
  with pytest.raises(ValueError, match="attention 'splash' takes lengths in blocks of 128"):
    attention.backend_for("splash", jnp.float32, False, shape=(100, 100, 64))


def _qkv(L, S, H, G, K=32, B=2, seed=0):
  kq, kk, kv = jax.random.split(jax.random.key(seed), 3)
  return (
    jax.random.normal(kq, (B, L, H, K)),
    jax.random.normal(kk, (B, S, G, K)),
    jax.random.normal(kv, (B, S, G, K)),
  )


@pytest.mark.parametrize(
  "L, S, H, G, causal, window",
  [(256, 256, 4, 2, True, 0), (256, 256, 2, 2, True, 100), (128, 256, 4, 1, False, 0)],
  ids=["causal-gqa", "sliding-window", "unmasked-cross-mqa"],
)
def test_splash_in_interpret_mode_equals_the_einsums_values_and_gradients(L, S, H, G, causal, window):
  q, k, v = _qkv(L, S, H, G)
  pos = jnp.arange(L)[None]
  mask = attention.position_mask(pos, pos, window) if causal else None

  def loss(backend, q, k, v):
    att = attention.dot_product_attention(q, k, v, mask, backend=backend, causal=causal, window=window)
    return jnp.sum(att * jnp.cos(jnp.arange(att.size).reshape(att.shape))), att

  (_, xla), g_xla = jax.value_and_grad(functools.partial(loss, "xla"), (0, 1, 2), has_aux=True)(q, k, v)
  (_, splash), g_splash = jax.value_and_grad(functools.partial(loss, "splash"), (0, 1, 2), has_aux=True)(q, k, v)
  np.testing.assert_allclose(splash, xla, rtol=2e-5, atol=2e-5)  # f32: the kernel's online softmax reorders sums
  for a, b in zip(g_splash, g_xla, strict=True):
    np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-4)


def test_splash_under_a_mesh_runs_per_device_on_its_rows_and_heads():
  mesh = jax.make_mesh((2, 2), ("data", "tensor"), axis_types=(jax.sharding.AxisType.Auto,) * 2)
  rules = (("activation_batch", "data"), ("activation_heads", "tensor"), ("activation_length", None))
  q, k, v = _qkv(128, 128, 4, 2)
  want = attention.dot_product_attention(q, k, v, attention.causal_mask(128), causal=True)
  with logical.activation_sharding(mesh, rules, "cpu"):
    f = jax.jit(lambda q, k, v: attention.dot_product_attention(q, k, v, backend="splash", causal=True))
    text = f.lower(q, k, v).as_text()
    got = f(q, k, v)
  assert "shard_map" in text or "sdy.manual_computation" in text, text[:2000]
  np.testing.assert_allclose(got, want, rtol=2e-5, atol=2e-5)


def test_llama_with_a_sliding_window_on_splash_equals_its_einsums():
  args = dict(d_model=64, n_layers=1, n_heads=4, n_kv_heads=2, vocab=64, context=128, sliding_window=48)
  x = jax.random.randint(jax.random.key(0), (1, 128), 0, 64)
  xla = zoo.create("llama", **args, attention="xla")
  variables = xla.init(jax.random.key(1), x)
  got = zoo.create("llama", **args, attention="splash").apply(variables, x)
  np.testing.assert_allclose(got, xla.apply(variables, x), rtol=1e-4, atol=1e-4)
