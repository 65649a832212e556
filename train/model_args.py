"""A run's model options: the config's, completed from its data set (classes, vocabulary, input size) and its
memory options."""

from __future__ import annotations

from typing import Any

import numpy as np

from scalezoo import zoo
from scalezoo.train.config import ConfigError, RunConfig

# Model options a data set fills in when the config leaves them out.
FROM_DATA = {
  "num_outputs": "num_classes",
  "num_classes": "num_classes",
  "vocab_size": "vocab_size",
  "vocab": "vocab_size",
}


def model_args(cfg: RunConfig, info: dict[str, Any]) -> dict[str, Any]:
  """The config's model options completed from the data set (classes, vocabulary, input size)."""
  defaults = zoo.spec(cfg.model).defaults
  args = dict(cfg.model_args)
  for opt, fact in FROM_DATA.items():
    if opt in defaults and opt not in args and info.get(fact):
      args[opt] = int(info[fact])
  if "in_features" in defaults and "in_features" not in args and info.get("input_shape"):
    args["in_features"] = int(np.prod(info["input_shape"]))
  if cfg.precision == "bf16" and "dtype" in defaults and "dtype" not in args:
    args["dtype"] = "bfloat16"  # a model with a compute dtype (gpt, llama) would promote bf16 back to its f32 default
  if cfg.remat == "block":
    if "remat" not in defaults:
      with_blocks = ", ".join(n for n in zoo.names() if "remat" in zoo.spec(n).defaults)
      raise ConfigError(f"remat = 'block' needs a model with transformer blocks ({with_blocks}), not {cfg.model!r}")
    args["remat"] = True
  return args
