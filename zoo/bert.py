"""BERT (Devlin et al. 2018) in HF's layout: post-LN encoder, learned positions, token types, tanh pooler.

The masked-LM head (dense + GELU + LN, decoder tied to the word embedding, with a bias) is the `mlm_head` option.
Without it the model returns (hidden_BxLxD, pooled_BxD); with it, logits_BxLxV.
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp

from scalezoo.zoo import sharding as logical
from scalezoo.zoo.mha import MultiHeadAttention, padding_mask
from scalezoo.zoo.registry import ModelSpec, register, token_input

_init = nn.initializers.normal(0.02)


class BertLayer(nn.Module):
  n_heads: int
  d_ff: int
  dropout: float
  attention: str = "auto"

  @nn.compact
  def __call__(self, x_BxLxD: jax.Array, mask_BxLxL: jax.Array | None, train: bool) -> jax.Array:
    drop = nn.Dropout(self.dropout, deterministic=not train)
    x_BxLxD = logical.constrain(x_BxLxD, logical.BLD)
    attn = MultiHeadAttention(self.n_heads, self.dropout, attention=self.attention, kernel_init=_init, name="attention")
    h = attn(x_BxLxD, mask_BxLxS=mask_BxLxL, train=train)
    x_BxLxD = nn.LayerNorm(epsilon=1e-12, name="attention_ln")(x_BxLxD + drop(h))
    h = nn.gelu(nn.Dense(self.d_ff, kernel_init=_init, name="intermediate")(x_BxLxD), approximate=False)
    h = nn.Dense(x_BxLxD.shape[-1], kernel_init=_init, name="output")(h)
    return logical.constrain(nn.LayerNorm(epsilon=1e-12, name="output_ln")(x_BxLxD + drop(h)), logical.BLD)


class Bert(nn.Module):
  vocab: int = 30522
  max_len: int = 512
  type_vocab: int = 2
  d_model: int = 768
  n_layers: int = 12
  n_heads: int = 12
  d_ff: int = 3072
  dropout: float = 0.1
  pooler: bool = True
  mlm_head: bool = False
  pad_id: int = 0  # masked out of attention; -1 masks nothing
  attention: str = "auto"  # "auto" | "xla" | "cudnn" | "splash": zoo/attention.py

  @nn.compact
  def __call__(self, tokens_BxL: jax.Array, types_BxL: jax.Array | None = None, *, train: bool = False):
    L = tokens_BxL.shape[1]
    types_BxL = jnp.zeros_like(tokens_BxL) if types_BxL is None else types_BxL
    word = nn.Embed(self.vocab, self.d_model, embedding_init=_init, name="word_embeddings")
    pos_LxD = nn.Embed(self.max_len, self.d_model, embedding_init=_init, name="position_embeddings")(jnp.arange(L))
    x_BxLxD = word(tokens_BxL) + pos_LxD[None]
    x_BxLxD = x_BxLxD + nn.Embed(self.type_vocab, self.d_model, embedding_init=_init, name="token_type_embeddings")(
      types_BxL
    )
    x_BxLxD = nn.LayerNorm(epsilon=1e-12, name="embeddings_ln")(x_BxLxD)
    x_BxLxD = nn.Dropout(self.dropout, deterministic=not train)(x_BxLxD)
    mask_BxLxL = padding_mask(tokens_BxL, tokens_BxL, self.pad_id)
    for i in range(self.n_layers):
      layer = BertLayer(self.n_heads, self.d_ff, self.dropout, self.attention, name=f"layer_{i}")
      x_BxLxD = layer(x_BxLxD, mask_BxLxL, train)
    if self.mlm_head:
      h = nn.gelu(nn.Dense(self.d_model, kernel_init=_init, name="mlm_dense")(x_BxLxD), approximate=False)
      h = nn.LayerNorm(epsilon=1e-12, name="mlm_ln")(h)
      return word.attend(h) + self.param("mlm_bias", nn.initializers.zeros, (self.vocab,))[None, None]
    if not self.pooler:
      return x_BxLxD, None
    pooled_BxD = nn.tanh(nn.Dense(self.d_model, kernel_init=_init, name="pooler")(x_BxLxD[:, 0]))
    return x_BxLxD, pooled_BxD


_DEFAULTS = dict(
  seq_len=128,
  vocab=30522,
  max_len=512,
  type_vocab=2,
  d_model=768,
  n_layers=12,
  n_heads=12,
  d_ff=3072,
  dropout=0.1,
  pooler=True,
  mlm_head=False,
  pad_id=0,
  attention="auto",
)


def _spec(name: str, count: int | None, **overrides) -> None:
  register(
    ModelSpec(
      name=name,
      family="transformer",
      build=lambda seq_len, **cfg: Bert(**cfg),
      defaults={**_DEFAULTS, **overrides},
      inputs=lambda b, cfg: (token_input((b, cfg["seq_len"]), cfg["vocab"]),),
      task="mlm",  # train with mlm_head=True; the reference count has the pooler and no MLM head
      embedding=("word_embeddings", "position_embeddings", "token_type_embeddings"),
      reference_params=count,
    )
  )


_spec("bert_base", 109_482_240)  # HF bert-base-uncased (BertModel)
_spec("bert", None, d_model=256, n_layers=4, n_heads=4, d_ff=1024, mlm_head=True)  # size family, BERT-mini shape
