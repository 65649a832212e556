"""Llama: the decoder of today's open models (Touvron et al. 2023; Llama 3, Grattafiori et al. 2024), with the
options by which Qwen2, Qwen3 and Mistral differ from it.

Pre-norm blocks with RMSNorm (in f32), rotary positions (zoo/rope.py: `rope_theta`, Llama 3's frequency scaling),
a SwiGLU feed-forward down(silu(gate x) * up x), grouped-query attention (`n_kv_heads` key/value heads for
`n_heads` query heads; zoo/attention.py), a head width `head_dim` independent of d_model / n_heads, no biases
except the optional q/k/v ones (`qkv_bias`, Qwen2), an optional RMSNorm of each query and key head before the
rotation (`qk_norm`, Qwen3's; OLMo 2 normalises the whole q and k and puts its norms after each branch, a
different block), optional sliding-window attention (`sliding_window`, Mistral), and the output layer tied to the
embedding or not. Parameters keep Hugging Face's layer names (q_proj, ..., down_proj) so the map to its checkpoints
(zoo/weights/huggingface_maps.py) reads as a list; layouts are flax's (D, H, K) kernels.

Decoding passes a cache {"k", "v": n_layers x B x S x n_kv_heads x head_dim, "end": positions filled} in and
gets it back (zoo/decode.py); without one the call is the plain causal forward. Exact count: embed V·D (twice if
untied) + D + n_layers · (D·(H + 2G)·K + H·K·D + 3·D·F + 2·D [+ (H + 2G)·K with qkv_bias] [+ 2·K with qk_norm]);
a routed block (`n_experts` E > 0, zoo/moe.py) has D·E·g + 3·D·F·(E·g + S) / g for 3·D·F (granularity g, S
shared experts), of which a token uses 3·D·F·(k·g + S) / g of the experts' (`active` counts: registry).
"""

from __future__ import annotations

import math
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from scalezoo.zoo import moe, rope
from scalezoo.zoo import sharding as logical
from scalezoo.zoo.attention import dot_product_attention, position_mask
from scalezoo.zoo.registry import ModelSpec, register, token_input


class RMSNorm(nn.Module):
  """x / sqrt(mean(x^2) + eps) * scale over the last axis, in f32; the result in f32."""

  eps: float = 1e-6

  @nn.compact
  def __call__(self, x_BxLxD: jax.Array) -> jax.Array:
    scale_D = self.param("scale", nn.initializers.ones, (x_BxLxD.shape[-1],))
    x_BxLxD = x_BxLxD.astype(jnp.float32)
    ms_BxLx1 = jnp.mean(jnp.square(x_BxLxD), axis=-1, keepdims=True)
    return scale_D.reshape((1,) * (x_BxLxD.ndim - 1) + (-1,)) * (x_BxLxD * jax.lax.rsqrt(ms_BxLx1 + self.eps))


