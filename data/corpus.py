"""A token corpus on disk (written by `scalezoo tokenize`, read by the `tokens` data set): the format and its reader.

A corpus folder holds
  index.json      format and version, dtype, shard size, token and document counts, the tokenizer, the sources'
                  and every file's sha256
  shard_NNNNN.bin the token stream, raw little-endian uint16 (vocabulary <= 65536) or uint32, cut into shards of
                  `shard_tokens` tokens (the last one shorter); a document may run on into the next shard
  documents.bin   int64 rows (shard, offset, length) of each document in stream order; its EOS token follows it
  tokenizer.json  the Hugging Face tokenizer (BPE), absent for the byte tokenizer (ids 0-255 bytes, 256 EOS)

The stream is doc0 EOS doc1 EOS ...: global position p lies in shard p // shard_tokens at p % shard_tokens.
Reads go through os.pread rather than a memory map: pages of a map touched by random windows count in the
process's resident memory for as long as the map lives, pread's pass through the page cache and do not.
"""

from __future__ import annotations

import hashlib
import json
import os
import weakref
from pathlib import Path
from typing import Any

import numpy as np

FORMAT, VERSION = "scalezoo-tokens", 1
INDEX, DOCUMENTS, TOKENIZER = "index.json", "documents.bin", "tokenizer.json"
EOS = "<|endoftext|>"  # the BPE tokenizer's end-of-document token
BYTES_VOCAB, BYTES_EOS = 257, 256  # the byte tokenizer: 256 byte values and EOS
DOC_FIELDS = ("shard", "offset", "length")
DTYPES = ("uint16", "uint32")


def dtype_for(vocab_size: int) -> np.dtype:
  """uint16 when every id fits (vocab_size <= 65536), else uint32."""
  if not 0 < vocab_size <= 2**32:
    raise ValueError(f"vocabulary size must be in [1, 2**32], got {vocab_size}")
  return np.dtype(np.uint16 if vocab_size <= 2**16 else np.uint32).newbyteorder("<")


def shard_name(k: int) -> str:
  return f"shard_{k:05d}.bin"


def file_sha256(path: Path, chunk: int = 1 << 22) -> str:
  h = hashlib.sha256()
  with open(path, "rb") as f:
    while b := f.read(chunk):
      h.update(b)
  return h.hexdigest()


class Corpus:
  """An opened, checked corpus: its index, and reads of the token stream by global position (thread-safe)."""

  def __init__(self, path: Path, index: dict[str, Any], index_sha256: str):
    self.path, self.index, self.sha256 = path, index, index_sha256  # sha256 of index.json: names the content
    self.dtype = np.dtype(index["dtype"]).newbyteorder("<")
    self.shard_tokens = int(index["shard_tokens"])
    self.tokens = int(index["tokens"])
    self.n_docs = int(index["documents"]["count"])
    self.vocab_size = int(index["vocab_size"])
    self.eos_id = int(index["eos_id"])
    self._lengths = [int(s["tokens"]) for s in index["shards"]]
    self._fds = [os.open(path / s["file"], os.O_RDONLY) for s in index["shards"]]
    self._docs = os.open(path / DOCUMENTS, os.O_RDONLY)
    # close(): now, when collected, or at exit; idempotent
    self.close = weakref.finalize(self, _close_all, [*self._fds, self._docs])

  def __enter__(self):
    return self

  def __exit__(self, *exc):
    self.close()

  def read(self, start: int, n: int) -> np.ndarray:
    """Tokens [start, start + n) of the stream, in the corpus's dtype."""
    if not 0 <= start <= start + n <= self.tokens:
      raise ValueError(f"{self.path}: tokens [{start}, {start + n}) lie outside the stream of {self.tokens}")
    k, off = divmod(start, self.shard_tokens)
    parts, first = [], k
    while n > 0:
      m = min(n, self._lengths[k] - off)
      parts.append(self._pread(self._fds[k], m * self.dtype.itemsize, off * self.dtype.itemsize, shard_name(k)))
      n, k, off = n - m, k + 1, 0
    out = np.frombuffer(parts[0] if len(parts) == 1 else b"".join(parts), self.dtype)
    if out.size and out.max() >= self.vocab_size:  # an embedding lookup would clamp it: a wrong loss, no error
      where = shard_name(first) if k == first + 1 else f"{shard_name(first)}..{shard_name(k - 1)}"
      raise ValueError(
        f"{self.path / where}: token id {int(out.max())} at or after stream position {start} is outside the "
        f"vocabulary of {self.vocab_size}: the shard was changed after index.json was written"
      )
    return out

  def document(self, i: int) -> tuple[int, int]:
    """(global start, length without its EOS) of document i."""
    if not 0 <= i < self.n_docs:
      raise ValueError(f"{self.path}: document {i} out of range [0, {self.n_docs})")
    row = np.frombuffer(self._pread(self._docs, 24, 24 * i, DOCUMENTS), "<i8")
    return int(row[0]) * self.shard_tokens + int(row[1]), int(row[2])

  def _pread(self, fd: int, nbytes: int, offset: int, name: str) -> bytes:
    if not self.close.alive:  # a closed descriptor's number may belong to another file by now
      raise ValueError(f"{self.path}: read from a closed corpus")
    b = os.pread(fd, nbytes, offset)
    if len(b) != nbytes:
      raise ValueError(f"{self.path / name}: short read at byte {offset}: the file changed after it was opened")
    return b

  def decode(self, ids) -> str | bytes:
    """Text of token ids: bytes for the byte tokenizer (EOS dropped), str for BPE."""
    ids, kind = [int(i) for i in ids], self.index["tokenizer"]["kind"]
    if kind == "bytes":
      return bytes(i for i in ids if i < 256)
    if kind != "bpe":
      raise ValueError(f"{self.path / INDEX}: tokenizer {kind!r} has no decoder here (bytes, bpe)")
    from tokenizers import Tokenizer

    return Tokenizer.from_file(str(self.path / TOKENIZER)).decode(ids)


