"""A fingerprint of a pytree of arrays computed where the arrays live: no array is gathered to one host.

Each leaf's bits are read as uint32 words and summed twice with position-dependent odd weights, modulo 2**32,
inside one jitted program. Integer addition is exact and order-free, so the sums are the same for any mesh the
leaf is sharded over (and restored onto), and every process gets them as replicated scalars. A changed, moved or
missing word changes a sum (unless two changes cancel, about 2**-64 for random corruption); this is a
corruption check, not a defence against someone crafting a collision.
"""

from __future__ import annotations

import hashlib

import jax
import jax.numpy as jnp
import numpy as np


def _words(a: jax.Array) -> jax.Array:
  """The array's bits as uint32 words, in its own shape (plus a trailing axis of 2 for 8-byte types)."""
  if a.dtype == jnp.bool_:
    a = a.astype(jnp.uint8)
  if jnp.issubdtype(a.dtype, jax.dtypes.prng_key):
    a = jax.random.key_data(a)
  size = np.dtype(a.dtype).itemsize
  if size < 4:
    return jax.lax.bitcast_convert_type(a, jnp.dtype(f"uint{8 * size}")).astype(jnp.uint32)
  return jax.lax.bitcast_convert_type(a, jnp.uint32)


def _position(shape: tuple[int, ...]) -> jax.Array:
  """Each element's row-major flat index (mod 2**32), built from iotas so no sharded array is reshaped."""
  pos, stride = jnp.zeros(shape, jnp.uint32), 1
  for d in reversed(range(len(shape))):
    pos = pos + jax.lax.broadcasted_iota(jnp.uint32, shape, d) * jnp.uint32(stride % 2**32)
    stride *= shape[d]
  return pos


@jax.jit
def _sums(leaves):
  out = []
  for a in leaves:
    w = _words(a)
    i = _position(w.shape)
    out.append(jnp.stack([jnp.sum(w * (2 * i + 1)), jnp.sum((w ^ (i * jnp.uint32(0x9E3779B9))) * (4 * i + 3))]))
  return out


def fingerprint(tree) -> str:
  """A hex digest of the tree's structure, shapes, dtypes and contents (see the module's docstring)."""
  leaves, treedef = jax.tree.flatten(tree)
  sums = [np.asarray(s) for s in _sums(leaves)] if leaves else []
  h = hashlib.sha256(str(treedef).encode())
  for a, s in zip(leaves, sums):
    h.update(str((jnp.dtype(a.dtype).name, tuple(a.shape))).encode())
    h.update(s.astype("<u4").tobytes())
  return h.hexdigest()
