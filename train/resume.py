"""Where a group starts: its own latest checkpoint (a resumed run repeats the same chunks, so it ends with the same
bits), the branch point of the stable group it cools down from, or step 0 with the fresh state."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NamedTuple

import jax

from scalezoo.data import atomic
from scalezoo.train.checkpoint import Checkpointer, owner_of
from scalezoo.train.config import RunConfig
from scalezoo.train.status import RunStatus
from scalezoo.train.timer import ChunkTimer


@dataclasses.dataclass(frozen=True)
class Branch:
  """Where a group of cooldown branches starts: the checkpoint at `step` in `directory` of the stable group whose
  run ids, in order, are `parents` (member i of the branch group continues parent i)."""

  directory: Path
  parents: tuple[str, ...]
  step: int


class Start(NamedTuple):
  step: int
  tree: dict[str, Any]  # {"state": TrainState, "best": TrainState | None}
  runs: list[RunStatus]
  timer: ChunkTimer
  started_at: str | None  # a resumed group's first start; None for a new one


def start(ckpt: Checkpointer | None, branch: Branch | None, cfgs: Sequence[RunConfig], fresh: dict[str, Any]) -> Start:
  """The group's own latest checkpoint, else the branch point, else `fresh` at step 0. Restored arrays take the
  shardings of `fresh`'s."""
  like = lambda a: jax.ShapeDtypeStruct(a.shape, a.dtype, sharding=a.sharding)
  abstract = jax.tree.map(like, fresh)
  if ckpt and (got := ckpt.restore_latest(abstract)) is not None:
    step, restored, meta = got
    runs = [RunStatus.from_meta(r, c) for r, c in zip(meta["runs"], meta["curves"])]
    timer = ChunkTimer(meta["compile_time"], meta["train_time"], meta.get("timed_steps", 0), meta.get("waits"))
    return Start(step, restored, runs, timer, meta.get("started_at"))
  if branch is not None:
    restored, runs = start_branch(branch, cfgs, abstract)
    return Start(branch.step, restored, runs, ChunkTimer(), None)
  return Start(0, fresh, [RunStatus.start(c) for c in cfgs], ChunkTimer(), None)


def meta(runs: Sequence[RunStatus], started_at: str, timer: ChunkTimer) -> dict[str, Any]:
  """What a checkpoint keeps besides the arrays (JSON): each run's status and curve, the start, the times."""
  parts = [r.meta() for r in runs]
  out = {"runs": [p[0] for p in parts], "curves": [p[1] for p in parts], "started_at": started_at, **timer.state()}
  return atomic.json_safe(out)


def start_branch(branch: Branch, cfgs: Sequence[RunConfig], abstract) -> tuple[Any, list[RunStatus]]:
  """The stable group's state at the branch point, and its progress (statuses, curves up to there) as the
  branches' own. A missing branch point is an error of the group (its parent failed, or its checkpoints went)."""
  d = Path(branch.directory)
  src = Checkpointer(d, owner_of(list(branch.parents)), branch.step, read_only=True) if d.is_dir() else None
  got = src.restore(branch.step, abstract) if src else None
  if src:
    src.close()
  if got is None:
    raise ValueError(f"no checkpoint of the stable runs at step {branch.step} in {d}: the branch cannot start")
  restored, meta = got
  runs = []
  for r, cv, c in zip(meta["runs"], meta["curves"], cfgs):
    n = sum(s <= branch.step for s in cv["step"])
    runs.append(RunStatus.from_meta(r, {k: v[:n] for k, v in cv.items()}, c))
  return restored, runs
