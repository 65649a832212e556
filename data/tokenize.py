"""`scalezoo tokenize`: text into a token corpus on disk (the format: corpus.py), streamed, deterministic, atomic.

Documents: a folder's files (every non-hidden, non-empty text file that --include / --exclude select, sorted by
relative path; binary files are skipped and counted: textfiles.py), or a single file's
blank-line-separated blocks (a line of only whitespace ends a block and is dropped; a block is also cut after the
line that takes it past 1 MiB). Every document is followed by one EOS token.

Tokenizers: `bytes` (ids 0-255 the bytes, 256 EOS; no file) or `bpe`, Hugging Face tokenizers' byte-level BPE
trained on this corpus to `vocab` ids (EOS among them) and saved as tokenizer.json. BPE reads text as UTF-8
(invalid bytes become U+FFFD) and encodes a document in pieces of at most 1 MiB cut after a newline (inside an
overlong line, at a UTF-8 boundary), so no token spans a cut; a literal "<|endoftext|>" in the text is text.

The same sources, tokenizer and shard size give the same bytes (for one version of `tokenizers`). The corpus is
written into a hidden folder beside OUT and renamed to OUT when complete, so a crash leaves no half corpus.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from scalezoo.data import atomic, textfiles
from scalezoo.data import corpus as C

PIECE = 1 << 20  # bytes: a block's cut, a BPE encoding unit
SHARD_TOKENS = 1 << 28
BPE_VOCAB = (257, 1 << 22)  # 256 byte symbols + EOS at least
ENCODE_BATCH = 8 << 20  # bytes of text per encode_batch call


class CorpusWriter:
  """Token documents into a hidden temp folder beside `out`; commit() writes index.json and renames the folder to
  `out` (absent, or an empty folder). Leaving the `with` block by an exception removes the temp folder."""

  def __init__(self, out: str | os.PathLike, *, vocab_size: int, eos_id: int, shard_tokens: int = SHARD_TOKENS):
    if shard_tokens < 1:
      raise ValueError(f"shard_tokens must be at least 1, got {shard_tokens}")
    if not 0 <= eos_id < vocab_size:
      raise ValueError(f"eos_id {eos_id} outside the vocabulary [0, {vocab_size})")
    self.out, self.vocab_size, self.eos_id, self.shard_tokens = Path(out), vocab_size, eos_id, shard_tokens
    self.dtype = C.dtype_for(vocab_size)
    self.out.parent.mkdir(parents=True, exist_ok=True)
    self.tmp = Path(tempfile.mkdtemp(prefix=f".{self.out.name}.", suffix=".tmp", dir=self.out.parent))
    umask = os.umask(0)
    os.umask(umask)
    self.tmp.chmod(0o777 & ~umask)  # a folder like any other once renamed (mkdtemp makes it 0700)
    self.tokens = self.n_docs = 0
    self.shards: list[dict[str, Any]] = []
    self._shard = self._shard_hash = None
    self._shard_n = 0
    self._doc_start, self._doc_len = 0, 0
    self._docs = open(self.tmp / C.DOCUMENTS, "wb")
    self._docs_hash = hashlib.sha256()

  def add(self, ids: np.ndarray | Iterable[int]) -> None:
    """Append tokens to the current document."""
    ids = np.asarray(ids)
    if ids.size and (ids.min() < 0 or ids.max() >= self.vocab_size):
      raise ValueError(f"token ids must lie in [0, {self.vocab_size}), got [{ids.min()}, {ids.max()}]")
    if self._doc_len == 0:
      self._doc_start = self.tokens
    self._write(ids.astype(self.dtype))
    self._doc_len += ids.size

  def end_document(self) -> None:
    """Close the current document (it must hold a token) and write its EOS."""
    if self._doc_len == 0:
      raise ValueError("a document needs at least one token")
    row = np.array([*divmod(self._doc_start, self.shard_tokens), self._doc_len], "<i8").tobytes()
    self._docs.write(row)
    self._docs_hash.update(row)
    self._write(np.array([self.eos_id], self.dtype))
    self.n_docs, self._doc_len = self.n_docs + 1, 0

  def _write(self, ids: np.ndarray) -> None:
    while ids.size:
      if self._shard is None or self._shard_n == self.shard_tokens:
        self._close_shard()
        self._shard = open(self.tmp / C.shard_name(len(self.shards)), "wb")
        self._shard_hash, self._shard_n = hashlib.sha256(), 0
      head, ids = ids[: self.shard_tokens - self._shard_n], ids[self.shard_tokens - self._shard_n :]
      b = head.tobytes()
      self._shard.write(b)
      self._shard_hash.update(b)
      self._shard_n += head.size
      self.tokens += head.size

  def _close_shard(self) -> None:
    if self._shard is not None:
      _close_synced(self._shard)
      name = C.shard_name(len(self.shards))
      self.shards.append({"file": name, "tokens": self._shard_n, "sha256": self._shard_hash.hexdigest()})
      self._shard = None

  def commit(self, **fields: Any) -> dict[str, Any]:
    """Write index.json (the format's fields plus `fields`: tokenizer, sources, ...) and move the corpus to `out`."""
    if self._doc_len:
      raise ValueError("the last document was not ended")
    if self.n_docs == 0:
      raise ValueError("no documents to write")
    self._close_shard()
    _close_synced(self._docs)
    index = {
      "format": C.FORMAT,
      "version": C.VERSION,
      "dtype": self.dtype.name,
      "vocab_size": self.vocab_size,
      "eos_id": self.eos_id,
      "shard_tokens": self.shard_tokens,
      "tokens": self.tokens,
      "shards": self.shards,
      "documents": {
        "file": C.DOCUMENTS,
        "count": self.n_docs,
        "fields": list(C.DOC_FIELDS),
        "dtype": "int64",
        "sha256": self._docs_hash.hexdigest(),
      },
      **fields,
    }
    atomic.write_json(self.tmp / C.INDEX, index)
    atomic.fsync_dir(self.tmp)
    if self.out.exists() and not (self.out.is_dir() and not any(self.out.iterdir())):
      raise ValueError(f"{self.out}: appeared while tokenizing and is not empty; nothing was written there")
    os.replace(self.tmp, self.out)  # onto an absent name or an empty folder
    atomic.fsync_dir(self.out.parent)
    return index

  def abort(self) -> None:
    for f in (self._shard, self._docs):
      if f is not None and not f.closed:
        f.close()
    shutil.rmtree(self.tmp, ignore_errors=True)

  def __enter__(self):
    return self

  def __exit__(self, exc_type, *_):
    if exc_type is not None or self.tmp.exists():
      self.abort()  # after a commit tmp no longer exists


def _close_synced(f) -> None:
  f.flush()
  os.fsync(f.fileno())
  f.close()


# ---------------------------------------------------------------- sources and documents
def sources(
  src: str | os.PathLike, include: list[str] = (), exclude: list[str] = ()
) -> tuple[list[tuple[str, Path]], str, dict]:
  """((name, path) of each source in order, how documents are cut: "file" or "blank-line blocks", what was skipped:
  {"excluded": files the patterns left out, "binary": binary files})."""
  root, include, exclude = Path(src), list(include), list(exclude)
  textfiles.check_patterns(include, exclude)
  skipped = {"excluded": 0, "binary": 0}
  if root.is_file():
    if include or exclude:
      raise ValueError(f"{src}: --include and --exclude choose files in a folder; SRC is one file")
    if textfiles.is_binary(root):
      raise ValueError(f"{src}: a binary file (a NUL byte in its first {textfiles.SNIFF} bytes); SRC is text")
    found = [(root.name, root)] if root.stat().st_size else []
    by = "blank-line blocks"
  elif root.is_dir():
    rels = sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())
    rels = [r for r in rels if not any(s.startswith(".") for s in r.split("/"))]
    picked = textfiles.pick(root, rels, include, exclude)
    skipped = {"excluded": picked.excluded, "binary": picked.binary}
    found, by = [(r, root / r) for r in picked.files if (root / r).stat().st_size], "file"
  else:
    raise ValueError(f"{src}: no such file or folder; SRC is a text file or a folder of text files")
  if not found:
    why = (
      f" ({skipped['excluded']} excluded by --include/--exclude, {skipped['binary']} binary)"
      if any(skipped.values())
      else ""
    )
    raise ValueError(f"{src}: holds no non-empty file{why}; SRC is a text file or a folder of text files")
  return found, by, skipped


