"""A run's progress through its group's training, typed, and the one place a RunRecord is made from it.

`RunStatus` is what a checkpoint keeps of each run besides the state (its `meta()`, restored by `from_meta`): where
it stands (running, stopped early, diverged), its early-stopping bookkeeping and its curve.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np

from scalezoo.train import eval as E
from scalezoo.train.config import RunConfig
from scalezoo.train.record import RunRecord, now
from scalezoo.train.step import Engine
from scalezoo.train.timer import ChunkTimer

CURVE = ("step", "examples", "flops", "train_loss", "val_loss", "grad_norm")


@dataclasses.dataclass
class RunStatus:
  run_id: str
  config: dict[str, Any]
  status: str = "running"  # running | stopped (early stopping) | diverged
  diverged_step: int | None = None
  stopped_step: int | None = None
  first_loss: float | None = None
  best_val: float = math.inf
  evals_since_best: int = 0
  expert_load: dict[str, list[float]] | None = None  # a mixture of experts' routed layers (`add_expert_load`)
  curve: dict[str, list] = dataclasses.field(default_factory=lambda: {k: [] for k in CURVE})

  @classmethod
  def start(cls, cfg: RunConfig) -> RunStatus:
    return cls(cfg.run_id(), cfg.to_dict())

  @classmethod
  def from_meta(cls, run: dict[str, Any], curve: dict[str, list], cfg: RunConfig | None = None) -> RunStatus:
    """A checkpoint's record of a run (as `meta` wrote it); with `cfg`, continued as that run (a branch)."""
    fields = {k: run[k] for k in ("status", "diverged_step", "stopped_step", "first_loss", "evals_since_best")}
    fields["expert_load"] = run.get("expert_load")  # checkpoints from before it have none
    best = math.inf if run["best_val"] is None else run["best_val"]  # JSON has no inf
    rid, config = (run["run_id"], run["config"]) if cfg is None else (cfg.run_id(), cfg.to_dict())
    return cls(rid, config, **fields, best_val=best, curve=curve)

  def meta(self) -> tuple[dict[str, Any], dict[str, list]]:
    """(the run's bookkeeping, its curve) as a checkpoint keeps them."""
    d = dataclasses.asdict(self)
    return {k: v for k, v in d.items() if k != "curve"}, d["curve"]

  @property
  def running(self) -> bool:
    return self.status == "running"

  def after_chunk(self, loss_n: np.ndarray, done: int, factor: float) -> bool:
    """Record the chunk's divergence, if any: a non-finite loss or one above `factor` x the first. True while the
    run goes on."""
    if self.first_loss is None:
      self.first_loss = float(loss_n[0])
    bad = ~np.isfinite(loss_n) | (loss_n > factor * self.first_loss)
    if bad.any():
      self.status, self.diverged_step = "diverged", done + int(np.argmax(bad)) + 1
    return self.running

  def add_expert_load(self, load_nxLxE: np.ndarray, dropped_nxL: np.ndarray) -> None:
    """Keep a chunk's routed-layer statistics, each layer's mean over the chunk's steps: the busiest and the idlest
    expert's share of the layer's (token, expert) assignments (both 1 / experts when balanced) and the fraction
    of assignments a capacity dropped."""
    self.expert_load = {
      "busiest": [round(float(x), 6) for x in load_nxLxE.max(-1).mean(0)],
      "idlest": [round(float(x), 6) for x in load_nxLxE.min(-1).mean(0)],
      "dropped": [round(float(x), 6) for x in dropped_nxL.mean(0)],
    }

  def add_point(self, point: dict[str, float | None]) -> None:
    for k, v in point.items():
      self.curve.setdefault(k, []).append(v)

  def after_eval(self, val: float, step: int, patience: int) -> bool:
    """Early stopping's bookkeeping after an evaluation; True when `val` is the best so far (keep this state)."""
    if val < self.best_val:
      self.best_val, self.evals_since_best = float(val), 0
      return True
    self.evals_since_best += 1
    if self.evals_since_best >= patience:
      self.status, self.stopped_step = "stopped", step
    return False


@dataclasses.dataclass(frozen=True)
class GroupFacts:
  """What every run of a group shares in its record."""

  eng: Engine
  task: str
  info: dict[str, Any]  # the data set's
  model_args: dict[str, Any]
  params: dict[str, int]  # zoo.count_params_split: all, embedding, non_embedding, active
  flops_per_step: float
  tokens_per_example: int | None  # a sequence task's positions per example, else None
  group_size: int
  steps_done: int
  timer: ChunkTimer
  wall_time: float
  started_at: str
  init: dict[str, Any] | None
  target_bytes: dict[str, float] | None  # a BPE corpus's evaluated text in bytes, per split
  utilisation: dict[str, float | None]  # model_flops_per_device, peak_flops, mfu (train/mfu.py)


def to_record(cfg: RunConfig, run: RunStatus, results: dict[str, dict], facts: GroupFacts) -> RunRecord:
  """The RunRecord of a run that ended: status, metrics from the evaluation sums, counts and times."""
  status = "finished" if run.status in ("running", "stopped") else run.status
  steps_run = run.diverged_step or run.stopped_step or facts.steps_done
  eng = facts.eng
  metrics = E.metrics(results, eng, status == "finished", facts.task, facts.target_bytes)
  tokens_per_example = facts.tokens_per_example
  examples = steps_run * eng.batch_size
  return RunRecord(
    run_id=cfg.run_id(),
    status=status,
    config=cfg.to_dict(),
    metrics=metrics,
    model_args=facts.model_args,
    data_info={k: v for k, v in facts.info.items() if isinstance(v, str | int | float | bool | list | tuple)},
    params=facts.params["all"],
    params_non_embedding=facts.params["non_embedding"],
    params_active=facts.params.get("active"),
    expert_load=run.expert_load,
    flops_per_step=facts.flops_per_step,
    flops_total=facts.flops_per_step * steps_run,
    steps_run=steps_run,
    batch_size=eng.batch_size,
    examples_seen=examples,
    tokens_seen=examples * tokens_per_example if tokens_per_example else None,
    diverged_step=run.diverged_step,
    stopped_step=run.stopped_step,
    wall_time=facts.wall_time,
    step_time=facts.timer.step_time,
    compile_time=facts.timer.compile_time,
    **facts.utilisation,
    time_breakdown=facts.timer.breakdown(facts.wall_time),
    group_size=facts.group_size,
    curve=run.curve,
    init=facts.init,
    started_at=facts.started_at,
    ended_at=now(),
    warnings=E.small_held_out(results) if status == "finished" else [],
  )
