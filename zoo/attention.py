"""Scaled dot-product attention for every transformer in the zoo: one function, its backend chosen by name.

"xla": einsums with the logits and softmax in f32, probabilities in the compute dtype (the numbers every committed
study has, on every platform). Grouped-query attention (Ainslie et al. 2023) without repeating the key/value heads:
the H query heads are G groups of H / G, each group reading its one key/value head; G == H is multi-head attention
(the same einsums as before the grouping existed), G == 1 multi-query.
The fused kernels build their mask themselves, so they take the causal mask (with a sliding window or not) or none,
and no dropout on the probabilities; any other mask (padding) is the einsums'.
"cudnn": NVIDIA's fused kernel through jax.nn.dot_product_attention (cuDNN >= 9.8, bf16 or f16 inputs).
"splash": TPU's Pallas kernel (zoo/splash.py; sequences in blocks of 128; in Pallas' interpret mode off a TPU).
"auto" (the default): the platform's fused kernel where it applies, else xla. The platform is the engine's
(zoo/sharding.platform: a target's when compiling for one), so a CPU keeps its bits.
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp

from scalezoo.zoo import sharding as logical
from scalezoo.zoo import splash as splash_lib

BACKENDS = ("auto", "xla", "cudnn", "splash")
CUDNN_DTYPES = (jnp.bfloat16, jnp.float16)


def causal_mask(L: int) -> jax.Array:
  """Query i sees keys 0..i: 1 x L x L booleans."""
  return jnp.tril(jnp.ones((L, L), bool))[None]


def position_mask(q_pos_BxL: jax.Array, k_pos_BxS: jax.Array, window: int = 0) -> jax.Array:
  """A query at position p sees keys at positions p - window < t <= p (window 0: every t <= p): B x L x S."""
  d_BxLxS = q_pos_BxL[:, :, None] - k_pos_BxS[:, None, :]
  mask_BxLxS = d_BxLxS >= 0
  return mask_BxLxS & (d_BxLxS < window) if window else mask_BxLxS


def backend_for(
  backend: str, dtype, dropout: bool, causal: bool = True, *, unmasked: bool = False, shape: tuple[int, ...] = ()
) -> str:
  """The backend that runs: `backend` itself, or for "auto" the best the platform has for these inputs. `causal`:
  the mask is the causal one; `unmasked`: there is none; `shape`: (L, S, K), query and key lengths and head width,
  which each kernel's tiles constrain."""
  if backend not in BACKENDS:
    raise ValueError(f"attention {backend!r}: one of {', '.join(BACKENDS)}")
  L, S, K = shape or (0, 0, 8)
  plain = not dropout and (causal or unmasked)  # a mask the kernels build, no dropout
  # jax's cuDNN path: head widths multiples of 8 up to 128 (256 from Hopper on), even lengths when training
  cudnn = plain and dtype in CUDNN_DTYPES and L % 2 == 0 and S % 2 == 0 and K % 8 == 0 and K <= 128
  splash = plain and splash_lib.fits(L, S)
  if backend == "cudnn" and not cudnn:
    raise ValueError(
      "attention 'cudnn' takes bf16 or f16, even lengths and a head width of 8, 16, .., 128, without dropout, causal"
      f" or unmasked: got {jnp.dtype(dtype).name}, (L, S, K) {shape}, {dropout=}, {causal=}, {unmasked=}"
    )
  if backend == "splash" and not splash:
    raise ValueError(
      f"attention 'splash' takes lengths in blocks of {splash_lib.BLOCK} without dropout, causal or unmasked: got"
      f" (L, S, K) {shape}, {dropout=}, {causal=}, {unmasked=}"
    )
  if backend == "auto":
    return {"gpu": "cudnn" if cudnn else "xla", "tpu": "splash" if splash else "xla"}.get(logical.platform(), "xla")
  return backend


