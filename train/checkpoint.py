"""Orbax checkpoints of a run (or a group of runs trained together), atomic, verified on restore, owned.

Each save holds the state pytree and a JSON item with the loop's own progress (runs, curves, status, timers), the
step, the owner (a hash of the ordered run ids it belongs to) and one integrity hash over the state's fingerprint
(train/checksum.py: computed where its shards live, the same on any mesh) and all of that metadata. On restore, the
newest checkpoint that verifies is used:
- one that does not verify (a truncated, edited or older-format checkpoint) is set aside into `unusable/` (kept,
  never deleted) with a warning, and the previous one is tried;
- one that verifies but belongs to other runs, or lies past the run's last step, is refused (ConfigError: one
  line, nothing changed);
- one that cannot be read now (an I/O error: a disk that went away, no permission) ends the command with one line
  (ResourceError), and every checkpoint is kept for the next try.
A save that fails (a full disk) waits for Orbax's writer threads, removes its temporary folder and raises
ResourceError: the committed checkpoints are as they were.
"""

from __future__ import annotations

import errno
import hashlib
import json
import logging
import os
import shutil
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import orbax.checkpoint as ocp

from scalezoo.train import checksum
from scalezoo.train.config import ConfigError
from scalezoo.train.faults import ResourceError, one_line, resource_problem

logging.getLogger("absl").setLevel(logging.ERROR)
log = logging.getLogger(__name__)

INTEGRITY = "integrity_sha256"


def integrity(state, meta: dict[str, Any]) -> str:
  """SHA-256 of the state's fingerprint (structure, dtypes, shapes and bytes, computed where its shards live, so
  no array is gathered to one host and a checkpoint verifies on any mesh) and of the metadata's canonical JSON."""
  h = hashlib.sha256(checksum.fingerprint(state).encode())
  body = {k: v for k, v in meta.items() if k != INTEGRITY}
  h.update(json.dumps(body, sort_keys=True, separators=(",", ":"), allow_nan=False).encode())
  return h.hexdigest()


def owner_of(run_ids: Sequence[str]) -> str:
  """Who a checkpoint belongs to: the run ids of the group in their stacking order."""
  return hashlib.sha256(",".join(run_ids).encode()).hexdigest()[:16]


class Unusable(Exception):
  """A checkpoint that does not verify: set aside, and the previous one tried."""


# I/O errors that say the file system failed now, not that the checkpoint is bad: the checkpoint is kept.
TRANSIENT = {errno.EIO, errno.EACCES, errno.EPERM, errno.ENOSPC, errno.EROFS, errno.ESTALE, errno.ENOMEM}


def _transient(e: BaseException) -> bool:
  seen = set()
  while e is not None and id(e) not in seen:
    seen.add(id(e))
    if isinstance(e, OSError) and e.errno in TRANSIENT or isinstance(e, MemoryError):
      return True
    e = e.__cause__ or e.__context__
  return False


