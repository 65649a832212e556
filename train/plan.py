"""`scalezoo plan SPEC`: what a sweep will cost before it starts, per run and in total, on a given chip.

Per run: parameters (all and non-embedding, Kaplan et al. 2020), tokens (steps x batch x context), FLOPs as 6ND
(N non-embedding) and as XLA's count of one train step times the steps, memory per device, whether it fits, and
hours at a given MFU. Nothing is allocated or compiled: shapes come from jax.eval_shape, FLOPs from lowering.

XLA's FLOP count: XLA's cost analysis counts a while loop's body once, so the step is lowered with the layers
unrolled and without microbatches (the same arithmetic), without remat (MFU counts model FLOPs, not recomputation:
Chowdhery et al. 2022, appendix B), at 1 and 2 layers, and extended linearly in depth (the blocks are identical):
lowering a 27-layer model takes ~10 s on a laptop CPU, two 1-2 layer ones well under a second each.

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
Not covered: under fsdp > 1, XLA:CPU's compiled step holds ~2.5x these activations per device (measured on 4
forced devices: its SPMD partitioner does not keep every activation split over the batch when the weights are
split over the model width), so for fsdp meshes the estimate is a lower bound on CPU; unchecked on GPU and TPU.
"""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path
from typing import Any

# chip -> (peak dense bf16 FLOP/s, memory bytes per chip)
CHIPS: dict[str, tuple[float, float]] = {
  # NVIDIA H100 SXM5 datasheet (nvidia.com/en-us/data-center/h100): BF16 Tensor Core 1,979 TFLOPS with sparsity,
  # 989 dense; 80 GB HBM3
  "h100": (989e12, 80e9),
  # NVIDIA A100 datasheet (nvidia.com/en-us/data-center/a100): BF16 Tensor Core 312 TFLOPS dense (624 sparse);
  # 80 GB HBM2e (the 80 GB SXM part)
  "a100": (312e12, 80e9),
  # Google Cloud TPU v5e (cloud.google.com/tpu/docs/v5e): peak compute per chip (bf16) 197 TFLOPs; HBM2 16 GB
  "v5e": (197e12, 16e9),
  # Google Cloud TPU v4 (cloud.google.com/tpu/docs/v4): 275 TFLOPs bf16 per chip, 32 GiB HBM2
  "v4": (275e12, 32 * 2**30),
  # this machine: a nominal 1 TFLOP/s (a many-core AVX-512 server; measure yours) and its RAM
  "cpu": (1e12, float(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))),
}
A_BYTES, S_BYTES, G_BYTES, BLOCK_INPUT_BYTES = 32, 24, 12, 4
LLAMA_A_BYTES, LLAMA_F_BYTES = 16, 28  # Llama's A*b*L*D becomes 16*b*L*D + 28*b*L*d_ff (least squares, 4 shapes)


@dataclasses.dataclass(frozen=True)
class Row:
  run_id: str
  shape: str  # d_model x n_layers
  params: int
  non_embedding: int
  tokens: int
  flops_6nd: float
  flops_xla: float
  mesh: tuple[int, int, int]
  memory: dict[str, int]  # per device: params, optimizer, gradients, activations, batch, total
  fits: bool
  hours: float


def check_args(chip: str, chips: int, mfu: float) -> None:
  from scalezoo.train.config import ConfigError

  if chip not in CHIPS:
    raise ConfigError(f"--chip {chip!r} is not a known chip; chips: {', '.join(CHIPS)}")
  if chips < 1:
    raise ConfigError(f"--chips must be >= 1, got {chips}")
  if not 0 < mfu <= 1:
    raise ConfigError(f"--mfu must be in (0, 1], got {mfu}")


def _vocab(cfg) -> dict[str, Any]:
  """The data set's facts a model takes (the corpus's vocabulary) when the corpus exists; else none."""
  path = Path(cfg.data_args.get("path", "")) / "index.json"
  if cfg.data == "tokens" and path.is_file():
    return {"vocab_size": int(json.loads(path.read_text())["vocab_size"])}
  return {}