def _utf8_cut(b: bytes) -> int:
  """len(b), less an incomplete UTF-8 sequence at its end."""
  for back in range(1, min(4, len(b)) + 1):
    c = b[-back]
    if c & 0xC0 != 0x80:  # a lead byte (or ASCII): does its sequence fit?
      need = 1 if c < 0x80 else 2 if c >> 5 == 0b110 else 3 if c >> 4 == 0b1110 else 4 if c >> 3 == 0b11110 else 1
      return len(b) - back if need > back else len(b)
  return len(b)


def _file_pieces(f, h) -> Iterator[bytes]:
  buf = b""
  while chunk := f.read(PIECE):
    h.update(chunk)
    buf += chunk
    cut = buf.rfind(b"\n") + 1 or _utf8_cut(buf)
    if cut:
      yield buf[:cut]
      buf = buf[cut:]
  if buf:
    yield buf


def _blocks(f, h) -> Iterator[bytes]:
  block, size = [], 0
  while line := f.readline(PIECE):
    h.update(line)
    if not line.strip():
      if block:
        yield b"".join(block)
      block, size = [], 0
      continue
    block.append(line)
    size += len(line)
    if size >= PIECE:
      yield b"".join(block)
      block, size = [], 0
  if block:
    yield b"".join(block)


