"""Sweeps: a spec expanded into a grid of runs, grouped by compiled program, trained by an executor (local,
process or Ray), recorded once each in runs.jsonl by the driver; a rerun resumes what was cut off."""

from scalezoo.train.sweep.driver import ENDED, Lock, check, run
from scalezoo.train.sweep.group import checkpoint_step, compile_cache_dir, run_group, use_compile_cache
from scalezoo.train.sweep.spec import (
  Sweep,
  check_settings,
  checkpoint_cadence,
  group_id,
  groups,
  links,
  load,
  parse,
  spec_text,
)

__all__ = [
  "ENDED",
  "Lock",
  "Sweep",
  "check",
  "check_settings",
  "checkpoint_cadence",
  "checkpoint_step",
  "compile_cache_dir",
  "group_id",
  "groups",
  "links",
  "load",
  "parse",
  "run",
  "run_group",
  "spec_text",
  "use_compile_cache",
]
