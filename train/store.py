"""The results store: `runs.jsonl`, one JSON line per ended run, appended and fsync'd by one process.

A torn last line (a power cut mid-write) is skipped on read and cut off before the next append.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any


def json_safe(x):
  """JSON has no NaN/inf: write them as null."""
  if isinstance(x, float) and not math.isfinite(x):
    return None
  if isinstance(x, dict):
    return {k: json_safe(v) for k, v in x.items()}
  if isinstance(x, list | tuple):
    return [json_safe(v) for v in x]
  return x


def dumps(record: dict[str, Any]) -> str:
  return json.dumps(json_safe(record), sort_keys=True, separators=(",", ":"))


def read(path: str | Path) -> list[dict[str, Any]]:
  """Every complete record of a runs.jsonl (or of the folder holding one); a torn line is skipped."""
  path = Path(path)
  if path.is_dir():
    path = path / "runs.jsonl"
  if not path.exists():
    return []
  rows = []
  for line in path.read_bytes().split(b"\n"):
    if not line.strip():
      continue
    try:
      row = json.loads(line)
    except (json.JSONDecodeError, UnicodeDecodeError):
      continue  # a torn line: the run it belonged to will run again
    if isinstance(row, dict):
      rows.append(row)
  return rows


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
    fd = os.open(path.parent, os.O_RDONLY)
    try:
      os.fsync(fd)
    finally:
      os.close(fd)


def write_json(path: str | Path, obj: Any) -> None:
  """Write atomically: a temporary file, fsync, rename."""
  path = Path(path)
  tmp = path.with_suffix(path.suffix + ".tmp")
  tmp.write_text(json.dumps(json_safe(obj), indent=2, sort_keys=True) + "\n")
  with open(tmp, "rb") as f:
    os.fsync(f.fileno())
  os.replace(tmp, path)
