"""The run record: the one contract between training and scaling, written to record.json and runs.jsonl.

`scaling` reads it back as plain dicts (it never imports `train`); this dataclass is where its fields are named.
Schema 2 added `schema`, `started_at`, `ended_at`, `provenance` and `error`; schema-1 lines (no `schema` key)
carry the rest.
"""

from __future__ import annotations

import copy
import dataclasses
import datetime
import functools
import importlib.metadata
import platform
import subprocess
from pathlib import Path
from typing import Any

SCHEMA = 2
STATUSES = ("finished", "diverged", "failed")
LIBRARIES = ("jax", "jaxlib", "flax", "optax", "orbax-checkpoint", "numpy")


@dataclasses.dataclass
class RunRecord:
  run_id: str
  status: str  # finished | diverged | failed
  config: dict[str, Any]
  metrics: dict[str, Any] = dataclasses.field(default_factory=dict)  # {split}_loss, {split}_accuracy, ...
  model_args: dict[str, Any] = dataclasses.field(default_factory=dict)  # the config's, completed from the data set
  data_info: dict[str, Any] = dataclasses.field(default_factory=dict)
  params: int | None = None  # N: trainable parameters
  params_non_embedding: int | None = None
  params_active: int | None = None  # those one token uses: fewer than `params` for a mixture of experts
  flops_per_step: float | None = None  # XLA's count of one train step
  flops_total: float | None = None  # C
  steps_run: int | None = None
  batch_size: int | None = None  # examples per step as trained: the config's, at most the training set's size
  examples_seen: int | None = None
  tokens_seen: int | None = None  # D for token-level tasks
  diverged_step: int | None = None
  stopped_step: int | None = None  # early stopping
  wall_time: float | None = None  # seconds, the group's whole fit
  step_time: float | None = None  # seconds per step, chunks that did not compile
  compile_time: float | None = None
  model_flops_per_device: float | None = None  # FLOP/s per device: flops_per_step / step_time (train/mfu.py)
  peak_flops: float | None = None  # the device's peak FLOP/s (a chip table's; a CPU's measured)
  mfu: float | None = None  # model_flops_per_device / peak_flops
  time_breakdown: dict[str, float] | None = None  # seconds: compile, steps, data, eval, checkpoint, other (wall's rest)
  group_size: int = 1  # runs trained together under jax.vmap
  curve: dict[str, list] = dataclasses.field(default_factory=dict)
  expert_load: dict[str, list[float]] | None = None  # a mixture's routed layers, the last chunk (status.RunStatus)
  error: str | None = None  # for status "failed"
  warnings: list[str] = dataclasses.field(default_factory=list)  # what a reader of the numbers should know
  init: dict[str, Any] | None = None  # init_from's report
  gallery: dict[str, Any] | None = None  # the zoo gallery's own bookkeeping
  parent: str | None = None  # a cooldown branch: the stable run it started from (its run id) ...
  branched_at: int | None = None  # ... at this step (the steps before it were trained once, by the parent)
  started_at: str | None = None  # UTC, ISO 8601
  ended_at: str | None = None
  provenance: dict[str, Any] = dataclasses.field(default_factory=lambda: copy.deepcopy(provenance()))
  schema: int = SCHEMA

  def __post_init__(self):
    if self.status not in STATUSES:
      raise ValueError(f"run status {self.status!r}; allowed: {', '.join(STATUSES)}")

  def to_dict(self) -> dict[str, Any]:
    """The record as a plain dict; fields that are None and only some records have are left out."""
    d = dataclasses.asdict(self)
    for k in ("error", "init", "gallery", "batch_size", "parent", "branched_at", "expert_load"):
      if d[k] is None:
        del d[k]
    if not d["warnings"]:  # records without any, as before warnings were kept
      del d["warnings"]
    return d

  @classmethod
  def failed(cls, run_id: str, config: dict[str, Any], error: str, started_at: str | None = None) -> RunRecord:
    return cls(run_id, "failed", config, error=error[:500], started_at=started_at, ended_at=now())


def now() -> str:
  return datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")


@functools.cache
def provenance() -> dict[str, Any]:
  """What ran: package and library versions, the git commit when run from a checkout, backend, devices, CPU."""
  import jax

  versions = {}
  for lib in ("scalezoo", *LIBRARIES):
    try:
      versions[lib] = importlib.metadata.version(lib)
    except importlib.metadata.PackageNotFoundError:
      versions[lib] = None
  devices = jax.devices()
  return {
    "package_version": versions.pop("scalezoo"),
    **_git(Path(__file__).resolve().parents[1]),
    "libraries": versions,
    "backend": jax.default_backend(),
    "devices": {"count": len(devices), "kind": devices[0].device_kind, "processes": jax.process_count()},
    "cpu": cpu_model(),
  }


def _git(root: Path) -> dict[str, Any]:
  """The checkout's commit and whether tracked files differ from it; nothing when not run from a checkout."""
  if not (root / ".git").exists():
    return {}
  try:
    run = lambda *a: subprocess.run(
      ["git", "-C", str(root), *a], capture_output=True, text=True, timeout=10, check=True
    ).stdout.strip()
    return {"git_commit": run("rev-parse", "HEAD"), "git_dirty": bool(run("status", "--porcelain", "-uno"))}
  except (OSError, subprocess.SubprocessError):
    return {}


def cpu_model() -> str:
  try:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
      if line.startswith("model name"):
        return line.split(":", 1)[1].strip()
  except OSError:
    pass
  return platform.processor() or platform.machine()
