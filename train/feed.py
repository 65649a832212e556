"""A token corpus's batches for a group's chunks, read by the host in the data order and placed on the mesh."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from scalezoo.data import tokens
from scalezoo.train import mesh as mesh_lib
from scalezoo.train.step import Engine


class Feed:
  """The batches of a token corpus for the chunks of a group, from step `start` on: each run reads its own order
  (its seed), this host its rows of each global batch, placed as one global array per chunk."""

  def __init__(self, eng: Engine, stream, seeds: list[int], start: int):
    self.eng = eng
    self.its = [tokens.train_batches(stream, global_batch=eng.batch_size, seed=s, start_step=start) for s in seeds]

  def next(self, n: int):
    chunks = [[next(it) for _ in range(n)] for it in self.its]
    runs = [{k: np.stack([b[k] for b in bs]) for k in bs[0]} for bs in chunks]
    host = runs[0] if len(runs) == 1 else {k: np.stack([r[k] for r in runs]) for k in runs[0]}
    if self.eng.mesh is None:
      return jax.tree.map(jnp.asarray, host)
    return {k: mesh_lib.host_batch(v, self.eng.mesh, leading=1 + int(len(runs) > 1)) for k, v in host.items()}

  def close(self) -> None:
    for it in self.its:
      it.close()
