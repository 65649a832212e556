"""Sweeps: a spec expanded into a grid of runs, grouped by compiled program, trained by an executor (local,
process or Ray), recorded once each in runs.jsonl by the driver; a rerun resumes what was cut off.

The names below are imported when first used: `scalezoo sweep --dry-run` needs the spec alone, not the engine
(JAX's training stack and Orbax, about a second of imports)."""

import importlib

_FROM = {
  "driver": ("ENDED", "Lock", "check", "run"),
  "group": ("checkpoint_step", "compile_cache_dir", "run_group", "use_compile_cache"),
  "spec": (
    "Sweep",
    "check_settings",
    "checkpoint_cadence",
    "group_id",
    "groups",
    "links",
    "load",
    "parse",
    "spec_text",
  ),
}
_MODULE = {name: module for module, names in _FROM.items() for name in names}
__all__ = sorted(_MODULE)


def __getattr__(name: str):
  if name not in _MODULE:
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
  return getattr(importlib.import_module(f"{__name__}.{_MODULE[name]}"), name)
