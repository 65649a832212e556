"""Vision Transformer (Dosovitskiy et al. 2020) in torchvision's layout: conv patchify, class token, pre-LN."""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp

from scalezoo.zoo import sharding as logical
from scalezoo.zoo.conv import Conv
from scalezoo.zoo.mha import MultiHeadAttention
from scalezoo.zoo.registry import ModelSpec, normal_input, register


class EncoderBlock(nn.Module):
  n_heads: int
  mlp_dim: int
  dropout: float
  attn_mult: float = 1.0  # multiplies the 1/sqrt(head width) logit scale (μP: zoo/mup.py)
  attention: str = "auto"

  @nn.compact
  def __call__(self, x_BxNxD: jax.Array, train: bool) -> jax.Array:
    drop = nn.Dropout(self.dropout, deterministic=not train)
    x_BxNxD = logical.constrain(x_BxNxD, logical.BLD)  # tokens N as the length axis
    h = nn.LayerNorm(epsilon=1e-6, name="ln_1")(x_BxNxD)
    attn = MultiHeadAttention(self.n_heads, attn_mult=self.attn_mult, attention=self.attention, name="self_attention")
    x_BxNxD = x_BxNxD + drop(attn(h))  # no dropout on the probabilities (torchvision's attention_dropout 0)
    h = nn.LayerNorm(epsilon=1e-6, name="ln_2")(x_BxNxD)
    h = drop(nn.gelu(nn.Dense(self.mlp_dim, name="mlp_1")(h), approximate=False))
    return logical.constrain(x_BxNxD + drop(nn.Dense(x_BxNxD.shape[-1], name="mlp_2")(h)), logical.BLD)


class ViT(nn.Module):
  image_size: int = 224
  patch: int = 16
  d_model: int = 768
  n_layers: int = 12
  n_heads: int = 12
  mlp_dim: int = 3072
  dropout: float = 0.0
  num_classes: int = 1000
  attn_mult: float = 1.0  # multiplies the attention logits' 1/sqrt(head width)
  out_mult: float = 1.0  # multiplies the logits
  attention: str = "auto"  # "auto" | "xla" | "cudnn" | "splash": zoo/attention.py

  @nn.compact
  def __call__(self, x_BxHxWxC: jax.Array, *, train: bool = False) -> jax.Array:
    B, D, P = x_BxHxWxC.shape[0], self.d_model, self.patch
    h = Conv(D, (P, P), (P, P), padding="VALID", name="conv_proj")(x_BxHxWxC)
    x_BxNxD = h.reshape(B, -1, D)
    cls_1x1xD = self.param("class_token", nn.initializers.zeros, (1, 1, D))
    x_BxNxD = jnp.concatenate([jnp.broadcast_to(cls_1x1xD, (B, 1, D)), x_BxNxD], axis=1)
    n = (self.image_size // P) ** 2 + 1
    x_BxNxD = x_BxNxD + self.param("pos_embedding", nn.initializers.normal(0.02), (1, n, D))
    x_BxNxD = nn.Dropout(self.dropout, deterministic=not train)(x_BxNxD)
    for i in range(self.n_layers):
      block = EncoderBlock(
        self.n_heads, self.mlp_dim, self.dropout, self.attn_mult, self.attention, name=f"encoder_layer_{i}"
      )
      x_BxNxD = block(x_BxNxD, train)
    x_BxNxD = nn.LayerNorm(epsilon=1e-6, name="ln")(x_BxNxD)
    logits_BxC = nn.Dense(self.num_classes, name="head")(x_BxNxD[:, 0])
    return logits_BxC if self.out_mult == 1.0 else logits_BxC * self.out_mult


_VARIANTS = {  # big_vision's Ti/S/B: width, depth, mlp_dim, heads
  "vit_ti16": (192, 12, 768, 3, 5_717_416),
  "vit_s16": (384, 12, 1536, 6, 22_050_664),
  "vit_b16": (768, 12, 3072, 12, 86_567_656),  # torchvision
}

for _name, (_d, _layers, _mlp, _heads, _count) in _VARIANTS.items():
  register(
    ModelSpec(
      name=_name,
      family="transformer",
      build=lambda in_channels, **cfg: ViT(**cfg),
      defaults=dict(
        in_channels=3,
        image_size=224,
        patch=16,
        d_model=_d,
        n_layers=_layers,
        n_heads=_heads,
        mlp_dim=_mlp,
        dropout=0.0,
        num_classes=1000,
        attention="auto",
      ),
      inputs=lambda b, cfg: (normal_input((b, cfg["image_size"], cfg["image_size"], cfg["in_channels"])),),
      reference_params=_count,
    )
  )
