"""Loss functions, per example (the caller averages), so batches with padding or masks weigh right."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import optax


def cross_entropy(logits_BxK: jax.Array, labels_B: jax.Array) -> jax.Array:
  return optax.softmax_cross_entropy_with_integer_labels(logits_BxK.astype(jnp.float32), labels_B)


def binary_cross_entropy(logits: jax.Array, targets: jax.Array) -> jax.Array:
  return optax.sigmoid_binary_cross_entropy(logits.astype(jnp.float32), targets.astype(jnp.float32))


def mse(pred: jax.Array, target: jax.Array) -> jax.Array:
  d = pred.astype(jnp.float32) - target.astype(jnp.float32)
  return jnp.mean(d.reshape(d.shape[0], -1) ** 2, axis=1)


def vae_elbo(recon_logits: jax.Array, x: jax.Array, mean: jax.Array, logvar: jax.Array) -> jax.Array:
  """Negative ELBO per example: Bernoulli reconstruction (x in [0, 1]) plus KL(q(z|x) || N(0, I))."""
  b = x.shape[0]
  rec = binary_cross_entropy(recon_logits.reshape(b, -1), x.reshape(b, -1)).sum(axis=1)
  kl = 0.5 * jnp.sum(jnp.exp(logvar) + mean**2 - 1.0 - logvar, axis=-1)
  return rec + kl


def gan_discriminator(real_logits: jax.Array, fake_logits: jax.Array) -> jax.Array:
  """Goodfellow et al.'s discriminator loss: real -> 1, fake -> 0."""
  real, fake = real_logits.reshape(-1), fake_logits.reshape(-1)
  return binary_cross_entropy(real, jnp.ones_like(real)) + binary_cross_entropy(fake, jnp.zeros_like(fake))


def gan_generator(fake_logits: jax.Array) -> jax.Array:
  """The non-saturating generator loss: -log D(G(z))."""
  fake = fake_logits.reshape(-1)
  return binary_cross_entropy(fake, jnp.ones_like(fake))


def ddpm_betas(T: int = 1000, beta_1: float = 1e-4, beta_T: float = 0.02) -> jax.Array:
  return jnp.linspace(beta_1, beta_T, T, dtype=jnp.float32)


def ddpm_noise_loss(apply_fn, x0: jax.Array, key: jax.Array, T: int = 1000) -> jax.Array:
  """Ho et al.'s simplified objective: predict the noise added at a uniformly drawn timestep."""
  b = x0.shape[0]
  k_t, k_eps = jax.random.split(key)
  t = jax.random.randint(k_t, (b,), 0, T)
  alpha_bar = jnp.cumprod(1.0 - ddpm_betas(T))[t].reshape((b,) + (1,) * (x0.ndim - 1))
  eps = jax.random.normal(k_eps, x0.shape, jnp.float32)
  x_t = jnp.sqrt(alpha_bar) * x0 + jnp.sqrt(1.0 - alpha_bar) * eps
  return mse(apply_fn(x_t, t), eps)
