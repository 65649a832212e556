"""A user's plain text (a file, or a directory of files) as a byte-level LM corpus, like `pycode`."""

from __future__ import annotations

import pathlib

import numpy as np

from scalezoo.data import bytelm
from scalezoo.data.base import DataSpec, Split, register


def corpus(path: str) -> bytelm.Docs:
  """Every non-hidden, non-empty file under `path` (or the file itself), sorted by relative path, read as bytes (not
  cached: the user's files may change between loads)."""
  if not path:
    raise ValueError("data set 'text' needs option path=<a text file or a directory of text files>")
  root = pathlib.Path(path)
  if root.is_file():
    docs = ((root.name, root.read_bytes()),)
  elif root.is_dir():
    rels = sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())
    docs = tuple((r, (root / r).read_bytes()) for r in rels if not any(s.startswith(".") for s in r.split("/")))
  else:
    raise ValueError(f"text: no file or directory at {path!r}; expected a plain text file or a directory of them")
  docs = tuple(d for d in docs if d[1])
  if not docs:
    raise ValueError(f"text: {path!r} holds no non-empty file; expected plain text")
  return docs


def streams(*, path: str, seed: int = 0, **_) -> dict[str, np.ndarray]:
  """Raw uint8 byte streams per split (the same pieces as `load`), for bits-per-byte evaluation."""
  return dict(zip(("train", "val", "test"), bytelm.streams(corpus(str(path)), seed)))


def load(*, seed: int, path: str = "", context: int = 128) -> Split:
  return bytelm.lm_split(corpus(str(path)), seed, context, source=f"text files at {path}")


register(
  DataSpec(
    "text",
    load,
    "lm",
    {"path": "", "context": 128},
    "byte-level LM on a user's text file or directory (held-out files, or held-out segments when fewer than 20 files)",
  )
)
