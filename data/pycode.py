"""Python's own standard library source as a byte-level LM corpus: local, reproducible, split by file."""

from __future__ import annotations

import functools
import hashlib
import pathlib
import platform
import sysconfig

import numpy as np

from scalezoo.data import bytelm
from scalezoo.data.base import DataSpec, Split, register

EXCLUDE = {"test", "tests", "idle_test", "site-packages", "dist-packages", "__pycache__"}  # test data, add-ons
OPTIONS = {"context": 128, "max_bytes": 8_000_000}


@functools.lru_cache(maxsize=4)
def corpus(max_bytes: int) -> bytelm.Docs:
  """The stdlib *.py files that fit in `max_bytes`, taken greedily in sha256(path) order (a spread of modules,
  not the alphabet's first ones) and returned sorted by path."""
  root = pathlib.Path(sysconfig.get_paths()["stdlib"])
  paths = sorted(
    p.relative_to(root).as_posix()
    for p in root.rglob("*.py")
    if p.is_file() and not EXCLUDE & set(p.relative_to(root).parts[:-1])
  )
  chosen, total = [], 0
  for rel in sorted(paths, key=lambda r: hashlib.sha256(r.encode()).hexdigest()):
    size = (root / rel).stat().st_size
    if total + size <= max_bytes:
      chosen.append(rel)
      total += size
  return tuple((rel, (root / rel).read_bytes()) for rel in sorted(chosen))


def streams(*, seed: int = 0, max_bytes: int = OPTIONS["max_bytes"], **_) -> dict[str, np.ndarray]:
  """Raw uint8 byte streams per split (the same files as `load`), for bits-per-byte evaluation."""
  return dict(zip(("train", "val", "test"), bytelm.streams(corpus(max_bytes), seed)))


def load(*, seed: int, context: int = OPTIONS["context"], max_bytes: int = OPTIONS["max_bytes"]) -> Split:
  return bytelm.lm_split(
    corpus(max_bytes),
    seed,
    context,
    source=f"python {platform.python_version()} stdlib *.py without tests, max_bytes={max_bytes}",
  )


register(
  DataSpec(
    "pycode",
    load,
    "lm",
    OPTIONS,
    "byte-level LM on this machine's Python stdlib source, held-out files"
    " for val/test (5%/5%); x, y int32 (N, context) next-byte windows",
  )
)