class Block(nn.Module):
  n_heads: int
  n_kv_heads: int
  head_dim: int
  d_ff: int
  rope_theta: float
  rope_scaling: tuple
  norm_eps: float
  qkv_bias: bool
  qk_norm: bool
  sliding_window: int
  dtype: Any
  attn_mult: float = 1.0  # multiplies the 1/sqrt(head_dim) logit scale (μP: zoo/mup.py)
  attention: str = "auto"  # the attention backend (zoo/attention.py)
  routing: moe.Routing | None = None  # a routed feed-forward (zoo/moe.py) in place of the dense one

  @nn.compact
  def __call__(self, x_BxLxD: jax.Array, kv, pos_BxL: jax.Array):
    D = x_BxLxD.shape[-1]
    H, G, K = self.n_heads, self.n_kv_heads, self.head_dim
    init = nn.initializers.normal(0.02)
    dense = lambda shape, name, bias=False: nn.DenseGeneral(
      shape, use_bias=bias, dtype=self.dtype, kernel_init=init, name=name
    )

    h_BxLxD = RMSNorm(self.norm_eps, name="attn_norm")(x_BxLxD)
    q_BxLxHxK = dense((H, K), "q_proj", self.qkv_bias)(h_BxLxD)
    k_BxLxGxK = dense((G, K), "k_proj", self.qkv_bias)(h_BxLxD)
    v_BxLxGxK = dense((G, K), "v_proj", self.qkv_bias)(h_BxLxD)
    if self.qk_norm:
      q_BxLxHxK = RMSNorm(self.norm_eps, name="q_norm")(q_BxLxHxK).astype(self.dtype)
      k_BxLxGxK = RMSNorm(self.norm_eps, name="k_norm")(k_BxLxGxK).astype(self.dtype)
    inv_F = rope.inv_frequencies(K, self.rope_theta, self.rope_scaling)
    q_BxLxHxK = logical.constrain(rope.apply_rotary(q_BxLxHxK, pos_BxL, inv_F), logical.BLHK)
    k_BxLxGxK = logical.constrain(rope.apply_rotary(k_BxLxGxK, pos_BxL, inv_F), logical.BLGK)
    v_BxLxGxK = logical.constrain(v_BxLxGxK, logical.BLGK)
    if kv is None:  # the plain forward: keys are this call's tokens
      k_pos_BxS, new_kv = pos_BxL, None
    else:  # decoding: this call's keys written into the cache at their positions, attention over the whole cache
      k_BxSxGxK, v_BxSxGxK = kv
      start = pos_BxL[0, 0]
      k_BxLxGxK = jax.lax.dynamic_update_slice(k_BxSxGxK, k_BxLxGxK.astype(k_BxSxGxK.dtype), (0, start, 0, 0))
      v_BxLxGxK = jax.lax.dynamic_update_slice(v_BxSxGxK, v_BxLxGxK.astype(v_BxSxGxK.dtype), (0, start, 0, 0))
      k_pos_BxS, new_kv = jnp.arange(k_BxSxGxK.shape[1])[None], (k_BxLxGxK, v_BxLxGxK)
    mask_BxLxS = position_mask(pos_BxL, k_pos_BxS, self.sliding_window)
    att_BxLxHxK = dot_product_attention(
      q_BxLxHxK,
      k_BxLxGxK.astype(self.dtype),
      v_BxLxGxK.astype(self.dtype),
      mask_BxLxS,
      scale=K**-0.5 * self.attn_mult,
      backend=self.attention if kv is None else "xla",
      causal=kv is None,  # positions 0..L-1: the mask is the causal one (with its window)
      window=self.sliding_window,
    )
    o = nn.DenseGeneral(D, axis=(-2, -1), use_bias=False, dtype=self.dtype, kernel_init=init, name="o_proj")
    x_BxLxD = logical.constrain(x_BxLxD + o(att_BxLxHxK).astype(jnp.float32), logical.BLD)

    h_BxLxD = RMSNorm(self.norm_eps, name="mlp_norm")(x_BxLxD)
    if self.routing is not None:
      return logical.constrain(
        x_BxLxD + moe.MoE(self.routing, self.d_ff, self.dtype, name="moe")(h_BxLxD), logical.BLD
      ), new_kv
    gate_BxLxF = dense(self.d_ff, "gate_proj")(h_BxLxD)
    up_BxLxF = dense(self.d_ff, "up_proj")(h_BxLxD)
    h_BxLxF = logical.constrain(nn.silu(gate_BxLxF) * up_BxLxF, logical.BLF)
    h_BxLxD = dense(D, "down_proj")(h_BxLxF)
    return logical.constrain(x_BxLxD + h_BxLxD.astype(jnp.float32), logical.BLD), new_kv


def ffn_width(d_model: int, multiple_of: int = 64) -> int:
  """The default feed-forward width: 8/3 d_model (SwiGLU's three matrices cost GELU's two at 4 d_model), rounded
  up to a multiple of `multiple_of` (Llama's own configs round to 256 and then some; they set d_ff explicitly)."""
  return multiple_of * math.ceil(8 * d_model / 3 / multiple_of)


