"""What a run needs in memory against what the machine has, checked before anything is built."""

from __future__ import annotations

import os
from typing import Any

from scalezoo import zoo
from scalezoo.train import faults
from scalezoo.train.config import ConfigError, RunConfig, show
from scalezoo.train.model_args import model_args


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
