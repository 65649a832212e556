"""Where a group's wall time goes: compiling, and training steps."""

from __future__ import annotations

import time

import jax


class ChunkTimer:
  """Wall time of the chunks: a chunk length's first call compiles (and runs), so it counts as compile time."""

  def __init__(self, compile_time: float = 0.0, train_time: float = 0.0, timed_steps: int = 0):
    self.compile_time, self.train_time, self.timed_steps, self.seen = compile_time, train_time, timed_steps, set()

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
    return {"compile_time": self.compile_time, "train_time": self.train_time, "timed_steps": self.timed_steps}
