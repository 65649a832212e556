"""Hand freed heap memory back to the OS, so the peak RSS of a process counts what it uses, not what it once used.

glibc keeps freed memory in its arenas (and XLA compiles in several threads, so several arenas): after an XLA
compile, ~150 MB of the compiler's transient memory stays resident, and the program's temporary buffer, a fresh
mmap on every run, lands on top of it. malloc_trim(0) returns every arena's free pages. A no-op without glibc.
"""

from __future__ import annotations

import ctypes
import functools

from jax import monitoring

_COMPILE_EVENT = "/jax/core/compile/backend_compile_duration"
MIN_COMPILE_S = 0.25  # smaller compiles (eager ops) leave little behind; a trim costs ~1-10 ms


@functools.cache
def _malloc_trim():
  try:
    return ctypes.CDLL("libc.so.6").malloc_trim
  except (OSError, AttributeError):
    return None


def trim() -> None:
  """Return the free pages of every malloc arena to the OS."""
  if (f := _malloc_trim()) is not None:
    f(0)


def _after_compile(event: str, duration: float, **_) -> None:
  if event == _COMPILE_EVENT and duration >= MIN_COMPILE_S:
    trim()


@functools.cache
def trim_after_compiles() -> None:
  """Trim after every XLA compile that took MIN_COMPILE_S or more (installed once per process)."""
  monitoring.register_event_duration_secs_listener(_after_compile)
