"""Byte-level language modelling over a corpus of documents: a split by document, then next-byte windows."""

from __future__ import annotations

import hashlib

import numpy as np

from scalezoo.data.base import Split, random_split

Docs = tuple[tuple[str, bytes], ...]  # (name, content), sorted by name
MIN_UNITS = 20  # fewer documents than this: cut the stream into equal segments so every split gets some


def sha256(docs: Docs) -> str:
  """Content hash over (name, bytes) pairs in order: names exactly what a run trained on."""
  h = hashlib.sha256()
  for name, data in docs:
    h.update(name.encode() + b"\0" + len(data).to_bytes(8, "little") + data)
  return h.hexdigest()


def units(docs: Docs) -> Docs:
  """The pieces the split assigns: documents, or 100 equal segments of the stream when documents are few."""
  if len(docs) >= MIN_UNITS:
    return docs
  stream = b"".join(d for _, d in docs)
  cuts = np.linspace(0, len(stream), 101).astype(int)
  return tuple((f"segment{k:03d}", stream[a:b]) for k, (a, b) in enumerate(zip(cuts[:-1], cuts[1:])))


def streams(docs: Docs, seed: int, fractions: tuple[float, float, float] = (0.9, 0.05, 0.05)) -> list[np.ndarray]:
  """uint8 byte streams of the train/val/test documents (held-out documents, seed-driven), each in name order."""
  u = units(docs)
  if len(u) < 3:
    raise ValueError("a byte corpus needs at least 3 non-empty pieces to split into train/val/test")
  parts = random_split(len(u), fractions, seed)
  return [np.frombuffer(b"".join(u[i][1] for i in idx), np.uint8) for idx in parts]


def windows(stream_T: np.ndarray, context: int) -> dict[str, np.ndarray]:
  """Non-overlapping windows: x = bytes [i*c, (i+1)*c), y = the next bytes [i*c+1, (i+1)*c+1), int32."""
  n = max(len(stream_T) - 1, 0) // context
  s = stream_T.astype(np.int32)
  return {"x": s[: n * context].reshape(n, context), "y": s[1 : n * context + 1].reshape(n, context)}


def lm_split(docs: Docs, seed: int, context: int, **facts) -> Split:
  """The Split of a byte corpus: windows per split, vocab 256, corpus facts (files, bytes, sha256) in info."""
  parts = streams(docs, seed)
  tr, va, te = (windows(s, context) for s in parts)
  for part, w in (("val", va), ("test", te)):
    if len(w["x"]) == 0:
      raise ValueError(f"the {part} split of this corpus is shorter than one window of context={context}")
  info = dict(
    task="lm",
    vocab_size=256,
    input_shape=(context,),
    context=context,
    standardize=False,
    files=len(docs),
    bytes=sum(len(d) for _, d in docs),
    sha256=sha256(docs),
    split_by="document" if len(docs) >= MIN_UNITS else "segment",
    split_bytes=[len(s) for s in parts],
    loss="next-byte cross-entropy",
    **facts,
  )
  return Split(tr, va, te, info)