def token_bytes(corpus: Corpus) -> np.ndarray | None:
  """Bytes of text each id stands for (EOS: 0), for a BPE corpus: what turns a loss per token into bits per byte,
  the measure that compares across tokenizers. None for the byte tokenizer, whose ids are bytes."""
  if corpus.index["tokenizer"]["kind"] != "bpe":
    return None
  from tokenizers import Tokenizer

  tok = Tokenizer.from_file(str(corpus.path / TOKENIZER))
  special = {t.content for t in tok.get_added_tokens_decoder().values()}
  out = np.zeros(corpus.vocab_size, np.int64)
  for i in range(corpus.vocab_size):
    piece = tok.id_to_token(i)
    out[i] = 0 if piece is None or piece in special else len(piece)  # byte-level BPE: a character per byte
  return out


def _close_all(fds: list[int]) -> None:
  for fd in fds:
    os.close(fd)


def open_corpus(path: str | os.PathLike, *, verify: bool = False) -> Corpus:
  """Open the corpus at `path` after checking index.json against the files: format, version, dtype, every file
  present at its recorded size, documents ending where the stream does. verify=True also checks every file's
  sha256 and that documents tile the stream. A mismatch raises a one-line ValueError naming the file."""
  root = Path(path)
  ipath = root / INDEX
  if not ipath.is_file():
    raise ValueError(f"{ipath}: no corpus index here; write one with `scalezoo tokenize SRC --out {root}`")
  raw = ipath.read_bytes()
  try:
    index = json.loads(raw)
  except (json.JSONDecodeError, UnicodeDecodeError) as e:
    raise ValueError(f"{ipath}: not valid JSON ({e})") from None
  bad = lambda what: ValueError(f"{ipath}: {what}")
  if not isinstance(index, dict) or index.get("format") != FORMAT:
    raise bad(f"not a {FORMAT} index")
  if index.get("version") != VERSION:
    raise bad(f"format version {index.get('version')!r}; this reader reads version {VERSION}")
  try:
    dtype, vocab = index["dtype"], int(index["vocab_size"])
    shards, docs, tok = index["shards"], index["documents"], index["tokenizer"]
    total, per_shard, n_docs = int(index["tokens"]), int(index["shard_tokens"]), int(docs["count"])
    int(index["eos_id"])
  except (KeyError, TypeError, ValueError) as e:
    raise bad(f"missing or malformed field {e}") from None
  if dtype not in DTYPES or dtype_for(vocab).name != dtype:
    raise bad(f"dtype {dtype!r} does not match vocab_size {vocab} (uint16 up to 65536, else uint32)")
  if sum(int(s["tokens"]) for s in shards) != total or any(int(s["tokens"]) != per_shard for s in shards[:-1]):
    raise bad("shard token counts do not add up to the total, or a shard other than the last is not full")
  files = [(s["file"], int(s["tokens"]) * np.dtype(dtype).itemsize, s["sha256"]) for s in shards]
  files.append((DOCUMENTS, n_docs * 8 * len(DOC_FIELDS), docs["sha256"]))
  if tok["kind"] == "bpe":
    files.append((TOKENIZER, None, tok["sha256"]))
  for name, size, sha in files:
    p = root / name
    if Path(name).name != name or not p.is_file():
      raise ValueError(f"{p}: missing (index.json lists it)")
    if size is not None and p.stat().st_size != size:
      raise ValueError(f"{p}: {p.stat().st_size} bytes, index.json says {size}")
    if verify and file_sha256(p) != sha:
      raise ValueError(f"{p}: sha256 differs from index.json's: the file changed or is corrupt")
  corpus = Corpus(root, index, hashlib.sha256(raw).hexdigest())
  if n_docs == 0:
    raise bad("the corpus holds no documents")
  start, length = corpus.document(n_docs - 1)
  if start + length + 1 != total:
    raise ValueError(f"{root / DOCUMENTS}: the last document ends at {start + length + 1}, the stream at {total}")
  if verify and not _tiles(root / DOCUMENTS, per_shard):
    raise ValueError(f"{root / DOCUMENTS}: documents do not tile the stream (each followed by one EOS)")
  return corpus


def _tiles(path: Path, per_shard: int, rows: int = 1 << 20) -> bool:
  """Every document starts where the previous one's EOS ended, the first at 0, none empty (read in chunks)."""
  end = 0
  with open(path, "rb") as f:
    while b := f.read(rows * 8 * len(DOC_FIELDS)):
      r = np.frombuffer(b, "<i8").reshape(-1, len(DOC_FIELDS))
      starts = r[:, 0] * per_shard + r[:, 1]
      if starts[0] != end or np.any(starts[1:] != starts[:-1] + r[:-1, 2] + 1) or np.any(r[:, 2] <= 0):
        return False
      end = int(starts[-1] + r[-1, 2] + 1)
  return True
