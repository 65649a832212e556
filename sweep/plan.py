"""`scalezoo plan SPEC`: what a sweep will cost before it starts, per run and in total, on a given chip.

Per run: parameters (all and non-embedding, Kaplan et al. 2020), tokens (steps x batch x context), FLOPs as 6ND
(N non-embedding) and as XLA's count of one train step times the steps, memory per device, whether it fits, and
hours at a given MFU. Nothing is allocated or compiled: shapes come from jax.eval_shape, FLOPs from lowering.

XLA's FLOP count: XLA's cost analysis counts a while loop's body once, so the step is lowered with the layers
unrolled and without microbatches (the same arithmetic), without remat (MFU counts model FLOPs, not recomputation:
Chowdhery et al. 2022, appendix B), at 1 and 2 layers, and extended linearly in depth (the blocks are identical):
lowering every layer of a deep model unrolled would be slow, two shallow ones are quick.

Memory per device: train/memory.py's estimate (its docstring states the formula and what it leaves out).
"""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path
from typing import Any

from scalezoo.train import target

# chip -> (peak dense bf16 FLOP/s, memory bytes per chip): the accelerators' facts are train/target.py's (with their
# sources), the ones `plan --compile` compiles against; this machine: a nominal 1 TFLOP/s and its RAM
CHIPS: dict[str, tuple[float, float]] = {
  **{kind: target.chip(kind) for kind in (*target.GPUS, *target.TPUS)},
  "cpu": (1e12, float(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))),
}


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
  return S.Engine(
    cfg, zoo.create(cfg.model, **margs), get_task("lm", z_loss=cfg.z_loss), 0, 10**6, None, {"x": x, "y": x}
  )


def step_flops(cfg, margs: dict[str, Any], context: int) -> float:
  """XLA's FLOPs of one train step at the full batch (module docstring: lowered at 1 and 2 layers, extended)."""
  import jax
  import jax.numpy as jnp

  from scalezoo.train import step as S

  def at(layers: int) -> float:
    m = {**margs, "n_layers": layers, "scan_layers": False, "remat": False}
    eng = _engine(cfg, m, context, microbatches=1, remat="none", mesh={}, devices=1)
    batch = {k: jax.ShapeDtypeStruct((cfg.batch_size, context), jnp.int32) for k in ("x", "y")}
    return S.flops_of_step(eng, S.abstract_state(eng), batch, jnp.float32(1e-3), jax.random.key(0), fed=True)

  f1, f2 = at(1), at(2)
  return f1 + (margs["n_layers"] - 1) * (f2 - f1)


def plan_run(cfg, chip: str, chips: int, mfu: float) -> Row:
  from scalezoo import zoo
  from scalezoo.train import loop
  from scalezoo.train import memory as mem
  from scalezoo.train import mesh as mesh_lib
  from scalezoo.train import step as S
  from scalezoo.train.config import ConfigError

  if cfg.model not in ("gpt", "gpt2_small", "llama"):
    raise ConfigError(f"plan knows the memory of GPT and Llama runs (model 'gpt', 'llama'), not {cfg.model!r}")
  context = int(cfg.data_args.get("context", cfg.model_args.get("context", 128)))
  margs = {**zoo.spec(cfg.model).defaults, **loop.model_args(cfg, _vocab(cfg))}
  shape = mesh_lib.mesh_shape(cfg, chips)
  sizes = dict(zip(mesh_lib.AXES, shape))
  try:
    counts = zoo.count_params_split(cfg.model, **margs)
  except (ValueError, TypeError) as e:  # options the model refuses: one line, as the sweep says it
    raise ConfigError(f"model {cfg.model!r} {cfg.model_args}: {e}") from None
  state = S.abstract_state(_engine(cfg, margs, context))
  params, opt = mem.state_bytes(state, sizes)
  grads = params * (2 if cfg.microbatches > 1 else 1)
  batch = 2 * 4 * context * cfg.batch_size // (sizes["data"] * sizes["fsdp"])
  act = mem.activation_bytes(cfg, margs, sizes, context)
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