def _engine(cfg, margs: dict[str, Any], context: int, **changes):
  import numpy as np

  from scalezoo import zoo
  from scalezoo.train import step as S
  from scalezoo.train.tasks import get as get_task

  cfg = cfg.replace(**changes)
  x = np.zeros((1, context), np.int32)
  return S.Engine(cfg, zoo.create(cfg.model, **margs), get_task("lm"), 0, 10**6, None, {"x": x, "y": x})


def _abstract_state(eng):
  import jax

  from scalezoo.train import step as S

  return jax.eval_shape(lambda: S._abstract_state(eng))


def _shard_bytes(shape, dtype, axes, sizes: dict[str, int], where: str) -> int:
  import numpy as np

  from scalezoo.train import mesh as mesh_lib
  from scalezoo.train.config import ConfigError

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
  import jax

  from scalezoo.zoo import sharding as logical

  flat = jax.tree_util.tree_flatten_with_path(state.params)[0]
  by_path = {}
  params = 0
  for p, leaf in flat:
    path = logical.path_of(p)
    axes = logical.axes_of(path, leaf.ndim)
    by_path[path] = (tuple(leaf.shape), axes)
    params += _shard_bytes(leaf.shape, leaf.dtype, axes, sizes, path)
  opt = 0
  for p, leaf in jax.tree_util.tree_flatten_with_path(state.opt_state)[0]:
    path = logical.path_of(p)
    axes = next(
      (a for pp, (shape, a) in by_path.items() if (path == pp or path.endswith("/" + pp)) and leaf.shape == shape),
      None,
    )
    opt += _shard_bytes(leaf.shape, leaf.dtype, axes, sizes, path)
  return params, opt


def activation_bytes(cfg, margs: dict[str, Any], sizes: dict[str, int], context: int) -> int:
  b = cfg.batch_size / (sizes["data"] * sizes["fsdp"]) / cfg.microbatches
  D, n, H, V = margs["d_model"], margs["n_layers"], margs["n_heads"], margs["vocab"]
  width = A_BYTES * b * context * D
  if cfg.model == "llama":  # SwiGLU keeps three d_ff-wide activations: bytes by D and by d_ff (fitted as below)
    from scalezoo.zoo.llama import ffn_width

    width = LLAMA_A_BYTES * b * context * D + LLAMA_F_BYTES * b * context * (margs["d_ff"] or ffn_width(D))
  one_block = (width + S_BYTES * b * H * context**2) / sizes["tensor"]
  logits = G_BYTES * b * context * V
  if cfg.remat == "block":
    return int(n * BLOCK_INPUT_BYTES * b * context * D + one_block + logits)
  return int(n * one_block + logits)


def step_flops(cfg, margs: dict[str, Any], context: int) -> float:
  """XLA's FLOPs of one train step at the full batch (module docstring: lowered at 1 and 2 layers, extended)."""
  import jax
  import jax.numpy as jnp

  from scalezoo.train import step as S

  def at(layers: int) -> float:
    m = {**margs, "n_layers": layers, "scan_layers": False, "remat": False}
    eng = _engine(cfg, m, context, microbatches=1, remat="none", mesh={}, devices=1)
    batch = {k: jax.ShapeDtypeStruct((cfg.batch_size, context), jnp.int32) for k in ("x", "y")}
    return S.flops_of_step(eng, _abstract_state(eng), batch, jnp.float32(1e-3), jax.random.key(0), fed=True)

  f1, f2 = at(1), at(2)
  return f1 + (margs["n_layers"] - 1) * (f2 - f1)


