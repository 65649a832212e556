"""Causal self-attention for the zoo's decoders: one function, its backends chosen by name.

"xla": einsums with the logits and softmax in f32, probabilities in the compute dtype (the numbers every committed
study has, on every platform). "cudnn": NVIDIA's fused kernel through jax.nn.dot_product_attention (cuDNN >= 9.8,
bf16 or f16 inputs, no dropout on the probabilities). "auto" (the default): cudnn where the step compiles for GPUs
and it applies, else xla. The platform is the engine's (zoo/sharding.platform: a target's when compiling for one),
so a CPU keeps its bits. TPU's splash kernel is not here yet: on TPUs "auto" is xla.
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp

from scalezoo.zoo import sharding as logical

BACKENDS = ("auto", "xla", "cudnn")
_CUDNN_DTYPES = (jnp.bfloat16, jnp.float16)


def backend_for(backend: str, dtype, dropout: bool) -> str:
  """The backend that runs: `backend` itself, or for "auto" the best the platform has for these inputs."""
  if backend not in BACKENDS:
    raise ValueError(f"attention {backend!r}: one of {', '.join(BACKENDS)}")
  fits = dtype in _CUDNN_DTYPES and not dropout
  if backend == "cudnn" and not fits:
    raise ValueError(f"attention 'cudnn' takes bf16 or f16 without dropout, got {jnp.dtype(dtype).name}, {dropout=}")
  if backend == "auto":
    return "cudnn" if fits and logical.platform() == "gpu" else "xla"
  return backend


def causal(
  q_BxLxHxK: jax.Array,
  k_BxLxHxK: jax.Array,
  v_BxLxHxK: jax.Array,
  *,
  scale: float,
  backend: str = "auto",
  drop: Callable[[jax.Array], jax.Array] | None = None,
) -> jax.Array:
  """softmax(q k^T * scale, causal) v per head; `drop`: dropout on the probabilities (xla only)."""
  if backend_for(backend, q_BxLxHxK.dtype, drop is not None) == "cudnn":
    att_BxLxHxK = jax.nn.dot_product_attention(
      q_BxLxHxK, k_BxLxHxK, v_BxLxHxK, scale=scale, is_causal=True, implementation="cudnn"
    )
    return logical.constrain(att_BxLxHxK, logical.BLHK)
  L = q_BxLxHxK.shape[1]
  logits_BxHxLxL = jnp.einsum("bqhk,bthk->bhqt", q_BxLxHxK * scale, k_BxLxHxK).astype(jnp.float32)
  causal_1x1xLxL = jnp.tril(jnp.ones((L, L), bool))[None, None]
  logits_BxHxLxL = jnp.where(causal_1x1xLxL, logits_BxHxLxL, jnp.finfo(jnp.float32).min)
  logits_BxHxLxL = logical.constrain(logits_BxHxLxL, logical.BHLL)
  probs_BxHxLxL = jax.nn.softmax(logits_BxHxLxL, axis=-1).astype(v_BxLxHxK.dtype)
  probs_BxHxLxL = probs_BxHxLxL if drop is None else drop(probs_BxHxLxL)
  return logical.constrain(jnp.einsum("bhqt,bthk->bqhk", probs_BxHxLxL, v_BxLxHxK), logical.BLHK)
