"""Fully connected autoencoder and VAE (Kingma & Welling 2013) over flattened images; outputs are logits.

Both expose `encode` and `decode` for `model.apply(variables, z, method="decode")`. The VAE samples its latent
from the "noise" rng stream when training or when that stream is given, and uses the mean otherwise.
"""

from __future__ import annotations

import math

import flax.linen as nn
import jax
import jax.numpy as jnp

from scalezoo.zoo.registry import ModelSpec, normal_input, register


class Stack(nn.Module):
  widths: tuple[int, ...]
  out: int

  @nn.compact
  def __call__(self, h_BxF: jax.Array) -> jax.Array:
    for i, w in enumerate(self.widths):
      h_BxF = nn.relu(nn.Dense(w, name=f"dense_{i}")(h_BxF))
    return nn.Dense(self.out, name="out")(h_BxF)


class Autoencoder(nn.Module):
  shape: tuple[int, ...] = (28, 28, 1)
  hidden: tuple[int, ...] = (512, 256)
  latent: int = 32

  def setup(self):
    self.encoder = Stack(tuple(self.hidden), self.latent)
    self.decoder = Stack(tuple(reversed(self.hidden)), math.prod(self.shape))

  def encode(self, x: jax.Array) -> jax.Array:
    return self.encoder(x.reshape(x.shape[0], -1))

  def decode(self, z_BxZ: jax.Array) -> jax.Array:
    return self.decoder(z_BxZ).reshape(z_BxZ.shape[0], *self.shape)

  def __call__(self, x: jax.Array, *, train: bool = False) -> jax.Array:
    return self.decode(self.encode(x))


class VAE(nn.Module):
  shape: tuple[int, ...] = (28, 28, 1)
  hidden: tuple[int, ...] = (400,)
  latent: int = 20

  def setup(self):
    self.encoder = Stack(tuple(self.hidden), 2 * self.latent)
    self.decoder = Stack(tuple(reversed(self.hidden)), math.prod(self.shape))

  def encode(self, x: jax.Array) -> tuple[jax.Array, jax.Array]:
    stats_Bx2Z = self.encoder(x.reshape(x.shape[0], -1))
    return stats_Bx2Z[:, : self.latent], stats_Bx2Z[:, self.latent :]

  def decode(self, z_BxZ: jax.Array) -> jax.Array:
    return self.decoder(z_BxZ).reshape(z_BxZ.shape[0], *self.shape)

  def __call__(self, x: jax.Array, *, train: bool = False) -> tuple[jax.Array, jax.Array, jax.Array]:
    """Returns (reconstruction logits, mean_BxZ, logvar_BxZ)."""
    mean_BxZ, logvar_BxZ = self.encode(x)
    z_BxZ = mean_BxZ
    if train or self.has_rng("noise"):
      eps_BxZ = jax.random.normal(self.make_rng("noise"), mean_BxZ.shape, mean_BxZ.dtype)
      z_BxZ = mean_BxZ + jnp.exp(0.5 * logvar_BxZ) * eps_BxZ
    return self.decode(z_BxZ), mean_BxZ, logvar_BxZ


def _image(b: int, cfg: dict) -> tuple[jax.Array]:
  return (normal_input((b, *cfg["shape"])),)


register(
  ModelSpec(
    name="autoencoder",
    family="autoencoder",
    build=lambda **cfg: Autoencoder(**cfg),
    defaults=dict(shape=(28, 28, 1), hidden=(512, 256), latent=32),
    inputs=_image,
    task="generative",
  )
)

register(
  ModelSpec(
    name="vae",
    family="autoencoder",
    build=lambda **cfg: VAE(**cfg),
    defaults=dict(shape=(28, 28, 1), hidden=(400,), latent=20),  # Kingma & Welling's MNIST model
    inputs=_image,
    task="generative",
  )
)
