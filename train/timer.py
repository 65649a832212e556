"""Where a group's wall time goes: compiling, training steps, and what the loop waits for between chunks."""

from __future__ import annotations

import contextlib
import time

import jax


class ChunkTimer:
  """Wall time of the chunks: a chunk length's first call compiles (and runs), so it counts as compile time; and of
  what the loop waits for between them (`timed`): the data, evaluations, checkpoints."""

  def __init__(self, compile_time: float = 0.0, train_time: float = 0.0, timed_steps: int = 0, waits=None):
    self.compile_time, self.train_time, self.timed_steps, self.seen = compile_time, train_time, timed_steps, set()
    self.waits = {"data": 0.0, "eval": 0.0, "checkpoint": 0.0, **(waits or {})}

  @contextlib.contextmanager
  def timed(self, what: str):
    t0 = time.perf_counter()
    try:
      yield
    finally:
      self.waits[what] += time.perf_counter() - t0

  def run(self, fn, length: int, *args):
    t0 = time.perf_counter()
    out = jax.block_until_ready(fn(*args))
    dt = time.perf_counter() - t0
    if length in self.seen:
      self.train_time, self.timed_steps = self.train_time + dt, self.timed_steps + length
    else:
      self.seen.add(length)
      self.compile_time += dt
    return out

  @property
  def step_time(self) -> float | None:
    return self.train_time / self.timed_steps if self.timed_steps else None

  def state(self) -> dict[str, float]:
    return {
      "compile_time": self.compile_time,
      "train_time": self.train_time,
      "timed_steps": self.timed_steps,
      "waits": dict(self.waits),
    }

  def breakdown(self, wall: float) -> dict[str, float]:
    """Seconds of the fit by what they went to; `other`: the rest of `wall` (init, setup, the host's bookkeeping;
    0 after a resume, whose earlier segments count in the others but not in this process's wall)."""
    out = {"compile": self.compile_time, "steps": self.train_time, **self.waits}
    return {**out, "other": max(0.0, wall - sum(out.values()))}
