"""The one atomic write (temp file, fsync, rename, fsync the folder), so a reader sees the old content or the new,
never a torn mix; JSON without NaN. The lowest layer that writes files owns it: the engine, the sweep and the
tokenizer all write through here."""

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


def dumps(obj: Any) -> str:
  """One line of JSON with sorted keys (NaN as null): the form of a runs.jsonl line."""
  return json.dumps(json_safe(obj), sort_keys=True, separators=(",", ":"))


def fsync_dir(folder: str | Path) -> None:
  """Make a new or renamed entry's name durable."""
  fd = os.open(folder, os.O_RDONLY)
  try:
    os.fsync(fd)
  finally:
    os.close(fd)


def write_atomic(path: str | Path, data: bytes | str) -> None:
  path = Path(path)
  tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
  with open(tmp, "wb") as f:
    f.write(data.encode() if isinstance(data, str) else data)
    f.flush()
    os.fsync(f.fileno())
  os.replace(tmp, path)
  fsync_dir(path.parent)


def write_json(path: str | Path, obj: Any) -> None:
  write_atomic(path, json.dumps(json_safe(obj), indent=2, sort_keys=True) + "\n")
