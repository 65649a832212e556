"""A run compiled for a target it does not have (MaxText's train_compile.py): XLA's word on bytes and FLOPs per chip.

The engine is built on the target's devices (train/target.py): its mesh spans the topology's compile-only devices
and its XLA options follow the target's platform. The program is the engine's own train chunk
(step.compiled_chunk, the one training runs), lowered on jax.ShapeDtypeStructs with the shardings training gives
the state and the batches, then compiled. No array is made and no device here is asked for.

Per device, from the compiled program's memory analysis: arguments (state and the chunk's batches), output, the
aliased (donated) part, temporaries, and generated code. peak = arguments + output - aliased + temporaries (the
buffers live at once at the step's high point; the code is reported apart). A program too big for the chip fails to
compile with RESOURCE_EXHAUSTED: that is an answer (fits: no, with the compiler's message), not a crash.

FLOPs: XLA's cost analysis of a compiled program counts the body of each loop once, and the chunk nests three (the
steps of a chunk, the microbatches of a step, the layers of nn.scan), so the compiled count (`loop_once_flops`,
per device; TPU only, the GPU compiler gives none) is not a step's. `flops` is XLA's count of one whole step on all
devices from the pre-optimisation HLO with every layer unrolled and no microbatches or remat (plan.step_flops).
"""

from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import NamedSharding

from scalezoo.train import loop
from scalezoo.train import mesh as mesh_lib
from scalezoo.train import step as S
from scalezoo.train.config import RunConfig
from scalezoo.train.target import Target


@dataclasses.dataclass(frozen=True)
class Compiled:
  """XLA's figures for one run on one target, per device (bytes); None where the compile failed."""

  peak_bytes: int | None
  temp_bytes: int | None
  argument_bytes: int | None
  output_bytes: int | None
  alias_bytes: int | None
  code_bytes: int | None
  device_bytes: int
  fits: bool
  flops: float | None  # one step, all devices (module docstring)
  loop_once_flops: float | None  # the compiled chunk's own count, per device, each loop body once
  seconds: float  # lowering and compiling
  error: str | None  # the compiler's message when it said no

  def json(self) -> dict:
    return dataclasses.asdict(self)


def data_facts(cfg: RunConfig) -> dict:
  """The facts of the run's data a model takes, without reading the data: a token corpus's vocabulary when it exists."""
  index = Path(cfg.data_args.get("path", "")) / "index.json"
  if cfg.data == "tokens" and index.is_file():
    return {"vocab_size": int(json.loads(index.read_text())["vocab_size"])}
  return {}


def engine(cfg: RunConfig, tgt: Target) -> tuple[S.Engine, dict | None]:
  """The run's engine on the target's devices, and its in-memory training set as shapes (None: a token corpus,
  whose batches the host feeds chunk by chunk)."""
  if cfg.data == "tokens":
    context = int(cfg.data_args.get("context", 128))
    x = np.zeros((1, context), np.int32)
    return loop.engine_for(cfg, data_facts(cfg), "lm", 10**9, {"x": x, "y": x}, tgt.devices), None
  split = loop.load_split_checked(cfg)
  eng = loop.engine_for(
    cfg, split.info, split.task, len(split.train["y"]), {k: v[:1] for k, v in split.train.items()}, tgt.devices
  )
  return eng, {k: jax.ShapeDtypeStruct(v.shape, v.dtype) for k, v in split.train.items()}


def abstract_inputs(eng: S.Engine, arrays: dict | None, length: int) -> tuple:
  """(state, data, lr, key) of a chunk of `length` steps as ShapeDtypeStructs placed as training places them."""
  repl = mesh_lib.replicated(eng.mesh)
  put = lambda a, s: jax.ShapeDtypeStruct(a.shape, a.dtype, sharding=s)
  if arrays is None:  # one global batch per step, split over (data, fsdp) as loop.Feed places it
    rows = NamedSharding(eng.mesh, mesh_lib.batch_spec(1))
    shape = lambda v: (length, eng.batch_size, *v.shape[1:])
    data = {k: put(jax.ShapeDtypeStruct(shape(v), v.dtype), rows) for k, v in eng.example.items()}
  else:  # whole on every device, as loop.fit_group puts it
    data = {k: put(v, repl) for k, v in arrays.items()}
  lr = jax.ShapeDtypeStruct((), jnp.float32, sharding=repl)
  key = put(jax.eval_shape(lambda: jax.random.key(0)), repl)
  return S.abstract_state(eng), data, lr, key


def _memory(compiled) -> dict:
  m = compiled.memory_analysis()
  arg, out, alias, temp = (
    m.argument_size_in_bytes,
    m.output_size_in_bytes,
    m.alias_size_in_bytes,
    m.temp_size_in_bytes,
  )
  return dict(
    peak_bytes=arg + out - alias + temp,
    temp_bytes=temp,
    argument_bytes=arg,
    output_bytes=out,
    alias_bytes=alias,
    code_bytes=m.generated_code_size_in_bytes,
  )


def _loop_once_flops(compiled) -> float | None:
  cost = compiled.cost_analysis()
  cost = cost[0] if isinstance(cost, list | tuple) and cost else cost
  return float(cost["flops"]) if cost and "flops" in cost else None


def compiled_chunk(cfg: RunConfig, tgt: Target):
  """The run's train chunk compiled for the target (jax's Compiled: .as_text(), .memory_analysis(), ...)."""
  eng, arrays = engine(cfg, tgt)
  length = loop.chunk_length(cfg.steps, cfg.eval_every)
  return S.compiled_chunk(eng, length, 1, arrays is None).lower(*abstract_inputs(eng, arrays, length)).compile()


def compile_run(cfg: RunConfig, tgt: Target, flops: float | None = None) -> Compiled:
  """Lower and compile the run's train chunk for the target; `flops`: one step's count, carried into the answer."""
  t0 = time.perf_counter()
  try:
    compiled = compiled_chunk(cfg, tgt)
  except Exception as e:  # jax.errors.JaxRuntimeError; the compiler's no is an answer
    if "RESOURCE_EXHAUSTED" not in str(e):
      raise
    none = dict.fromkeys(("peak_bytes", "temp_bytes", "argument_bytes", "output_bytes", "alias_bytes", "code_bytes"))
    msg = " ".join(str(e).split())[:2000]
    return Compiled(**none, device_bytes=tgt.device_bytes, fits=False, flops=flops, loop_once_flops=None,
                    seconds=time.perf_counter() - t0, error=msg)  # fmt: skip
  seconds = time.perf_counter() - t0
  mem = _memory(compiled)
  fits = mem["peak_bytes"] + mem["code_bytes"] <= tgt.device_bytes
  return Compiled(
    **mem,
    device_bytes=tgt.device_bytes,
    fits=fits,
    flops=flops,
    loop_once_flops=_loop_once_flops(compiled),
    seconds=seconds,
    error=None,
  )