class Llama(nn.Module):
  vocab: int = 32000
  context: int = 4096  # the longest sequence it is built for (rotary positions have no table: a bound, no params)
  d_model: int = 4096
  n_layers: int = 32
  n_heads: int = 32
  n_kv_heads: int = 0  # 0: n_heads (multi-head attention)
  head_dim: int = 0  # 0: d_model // n_heads
  d_ff: int = 0  # 0: ffn_width(d_model)
  rope_theta: float = 10000.0
  rope_scaling: tuple = ()  # Llama 3's (factor, low_freq_factor, high_freq_factor, original_context), or ()
  norm_eps: float = 1e-5
  qkv_bias: bool = False
  qk_norm: bool = False
  sliding_window: int = 0  # 0: full causal attention
  tie_embeddings: bool = False
  scan_layers: bool = False
  remat: bool = False
  dtype: Any = jnp.float32  # compute dtype (params f32)
  attn_mult: float = 1.0  # μP's hooks, as in zoo/gpt.py
  out_mult: float = 1.0
  attention: str = "auto"  # "auto" | "xla" | "cudnn" | "splash": zoo/attention.py
  n_experts: int = 0  # 0: dense; else a routed feed-forward (zoo/moe.py) in every moe_every-th block
  top_k: int = 2
  n_shared_experts: int = 0
  granularity: int = 1
  moe_every: int = 1  # block i (from 0) is routed when (i + 1) % moe_every == 0
  router: str = "softmax"  # or "sigmoid"
  router_renorm: bool = True
  capacity_factor: float = 0.0  # 0: dropless
  aux_loss_coef: float = 0.01
  router_z_loss_coef: float = 0.001
  bias_update_rate: float = 0.0  # DeepSeek-V3's auxiliary-loss-free balancing (γ); 0: off

  @property
  def routing(self) -> moe.Routing | None:
    """The routed layers' options, or None for a dense model."""
    if not self.n_experts:
      return None
    return moe.Routing(
      self.n_experts,
      self.top_k,
      self.granularity,
      self.n_shared_experts,
      self.router,
      self.router_renorm,
      self.capacity_factor,
      self.aux_loss_coef,
      self.router_z_loss_coef,
      self.bias_update_rate,
    )

  @property
  def heads(self) -> tuple[int, int, int]:
    """(n_heads, n_kv_heads, head_dim) with the defaults resolved."""
    return self.n_heads, self.n_kv_heads or self.n_heads, self.head_dim or self.d_model // self.n_heads

  @nn.compact
  def __call__(self, tokens_BxL: jax.Array, *, train: bool = False, cache: dict | None = None):
    H, G, K = self.heads
    if H % G:
      raise ValueError(f"n_heads {H} is not a multiple of n_kv_heads {G}")
    if not self.head_dim and self.d_model % H:
      raise ValueError(f"d_model {self.d_model} is not divisible by n_heads {H}; set head_dim")
    B, L = tokens_BxL.shape
    if L > self.context:
      raise ValueError(f"sequence length {L} exceeds the context {self.context}")
    start = jnp.zeros((), jnp.int32) if cache is None else cache["end"]
    pos_BxL = jnp.broadcast_to(start + jnp.arange(L, dtype=jnp.int32)[None], (B, L))
    embed = nn.Embed(
      self.vocab, self.d_model, embedding_init=nn.initializers.normal(0.02), dtype=self.dtype, name="embed"
    )
    x_BxLxD = logical.constrain(embed(tokens_BxL).astype(jnp.float32), logical.BLD)
    block = dict(
      n_heads=H,
      n_kv_heads=G,
      head_dim=K,
      d_ff=self.d_ff or ffn_width(self.d_model),
      rope_theta=self.rope_theta,
      rope_scaling=tuple(self.rope_scaling),
      norm_eps=self.norm_eps,
      qkv_bias=self.qkv_bias,
      qk_norm=self.qk_norm,
      sliding_window=self.sliding_window,
      dtype=self.dtype,
      attn_mult=self.attn_mult,
      attention=self.attention,
    )
    routing = self.routing
    if routing is not None and self.moe_every < 1:
      raise ValueError(f"moe_every must be >= 1, got {self.moe_every}")
    layer = nn.remat(Block) if self.remat else Block
    kv = None if cache is None else (cache["k"], cache["v"])
    if self.scan_layers:
      if routing is not None and self.moe_every != 1:
        raise ValueError(f"scan_layers stacks identical blocks: it needs moe_every 1, got {self.moe_every}")
      stacked = {c: 0 for c in ("params", "router_bias", "losses", "intermediates")}
      blocks = nn.scan(
        layer, variable_axes=stacked, split_rngs={"params": True}, in_axes=(0, nn.broadcast), length=self.n_layers
      )
      x_BxLxD, new_kv = blocks(**block, routing=routing, name="layers")(x_BxLxD, kv, pos_BxL)
    else:
      outs = []
      for i in range(self.n_layers):
        kv_i = None if kv is None else (kv[0][i], kv[1][i])
        routed = routing if (i + 1) % max(self.moe_every, 1) == 0 else None
        x_BxLxD, kv_i = layer(**block, routing=routed, name=f"layer_{i}")(x_BxLxD, kv_i, pos_BxL)
        outs.append(kv_i)
      new_kv = None if kv is None else (jnp.stack([o[0] for o in outs]), jnp.stack([o[1] for o in outs]))
    x_BxLxD = RMSNorm(self.norm_eps, name="final_norm")(x_BxLxD).astype(self.dtype)
    if self.tie_embeddings:
      logits_BxLxV = embed.attend(x_BxLxD)
    else:
      head = nn.Dense(
        self.vocab, use_bias=False, dtype=self.dtype, kernel_init=nn.initializers.normal(0.02), name="lm_head"
      )
      logits_BxLxV = head(x_BxLxD)
    logits_BxLxV = logical.constrain(logits_BxLxV.astype(jnp.float32), logical.BLV)
    if self.out_mult != 1.0:
      logits_BxLxV = logits_BxLxV * self.out_mult
    if cache is None:
      return logits_BxLxV
    return logits_BxLxV, {"k": new_kv[0], "v": new_kv[1], "end": start + L}


