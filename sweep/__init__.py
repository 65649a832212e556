"""Sweeps: a spec expanded into a grid of runs, grouped by compiled program, trained by an executor (local,
process or Ray), recorded once each in runs.jsonl by the driver; a rerun resumes what was cut off.

The names below are imported when first used: `scalezoo sweep --dry-run` needs the spec alone, not the engine
(JAX's training stack and Orbax, about a second of imports)."""

import importlib

_LAZY = {
  **dict.fromkeys(("ENDED", "Lock", "check", "run"), "driver"),
  **dict.fromkeys(("checkpoint_step", "compile_cache_dir", "run_group", "use_compile_cache"), "group"),
  **dict.fromkeys(
    ("Sweep", "check_settings", "checkpoint_cadence", "group_id", "groups", "links", "load", "parse", "spec_text"),
    "spec",
  ),
}
__all__ = sorted(_LAZY)


def __getattr__(name: str):  # PEP 562: a name's module is imported when the name is first used
  if name not in _LAZY:
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
  module = importlib.import_module(f"{__name__}.{_LAZY[name]}")
  return module if name == _LAZY[name] else getattr(module, name)
