"""scalezoo's training engine: a RunConfig in, trained state and a RunRecord out.

The engine is config, tasks, losses, optim, step (the pure train step and its lax.scan chunks), loop, checkpoint,
init_from, export and the CLI, with `data/` for data sets; `sweep/`, `recipes/`, `studies/` and `bench/` build on it.
"""

import importlib

# Imported on first use (PEP 562), so `scalezoo models` or `--help` need not load the engine (JAX, Orbax, ...).
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


def __getattr__(name: str):
  if name not in _FROM:
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
  module, attr = _FROM[name]
  value = getattr(importlib.import_module(f"{__name__}.{module}"), attr)
  globals()[name] = value
  return value


def __dir__() -> list[str]:
  return sorted(set(globals()) | set(_FROM))


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