def llama_shape_for(
  non_embedding_params: float, *, aspect: float = 64.0, head_dim: int = 64, gqa: int = 4
) -> dict[str, int]:
  """d_model, n_layers, n_heads, n_kv_heads for a target non-embedding count N ≈ (10 + 2/gqa)·n_layers·d_model².

  As gpt_shape_for: aspect = d_model / n_layers, d_model a multiple of head_dim; at most `gqa` query heads per
  key/value head (n_kv_heads the fewest that divide n_heads so). d_ff is left to the default
  ffn_width(d_model) ≈ 8/3 d_model. Exact count: Llama's docstring formula with these values.
  """
  N = float(non_embedding_params)
  if N <= 0:
    raise ValueError(f"non_embedding_params must be positive, got {non_embedding_params}")
  if gqa < 1:
    raise ValueError(f"gqa (query heads per key/value head) must be >= 1, got {gqa}")
  c = 10 + 2 / gqa
  n_layers = max(1, round((N / (c * aspect**2)) ** (1 / 3)))
  d_model = max(head_dim, round(math.sqrt(N / (c * n_layers)) / head_dim) * head_dim)
  n_heads = d_model // head_dim
  n_kv_heads = min(g for g in range(1, n_heads + 1) if n_heads % g == 0 and n_heads // g <= gqa)
  return dict(d_model=d_model, n_layers=n_layers, n_heads=n_heads, n_kv_heads=n_kv_heads)


def _build(**cfg: Any) -> Llama:
  if isinstance(cfg.get("dtype"), str):
    cfg["dtype"] = jnp.dtype(cfg["dtype"])
  cfg["rope_scaling"] = tuple(cfg.get("rope_scaling", ()))
  return Llama(**cfg)


_DEFAULTS = dict(
  vocab=32000,
  context=4096,
  d_model=4096,
  n_layers=32,
  n_heads=32,
  n_kv_heads=0,
  head_dim=0,
  d_ff=0,
  rope_theta=10000.0,
  rope_scaling=(),
  norm_eps=1e-5,
  qkv_bias=False,
  qk_norm=False,
  sliding_window=0,
  tie_embeddings=False,
  scan_layers=False,
  remat=False,
  dtype="float32",
  attention="auto",
  n_experts=0,
  top_k=2,
  n_shared_experts=0,
  granularity=1,
  moe_every=1,
  router="softmax",
  router_renorm=True,
  capacity_factor=0.0,
  aux_loss_coef=0.01,
  router_z_loss_coef=0.001,
  bias_update_rate=0.0,
)

# name -> (config as in the model's config.json on the Hugging Face hub, the published parameter count)
REFERENCE: dict[str, tuple[dict[str, Any], int]] = {
  "llama3_2_1b": (  # meta-llama/Llama-3.2-1B
    dict(vocab=128256, context=131072, d_model=2048, n_layers=16, n_heads=32, n_kv_heads=8, head_dim=64, d_ff=8192,
         rope_theta=500000.0, rope_scaling=(32.0, 1.0, 4.0, 8192), tie_embeddings=True),
    1_235_814_400,
  ),
  "llama3_1_8b": (  # meta-llama/Llama-3.1-8B
    dict(vocab=128256, context=131072, d_model=4096, n_layers=32, n_heads=32, n_kv_heads=8, head_dim=128,
         d_ff=14336, rope_theta=500000.0, rope_scaling=(8.0, 1.0, 4.0, 8192)),
    8_030_261_248,
  ),
  "qwen2_5_0_5b": (  # Qwen/Qwen2.5-0.5B
    dict(vocab=151936, context=32768, d_model=896, n_layers=24, n_heads=14, n_kv_heads=2, head_dim=64, d_ff=4864,
         rope_theta=1000000.0, norm_eps=1e-6, qkv_bias=True, tie_embeddings=True),
    494_032_768,
  ),
  "qwen3_0_6b": (  # Qwen/Qwen3-0.6B
    dict(vocab=151936, context=40960, d_model=1024, n_layers=28, n_heads=16, n_kv_heads=8, head_dim=128, d_ff=3072,
         rope_theta=1000000.0, norm_eps=1e-6, qk_norm=True, tie_embeddings=True),
    596_049_920,
  ),
  "mistral_7b": (  # mistralai/Mistral-7B-v0.1
    dict(vocab=32000, context=32768, d_model=4096, n_layers=32, n_heads=32, n_kv_heads=8, head_dim=128, d_ff=14336,
         rope_theta=10000.0, sliding_window=4096),
    7_241_732_096,
  ),
}  # fmt: skip


def _active(params, cfg: dict[str, Any]) -> int:
  return moe.active_params(params, _build(**cfg).routing)


def _inputs(b: int, cfg: dict[str, Any]):
  """Example tokens: a context's worth, at most 4,096 (the long-context configs are counted, not run, at 128K)."""
  return (token_input((b, min(cfg["context"], 4096)), cfg["vocab"]),)


for _name, (_cfg, _count) in REFERENCE.items():
  register(
    ModelSpec(
      name=_name,
      family="transformer",
      build=_build,
      defaults={**_DEFAULTS, **_cfg},
      inputs=_inputs,
      task="lm",
      embedding=("embed",) if _cfg.get("tie_embeddings") else ("embed", "lm_head"),
      reference_params=_count,
      active=_active,
    )
  )

_LLAMA = {**_DEFAULTS, "vocab": 256, "context": 256, "d_model": 256, "n_layers": 4, "n_heads": 4, "n_kv_heads": 2}
register(
  ModelSpec(
    name="llama",  # the size family: zoo.create("llama", d_model=128, n_layers=4, n_kv_heads=2)
    family="transformer",
    build=_build,
    defaults=_LLAMA,
    inputs=_inputs,
    task="lm",
    embedding=("embed", "lm_head"),
    active=_active,
  )
)

register(
  ModelSpec(
    name="llama_moe",  # the llama size family with routed feed-forwards: 8 experts, 2 per token (Mixtral's shape)
    family="transformer",
    build=_build,
    defaults={**_LLAMA, "n_experts": 8, "top_k": 2, "d_ff": 256},
    inputs=_inputs,
    task="lm",
    embedding=("embed", "lm_head"),
    active=_active,
  )
)
