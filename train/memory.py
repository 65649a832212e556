"""What a run needs in memory: the check against this machine before anything is built, and the per-device
estimate `scalezoo plan` gives for a mesh of chips (XLA's own figure for a target: `plan --compile`).

Memory per device, in bytes: parameters (f32) and optimizer state, each leaf divided over the mesh as train/mesh.py
places it (fsdp splits the model width, tensor the heads and feed-forward units); gradients like the parameters
(twice with microbatches: the running sum and one piece's); the batch; and activations of one microbatch on one
device (b = batch / (data x fsdp) / microbatches sequences of L tokens, width D, H heads, vocabulary V, n layers):

  remat none | full:  n * (A*b*L*D + S*b*H*L^2) + G*b*L*V
  remat block:        n * 4*b*L*D  + (A*b*L*D + S*b*H*L^2) + G*b*L*V   (block inputs kept, one block recomputed)

A = 32, S = 24, G = 12 bytes are fitted to XLA's memory analysis of this GPT's compiled step on CPU
(tests/test_plan.py holds the estimate within 20% of it). For the Llama family A*b*L*D is 16*b*L*D + 28*b*L*F
(F = d_ff), fitted the same way at d_ff from 2 to 4 d_model (within 17% there; tests/test_ladder_llama.py).
remat = "full" recomputes the whole forward pass inside the backward one, so its peak is no remat's. On CPU bf16
compute takes as much temporary memory as f32, so the coefficients are f32's: on GPU and TPU bf16 activations take
less, and the estimate errs on the safe side there.
Not covered: under fsdp > 1 the compiled step also holds gathered weights, so for fsdp meshes the estimate is a
lower bound (4 forced CPU devices, d_model 256: XLA's total 1.4x the estimate under fsdp = 4; activations are split
over data x fsdp in every layer since they carry logical names, zoo/sharding.py). XLA's own figure for a TPU slice
or GPU hosts: `scalezoo plan SPEC --compile TOPOLOGY` (sweep/compile_plan.py).
"""

from __future__ import annotations

import os
from typing import Any

import jax
import numpy as np

from scalezoo import zoo
from scalezoo.train import faults
from scalezoo.train import mesh as mesh_lib
from scalezoo.train.config import ConfigError, RunConfig, show
from scalezoo.train.model_args import model_args
from scalezoo.zoo import sharding as logical

A_BYTES, S_BYTES, G_BYTES, BLOCK_INPUT_BYTES = 32, 24, 12, 4  # fitted: the module docstring
LLAMA_A_BYTES, LLAMA_F_BYTES = 16, 28  # Llama's A*b*L*D becomes 16*b*L*D + 28*b*L*d_ff (least squares, 4 shapes)


def memory_bytes() -> int:
  """Memory a run can use: the first device's allocator limit on an accelerator, the machine's RAM on a CPU."""
  import jax

  try:
    stats = jax.devices()[0].memory_stats() or {}
  except Exception:  # noqa: BLE001 - a backend without memory statistics
    stats = {}
  if stats.get("bytes_limit"):
    return int(stats["bytes_limit"])
  return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def check_model_fits(cfg: RunConfig, info: dict[str, Any], group: int = 1) -> None:
  """Refuse, before building it, a model whose parameters and optimizer state alone exceed the machine's memory
  (counted by zoo with jax.eval_shape: nothing allocated)."""
  try:
    n = zoo.count_params(cfg.model, **model_args(cfg, info))
  except (ValueError, TypeError, MemoryError) as e:
    raise ConfigError(f"model {cfg.model!r} {show(cfg.model_args)}: {faults.one_line(e)}") from None
  need = n * 4 * (4 + bool(cfg.early_stopping_patience)) * group  # params, gradient, 2 optimizer moments, best
  have = memory_bytes()
  if need > have:
    raise ConfigError(
      f"model {cfg.model!r} has {n:,} parameters: about {need / 2**30:.1f} GiB with gradients and optimizer "
      f"state{f' for {group} runs' if group > 1 else ''}, more than the {have / 2**30:.1f} GiB of memory here"
    )


def shard_bytes(shape, dtype, axes, sizes: dict[str, int], where: str) -> int:
  n = 1
  for dim, name in zip(shape, axes or (None,) * len(shape)):
    axis = mesh_lib.RULES.get(name) if name else None
    k = sizes[axis] if axis else 1
    if k > 1 and dim % k:
      raise ConfigError(f"mesh {axis}={k} does not divide {name!r} = {dim} of parameter {where} {tuple(shape)}")
    n *= dim // k
  return n * np.dtype(dtype).itemsize


def state_bytes(state, sizes: dict[str, int]) -> tuple[int, int]:
  """(parameter, optimizer-state) bytes on one device, each leaf split as train/mesh.py places it."""
  flat = jax.tree_util.tree_flatten_with_path(state.params)[0]
  by_path = {}
  params = 0
  for p, leaf in flat:
    path = logical.path_of(p)
    axes = logical.axes_of(path, leaf.ndim)
    by_path[path] = (tuple(leaf.shape), axes)
    params += shard_bytes(leaf.shape, leaf.dtype, axes, sizes, path)
  opt = 0
  for p, leaf in jax.tree_util.tree_flatten_with_path(state.opt_state)[0]:
    path = logical.path_of(p)
    axes = next(
      (a for pp, (shape, a) in by_path.items() if (path == pp or path.endswith("/" + pp)) and leaf.shape == shape),
      None,
    )
    opt += shard_bytes(leaf.shape, leaf.dtype, axes, sizes, path)
  return params, opt


def activation_bytes(cfg, margs: dict[str, Any], sizes: dict[str, int], context: int) -> int:
  b = cfg.batch_size / (sizes["data"] * sizes["fsdp"]) / cfg.microbatches
  D, n, H, V = margs["d_model"], margs["n_layers"], margs["n_heads"], margs["vocab"]
  width = A_BYTES * b * context * D
  if cfg.model == "llama":  # SwiGLU keeps three d_ff-wide activations: bytes by D and by d_ff (fitted as above)
    from scalezoo.zoo.llama import ffn_width

    width = LLAMA_A_BYTES * b * context * D + LLAMA_F_BYTES * b * context * (margs["d_ff"] or ffn_width(D))
  one_block = (width + S_BYTES * b * H * context**2) / sizes["tensor"]
  logits = G_BYTES * b * context * V
  if cfg.remat == "block":
    return int(n * BLOCK_INPUT_BYTES * b * context * D + one_block + logits)
  return int(n * one_block + logits)
