"""scalezoo's training engine: a RunConfig in, trained state and a RunRecord out.

The engine is config, tasks, losses, optim, step (the pure train step and its lax.scan chunks), loop, checkpoint,
init_from, export and the CLI, with `data/` for data sets; `sweep/`, `recipes/`, `studies/` and `bench/` build on it.
"""

import importlib

# imported on first use, so `scalezoo fit` (which needs none of the engine) starts without JAX
_FROM = {
  "ConfigError": ("config", "ConfigError"),
  "RunConfig": ("config", "RunConfig"),
  "parse": ("config", "parse"),
  "load_config": ("config", "load"),
  "Trained": ("loop", "Trained"),
  "fit": ("loop", "fit"),
  "fit_group": ("loop", "fit_group"),
  "load_split": ("loop", "load_split"),
  "make_engine": ("loop", "make_engine"),
  "RunRecord": ("record", "RunRecord"),
  "Engine": ("step", "Engine"),
  "TrainState": ("step", "TrainState"),
}


def __getattr__(name):
  if name not in _FROM:
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
  module, attr = _FROM[name]
  return getattr(importlib.import_module(f"{__name__}.{module}"), attr)


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
