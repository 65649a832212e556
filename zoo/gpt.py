"""GPT: decoder-only transformer (Radford et al. 2019), pre-LN, learned positions, output tied to the embedding.

Attention (zoo/attention.py: einsums with a causal mask, or a fused kernel where the platform has one) follows one
fused QKV projection; layer norms and softmax run in f32 whatever the compute `dtype` is (params are always f32).
`scan_layers` stacks the blocks under nn.scan, so the compile time stays flat in depth. Embedding/non-embedding split
as Kaplan et al. 2020: `wte` and `wpe`.
"""

from __future__ import annotations

import math
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from scalezoo.zoo import sharding as logical
from scalezoo.zoo.attention import causal_mask, dot_product_attention, position_mask
from scalezoo.zoo.registry import ModelSpec, register, token_input


class Block(nn.Module):
  n_heads: int
  d_ff: int
  n_layers: int  # only to scale the residual projections' init, as GPT-2 does
  dropout: float
  train: bool  # an attribute rather than an argument so the block scans cleanly
  dtype: Any
  attn_mult: float = 1.0  # multiplies the 1/sqrt(head width) logit scale (μP: zoo/mup.py)
  attention: str = "auto"  # the attention backend (zoo/attention.py)

  @nn.compact
  def __call__(self, x_BxLxD: jax.Array, kv=None, pos_BxL: jax.Array | None = None):
    B, L, D = x_BxLxD.shape
    H, K = self.n_heads, D // self.n_heads
    init = nn.initializers.normal(0.02)
    out_init = nn.initializers.normal(0.02 / math.sqrt(2 * self.n_layers))
    drop = lambda y: nn.Dropout(self.dropout, deterministic=not self.train)(y)
    x_BxLxD = logical.constrain(x_BxLxD, logical.BLD)

    h_BxLxD = nn.LayerNorm(epsilon=1e-5, dtype=jnp.float32, name="ln_1")(x_BxLxD)
    qkv_BxLx3xHxK = nn.DenseGeneral((3, H, K), dtype=self.dtype, kernel_init=init, name="qkv")(h_BxLxD)
    qkv_BxLx3xHxK = logical.constrain(qkv_BxLx3xHxK, logical.BL3HK)
    q_BxLxHxK, k_BxLxHxK, v_BxLxHxK = qkv_BxLx3xHxK[:, :, 0], qkv_BxLx3xHxK[:, :, 1], qkv_BxLx3xHxK[:, :, 2]
    if kv is None:
      mask_1xLxL, new_kv = causal_mask(L), None
    else:  # decoding (zoo/decode.py): this call's keys written into the cache at their positions
      start = pos_BxL[0, 0]
      k_BxLxHxK = jax.lax.dynamic_update_slice(kv[0], k_BxLxHxK.astype(kv[0].dtype), (0, start, 0, 0))
      v_BxLxHxK = jax.lax.dynamic_update_slice(kv[1], v_BxLxHxK.astype(kv[1].dtype), (0, start, 0, 0))
      mask_1xLxL, new_kv = position_mask(pos_BxL, jnp.arange(kv[0].shape[1])[None]), (k_BxLxHxK, v_BxLxHxK)
      k_BxLxHxK, v_BxLxHxK = k_BxLxHxK.astype(self.dtype), v_BxLxHxK.astype(self.dtype)
    scale = K**-0.5 * self.attn_mult  # attn_mult 1.0: K**-0.5 exactly
    probs_drop = drop if self.dropout > 0 and self.train else None  # Dropout(0) is the identity
    att_BxLxHxK = dot_product_attention(
      q_BxLxHxK,
      k_BxLxHxK,
      v_BxLxHxK,
      mask_1xLxL,
      scale=scale,
      dropout=probs_drop,
      backend=self.attention if kv is None else "xla",
      causal=kv is None,
    )
    att_BxLxD = nn.DenseGeneral(D, axis=(-2, -1), dtype=self.dtype, kernel_init=out_init, name="proj")(att_BxLxHxK)
    x_BxLxD = logical.constrain(x_BxLxD + drop(att_BxLxD), logical.BLD)

    h_BxLxD = nn.LayerNorm(epsilon=1e-5, dtype=jnp.float32, name="ln_2")(x_BxLxD)
    # checkpointed: the backward pass recomputes GELU's tanh from its input instead of keeping it (one fewer
    # [B, L, d_ff] activation per layer kept for the backward), with the same ops, so the same bits
    h_BxLxF = jax.checkpoint(nn.gelu)(nn.Dense(self.d_ff, dtype=self.dtype, kernel_init=init, name="fc")(h_BxLxD))
    h_BxLxF = logical.constrain(h_BxLxF, logical.BLF)
    h_BxLxD = nn.Dense(D, dtype=self.dtype, kernel_init=out_init, name="fc_proj")(h_BxLxF)
    return logical.constrain(x_BxLxD + drop(h_BxLxD), logical.BLD), new_kv