class Checkpointer:
  """`keep_steps`: checkpoints kept for good besides the newest `keep` (a stable run's branch points); `read_only`:
  opened to restore from (another group's branch point), never written or pruned."""

  def __init__(
    self, directory: str | Path, owner: str, steps: int, keep: int = 2, keep_steps=(), read_only: bool = False
  ):
    self.directory, self.owner, self.steps = Path(directory).absolute(), owner, steps
    cm = ocp.checkpoint_managers
    policy = cm.AnyPreservationPolicy([cm.LatestN(keep), cm.CustomSteps(sorted(keep_steps))]) if keep_steps else None
    opts = ocp.CheckpointManagerOptions(
      max_to_keep=None if policy else keep,
      preservation_policy=policy,
      create=not read_only,
      read_only=read_only,
      enable_async_checkpointing=False,
    )
    self.manager = ocp.CheckpointManager(self.directory, options=opts)

  def save(self, step: int, state, meta: dict[str, Any]) -> None:
    meta = {**meta, "step": step, "owner": self.owner}
    meta[INTEGRITY] = integrity(state, meta)
    args = ocp.args.Composite(state=ocp.args.StandardSave(state), meta=ocp.args.JsonSave(meta))
    if step in self.manager.all_steps():  # an interrupt's checkpoint at a step the cadence saves again
      return
    try:
      self.manager.save(step, args=args, force=True)
      self.manager.wait_until_finished()
    except Exception as e:  # noqa: BLE001 - a full disk mid-save: Orbax raises from whichever of its threads failed
      self._abandon(step)
      if what := resource_problem(e) or _transient(e) and "an I/O error":
        raise ResourceError(
          f"{self.directory}: cannot save step {step}: {what} ({one_line(e)}); the checkpoints saved before are kept"
        ) from None
      raise

  def _abandon(self, step: int) -> None:
    """After a failed save: let Orbax's other writer threads end (they would fail later, some at interpreter exit,
    each with a traceback) and remove the half-written temporary folder (never a committed step)."""
    for t in threading.enumerate():
      if t is not threading.current_thread() and type(t).__module__.startswith("orbax."):
        threading.Thread.join(t, 60)  # Orbax's own join() re-raises the thread's error
    for _ in range(50):  # a metadata write from a plain executor thread may still land in it: try again
      for tmp in self.directory.glob(f"{step}.orbax-checkpoint-tmp*"):
        shutil.rmtree(tmp, ignore_errors=True)
      if not any(self.directory.glob(f"{step}.orbax-checkpoint-tmp*")):
        break
      time.sleep(0.1)
    try:
      self.manager.reload()
    except Exception:  # noqa: BLE001 - the next restore reads the folder afresh anyway
      pass

  def restore_latest(self, abstract_state) -> tuple[int, Any, dict] | None:
    """(step, state, meta) of the newest checkpoint that restores and verifies, or None."""
    for step in sorted(self.manager.all_steps(read=True), reverse=True):
      try:
        return step, *self._restore(step, abstract_state)
      except Unusable as e:
        self._set_aside(step, str(e))
    return None

  def restore(self, step: int, abstract_state) -> tuple[Any, dict] | None:
    """(state, meta) of the checkpoint at exactly `step` if there is one and it verifies, else None."""
    if step not in self.manager.all_steps(read=True):
      return None
    try:
      return self._restore(step, abstract_state)
    except Unusable as e:
      log.warning("checkpoint at step %d of %s is unreadable (%s)", step, self.directory, str(e)[:200])
      return None

  def _restore(self, step: int, abstract_state) -> tuple[Any, dict]:
    try:
      args = ocp.args.Composite(state=ocp.args.StandardRestore(abstract_state), meta=ocp.args.JsonRestore())
      got = self.manager.restore(step, args=args)
      state, meta = got["state"], dict(got["meta"])
    except Exception as e:  # noqa: BLE001 - sorted below: transient, or the checkpoint is bad
      if _transient(e) or resource_problem(e):
        raise ResourceError(
          f"{self.directory / str(step)}: cannot be read now ({one_line(e)}); it is kept: run again once the "
          "file system is back"
        ) from None
      raise Unusable(one_line(e)) from None
    if INTEGRITY not in meta:
      raise Unusable("no integrity hash (written by an older scalezoo)")
    if integrity(state, meta) != meta[INTEGRITY]:
      raise Unusable("integrity hash does not match: the state or its metadata changed after it was written")
    if meta.get("step") != step:
      raise Unusable(f"it says it is step {meta.get('step')!r}")
    if meta.get("owner") != self.owner:
      raise ConfigError(
        f"{self.directory / str(step)}: this checkpoint belongs to other runs (owner {str(meta.get('owner'))[:16]}, "
        f"these runs are {self.owner}); move it away or train into another folder"
      )
    if step > self.steps:
      raise ConfigError(
        f"{self.directory / str(step)}: a checkpoint at step {step}, past this run's {self.steps} steps; move it "
        "away or train into another folder"
      )
    return state, meta

  def _set_aside(self, step: int, why: str) -> None:
    """Move a checkpoint that does not verify to unusable/ (kept for a look; the resumed run can save its step)."""
    aside = self.directory / "unusable"
    aside.mkdir(exist_ok=True)
    n = 0
    while (aside / f"{step}.{n}").exists():
      n += 1
    os.replace(self.directory / str(step), aside / f"{step}.{n}")
    self.manager.reload()
    log.warning("checkpoint at step %d is unreadable (%s): moved to %s; falling back", step, why[:200], aside)

  def close(self) -> None:
    self.manager.close()
