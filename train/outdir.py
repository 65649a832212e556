"""A run's or a sweep's output folder: the checks before anything is written there, and its lock."""

from __future__ import annotations

import errno
import fcntl
import os
from collections.abc import Sequence
from pathlib import Path

from scalezoo.train.config import ConfigError
from scalezoo.train.faults import RESOURCE_ERRNOS, ResourceError


def check_out(out: Path, kind: str, file_names: Sequence[str] = (), dir_names: Sequence[str] = ()) -> None:
  """An output folder that can be written: created when missing; a path that is a file, a read-only or foreign
  folder, or a file or folder of the wrong kind where the command writes is bad input (ConfigError, one line)."""
  if out.exists() and not out.is_dir():
    raise ConfigError(f"{out}: exists and is not a folder; --out needs a {kind} folder")
  try:
    out.mkdir(parents=True, exist_ok=True)
    probe = out / f".write-probe.{os.getpid()}"
    probe.open("wb").close()
    probe.unlink()
  except OSError as e:
    if e.errno in (errno.ENOSPC,):
      raise ResourceError(f"{out}: {RESOURCE_ERRNOS[e.errno]}") from None
    raise ConfigError(f"{out}: cannot write here ({e.strerror or e}); --out needs a writable {kind} folder") from None
  for name in file_names:
    if (out / name).is_dir():
      raise ConfigError(f"{out / name}: is a folder where this command writes a file; move it away")
  for name in dir_names:
    if (out / name).exists() and not (out / name).is_dir():
      raise ConfigError(f"{out / name}: is a file where this command keeps a folder; move it away")


class FolderLock:
  """One command at a time per output folder: an flock on out/.lock (the kernel drops it when its owner dies, so a
  lock file left by a killed command is simply taken over). The file holds the owner's pid for the message."""

  def __init__(self, out: Path, what: str = "sweep"):
    self.path, self.what, self.fd = Path(out) / ".lock", what, None

  def __enter__(self):
    while True:
      try:
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
      except OSError as e:
        raise ConfigError(f"{self.path}: cannot be opened as this folder's lock file ({e.strerror or e})") from None
      try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
      except BlockingIOError:
        pid = os.read(fd, 32).decode(errors="replace").strip() or "?"
        os.close(fd)
        raise ConfigError(
          f"{self.path.parent}: another {self.what} (pid {pid[:12]}) is running on this folder; wait for it "
          f"to end or stop it, then run again"
        ) from None
      try:
        if os.stat(self.path).st_ino == os.fstat(fd).st_ino:
          break
      except FileNotFoundError:
        pass
      os.close(fd)  # the previous owner removed the file between our open and flock: lock the new one
    os.ftruncate(fd, 0)
    os.write(fd, str(os.getpid()).encode())
    self.fd = fd
    return self

  def __exit__(self, *exc):
    self.path.unlink(missing_ok=True)  # while still locked, so no one locks the removed file
    os.close(self.fd)
