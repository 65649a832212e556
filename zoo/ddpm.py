"""DDPM's U-Net (Ho et al. 2020): wide residual blocks with a timestep embedding, GroupNorm, self-attention at
chosen resolutions, conv down/upsampling. Called as model(x_noisy_BxHxWxC, t_B); predicts the noise.

ddpm_unet_cifar10 counts 35,746,307 parameters (the paper: 35.7M).
"""

from __future__ import annotations

import math

import flax.linen as nn
import jax
import jax.numpy as jnp

from scalezoo.zoo.conv import Conv
from scalezoo.zoo.registry import ModelSpec, normal_input, register


def timestep_embedding(t_B: jax.Array, dim: int) -> jax.Array:
  half = dim // 2
  freq_H = jnp.exp(-math.log(10000.0) * jnp.arange(half, dtype=jnp.float32) / (half - 1))
  args_BxH = t_B.astype(jnp.float32)[:, None] * freq_H[None, :]
  return jnp.concatenate([jnp.sin(args_BxH), jnp.cos(args_BxH)], axis=1)


class ResBlock(nn.Module):
  out: int
  dropout: float
  groups: int

  @nn.compact
  def __call__(self, x_BxHxWxC: jax.Array, temb_BxT: jax.Array, train: bool) -> jax.Array:
    h = nn.swish(nn.GroupNorm(self.groups, epsilon=1e-6, name="norm1")(x_BxHxWxC))
    h = Conv(self.out, (3, 3), name="conv1")(h)
    h = h + nn.Dense(self.out, name="temb_proj")(nn.swish(temb_BxT))[:, None, None, :]
    h = nn.swish(nn.GroupNorm(self.groups, epsilon=1e-6, name="norm2")(h))
    h = nn.Dropout(self.dropout, deterministic=not train)(h)
    h = Conv(self.out, (3, 3), kernel_init=nn.initializers.zeros, name="conv2")(h)  # block starts as identity
    x = x_BxHxWxC
    if x.shape[-1] != self.out:
      x = nn.Dense(self.out, name="nin_shortcut")(x)
    return x + h


class AttnBlock(nn.Module):
  groups: int

  @nn.compact
  def __call__(self, x_BxHxWxC: jax.Array) -> jax.Array:
    B, H, W, C = x_BxHxWxC.shape
    h_BxNxC = nn.GroupNorm(self.groups, epsilon=1e-6, name="norm")(x_BxHxWxC).reshape(B, H * W, C)
    q_BxNxC, k_BxNxC, v_BxNxC = (nn.Dense(C, name=n)(h_BxNxC) for n in ("q", "k", "v"))
    w_BxNxN = jax.nn.softmax(jnp.einsum("bnc,bmc->bnm", q_BxNxC, k_BxNxC) * C**-0.5, axis=-1)
    h_BxNxC = jnp.einsum("bnm,bmc->bnc", w_BxNxN, v_BxNxC)
    h_BxNxC = nn.Dense(C, kernel_init=nn.initializers.zeros, name="proj_out")(h_BxNxC)
    return x_BxHxWxC + h_BxNxC.reshape(B, H, W, C)


class UNet(nn.Module):
  ch: int = 128
  ch_mult: tuple[int, ...] = (1, 2, 2, 2)
  num_res_blocks: int = 2
  attn_resolutions: tuple[int, ...] = (16,)
  dropout: float = 0.1
  groups: int = 32
  out_channels: int | None = None  # default: the input's channels

  @nn.compact
  def __call__(self, x_BxHxWxC: jax.Array, t_B: jax.Array, *, train: bool = False) -> jax.Array:
    temb = nn.Dense(4 * self.ch, name="temb_0")(timestep_embedding(t_B, self.ch))
    temb_BxT = nn.Dense(4 * self.ch, name="temb_1")(nn.swish(temb))
    res = lambda c, name: ResBlock(c, self.dropout, self.groups, name=name)
    attn = lambda name: AttnBlock(self.groups, name=name)

    h = Conv(self.ch, (3, 3), name="conv_in")(x_BxHxWxC)
    skips = [h]
    for lvl, mult in enumerate(self.ch_mult):
      for i in range(self.num_res_blocks):
        h = res(self.ch * mult, f"down{lvl}_res{i}")(h, temb_BxT, train)
        if h.shape[1] in self.attn_resolutions:
          h = attn(f"down{lvl}_attn{i}")(h)
        skips.append(h)
      if lvl != len(self.ch_mult) - 1:
        h = Conv(h.shape[-1], (3, 3), (2, 2), padding="SAME", name=f"down{lvl}_downsample")(h)
        skips.append(h)

    h = res(h.shape[-1], "mid_res0")(h, temb_BxT, train)
    h = attn("mid_attn")(h)
    h = res(h.shape[-1], "mid_res1")(h, temb_BxT, train)

    for lvl, mult in reversed(list(enumerate(self.ch_mult))):
      for i in range(self.num_res_blocks + 1):
        h = res(self.ch * mult, f"up{lvl}_res{i}")(jnp.concatenate([h, skips.pop()], axis=-1), temb_BxT, train)
        if h.shape[1] in self.attn_resolutions:
          h = attn(f"up{lvl}_attn{i}")(h)
      if lvl != 0:
        B, H, W, C = h.shape
        h = jax.image.resize(h, (B, 2 * H, 2 * W, C), "nearest")
        h = Conv(C, (3, 3), name=f"up{lvl}_upsample")(h)

    h = nn.swish(nn.GroupNorm(self.groups, epsilon=1e-6, name="norm_out")(h))
    out = self.out_channels or x_BxHxWxC.shape[-1]
    return Conv(out, (3, 3), kernel_init=nn.initializers.zeros, name="conv_out")(h)


def _inputs(b: int, cfg: dict) -> tuple[jax.Array, jax.Array]:
  x = normal_input((b, cfg["image_size"], cfg["image_size"], cfg["in_channels"]))
  t = jax.random.randint(jax.random.key(1), (b,), 0, cfg["timesteps"], jnp.int32)
  return x, t


def _build(image_size: int, in_channels: int, timesteps: int, ch_mult, attn_resolutions, **cfg) -> UNet:
  return UNet(ch_mult=tuple(ch_mult), attn_resolutions=tuple(attn_resolutions), **cfg)


register(
  ModelSpec(
    name="ddpm_unet_cifar10",
    family="diffusion",
    build=_build,
    defaults=dict(
      image_size=32,
      in_channels=3,
      timesteps=1000,
      ch=128,
      ch_mult=(1, 2, 2, 2),
      num_res_blocks=2,
      attn_resolutions=(16,),
      dropout=0.1,
      groups=32,
      out_channels=None,
    ),
    inputs=_inputs,
    task="generative",
    reference_params=35_746_307,
  )
)

register(
  ModelSpec(
    name="ddpm_unet",  # the small size family
    family="diffusion",
    build=_build,
    defaults=dict(
      image_size=16,
      in_channels=1,
      timesteps=1000,
      ch=32,
      ch_mult=(1, 2),
      num_res_blocks=1,
      attn_resolutions=(8,),
      dropout=0.1,
      groups=8,
      out_channels=None,
    ),
    inputs=_inputs,
    task="generative",
  )
)
