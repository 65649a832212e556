"""The order of an in-memory training set's examples as a pure function of (seed, step): epoch e is a permutation
drawn from fold_in(key, e), so a resumed run needs only its step, and runs that share a shape can draw their batches
inside one vmapped program. (A token corpus's order is data/tokens.py's `train_batches`, the same rule on the host.)
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np


def permutation(key: jax.Array, n: int) -> jax.Array:
  """jax.random.permutation(key, n), bit for bit, in less CPU time.

  JAX's rounds are stable sorts of the indices by fresh 32-bit random keys; sorting key << 32 | position as one
  uint64 gives the same order (ties by position), and XLA:CPU sorts a lone uint64 operand with its fast path
  instead of calling a comparator per comparison.
  """
  rounds = int(np.ceil(3 * np.log(max(1, n)) / np.log(np.iinfo(np.uint32).max)))  # as jax.random._shuffle
  x = jnp.arange(n, dtype=jnp.int32)
  for _ in range(rounds):
    key, sub = jax.random.split(key)
    bits = jax.random.bits(sub, (n,), jnp.uint32)
    with jax.enable_x64(True):
      packed = (bits.astype(jnp.uint64) << 32) | jnp.arange(n, dtype=jnp.uint64)
      order = (jax.lax.sort(packed) & 0xFFFFFFFF).astype(jnp.int32)
    x = x[order]
  return x


def batch_indices(key: jax.Array, start: jax.Array, n_steps: int, n: int, b: int) -> jax.Array:
  """Example indices (n_steps x b) for steps start..start+n_steps-1: epoch e is permutation(fold_in(key, e)).

  Only the epochs the chunk touches are permuted, once each, so a long chunk costs one sort per epoch.
  """
  spe = n // b  # steps per epoch; a remainder smaller than a batch is dropped each epoch
  e0 = start // spe
  n_epochs = (n_steps - 1) // spe + 2  # a static bound on the epochs these steps can touch
  perms = jax.vmap(lambda e: permutation(jax.random.fold_in(key, e0 + e), n))(jnp.arange(n_epochs))
  steps = start + jnp.arange(n_steps)
  rows = steps // spe - e0
  cols = (steps % spe).reshape(-1, 1) * b + jnp.arange(b).reshape(1, -1)
  return perms[rows.reshape(-1, 1), cols]
