"""scalezoo's training engine: a RunConfig in, trained state and a RunRecord out.

The engine is config, tasks, losses, optim, step (the pure train step and its lax.scan chunks), eval, loop,
checkpoint, init_from and export; it imports `zoo` and `data` only. `sweep/`, `cli/`, `studies/` and `bench/` build
on it.
"""

import importlib

# imported on first use, so `scalezoo models` or `--help` need not load the engine (JAX, Orbax, ...)
_LAZY = {
  "ConfigError": "config",
  "RunConfig": "config",
  "parse": "config",
  "load": "config",
  "Trained": "loop",
  "fit": "loop",
  "fit_group": "loop",
  "load_split": "loop",
  "make_engine": "loop",
  "RunRecord": "record",
  "Engine": "step",
  "TrainState": "step",
}
__all__ = sorted(_LAZY)


def __getattr__(name: str):  # PEP 562: a name's module is imported when the name is first used
  if name not in _LAZY:
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
  module = importlib.import_module(f"{__name__}.{_LAZY[name]}")
  return module if name == _LAZY[name] else getattr(module, name)
