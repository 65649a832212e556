"""Model FLOPs utilisation: a run's FLOPs per second per device against the device's peak (Chowdhery et al. 2022).

FLOPs per step are XLA's count of the train step (step.flops_of_step); a step's time is the chunks' that did not
compile. Peaks are dense bf16 per device: the accelerators' from train/target.py's table (with its sources), by
the device kind JAX reports; a CPU's is measured here, as the best of a few f32 matmuls (no datasheet describes a
share of a shared host).
"""

from __future__ import annotations

import functools
import json
import time
from pathlib import Path

import jax
import jax.numpy as jnp

from scalezoo.train import target
from scalezoo.train.config import ConfigError

KINDS = {  # jax's device_kind -> target kind
  "TPU v4": "v4",
  "TPU v5 lite": "v5e",
  "TPU v5e": "v5e",
  "TPU v5": "v5p",
  "TPU v5p": "v5p",
  "TPU v6 lite": "v6e",
  "TPU v6e": "v6e",
}


@functools.cache
def cpu_peak(n: int = 1024, reps: int = 5) -> float:
  """This host's f32 matmul FLOP/s on one device: the best of `reps` n x n products, after a warmup."""
  a = jnp.ones((n, n), jnp.float32)
  mm = jax.jit(lambda x: x @ x)
  mm(a).block_until_ready()
  best = float("inf")
  for _ in range(reps):
    t0 = time.perf_counter()
    mm(a).block_until_ready()
    best = min(best, time.perf_counter() - t0)
  return 2 * n**3 / best


def peak(device) -> float | None:
  """Peak FLOP/s of one device: the chip table's for a known accelerator, measured for a CPU, else None."""
  kind = device.device_kind
  if device.platform == "cpu":
    return cpu_peak()
  if kind in KINDS:
    hbm, flops = target.TPUS[KINDS[kind]]
    return flops
  for gpu, flops in target.GPUS.items():
    if gpu.upper() in kind.upper():
      return flops
  return None


def measured(folder: str | Path) -> float:
  """The MFU a run measured (its folder's record.json, from `scalezoo train --out`), for `plan --mfu FOLDER`."""
  path = Path(folder) / "record.json"
  got = json.loads(path.read_text()).get("mfu") if path.is_file() else None
  if not got:
    raise ConfigError(f"--mfu {folder}: no measured mfu in {path} (a `scalezoo train --out` folder past one chunk)")
  return float(got)


def utilisation(flops_per_step: float | None, step_time: float | None, devices: int, group: int, device) -> dict:
  """{"model_flops_per_device": FLOP/s per device, "peak_flops": the device's, "mfu"}; None where unknown.
  `group` runs trained together under vmap share each step's time."""
  out = {"model_flops_per_device": None, "peak_flops": peak(device), "mfu": None}
  if flops_per_step and step_time:
    out["model_flops_per_device"] = flops_per_step * group / step_time / devices
    if out["peak_flops"]:
      out["mfu"] = out["model_flops_per_device"] / out["peak_flops"]
  return out
