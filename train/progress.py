"""A one-line progress display: redrawn in place on a terminal, a line every few seconds in a log."""

from __future__ import annotations

import sys
import time


class Progress:
  def __init__(self, total: int, label: str = "", every: float = 5.0, stream=None, enabled: bool = True):
    stream = stream or sys.stderr
    self.total, self.label, self.every, self.stream, self.enabled = total, label, every, stream, enabled
    self.start = time.perf_counter()
    self.last = -1e9
    self.tty = enabled and getattr(stream, "isatty", lambda: False)()

  def update(self, done: int, extra: str = "", force: bool = False) -> None:
    if not self.enabled:
      return
    now = time.perf_counter()
    if not force and not self.tty and now - self.last < self.every:
      return
    self.last = now
    elapsed = now - self.start
    frac = done / max(self.total, 1)
    eta = elapsed / frac - elapsed if frac > 0 else float("nan")
    bar = "#" * int(20 * frac)
    line = f"{self.label} [{bar:<20}] {done}/{self.total} {elapsed:5.0f}s elapsed, {eta:5.0f}s left {extra}"
    self.stream.write(("\r" + line + "\x1b[K") if self.tty else line + "\n")
    self.stream.flush()

  def close(self) -> None:
    if self.enabled and self.tty:
      self.stream.write("\n")
      self.stream.flush()
