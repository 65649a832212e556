"""scalezoo's training engine: a RunConfig in, trained state and a RunRecord out.

The engine is config, tasks, losses, optim, step (the pure train step and its lax.scan chunks), loop, checkpoint,
init_from, export and the CLI, with `data/` for data sets; `sweep/`, `recipes/`, `studies/` and `bench/` build on it.
"""

from scalezoo.train.config import ConfigError, RunConfig, parse
from scalezoo.train.config import load as load_config
from scalezoo.train.loop import Trained, fit, fit_group, load_split, make_engine
from scalezoo.train.record import RunRecord
from scalezoo.train.step import Engine, TrainState

__all__ = [
  "ConfigError",
  "Engine",
  "RunConfig",
  "RunRecord",
  "TrainState",
  "Trained",
  "fit",
  "fit_group",
  "load_config",
  "load_split",
  "make_engine",
  "parse",
]
