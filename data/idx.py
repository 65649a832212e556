"""MNIST-format IDX files (plain or gzip'd), parsed with numpy: images + labels, optionally a given test pair.

IDX: two zero bytes, a type byte, the number of dimensions, one big-endian uint32 per dimension, then the data in
big-endian C order. uint8 images are scaled to [0, 1] as (N, H, W, 1) float32; other image types are kept as read.
"""

from __future__ import annotations

import gzip

import numpy as np

from scalezoo.data.base import DataSpec, Split, register
from scalezoo.data.user_files import existing, split_given

DTYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
OPTIONS = {"images": "", "labels": "", "test_images": "", "test_labels": ""}


def read_idx(path: str) -> np.ndarray:
  p = existing(path, "idx", "an IDX file (optionally gzip'd)")
  raw = p.read_bytes()
  if raw[:2] == b"\x1f\x8b":
    try:
      raw = gzip.decompress(raw)
    except (OSError, EOFError) as e:
      raise ValueError(f"idx: {str(path)!r} looks gzip'd but does not decompress ({e})") from None
  if len(raw) < 4 or raw[:2] != b"\0\0" or raw[2] not in DTYPES:
    raise ValueError(f"idx: {str(path)!r} is not an IDX file; expected magic bytes 00 00 <type> <ndim>")
  nd = raw[3]
  dims = tuple(int(d) for d in np.frombuffer(raw, ">u4", nd, 4))
  dt = np.dtype(DTYPES[raw[2]])
  if len(raw) != 4 + 4 * nd + int(np.prod(dims)) * dt.itemsize:
    raise ValueError(f"idx: {str(path)!r} holds {len(raw)} bytes, but its header says shape {dims} of {dt.name}")
  return np.frombuffer(raw, dt, offset=4 + 4 * nd).reshape(dims).astype(dt.newbyteorder("="))


def write_idx(path: str, a: np.ndarray, compress: bool = False) -> None:
  """The inverse of read_idx (for tests and for exporting arrays to tools that read MNIST files)."""
  code = {np.dtype(v).newbyteorder("="): k for k, v in DTYPES.items()}[a.dtype.newbyteorder("=")]
  raw = bytes([0, 0, code, a.ndim]) + np.array(a.shape, ">u4").tobytes() + a.astype(DTYPES[code]).tobytes()
  with open(path, "wb") as f:
    f.write(gzip.compress(raw, mtime=0) if compress else raw)


def _pair(images: str, labels: str) -> tuple[dict[str, np.ndarray], bool]:
  x, y = read_idx(images), read_idx(labels)
  if y.ndim != 1 or len(x) != len(y):
    raise ValueError(
      f"idx: labels {labels!r} must be 1-d with one label per image of {images!r}; got shapes {y.shape} and {x.shape}"
    )
  scaled = x.dtype == np.uint8
  x = (x / 255.0).astype(np.float32) if scaled else x
  return {"x": x[..., None] if x.ndim == 3 else x, "y": y}, scaled


def load(*, seed: int, images: str, labels: str, test_images: str, test_labels: str) -> Split:
  if not images or not labels or bool(test_images) != bool(test_labels):
    raise ValueError(
      "data set 'idx' needs options images=<IDX file> and labels=<IDX file> (and test_images with "
      "test_labels, or neither)"
    )
  train, scaled = _pair(images, labels)
  test = _pair(test_images, test_labels)[0] if test_images or test_labels else None
  info = {
    "source": f"IDX files {images}, {labels}" + (f"; test {test_images}, {test_labels}" if test else ""),
    "standardize": not scaled,
  }  # pixels already in [0, 1]
  return split_given(train, test, None, "classification", seed, info)


register(
  DataSpec(
    "idx",
    load,
    "classification",
    OPTIONS,
    "MNIST-format IDX images + labels (gzip'd or not); "
    "uint8 images scaled to [0, 1] as (N, H, W, 1); test_images/test_labels give the test split",
  )
)
