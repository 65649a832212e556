"""The results store: `runs.jsonl`, one JSON line per ended run, appended and fsync'd by the sweep's driver alone.

A torn last line (a killed writer: no newline at the end) is ignored by the reader and cut off before the next
append; any other line that does not parse is an error naming file and line.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from scalezoo.data.atomic import dumps, fsync_dir
from scalezoo.scaling.table import read_rows
from scalezoo.train.config import ConfigError


def read(path: str | Path) -> list[dict[str, Any]]:
  """Every record of a runs.jsonl (or of the folder holding one); [] when there is none yet. The rule is the
  one reader's (`scaling.read_rows`): a torn last line is ignored, any other bad line is an error."""
  path = Path(path)
  if path.is_dir():
    path = path / "runs.jsonl"
  try:
    return read_rows(path) if path.exists() else []
  except ValueError as e:  # a corrupt results file is bad input: one line, nothing appended
    raise ConfigError(f"{e}; repair or move it, then run again") from None


def _repair(f) -> None:
  """Cut a partial last line (no trailing newline) so the next append starts on a line of its own.

  Reads only the file's tail, so appending stays cheap however long runs.jsonl grows."""
  end = f.seek(0, os.SEEK_END)
  pos = end
  while pos > 0:
    start = max(0, pos - 65536)
    f.seek(start)
    block = f.read(pos - start)
    if pos == end and block.endswith(b"\n"):
      return
    cut = block.rfind(b"\n")
    if cut >= 0:
      f.truncate(start + cut + 1)
      return
    pos = start
  f.truncate(0)


def append(path: str | Path, record: dict[str, Any]) -> None:
  """Append one record as one line and fsync it (only one process, the sweep's driver, may call this)."""
  path = Path(path)
  new = not path.exists()
  with open(path, "ab+") as f:
    _repair(f)
    f.seek(0, os.SEEK_END)
    f.write((dumps(record) + "\n").encode())
    f.flush()
    os.fsync(f.fileno())
  if new:  # make the file's name durable too
    fsync_dir(path.parent)
