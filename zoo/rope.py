"""Rotary position embeddings (Su et al. 2021) in Hugging Face's "rotate half" layout, with Llama 3's frequency
scaling.

A head's K features are K/2 pairs (i, i + K/2), pair i rotated by the angle position x inv_freq[i] with
inv_freq[i] = theta^(-2i/K). Llama 3 (`rope_scaling = {"rope_type": "llama3", ...}` in transformers) stretches the
low frequencies for long contexts: wavelengths longer than original_context / low_freq_factor are divided by
`factor`, those shorter than original_context / high_freq_factor kept, the band between interpolated.
Angles and their cos/sin are f32; the rotation runs in the input's dtype, as transformers' does.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np


def inv_frequencies(K: int, theta: float, scaling: tuple = ()) -> np.ndarray:
  """The K/2 rotation frequencies (float32). scaling: () or Llama 3's (factor, low_freq_factor, high_freq_factor,
  original_context)."""
  if K % 2:
    raise ValueError(f"rotary embeddings need an even head width, got {K}")
  inv_F = (1.0 / (np.float32(theta) ** (np.arange(0, K, 2, dtype=np.float32) / np.float32(K)))).astype(np.float32)
  if not scaling:
    return inv_F
  if len(scaling) != 4:
    raise ValueError(f"rope_scaling is (factor, low_freq_factor, high_freq_factor, original_context), got {scaling}")
  factor, low, high, old_context = (float(s) for s in scaling)
  wavelen_F = 2 * math.pi / inv_F
  scaled_F = np.where(wavelen_F > old_context / low, inv_F / factor, inv_F)
  smooth_F = (old_context / wavelen_F - low) / (high - low)
  smoothed_F = (1 - smooth_F) * scaled_F / factor + smooth_F * scaled_F
  medium_F = (wavelen_F >= old_context / high) & (wavelen_F <= old_context / low)
  return np.where(medium_F, smoothed_F, scaled_F).astype(np.float32)


def apply_rotary(x_BxLxHxK: jax.Array, pos_BxL: jax.Array, inv_F: np.ndarray) -> jax.Array:
  """x rotated by its positions: pair (x1, x2) -> (x1 cos - x2 sin, x2 cos + x1 sin), in x's dtype."""
  angle_BxLxF = pos_BxL.astype(jnp.float32)[:, :, None] * jnp.asarray(inv_F)[None, None, :]
  cos_BxLx1xF = jnp.cos(angle_BxLxF)[:, :, None].astype(x_BxLxHxK.dtype)
  sin_BxLx1xF = jnp.sin(angle_BxLxF)[:, :, None].astype(x_BxLxHxK.dtype)
  x1_BxLxHxF, x2_BxLxHxF = jnp.split(x_BxLxHxK, 2, axis=-1)
  return jnp.concatenate(
    [x1_BxLxHxF * cos_BxLx1xF - x2_BxLxHxF * sin_BxLx1xF, x2_BxLxHxF * cos_BxLx1xF + x1_BxLxHxF * sin_BxLx1xF], axis=-1
  )
