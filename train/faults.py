"""Faults that are not a run's result: an interrupt (SIGINT, SIGTERM) and a resource that ran out (disk, memory).

Neither is ever recorded as a run's `failed` status: an interrupted run saves a checkpoint at its current step and
the command exits 130 / 143; a full disk, a read-only file system or an exhausted memory ends the command with one
line (exit 1), and the same command, run again once the cause is gone, finishes the work.
"""

from __future__ import annotations

import errno
import functools
import logging
import signal
import sys
import threading
import warnings

SIGNALS = (signal.SIGINT, signal.SIGTERM)


class Interrupted(KeyboardInterrupt):
  """SIGINT or SIGTERM: `step` and `saved` say what was kept (a checkpoint at that step, or nothing)."""

  def __init__(self, signum: int, step: int | None = None, saved: bool = False):
    super().__init__(signum)
    self.signum, self.step, self.saved = signum, step, saved

  @property
  def exit_code(self) -> int:
    return 128 + self.signum  # the shell's convention: 130 for SIGINT, 143 for SIGTERM

  def message(self) -> str:
    name = signal.Signals(self.signum).name
    if self.saved:
      return f"interrupted ({name}): checkpoint saved at step {self.step}; run the same command again to resume"
    if self.step is not None:
      return f"interrupted ({name}) at step {self.step} with nowhere to save it: the work of this run is lost"
    return (
      f"interrupted ({name}): ended runs are kept and runs in training resume from their last checkpoint; "
      "run the same command again to go on"
    )


_active: list[Deferred] = []


class Deferred:
  """While inside, SIGINT and SIGTERM are noted rather than raised, so the training loop can stop at its next
  chunk boundary with a checkpoint (`pending`, `take`); a second signal raises Interrupted at once. Nested uses
  join the outermost one. Leaving it normally with a signal nobody took delivers that signal again, as if it had
  just arrived. Outside the main thread (where Python cannot take signals) it does nothing."""

  def __init__(self):
    self.signum: int | None = None
    self.taken = False
    self.old: dict[int, object] = {}

  def _note(self, signum, frame) -> None:
    if self.signum is not None:
      self.taken = True
      raise Interrupted(signum)
    self.signum = signum

  def __enter__(self) -> Deferred:
    if not _active and threading.current_thread() is threading.main_thread():
      self.old = {s: signal.signal(s, self._note) for s in SIGNALS}
    _active.append(self)
    return self

  def __exit__(self, exc_type, *exc) -> None:
    _active.remove(self)
    for s, h in self.old.items():
      signal.signal(s, h)
    if self.old and exc_type is None and self.signum is not None and not self.taken:
      signal.raise_signal(self.signum)


def deferring(fn):
  """Run `fn` inside a Deferred (joining an active one)."""

  @functools.wraps(fn)
  def wrapped(*args, **kwargs):
    with Deferred():
      return fn(*args, **kwargs)

  return wrapped


def pending() -> int | None:
  """The signal noted and not yet taken by the active Deferred, if any."""
  d = _active[0] if _active else None
  return d.signum if d is not None and not d.taken else None


def take() -> int | None:
  """pending(), marked as handled: the caller stops the work and says so."""
  signum = pending()
  if signum is not None:
    _active[0].taken = True
  return signum


def raise_interrupted(signum, frame) -> None:
  """A signal handler for outside any Deferred: SIGTERM stops the command like SIGINT does."""
  raise Interrupted(signum)


class ResourceError(Exception):
  """A resource ran out (disk space, a writable file system, memory): not the run's fault, never a `failed` record."""


RESOURCE_ERRNOS = {errno.ENOSPC: "no space left on device", errno.EROFS: "read-only file system"}
if hasattr(errno, "EDQUOT"):
  RESOURCE_ERRNOS[errno.EDQUOT] = "disk quota exceeded"
RESOURCE_TEXT = {
  "no space left on device": "no space left on device",
  "read-only file system": "read-only file system",
  "disk quota exceeded": "disk quota exceeded",
  "resource_exhausted": "out of memory (RESOURCE_EXHAUSTED)",
  "out of memory": "out of memory",
  "cannot allocate memory": "out of memory",
}


def resource_problem(e: BaseException) -> str | None:
  """What ran out, when `e` (or an error it was raised from) is a resource running out; else None.

  Libraries wrap these (Orbax and TensorStore re-raise ENOSPC as their own errors, XLA's allocator raises
  RESOURCE_EXHAUSTED as a runtime error), so the chain and the messages are read, not only the type."""
  seen = set()
  while e is not None and id(e) not in seen:
    seen.add(id(e))
    if isinstance(e, MemoryError):
      return "out of memory"
    if isinstance(e, OSError) and e.errno in RESOURCE_ERRNOS:
      return RESOURCE_ERRNOS[e.errno]
    text = str(e).lower()
    for needle, what in RESOURCE_TEXT.items():
      if needle in text:
        return what
    e = e.__cause__ or e.__context__
  return None


def _library_noise(e: BaseException | None) -> bool:
  """A library's own report of a resource running out, or of its event loop closed under callbacks still in
  flight (what an aborted Orbax/TensorStore write leaves behind): the command says it in one line instead."""
  return e is not None and (
    resource_problem(e) is not None or isinstance(e, RuntimeError) and str(e) == "Event loop is closed"
  )


class _DropNoise(logging.Filter):
  def filter(self, record: logging.LogRecord) -> bool:
    return not (record.exc_info and _library_noise(record.exc_info[1]))


_quiet = False


def quiet_library_tracebacks() -> None:
  """Keep a full disk or exhausted memory to the command's one line, for the rest of this process.

  A failed Orbax save reports from its own threads before the error reaches the caller: absl logs each writer
  thread's exception with a traceback, asyncio logs the tasks nobody awaited ("Task exception was never
  retrieved"), and TensorStore's callbacks print "Event loop is closed" through sys.excepthook once Orbax's loop
  is gone, some of it after the command returned. Exactly those are dropped; any other error is printed as before."""
  global _quiet
  if _quiet:
    return
  _quiet = True
  for name in ("absl", "asyncio", "concurrent.futures"):
    logging.getLogger(name).addFilter(_DropNoise())
  # the write coroutines an aborted save never ran, collected at exit (the kit itself runs no coroutines)
  warnings.filterwarnings("ignore", r"coroutine '.*' was never awaited", RuntimeWarning)
  for hook in ("excepthook", "unraisablehook"):
    old = getattr(sys, hook)

    def quiet(*args, old=old):
      e = args[0].exc_value if len(args) == 1 else args[1]
      if not _library_noise(e):
        old(*args)
      elif what := resource_problem(e):  # never silent: one line where a traceback would have been
        print(f"{what} ({one_line(e)})", file=sys.stderr)

    setattr(sys, hook, quiet)
  old_thread = threading.excepthook

  def quiet_thread(a, old=old_thread):
    if not _library_noise(a.exc_value):
      old(a)
    elif what := resource_problem(a.exc_value):
      print(f"{what} ({one_line(a.exc_value)})", file=sys.stderr)

  threading.excepthook = quiet_thread


def one_line(e: BaseException, limit: int = 200) -> str:
  """An error as one line of at most `limit` characters (its lines joined; its type when it has no message): the
  form every refusal takes."""
  text = " ".join(str(e).split()) or type(e).__name__
  return text if len(text) <= limit else text[: limit - 3] + "..."