def plan_run(cfg, chip: str, chips: int, mfu: float) -> Row:
  from scalezoo import zoo
  from scalezoo.train import loop
  from scalezoo.train import mesh as mesh_lib
  from scalezoo.train.config import ConfigError

  if cfg.model not in ("gpt", "gpt2_small", "llama"):
    raise ConfigError(f"plan knows the memory of GPT and Llama runs (model 'gpt', 'llama'), not {cfg.model!r}")
  context = int(cfg.data_args.get("context", cfg.model_args.get("context", 128)))
  margs = {**zoo.spec(cfg.model).defaults, **loop.model_args(cfg, _vocab(cfg))}
  shape = mesh_lib.mesh_shape(cfg, chips)
  sizes = dict(zip(mesh_lib.AXES, shape))
  state = _abstract_state(_engine(cfg, margs, context))
  counts = zoo.count_params_split(cfg.model, **margs)
  params, opt = state_bytes(state, sizes)
  grads = params * (2 if cfg.microbatches > 1 else 1)
  batch = 2 * 4 * context * cfg.batch_size // (sizes["data"] * sizes["fsdp"])
  act = activation_bytes(cfg, margs, sizes, context)
  memory = dict(params=params, optimizer=opt, gradients=grads, activations=act, batch=batch)
  memory["total"] = sum(memory.values())
  tokens = cfg.steps * cfg.batch_size * context
  xla = step_flops(cfg, margs, context) * cfg.steps
  peak, hbm = CHIPS[chip]
  return Row(
    cfg.run_id(),
    f"{margs['d_model']}x{margs['n_layers']}",
    counts["all"],
    counts["non_embedding"],
    tokens,
    6.0 * counts["non_embedding"] * tokens,
    xla,
    shape,
    memory,
    memory["total"] <= hbm,
    xla / (chips * peak * mfu) / 3600,
  )


def _si(x: float) -> str:
  for unit, k in (("T", 1e12), ("B", 1e9), ("M", 1e6), ("k", 1e3)):
    if abs(x) >= k:
      return f"{x / k:.3g}{unit}"
  return f"{x:.3g}"


def _gib(x: float) -> str:
  return f"{x / 2**30:.2f}"


def table(rows: list[Row], chip: str, chips: int, mfu: float) -> str:
  peak, hbm = CHIPS[chip]
  head = (
    "run",
    "shape",
    "params",
    "non-emb",
    "tokens",
    "6ND",
    "XLA",
    "mesh d,f,t",
    "param",
    "opt",
    "grad",
    "act",
    "total GiB",
    "fits",
    "hours",
  )
  body = []
  for r in rows:
    m = r.memory
    body.append(
      (
        r.run_id,
        r.shape,
        _si(r.params),
        _si(r.non_embedding),
        _si(r.tokens),
        f"{r.flops_6nd:.2e}",
        f"{r.flops_xla:.2e}",
        ",".join(map(str, r.mesh)),
        _gib(m["params"]),
        _gib(m["optimizer"]),
        _gib(m["gradients"]),
        _gib(m["activations"]),
        _gib(m["total"]),
        "yes" if r.fits else "NO",
        f"{r.hours:.3g}",
      )
    )
  widths = [max(len(x[i]) for x in [head, *body]) for i in range(len(head))]
  fmt = lambda cells: "  ".join(c.ljust(w) if i < 2 else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths)))
  lines = [
    f"{len(rows)} runs on {chips} x {chip} ({peak / 1e12:.0f} TFLOP/s bf16, {hbm / 2**30:.1f} GiB each) at MFU {mfu}",
    "memory per device in GiB; FLOPs of the whole run; hours of wall clock on all the chips",
    fmt(head),
    *map(fmt, body),
  ]
  total = sum(r.hours for r in rows)
  misfits = sum(not r.fits for r in rows)
  lines.append(
    f"total: {sum(r.tokens for r in rows):.3g} tokens, {sum(r.flops_6nd for r in rows):.3g} FLOPs (6ND), "
    f"{sum(r.flops_xla for r in rows):.3g} FLOPs (XLA), {total:.1f} hours ({total * chips:.0f} chip-hours)"
    + (f"; {misfits} run(s) do not fit" if misfits else "; every run fits")
  )
  return "\n".join(lines)


def plan(sweep, chip: str = "h100", chips: int = 1, mfu: float = 0.4) -> tuple[list[Row], str]:
  check_args(chip, chips, mfu)
  rows = [plan_run(cfg, chip, chips, mfu) for cfg in sweep.runs]
  return rows, table(rows, chip, chips, mfu)
