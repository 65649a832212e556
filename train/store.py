"""The results store: `runs.jsonl`, one JSON line per ended run, appended and fsync'd by one process.

A torn last line (a power cut mid-write) is skipped on read and cut off before the next append.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any


def _clean(x):
  """JSON has no NaN/inf: write them as null."""
  if isinstance(x, float) and not math.isfinite(x):
    return None
  if isinstance(x, dict):
    return {k: _clean(v) for k, v in x.items()}
  if isinstance(x, list | tuple):
    return [_clean(v) for v in x]
  return x


def dumps(record: dict[str, Any]) -> str:
  return json.dumps(_clean(record), sort_keys=True, separators=(",", ":"))


def read(path: str | Path) -> list[dict[str, Any]]:
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
      rows.append(json.loads(line))
    except json.JSONDecodeError:
      continue  # a torn line: the run it belonged to will run again
  return rows


def _repair(path: Path) -> None:
  """Cut a partial last line (no trailing newline) so the next append starts on a line of its own."""
  with open(path, "rb+") as f:
    data = f.read()
    if data and not data.endswith(b"\n"):
      f.truncate(data.rfind(b"\n") + 1)


def append(path: str | Path, record: dict[str, Any]) -> None:
  path = Path(path)
  if path.exists():
    _repair(path)
  with open(path, "ab") as f:
    f.write((dumps(record) + "\n").encode())
    f.flush()
    os.fsync(f.fileno())


def write_json(path: str | Path, obj: Any) -> None:
  """Write atomically: a temporary file, fsync, rename."""
  path = Path(path)
  tmp = path.with_suffix(path.suffix + ".tmp")
  tmp.write_text(json.dumps(_clean(obj), indent=2, sort_keys=True) + "\n")
  with open(tmp, "rb") as f:
    os.fsync(f.fileno())
  os.replace(tmp, path)
