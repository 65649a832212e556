"""The Transformer (Vaswani et al. 2017): post-LN encoder-decoder, sinusoidal positions, one shared embedding.

transformer_base counts 63,082,496 parameters with a 37,000-token vocabulary tied across encoder input, decoder
input and output (no output bias). The paper's table 3 says 65M; no reading of its text reaches 65M with 37,000
tokens (untying the decoder embedding would give 82M), so the gap is in the paper's own count.
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from scalezoo.zoo import sharding as logical
from scalezoo.zoo.attention import causal_mask
from scalezoo.zoo.mha import MultiHeadAttention, padding_mask
from scalezoo.zoo.registry import ModelSpec, register, token_input


def sinusoids(length: int, d: int) -> np.ndarray:
  pos_Lx1 = np.arange(length)[:, None]
  freq_1xD = np.exp(-np.log(10000.0) * (np.arange(0, d, 2) / d))[None, :]
  pe_LxD = np.zeros((length, d), np.float32)
  pe_LxD[:, 0::2], pe_LxD[:, 1::2] = np.sin(pos_Lx1 * freq_1xD), np.cos(pos_Lx1 * freq_1xD)
  return pe_LxD


class FeedForward(nn.Module):
  d_ff: int
  dropout: float

  @nn.compact
  def __call__(self, x_BxLxD: jax.Array, train: bool) -> jax.Array:
    h = nn.relu(nn.Dense(self.d_ff, name="fc1")(x_BxLxD))
    h = nn.Dropout(self.dropout, deterministic=not train)(h)
    return nn.Dense(x_BxLxD.shape[-1], name="fc2")(h)


class EncoderLayer(nn.Module):
  n_heads: int
  d_ff: int
  dropout: float
  attention: str = "auto"

  @nn.compact
  def __call__(self, x_BxSxD: jax.Array, mask_BxSxS: jax.Array | None, train: bool) -> jax.Array:
    drop = nn.Dropout(self.dropout, deterministic=not train)
    x_BxSxD = logical.constrain(x_BxSxD, logical.BLD)
    h = MultiHeadAttention(self.n_heads, attention=self.attention, name="self_attn")(x_BxSxD, mask_BxLxS=mask_BxSxS)
    x_BxSxD = nn.LayerNorm(name="ln1")(x_BxSxD + drop(h))
    h = FeedForward(self.d_ff, self.dropout, name="ffn")(x_BxSxD, train)
    return logical.constrain(nn.LayerNorm(name="ln2")(x_BxSxD + drop(h)), logical.BLD)


class DecoderLayer(nn.Module):
  n_heads: int
  d_ff: int
  dropout: float
  attention: str = "auto"

  @nn.compact
  def __call__(self, y_BxTxD, mem_BxSxD, self_mask_BxTxT, cross_mask_BxTxS, train: bool) -> jax.Array:
    drop = nn.Dropout(self.dropout, deterministic=not train)
    y_BxTxD = logical.constrain(y_BxTxD, logical.BLD)
    attn = lambda name: MultiHeadAttention(self.n_heads, attention=self.attention, name=name)
    causal = cross_mask_BxTxS is None  # no padding: the self-attention mask is the causal one alone
    h = attn("self_attn")(y_BxTxD, mask_BxLxS=self_mask_BxTxT, causal=causal)
    y_BxTxD = nn.LayerNorm(name="ln1")(y_BxTxD + drop(h))
    h = attn("cross_attn")(y_BxTxD, mem_BxSxD, cross_mask_BxTxS)
    y_BxTxD = nn.LayerNorm(name="ln2")(y_BxTxD + drop(h))
    h = FeedForward(self.d_ff, self.dropout, name="ffn")(y_BxTxD, train)
    return logical.constrain(nn.LayerNorm(name="ln3")(y_BxTxD + drop(h)), logical.BLD)


class Transformer(nn.Module):
  vocab: int = 37000
  d_model: int = 512
  n_layers: int = 6  # each of encoder and decoder
  n_heads: int = 8
  d_ff: int = 2048
  dropout: float = 0.1
  pad_id: int = 0  # masked out of attention; -1 masks nothing
  attention: str = "auto"  # "auto" | "xla" | "cudnn" | "splash": zoo/attention.py

  @nn.compact
  def __call__(self, src_BxS: jax.Array, tgt_BxT: jax.Array, *, train: bool = False) -> jax.Array:
    """tgt_BxT is the decoder input (targets shifted right); returns logits_BxTxV."""
    D = self.d_model
    embed = nn.Embed(self.vocab, D, embedding_init=nn.initializers.normal(D**-0.5), name="embed")
    drop = nn.Dropout(self.dropout, deterministic=not train)
    emb = lambda t: drop(embed(t) * jnp.sqrt(float(D)) + sinusoids(t.shape[1], D)[None])
    enc_mask = padding_mask(src_BxS, src_BxS, self.pad_id)
    dec_mask = causal_mask(tgt_BxT.shape[1])
    dec_mask = dec_mask if self.pad_id < 0 else dec_mask & padding_mask(tgt_BxT, tgt_BxT, self.pad_id)
    cross_mask = padding_mask(tgt_BxT, src_BxS, self.pad_id)

    x_BxSxD = emb(src_BxS)
    for i in range(self.n_layers):
      layer = EncoderLayer(self.n_heads, self.d_ff, self.dropout, self.attention, name=f"encoder_{i}")
      x_BxSxD = layer(x_BxSxD, enc_mask, train)
    y_BxTxD = emb(tgt_BxT)
    for i in range(self.n_layers):
      layer = DecoderLayer(self.n_heads, self.d_ff, self.dropout, self.attention, name=f"decoder_{i}")
      y_BxTxD = layer(y_BxTxD, x_BxSxD, dec_mask, cross_mask, train)
    return embed.attend(y_BxTxD)


register(
  ModelSpec(
    name="transformer_base",
    family="transformer",
    build=lambda src_len, tgt_len, **cfg: Transformer(**cfg),
    defaults=dict(
      src_len=64,
      tgt_len=64,
      vocab=37000,
      d_model=512,
      n_layers=6,
      n_heads=8,
      d_ff=2048,
      dropout=0.1,
      pad_id=0,
      attention="auto",
    ),
    inputs=lambda b, cfg: (
      token_input((b, cfg["src_len"]), cfg["vocab"]),
      token_input((b, cfg["tgt_len"]), cfg["vocab"]),
    ),
    task="seq2seq",
    embedding=("embed",),
    reference_params=63_082_496,  # exact; the paper rounds to 65M (see the module docstring)
  )
)
