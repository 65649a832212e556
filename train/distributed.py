"""Many hosts: one process per host joins the others through jax.distributed before anything touches a device.

The coordinator comes from the command line (`scalezoo train --coordinator HOST:PORT --num-processes N
--process-id I`), else from JAX_COORDINATOR_ADDRESS, JAX_NUM_PROCESSES and JAX_PROCESS_ID, else (with
SCALEZOO_DISTRIBUTED=1) from what JAX detects on a cluster (SLURM, Open MPI, Kubernetes, Cloud TPU). Every
process runs the same command; process 0 alone writes the run's files, all of them write the checkpoint's shards.
"""

from __future__ import annotations

import os

from scalezoo.train.config import ConfigError


def initialize(coordinator: str | None = None, num_processes: int | None = None, process_id: int | None = None) -> bool:
  """Join the other processes; True when this is a run of several. A no-op when nothing asks for it."""
  import jax

  env = os.environ
  coordinator = coordinator or env.get("JAX_COORDINATOR_ADDRESS")
  num_processes = num_processes if num_processes is not None else _int_env("JAX_NUM_PROCESSES")
  process_id = process_id if process_id is not None else _int_env("JAX_PROCESS_ID")
  if coordinator or num_processes is not None or process_id is not None:
    if not coordinator or num_processes is None or process_id is None:
      raise ConfigError("a run of several processes needs the coordinator address, process count and process id")
    if not 0 <= process_id < num_processes:
      raise ConfigError(f"process id {process_id} is not in [0, {num_processes})")
    jax.distributed.initialize(coordinator, num_processes, process_id)
  elif env.get("SCALEZOO_DISTRIBUTED") == "1":
    jax.distributed.initialize()
  return jax.process_count() > 1


def _int_env(name: str) -> int | None:
  value = os.environ.get(name)
  if value is None:
    return None
  try:
    return int(value)
  except ValueError:
    raise ConfigError(f"{name} must be an integer, got {value!r}") from None


def is_primary() -> bool:
  import jax

  return jax.process_index() == 0