def read(found: list[tuple[str, Path]], by: str, stats: list[dict] | None = None) -> Iterator[tuple[bytes, bool]]:
  """(piece, ends its document) over all sources in order, streamed; fills `stats` with each source's name, bytes,
  sha256 and document count as it is read."""
  for name, path in found:
    h, docs, size = hashlib.sha256(), 0, 0
    with open(path, "rb") as f:
      if by == "file":
        prev = None
        for piece in _file_pieces(f, h):
          if prev is not None:
            yield prev, False
          prev = piece
        if prev is not None:
          yield prev, True
          docs += 1
      else:
        for block in _blocks(f, h):
          yield block, True
          docs += 1
      size = f.tell()
    if stats is not None:
      stats.append({"name": name, "bytes": size, "sha256": h.hexdigest(), "documents": docs})


def sources_sha256(stats: list[dict]) -> str:
  h = hashlib.sha256()
  for s in stats:
    h.update(f"{s['name']}\0{s['bytes']}\0{s['sha256']}\n".encode())
  return h.hexdigest()


# ---------------------------------------------------------------- tokenizers
def train_bpe(found, by: str, vocab: int):
  """A byte-level BPE tokenizer with `vocab` ids (EOS id 0), trained on the corpus's pieces."""
  from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

  tok = Tokenizer(models.BPE())
  tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
  tok.decoder = decoders.ByteLevel()
  trainer = trainers.BpeTrainer(
    vocab_size=vocab,
    special_tokens=[C.EOS],
    initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    show_progress=False,
  )
  tok.train_from_iterator((p.decode("utf-8", "replace") for p, _ in read(found, by)), trainer=trainer)
  tok.encode_special_tokens = True  # a literal "<|endoftext|>" in the text is text, not EOS
  return tok


def _bpe_ids(tok, pieces: Iterator[tuple[bytes, bool]], dtype) -> Iterator[tuple[np.ndarray, bool]]:
  """Encoded pieces in order, encode_batch over ~ENCODE_BATCH bytes of text at a time (its threads)."""
  batch, size = [], 0
  for piece, last in pieces:
    batch.append((piece, last))
    size += len(piece)
    if size >= ENCODE_BATCH:
      yield from _encode(tok, batch, dtype)
      batch, size = [], 0
  yield from _encode(tok, batch, dtype)


def _encode(tok, batch, dtype):
  encs = tok.encode_batch([p.decode("utf-8", "replace") for p, _ in batch]) if batch else []
  for enc, (_, last) in zip(encs, batch):
    yield np.asarray(enc.ids, dtype), last


