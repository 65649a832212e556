"""Multi-head attention in flax's parameter layout (nn.MultiHeadDotProductAttention's query, key, value and out
DenseGeneral layers) over zoo/attention.py's one function, so bert, vit and transformer keep their parameter trees
(the Hugging Face and torchvision weight maps, checkpoints) and take the attention backend by name.

The einsums are flax's numbers: the query divided by sqrt(head width) as flax divides it, the logits masked, the
softmax in f32, and dropout on the probabilities with one keep-mask per (query, key) shared by the batch and the
heads (flax's broadcast_dropout), drawn from this module's dropout stream as flax's layer draws it. So a model
gives flax's bits on a CPU, in training too (tests/test_mha.py); μP's `attn_mult` multiplies the scaled query
where flax's hook multiplied the logits (equal up to float rounding). In bf16 (a run's precision "bf16") the softmax
runs in f32, as everywhere in the zoo; flax's layer took it in bf16.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import flax.linen as nn
import jax
import jax.numpy as jnp

from scalezoo.zoo.attention import dot_product_attention


def broadcast_dropout(rate: float, key: jax.Array, probs: jax.Array) -> jax.Array:
  """flax's dropout of attention probabilities: one keep-mask over the last two axes, the same for the others."""
  keep = 1.0 - rate
  keep_LxS = jax.random.bernoulli(key, keep, (1,) * (probs.ndim - 2) + probs.shape[-2:])
  return probs * (keep_LxS.astype(probs.dtype) / jnp.asarray(keep, dtype=probs.dtype))


def padding_mask(q_tokens_BxL: jax.Array, k_tokens_BxS: jax.Array, pad_id: int) -> jax.Array | None:
  """True where neither the query's token nor the key's is `pad_id`: B x L x S (flax's make_attention_mask as
  booleans); None for a negative pad_id, which masks nothing (the fused kernels then apply)."""
  if pad_id < 0:
    return None
  return (q_tokens_BxL != pad_id)[:, :, None] & (k_tokens_BxS != pad_id)[:, None, :]


class MultiHeadAttention(nn.Module):
  n_heads: int
  dropout: float = 0.0  # on the attention probabilities
  attn_mult: float = 1.0  # multiplies the 1/sqrt(head width) logit scale (μP: zoo/mup.py)
  attention: str = "auto"  # the backend (zoo/attention.py)
  kernel_init: Callable = nn.linear.default_kernel_init

  @nn.compact
  def __call__(
    self,
    x_BxLxD: jax.Array,
    kv_BxSxD: jax.Array | None = None,
    mask_BxLxS: jax.Array | None = None,
    *,
    causal: bool = False,
    train: bool = False,
  ) -> jax.Array:
    """Attention of x's queries over kv's keys (x's own without kv): B x L x D. `mask_BxLxS` is True where a query
    sees a key; `causal` says it is the causal mask (a fused kernel builds it itself)."""
    kv_BxSxD = x_BxLxD if kv_BxSxD is None else kv_BxSxD
    D = x_BxLxD.shape[-1]
    H, K = self.n_heads, D // self.n_heads
    dense = functools.partial(nn.DenseGeneral, (H, K), kernel_init=self.kernel_init)
    q_BxLxHxK = dense(name="query")(x_BxLxD)
    k_BxSxHxK, v_BxSxHxK = dense(name="key")(kv_BxSxD), dense(name="value")(kv_BxSxD)
    drop = None
    if self.dropout > 0 and train:
      drop = functools.partial(broadcast_dropout, self.dropout, self.make_rng("dropout"))
    q_BxLxHxK = q_BxLxHxK / jnp.sqrt(K).astype(q_BxLxHxK.dtype)  # flax's op, for its bits: scale 1.0 below
    att_BxLxHxK = dot_product_attention(
      q_BxLxHxK,
      k_BxSxHxK,
      v_BxSxHxK,
      mask_BxLxS,
      scale=self.attn_mult,
      dropout=drop,
      backend=self.attention,
      causal=causal,
    )
    return nn.DenseGeneral(D, axis=(-2, -1), kernel_init=self.kernel_init, name="out")(att_BxLxHxK)
