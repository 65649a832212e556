"""TPU's splash attention (jax.experimental.pallas.ops.tpu.splash_attention) in the zoo's layout, for
zoo/attention.py's "splash" backend.

The kernel takes one example's heads first (H x L x K, keys G x S x K: grouped queries without repeating the keys),
builds its causal, sliding-window or full mask itself and skips the blocks the mask leaves empty. It is vmapped over
the batch, and under the engine's mesh each device runs it on its own rows and heads (shard_map over the
activations' batch and head axes: XLA does not partition a Pallas kernel). Off a TPU (a CPU's tests) it runs in
Pallas' interpret mode.
"""

from __future__ import annotations

import math

import jax
from jax.sharding import PartitionSpec

from scalezoo.zoo import sharding as logical

BLOCK = 128  # the kernel's key blocks are whole multiples of the TPU's 128 lanes


def fits(L: int, S: int) -> bool:
  """Query and key lengths the kernel's blocks tile."""
  return L % BLOCK == 0 and S % BLOCK == 0


def _block(n: int) -> int:
  return next(b for b in (512, 256, BLOCK) if n % b == 0)


def _on_one_device(q_BxLxHxK: jax.Array, k_BxSxGxK: jax.Array, v_BxSxGxK: jax.Array, causal: bool, window: int):
  from jax.experimental.pallas.ops.tpu import splash_attention as sa  # on use: Pallas' import is not cheap

  _, L, H, _ = q_BxLxHxK.shape
  S = k_BxSxGxK.shape[1]
  if causal:  # a query at p sees p - window < t <= p
    one = sa.LocalMask((L, S), (window - 1, 0), 0) if window else sa.CausalMask((L, S))
  else:
    one = sa.FullMask((L, S))
  bq, bkv = _block(L), _block(S)
  blocks = sa.BlockSizes(bq, bkv, block_q_dkv=bq, block_kv_dkv=bkv, block_q_dq=bq, block_kv_dq=bkv)
  interpret = (logical.platform() or jax.default_backend()) != "tpu"
  kernel = sa.make_splash_mha_single_device(sa.MultiHeadMask([one] * H), block_sizes=blocks, interpret=interpret)
  heads_first = lambda x: x.transpose(0, 2, 1, 3)  # B x L x H x K <-> B x H x L x K
  att_BxHxLxK = jax.vmap(kernel)(heads_first(q_BxLxHxK), heads_first(k_BxSxGxK), heads_first(v_BxSxGxK))
  return heads_first(att_BxHxLxK)


def attention(
  q_BxLxHxK: jax.Array, k_BxSxGxK: jax.Array, v_BxSxGxK: jax.Array, *, causal: bool, window: int = 0
) -> jax.Array:
  """softmax(q k^T, masked) v: B x L x H x K; q comes scaled."""
  mesh, (batch, heads) = logical.mesh_axes("activation_batch", "activation_heads")
  one = lambda q, k, v: _on_one_device(q, k, v, causal, window)
  if mesh is None:
    return one(q_BxLxHxK, k_BxSxGxK, v_BxSxGxK)
  n = math.prod(mesh.shape[a] for a in ((heads,) if isinstance(heads, str) else heads or ()))
  H, G = q_BxLxHxK.shape[2], k_BxSxGxK.shape[2]
  spec = PartitionSpec(batch, None, heads if H % n == 0 and G % n == 0 else None, None)  # else every device all heads
  return jax.shard_map(one, mesh=mesh, in_specs=(spec,) * 3, out_specs=spec, check_vma=False)(
    q_BxLxHxK, k_BxSxGxK, v_BxSxGxK
  )
