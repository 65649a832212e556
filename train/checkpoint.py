"""Orbax checkpoints of a run (or a group of runs trained together), atomic, verified on restore.

Each save holds the state pytree and a JSON item with the loop's own progress and a fingerprint of the state's
bytes; a restore that fails or whose hash disagrees (a truncated or corrupted file) falls back to the previous
good checkpoint.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import orbax.checkpoint as ocp

from scalezoo.train import checksum

logging.getLogger("absl").setLevel(logging.ERROR)
log = logging.getLogger(__name__)


def tree_hash(tree) -> str:
  """The state's fingerprint, computed where its shards live (train/checksum.py): the same on any mesh."""
  return checksum.fingerprint(tree)


class Checkpointer:
  def __init__(self, directory: str | Path, keep: int = 2):
    opts = ocp.CheckpointManagerOptions(max_to_keep=keep, create=True, enable_async_checkpointing=False)
    self.manager = ocp.CheckpointManager(Path(directory).absolute(), options=opts)

  def save(self, step: int, state, meta: dict[str, Any]) -> None:
    meta = {**meta, "state_sha256": tree_hash(state)}
    args = ocp.args.Composite(state=ocp.args.StandardSave(state), meta=ocp.args.JsonSave(meta))
    self.manager.save(step, args=args, force=True)
    self.manager.wait_until_finished()

  def restore_latest(self, abstract_state) -> tuple[int, Any, dict] | None:
    """(step, state, meta) of the newest checkpoint that restores and verifies, or None."""
    for step in sorted(self.manager.all_steps(read=True), reverse=True):
      try:
        args = ocp.args.Composite(state=ocp.args.StandardRestore(abstract_state), meta=ocp.args.JsonRestore())
        got = self.manager.restore(step, args=args)
        state, meta = got["state"], dict(got["meta"])
        if tree_hash(state) != meta.pop("state_sha256", None):
          raise ValueError("state hash does not match")
        return step, state, meta
      except Exception as e:  # noqa: BLE001 - any failure to read means: try the previous one
        log.warning("checkpoint at step %d is unreadable (%s); falling back", step, str(e).splitlines()[0][:200])
        self.manager.delete(step)  # else the resumed run could not save this step again (StepAlreadyExistsError)
    return None

  def close(self) -> None:
    self.manager.close()
