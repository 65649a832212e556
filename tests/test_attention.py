"""The attention backends by name: "auto" keeps a CPU's einsums (the same bits as "xla"), cudnn's limits are refused
at the boundary; the fused kernel in a program compiled for H100s is test_target's."""

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
  with logical.activation_sharding(None, (), "cpu"):
    assert attention.backend_for("auto", jnp.bfloat16, False) == "xla"


@pytest.mark.parametrize("dtype, dropout", [(jnp.float32, False), (jnp.bfloat16, True)])
def test_cudnn_outside_its_limits_is_refused(dtype, dropout):
  with pytest.raises(ValueError, match="attention 'cudnn' takes bf16 or f16 without dropout"):
    attention.backend_for("cudnn", dtype, dropout)
  with pytest.raises(ValueError, match="one of auto, xla, cudnn"):
    attention.backend_for("flash", dtype, dropout)


def test_gpt_on_a_cpu_gives_the_same_bits_with_auto_and_xla():
  args = dict(d_model=32, n_layers=2, n_heads=2, vocab=64, context=16, dtype="bfloat16")
  x = jax.random.randint(jax.random.key(0), (2, 16), 0, 64)
  auto, xla = zoo.create("gpt", **args), zoo.create("gpt", **args, attention="xla")
  variables = auto.init(jax.random.key(1), x)
  np.testing.assert_array_equal(np.asarray(auto.apply(variables, x)), np.asarray(xla.apply(variables, x)))