def dot_product_attention(
  q_BxLxHxK: jax.Array,
  k_BxSxGxK: jax.Array,
  v_BxSxGxK: jax.Array,
  mask_BxLxS: jax.Array | None = None,
  *,
  scale: float | None = None,
  dropout: Callable[[jax.Array], jax.Array] | None = None,
  backend: str = "xla",
  causal: bool = False,
  window: int = 0,
) -> jax.Array:
  """softmax(q k^T * scale, masked) v per head: B x L x H x K. `mask_BxLxS` is True where a query sees a key (its
  batch axis may be 1); `causal` says it is the causal mask of a full sequence, `window` its sliding window (the
  fused kernels build that mask themselves); `scale` defaults to K^-1/2; `dropout` acts on the probabilities."""
  B, L, H, K = q_BxLxHxK.shape
  S, G = k_BxSxGxK.shape[1:3]
  if H % G:
    raise ValueError(f"{H} query heads do not split into groups over {G} key/value heads")
  scale = K**-0.5 if scale is None else scale
  unmasked = mask_BxLxS is None and not causal
  run = backend_for(backend, q_BxLxHxK.dtype, dropout is not None, causal, unmasked=unmasked, shape=(L, S, K))
  if run == "cudnn":  # its partitioner wants q, k and v split alike: batch (and heads), as the activations say
    q_BxLxHxK, k_BxSxGxK, v_BxSxGxK = (logical.constrain(x, logical.BLHK) for x in (q_BxLxHxK, k_BxSxGxK, v_BxSxGxK))
    att_BxLxHxK = jax.nn.dot_product_attention(
      q_BxLxHxK,
      k_BxSxGxK,
      v_BxSxGxK,
      scale=scale,
      is_causal=causal,
      local_window_size=(window - 1, 0) if causal and window else None,
      implementation="cudnn",
    )
    return logical.constrain(att_BxLxHxK, logical.BLHK)
  if run == "splash":
    att_BxLxHxK = splash_lib.attention(q_BxLxHxK * scale, k_BxSxGxK, v_BxSxGxK, causal=causal, window=window)
    return logical.constrain(att_BxLxHxK, logical.BLHK)
  neg = jnp.finfo(jnp.float32).min
  if G == H:
    logits_BxHxLxS = jnp.einsum("bqhk,bthk->bhqt", q_BxLxHxK * scale, k_BxSxGxK).astype(jnp.float32)
    if mask_BxLxS is not None:
      logits_BxHxLxS = jnp.where(mask_BxLxS[:, None], logits_BxHxLxS, neg)
    logits_BxHxLxS = logical.constrain(logits_BxHxLxS, logical.BHLL)
    probs_BxHxLxS = jax.nn.softmax(logits_BxHxLxS, axis=-1).astype(v_BxSxGxK.dtype)
    if dropout is not None:
      probs_BxHxLxS = dropout(probs_BxHxLxS)
    return logical.constrain(jnp.einsum("bhqt,bthk->bqhk", probs_BxHxLxS, v_BxSxGxK), logical.BLHK)
  q_BxLxGxRxK = q_BxLxHxK.reshape(B, L, G, H // G, K)
  logits_BxGxRxLxS = jnp.einsum("bqgrk,btgk->bgrqt", q_BxLxGxRxK * scale, k_BxSxGxK).astype(jnp.float32)
  if mask_BxLxS is not None:
    logits_BxGxRxLxS = jnp.where(mask_BxLxS[:, None, None], logits_BxGxRxLxS, neg)
  probs_BxGxRxLxS = jax.nn.softmax(logits_BxGxRxLxS, axis=-1).astype(v_BxSxGxK.dtype)
  if dropout is not None:
    probs_BxGxRxLxS = dropout(probs_BxGxRxLxS)
  att_BxLxHxK = jnp.einsum("bgrqt,btgk->bqgrk", probs_BxGxRxLxS, v_BxSxGxK).reshape(B, L, H, K)
  return logical.constrain(att_BxLxHxK, logical.BLHK)
