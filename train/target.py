"""Where a program runs: the devices here, or a topology to compile for without it (`v5e:4x4`, `h100:8`).

A TOPOLOGY names a TPU slice as JAX does (`v5e:4x4`, `v5p:2x2x2`, `v6e:2x2`, `v4:2x2x1`; the `libtpu` wheel that
jax's `tpu` extra pins) or GPU hosts (`h100:8`: one host of 8, `h100:4x8`: 4 hosts of 8; the `jax-cuda12-plugin`
wheels, with XLA's target description of the GPU shipped in train/targets/*.txtpb). Either way
`jax.experimental.topologies.get_topology_desc` gives compile-only devices, a Mesh over them lowers and compiles
programs as that slice would (MaxText's train_compile.py), and nothing here needs the accelerator.

Chip facts (memory, peak bf16 FLOP/s), with their sources:
  v4   32 GiB HBM, 275 TFLOP/s   cloud.google.com/tpu/docs/v4
  v5e  16 GiB HBM, 197 TFLOP/s   cloud.google.com/tpu/docs/v5e
  v5p  95 GiB HBM, 459 TFLOP/s   cloud.google.com/tpu/docs/v5p
  v6e  32 GiB HBM, 918 TFLOP/s   cloud.google.com/tpu/docs/v6e
  h100 device_memory_size of targets/h100.txtpb, 989 TFLOP/s dense bf16 (NVIDIA H100 SXM5 datasheet)
  a100 device_memory_size of targets/a100.txtpb, 312 TFLOP/s dense bf16 (NVIDIA A100 datasheet)
A TPU's memory is per chip; a slice whose chips show as two devices each (v4) has half of it per device. A GPU's
is the whole device; JAX's allocator takes 75% of it by default (XLA_PYTHON_CLIENT_MEM_FRACTION), so a program
that fits the GPU above that share needs the variable raised.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import os
import re
from importlib import resources

from scalezoo.train.config import ConfigError

TPUS: dict[str, tuple[float, float]] = {  # kind -> (HBM bytes per chip, peak dense bf16 FLOP/s per chip)
  "v4": (32 * 2**30, 275e12),
  "v5e": (16 * 2**30, 197e12),
  "v5p": (95 * 2**30, 459e12),
  "v6e": (32 * 2**30, 918e12),
}
GPUS: dict[str, float] = {"h100": 989e12, "a100": 312e12}  # kind -> peak dense bf16 FLOP/s; memory: the txtpb
EXAMPLES = "v5e:2x2, v5e:4x4, v5p:2x2x2, v6e:2x2, v4:2x2x1, h100:8, h100:4x8, a100:8"


@dataclasses.dataclass(frozen=True)
class Target:
  name: str  # as given: "v5e:4x4"
  kind: str  # "v5e", "h100"
  platform: str  # "tpu" | "gpu": the XLA backend that compiles for it
  devices: tuple  # compile-only jax devices of the whole slice
  device_bytes: int  # memory of one device
  peak_flops: float  # peak dense bf16 FLOP/s of one device


def parse(name: str) -> tuple[str, tuple[int, ...]]:
  """("v5e", (4, 4)) from "v5e:4x4"; ("h100", (4, 8)) from "h100:4x8"; ("h100", (1, 8)) from "h100:8"."""
  m = re.fullmatch(r"([a-z0-9]+):(\d+(?:x\d+)*)", name.strip().lower())
  if not m or m.group(1) not in (*TPUS, *GPUS):
    raise ConfigError(f"--compile {name!r}: not a topology; e.g. {EXAMPLES}")
  kind, dims = m.group(1), tuple(int(d) for d in m.group(2).split("x"))
  if min(dims) < 1:
    raise ConfigError(f"--compile {name!r}: every dimension must be >= 1")
  if kind in GPUS:
    if len(dims) > 2:
      raise ConfigError(f"--compile {name!r}: GPUs are HOSTSxPER_HOST or PER_HOST, e.g. {kind}:8 or {kind}:4x8")
    dims = (1, *dims) if len(dims) == 1 else dims
  elif len(dims) not in (2, 3):
    raise ConfigError(f"--compile {name!r}: a TPU slice is AxB or AxBxC chips, e.g. v5e:4x4 or v5p:2x2x2")
  return kind, dims


def chip(kind: str) -> tuple[float, int]:
  """(peak dense bf16 FLOP/s, memory bytes) of one chip of a known kind: the tables above, a GPU's memory its
  target description's."""
  if kind in TPUS:
    hbm, peak = TPUS[kind]
    return peak, int(hbm)
  return GPUS[kind], _memory_size(gpu_config(kind))


def gpu_config(kind: str) -> str:
  """XLA's GpuTargetConfigProto of the GPU, as text (package data)."""
  return resources.files("scalezoo.train").joinpath("targets", f"{kind}.txtpb").read_text()


def _memory_size(config: str) -> int:
  return int(re.search(r"device_memory_size:\s*(\d+)", config).group(1))


@functools.cache
def get(name: str) -> Target:
  """The target's compile-only devices and facts; a missing wheel is named in the error."""
  kind, dims = parse(name)
  import jax
  from jax.experimental import topologies

  if not jax.config.jax_platforms:
    jax.config.update("jax_platforms", "cpu")  # the host only traces: no probing for its own GPU or TPU

  try:
    if kind in TPUS:
      # compile-only: no TPU here to claim, so libtpu's one-process lockfile and metadata server are not needed
      os.environ.setdefault("ALLOW_MULTIPLE_LIBTPU_LOAD", "1")
      os.environ.setdefault("TPU_SKIP_MDS_QUERY", "1")
      topo = topologies.get_topology_desc(f"{kind}:{'x'.join(map(str, dims))}", "tpu")
    else:
      config = gpu_config(kind)
      topo = topologies.get_topology_desc("gpu", "cuda", target_config=config, topology=f"1x{dims[0]}x{dims[1]}")
  except (RuntimeError, NotImplementedError) as e:
    wheel = "libtpu (jax[tpu]'s pin)" if kind in TPUS else "jax-cuda12-plugin and jax-cuda12-pjrt (jax's version)"
    fix = f"install {wheel}, e.g. `make .venv-targets/.stamp-targets` and run .venv-targets/bin/scalezoo"
    raise ConfigError(f"--compile {name}: no {kind} compiler here ({e}); {fix}") from None
  devices = tuple(topo.devices)
  if kind in TPUS:
    hbm, peak = TPUS[kind]
    per_chip = len(devices) // math.prod(dims)
    return Target(name, kind, "tpu", devices, hbm // per_chip, peak / per_chip)
  return Target(name, kind, "gpu", devices, _memory_size(config), GPUS[kind])


def xla_options(platform: str) -> dict[str, str] | None:
  """XLA options of the train chunk, chosen by the platform it is compiled for (not the host's backend).

  CPU: the memory-optimised scheduler orders the backward pass so fewer activations are live at once, a lower peak
  at the same step time and with the same bits. GPU and TPU keep their defaults."""
  return {"xla_cpu_scheduler_type": "CPU_SCHEDULER_TYPE_MEMORY_OPTIMIZED"} if platform == "cpu" else None
