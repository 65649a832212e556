"""Scaled dot-product attention as plain einsums, shared by the zoo's decoders (gpt, llama).

Grouped-query attention (Ainslie et al. 2023) without repeating the key/value heads: the H query heads are G groups
of H / G, each group reading its one key/value head; G == H is multi-head attention (computed with the same einsums
as before the grouping existed), G == 1 multi-query. Logits and softmax in f32 whatever the compute dtype.
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp


def causal_mask(L: int) -> jax.Array:
  """Query i sees keys 0..i: 1 x L x L booleans."""
  return jnp.tril(jnp.ones((L, L), bool))[None]


def position_mask(q_pos_BxL: jax.Array, k_pos_BxS: jax.Array, window: int = 0) -> jax.Array:
  """A query at position p sees keys at positions p - window < t <= p (window 0: every t <= p): B x L x S."""
  d_BxLxS = q_pos_BxL[:, :, None] - k_pos_BxS[:, None, :]
  mask_BxLxS = d_BxLxS >= 0
  return mask_BxLxS & (d_BxLxS < window) if window else mask_BxLxS


def dot_product_attention(
  q_BxLxHxK: jax.Array,
  k_BxSxGxK: jax.Array,
  v_BxSxGxK: jax.Array,
  mask_BxLxS: jax.Array | None = None,
  *,
  scale: float | None = None,
  dropout: Callable[[jax.Array], jax.Array] | None = None,
) -> jax.Array:
  """softmax(q k^T * scale, masked) v per head: B x L x H x K. `mask_BxLxS` is True where a query sees a key (its
  batch axis may be 1); `scale` defaults to K^-1/2; `dropout` acts on the probabilities."""
  B, L, H, K = q_BxLxHxK.shape
  G = k_BxSxGxK.shape[2]
  if H % G:
    raise ValueError(f"{H} query heads do not split into groups over {G} key/value heads")
  scale = K**-0.5 if scale is None else scale
  neg = jnp.finfo(jnp.float32).min
  if G == H:
    logits_BxHxLxS = jnp.einsum("bqhk,bthk->bhqt", q_BxLxHxK * scale, k_BxSxGxK).astype(jnp.float32)
    if mask_BxLxS is not None:
      logits_BxHxLxS = jnp.where(mask_BxLxS[:, None], logits_BxHxLxS, neg)
    probs_BxHxLxS = jax.nn.softmax(logits_BxHxLxS, axis=-1).astype(v_BxSxGxK.dtype)
    if dropout is not None:
      probs_BxHxLxS = dropout(probs_BxHxLxS)
    return jnp.einsum("bhqt,bthk->bqhk", probs_BxHxLxS, v_BxSxGxK)
  q_BxLxGxRxK = q_BxLxHxK.reshape(B, L, G, H // G, K)
  logits_BxGxRxLxS = jnp.einsum("bqgrk,btgk->bgrqt", q_BxLxGxRxK * scale, k_BxSxGxK).astype(jnp.float32)
  if mask_BxLxS is not None:
    logits_BxGxRxLxS = jnp.where(mask_BxLxS[:, None, None], logits_BxGxRxLxS, neg)
  probs_BxGxRxLxS = jax.nn.softmax(logits_BxGxRxLxS, axis=-1).astype(v_BxSxGxK.dtype)
  if dropout is not None:
    probs_BxGxRxLxS = dropout(probs_BxGxRxLxS)
  return jnp.einsum("bgrqt,btgk->bqgrk", probs_BxGxRxLxS, v_BxSxGxK).reshape(B, L, H, K)