class GPT(nn.Module):
  vocab: int = 50257
  context: int = 1024
  d_model: int = 768
  n_layers: int = 12
  n_heads: int = 12
  d_ff: int | None = None  # 4 * d_model
  dropout: float = 0.0
  scan_layers: bool = False
  remat: bool = False  # recompute each block in the backward pass (activation memory of one block, not all)
  dtype: Any = jnp.float32  # compute dtype
  # μP's hooks (zoo/mup.py sets them on a built model with .clone; 1.0 leaves the standard model bit for bit)
  attn_mult: float = 1.0  # multiplies the attention logits' 1/sqrt(head width)
  out_mult: float = 1.0  # multiplies the logits
  attention: str = "auto"  # "auto" | "xla" | "cudnn" | "splash": zoo/attention.py

  @property
  def heads(self) -> tuple[int, int, int]:
    """(query heads, key/value heads, head width): a decoding cache's shape (zoo/decode.py)."""
    return self.n_heads, self.n_heads, self.d_model // self.n_heads

  @nn.compact
  def __call__(self, tokens_BxL: jax.Array, *, train: bool = False, cache: dict | None = None):
    """Logits B x L x V; with a decoding cache {"k", "v": n_layers x B x S x H x K, "end"} (zoo/decode.py), the
    logits of these tokens at positions end.. and the cache with them written."""
    if self.d_model % self.n_heads:
      raise ValueError(f"d_model {self.d_model} is not divisible by n_heads {self.n_heads}")
    B, L = tokens_BxL.shape
    if L > self.context:
      raise ValueError(f"sequence length {L} exceeds the context {self.context}")
    init = nn.initializers.normal(0.02)
    wte = nn.Embed(self.vocab, self.d_model, embedding_init=init, dtype=self.dtype, name="wte")
    wpe = self.param("wpe", nn.initializers.normal(0.01), (self.context, self.d_model))
    if cache is None:
      x_BxLxD = wte(tokens_BxL).astype(jnp.float32) + wpe[None, :L]
      pos_BxL = kv = None
    else:
      start = cache["end"]
      x_BxLxD = wte(tokens_BxL).astype(jnp.float32) + jax.lax.dynamic_slice_in_dim(wpe, start, L)[None]
      pos_BxL = jnp.broadcast_to(start + jnp.arange(L, dtype=jnp.int32)[None], (B, L))
      kv = (cache["k"], cache["v"])
    x_BxLxD = logical.constrain(nn.Dropout(self.dropout, deterministic=not train)(x_BxLxD), logical.BLD)
    block = dict(
      n_heads=self.n_heads,
      d_ff=self.d_ff or 4 * self.d_model,
      n_layers=self.n_layers,
      dropout=self.dropout,
      train=train,
      dtype=self.dtype,
      attn_mult=self.attn_mult,
      attention=self.attention,
    )
    layer = nn.remat(Block) if self.remat else Block
    if self.scan_layers:
      blocks = nn.scan(
        layer,
        variable_axes={"params": 0},
        split_rngs={"params": True, "dropout": True},
        in_axes=(0, nn.broadcast),
        length=self.n_layers,
      )
      x_BxLxD, new_kv = blocks(**block, name="blocks")(x_BxLxD, kv, pos_BxL)
    else:
      outs = []
      for i in range(self.n_layers):
        kv_i = None if kv is None else (kv[0][i], kv[1][i])
        x_BxLxD, kv_i = layer(**block, name=f"block_{i}")(x_BxLxD, kv_i, pos_BxL)
        outs.append(kv_i)
      new_kv = None if kv is None else (jnp.stack([o[0] for o in outs]), jnp.stack([o[1] for o in outs]))
    x_BxLxD = nn.LayerNorm(epsilon=1e-5, dtype=jnp.float32, name="ln_f")(x_BxLxD)
    logits_BxLxV = logical.constrain(wte.attend(x_BxLxD.astype(self.dtype)).astype(jnp.float32), logical.BLV)
    logits_BxLxV = logits_BxLxV if self.out_mult == 1.0 else logits_BxLxV * self.out_mult
    return logits_BxLxV if cache is None else (logits_BxLxV, {"k": new_kv[0], "v": new_kv[1], "end": start + L})


def gpt_shape_for(non_embedding_params: float, *, aspect: float = 64.0, head_dim: int = 64) -> dict[str, int]:
  """d_model, n_layers, n_heads for a target non-embedding count N ≈ 12·n_layers·d_model² (Kaplan et al.).

  aspect = d_model / n_layers (Kaplan find the loss flat for aspect 20-200); d_model is a multiple of head_dim.
  Exact count of the result: n_layers·(12·d² + 13·d) + 2·d with the default d_ff = 4·d_model.
  """
  N = float(non_embedding_params)
  if N <= 0:
    raise ValueError(f"non_embedding_params must be positive, got {non_embedding_params}")
  n_layers = max(1, round((N / (12 * aspect**2)) ** (1 / 3)))
  d_model = max(head_dim, round(math.sqrt(N / (12 * n_layers)) / head_dim) * head_dim)
  return dict(d_model=d_model, n_layers=n_layers, n_heads=d_model // head_dim)


def _build(**cfg: Any) -> GPT:
  if isinstance(cfg.get("dtype"), str):
    cfg["dtype"] = jnp.dtype(cfg["dtype"])
  return GPT(**cfg)


_DEFAULTS = dict(
  vocab=50257,
  context=1024,
  d_model=768,
  n_layers=12,
  n_heads=12,
  d_ff=None,
  dropout=0.0,
  scan_layers=False,
  remat=False,
  dtype="float32",
  attention="auto",
)

register(
  ModelSpec(
    name="gpt2_small",
    family="transformer",
    build=_build,
    defaults={**_DEFAULTS, "dropout": 0.1},
    inputs=lambda b, cfg: (token_input((b, cfg["context"]), cfg["vocab"]),),
    task="lm",
    embedding=("wte", "wpe"),
    reference_params=124_439_808,  # HF gpt2
  )
)

register(
  ModelSpec(
    name="gpt",  # the size family: zoo.create("gpt", d_model=128, n_layers=4)
    family="transformer",
    build=_build,
    defaults={**_DEFAULTS, "vocab": 256, "context": 256, "d_model": 256, "n_layers": 4, "n_heads": 4},
    inputs=lambda b, cfg: (token_input((b, cfg["context"]), cfg["vocab"]),),
    task="lm",
    embedding=("wte", "wpe"),
  )
)