def tokenizer_spec(kind: str, vocab: int | None) -> int | None:
  """The vocabulary asked for: None for bytes, `vocab` (default 8192) within BPE_VOCAB for bpe."""
  if kind == "bytes":
    if vocab is not None:
      raise ValueError("--vocab applies to --tokenizer bpe; the byte tokenizer's vocabulary is 257")
    return None
  if kind != "bpe":
    raise ValueError(f"unknown tokenizer {kind!r}; tokenizers: bytes, bpe")
  vocab = 8192 if vocab is None else vocab
  if not BPE_VOCAB[0] <= vocab <= BPE_VOCAB[1]:
    raise ValueError(f"--vocab must be in [{BPE_VOCAB[0]}, {BPE_VOCAB[1]}] for bpe, got {vocab}")
  return vocab


# ---------------------------------------------------------------- the command
def _existing(out: Path, found, by: str, kind: str, vocab: int | None, shard_tokens: int) -> dict | None:
  """The index at `out` when it is this very corpus (same sources, tokenizer, shard size), None when `out` is absent
  or empty; anything else there is an error."""
  if not out.exists() or (out.is_dir() and not any(out.iterdir())):
    return None
  other = ValueError(f"{out}: holds something other than this corpus; give an empty or new folder as --out")
  try:
    c = C.open_corpus(out)
    c.close()
  except ValueError:
    raise other from None
  stats = []
  for _ in read(found, by, stats):
    pass
  want = {"kind": kind, "requested_vocab": vocab, "shard_tokens": shard_tokens, "sources": sources_sha256(stats)}
  have = {
    "kind": c.index["tokenizer"].get("kind"),
    "requested_vocab": c.index["tokenizer"].get("requested_vocab"),
    "shard_tokens": c.index["shard_tokens"],
    "sources": c.index.get("sources", {}).get("sha256"),
  }
  if want != have:
    raise other
  return c.index


def tokenize(
  src: str | os.PathLike,
  out: str | os.PathLike,
  *,
  tokenizer: str = "bytes",
  vocab: int | None = None,
  shard_tokens: int = SHARD_TOKENS,
  include: list[str] = (),
  exclude: list[str] = (),
) -> dict[str, Any]:
  """Tokenize SRC into the corpus folder OUT and return its index (OUT's own when it already holds this corpus).
  A folder's files: those `include` and `exclude` (globs, textfiles.py) select, less binary files; the index's
  sources say what was skipped."""
  vocab = tokenizer_spec(tokenizer, vocab)
  found, by, skipped = sources(src, include, exclude)
  out = Path(out)
  if (index := _existing(out, found, by, tokenizer, vocab, shard_tokens)) is not None:
    return index
  if tokenizer == "bpe":
    tok = train_bpe(found, by, vocab)
    vocab_size, eos_id = tok.get_vocab_size(), tok.token_to_id(C.EOS)
  else:
    tok, vocab_size, eos_id = None, C.BYTES_VOCAB, C.BYTES_EOS
  stats: list[dict] = []
  with CorpusWriter(out, vocab_size=vocab_size, eos_id=eos_id, shard_tokens=shard_tokens) as w:
    meta: dict[str, Any] = {"kind": tokenizer, "vocab_size": vocab_size, "eos_id": eos_id, "requested_vocab": vocab}
    pieces = read(found, by, stats)
    if tok is not None:
      atomic.write_atomic(w.tmp / C.TOKENIZER, tok.to_str(pretty=True))
      import tokenizers

      meta |= {"file": C.TOKENIZER, "sha256": C.file_sha256(w.tmp / C.TOKENIZER), "eos": C.EOS}
      meta |= {"library": f"tokenizers {tokenizers.__version__}", "model": "byte-level BPE"}
      ids = _bpe_ids(tok, pieces, w.dtype)
    else:
      ids = ((np.frombuffer(p, np.uint8), last) for p, last in pieces)
    for piece_ids, last in ids:
      w.add(piece_ids)
      if last:
        w.end_document()
    if w.n_docs == 0:
      raise ValueError(f"{src}: holds no text (only blank lines)")
    return w.commit(
      tokenizer=meta,
      sources={
        "documents_by": by,
        "files": stats,
        "sha256": sources_sha256(stats),
        "include": list(include),
        "exclude": list(exclude),
        "skipped": skipped,
      },
    )
