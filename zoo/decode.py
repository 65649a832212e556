"""Decoding with a key/value cache: `generate(model, variables, prompt_ids, max_new_tokens, ...)` for the zoo's
decoders (gpt, llama and its family).

The cache is a pytree passed into the model and returned by it, {"k", "v": n_layers x B x S x G x K, "end": the
positions filled}, S = prompt + new tokens: one call on the prompt (prefill), then one call a token inside a
`lax.fori_loop`, all in one jitted program. Greedy at temperature 0 (argmax); otherwise logits / temperature,
optionally cut to the top_k, sampled with the key fold_in(key(seed), step).
Every prompt in the batch has the same length (no padding).
"""

from __future__ import annotations

import functools

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np


def _cache_shape(model: nn.Module) -> tuple[int, int, int]:
  """(n_layers, G key/value heads, K head width) of a decoder."""
  if not hasattr(model, "heads"):
    raise ValueError(f"{type(model).__name__} has no decoding cache; zoo.generate works for gpt and the llama family")
  _, G, K = model.heads
  return model.n_layers, G, K


def empty_cache(model: nn.Module, batch: int, length: int) -> dict:
  """A cache for `batch` sequences of up to `length` positions, in the model's compute dtype."""
  N, G, K = _cache_shape(model)
  zeros = jnp.zeros((N, batch, length, G, K), model.dtype)
  return {"k": zeros, "v": zeros, "end": jnp.zeros((), jnp.int32)}


def _pick(logits_BxV: jax.Array, key: jax.Array, temperature: float, top_k: int | None) -> jax.Array:
  if temperature == 0.0:
    return jnp.argmax(logits_BxV, axis=-1).astype(jnp.int32)
  logits_BxV = logits_BxV / temperature
  if top_k is not None:
    kth_Bx1 = jax.lax.top_k(logits_BxV, top_k)[0][:, -1:]
    logits_BxV = jnp.where(logits_BxV < kth_Bx1, -jnp.inf, logits_BxV)
  return jax.random.categorical(key, logits_BxV, axis=-1).astype(jnp.int32)


@functools.partial(jax.jit, static_argnames=("model", "max_new_tokens", "temperature", "top_k"))
def _generate(model, variables, prompt_BxP, max_new_tokens, temperature, top_k, seed):
  B, P = prompt_BxP.shape
  N = max_new_tokens
  key = jax.random.key(seed)
  logits_BxPxV, cache = model.apply(variables, prompt_BxP, cache=empty_cache(model, B, P + N))
  out_BxN = (
    jnp.zeros((B, N), jnp.int32)
    .at[:, 0]
    .set(_pick(logits_BxPxV[:, -1], jax.random.fold_in(key, 0), temperature, top_k))
  )

  def step(i, carry):
    out_BxN, cache = carry
    logits_Bx1xV, cache = model.apply(variables, jax.lax.dynamic_slice_in_dim(out_BxN, i - 1, 1, axis=1), cache=cache)
    tok_B = _pick(logits_Bx1xV[:, 0], jax.random.fold_in(key, i), temperature, top_k)
    return jax.lax.dynamic_update_slice_in_dim(out_BxN, tok_B[:, None], i, axis=1), cache

  out_BxN, _ = jax.lax.fori_loop(1, N, step, (out_BxN, cache))
  return jnp.concatenate([prompt_BxP, out_BxN], axis=1)


def generate(
  model: nn.Module,
  variables: dict,
  prompt_ids,
  max_new_tokens: int,
  temperature: float = 0.0,
  top_k: int | None = None,
  seed: int = 0,
) -> np.ndarray:
  """The prompt followed by `max_new_tokens` tokens (B x (P + max_new_tokens), int32), as transformers' generate
  returns it; a 1-D prompt is one sequence (and 1-D comes back)."""
  prompt = np.asarray(prompt_ids)
  one = prompt.ndim == 1
  prompt_BxP = prompt[None] if one else prompt
  if prompt_BxP.ndim != 2 or prompt_BxP.shape[1] == 0 or not np.issubdtype(prompt_BxP.dtype, np.integer):
    raise ValueError(
      f"prompt_ids must be a non-empty (B, P) or (P,) array of token ids, got {prompt.shape} {prompt.dtype}"
    )
  if max_new_tokens < 1:
    raise ValueError(f"max_new_tokens must be >= 1, got {max_new_tokens}")
  if temperature < 0 or (top_k is not None and top_k < 1):
    raise ValueError(f"temperature must be >= 0 and top_k >= 1 or None, got {temperature}, {top_k}")
  total = prompt_BxP.shape[1] + max_new_tokens
  if total > model.context:
    raise ValueError(f"prompt + max_new_tokens = {total} exceeds the model's context {model.context}")
  if prompt_BxP.min() < 0 or prompt_BxP.max() >= model.vocab:
    raise ValueError(f"prompt_ids must lie in [0, {model.vocab}), got [{prompt_BxP.min()}, {prompt_BxP.max()}]")
  out = _generate(
    model, variables, jnp.asarray(prompt_BxP, jnp.int32), max_new_tokens, float(temperature), top_k, int(seed)
  )
  out = np.asarray(out)
  return out[0] if one else out
