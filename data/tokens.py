"""The `tokens` data set: a token corpus on disk (corpus.py) streamed through Grain, val/test from held-out documents.

Split: val and test are documents chosen by the data seed (a lazy permutation of document ids, Grain's
index_shuffle): each split takes documents in that order until it holds `eval_windows` windows or 5% of the corpus's
tokens (at least one document). They are read into memory as windows of at most `eval_windows`. The training stream
is every other document in corpus order, EOS after each, and stays on disk: the Split's train is {} and
info["stream"] (a TrainStream) names what `train_batches` reads.

Order: the training stream is cut into n_windows = (tokens - 1) // context windows of context + 1 tokens (stride
context; x = the first context, y = the last context). Window position p (step s's global batch holds positions
s*B .. s*B + B - 1) is window perm_e(p mod n_windows) of epoch e = p // n_windows, perm_e Grain's index shuffle of
seed32(seed) + e. So step s's batch is a pure function of (seed, s, the corpus): a run resumed at step s reads what
an uninterrupted one does. Host h of P reads rows [h*B/P, (h+1)*B/P) of each global batch and nothing else.

A run's D (tokens seen) is steps * global_batch * context: `tokens_seen`.
"""

from __future__ import annotations

import bisect
import dataclasses
import weakref
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from scalezoo.data import bytelm
from scalezoo.data.base import DataSpec, Split, register
from scalezoo.data.corpus import Corpus, open_corpus, token_bytes

OPTIONS = {"path": "", "context": 128, "eval_windows": 512}
MAX_POSITIONS = 2**40  # window positions a stream offers (steps * global_batch): beyond any run
HELD_OUT_FRACTION = 0.05  # of the corpus's tokens, at most, per held-out split (beyond its first document)


@dataclasses.dataclass(frozen=True)
class TrainStream:
  """What train_batches reads: the training documents of one corpus under one data seed."""

  path: str
  sha256: str  # the corpus's index.json: training refuses a corpus that changed since the split was made
  context: int
  n_windows: int  # windows of context + 1 tokens, stride context
  tokens: int  # in the training stream (documents and their EOS)
  held_out: tuple[int, ...]  # val and test document ids, sorted
  dtype: str
  vocab_size: int


def seed32(seed: int, purpose: int) -> int:
  """A 32-bit seed for Grain from the user's seed and a purpose tag: nearby user seeds give unrelated orders (Grain
  seeds epoch e with seed + e, so seeds 0 and 1 would otherwise share epochs)."""
  return int(np.random.SeedSequence([seed, purpose]).generate_state(1, np.uint32)[0])


def held_out_documents(corpus: Corpus, seed: int, context: int, eval_windows: int) -> tuple[list[int], list[int]]:
  """(val, test) document ids, each sorted (the rule in the module docstring)."""
  from grain.experimental import index_shuffle

  if corpus.n_docs < 3:
    raise ValueError(f"{corpus.path}: {corpus.n_docs} document(s); a train/val/test split needs at least 3")
  need, cap = eval_windows * context + 1, HELD_OUT_FRACTION * corpus.tokens
  s, i, parts = seed32(seed, 0), 0, []
  for _ in range(2):
    ids, got = [], 0
    while got < need and got < cap and i < corpus.n_docs - 1:  # leave a document for training
      d = index_shuffle(i, max_index=corpus.n_docs - 1, seed=s, rounds=4)
      ids.append(d)
      got += corpus.document(d)[1] + 1
      i += 1
    parts.append(sorted(ids))
  if not parts[1]:
    raise ValueError(f"{corpus.path}: too few documents to hold out val and test and keep one for training")
  return parts[0], parts[1]


def _doc_stream(corpus: Corpus, ids: list[int], n: int) -> np.ndarray:
  """The first n tokens (or all) of documents `ids` in order, each with its EOS."""
  out, got = [], 0
  for d in ids:
    start, length = corpus.document(d)
    take = min(length + 1, n - got)
    out.append(corpus.read(start, take))
    got += take
    if got >= n:
      break
  return np.concatenate(out)


class _Runs:
  """The training stream as runs of the corpus stream between held-out documents: position -> corpus reads."""

  def __init__(self, corpus: Corpus, held_out: tuple[int, ...]):
    self.corpus, starts, lens, pos = corpus, [], [], 0
    for d in [*held_out, None]:
      start, length = corpus.document(d) if d is not None else (corpus.tokens, -1)
      if start > pos:
        starts.append(pos)
        lens.append(start - pos)
      pos = start + length + 1
    self.disk, self.lens = starts, lens
    self.at = np.concatenate([[0], np.cumsum(lens)]).tolist()  # training-stream position of each run
    self.tokens = self.at[-1]

  def read(self, pos: int, n: int) -> np.ndarray:
    j = bisect.bisect_right(self.at, pos) - 1
    off = pos - self.at[j]
    if off + n <= self.lens[j]:
      return self.corpus.read(self.disk[j] + off, n)
    parts = []
    while n > 0:
      m = min(n, self.lens[j] - off)
      parts.append(self.corpus.read(self.disk[j] + off, m))
      n, j, off = n - m, j + 1, 0
    return np.concatenate(parts)


def train_stream(path: str, *, seed: int, context: int, eval_windows: int = OPTIONS["eval_windows"]) -> TrainStream:
  """The training stream of corpus `path` when data seed `seed` holds out val and test (as `load` does)."""
  with open_corpus(path) as corpus:
    return _stream(corpus, *held_out_documents(corpus, seed, context, eval_windows), context)


def _stream(corpus: Corpus, val: list[int], test: list[int], context: int) -> TrainStream:
  held = tuple(sorted(val + test))
  tokens = _Runs(corpus, held).tokens
  n = max(tokens - 1, 0) // context
  if n == 0:
    raise ValueError(f"{corpus.path}: the training documents are shorter than one window of context={context}")
  if n >= 2**32:
    raise ValueError(f"{corpus.path}: {n} windows; Grain's index shuffle takes fewer than 2**32: a longer context")
  path = str(Path(corpus.path).resolve())
  return TrainStream(path, corpus.sha256, context, n, tokens, held, corpus.dtype.name, corpus.vocab_size)


def load(*, seed: int, path: str = "", context: int = 128, eval_windows: int = 512) -> Split:
  if not path:
    raise ValueError("data set 'tokens' needs option path=<a corpus folder written by `scalezoo tokenize`>")
  if context < 1 or eval_windows < 1:
    raise ValueError(f"context and eval_windows must be at least 1, got {context} and {eval_windows}")
  with open_corpus(path) as corpus:
    val, test = held_out_documents(corpus, seed, context, eval_windows)
    stream = _stream(corpus, val, test, context)
    parts = {}
    for name, ids in (("val", val), ("test", test)):
      w = bytelm.windows(_doc_stream(corpus, ids, eval_windows * context + 1), context)
      if len(w["x"]) == 0:
        raise ValueError(f"{path}: the {name} documents are shorter than one window of context={context}")
      parts[name] = {k: v[:eval_windows] for k, v in w.items()}
    held = sum(corpus.document(d)[1] + 1 for d in stream.held_out)
    info = dict(
      task="lm",
      vocab_size=corpus.vocab_size,
      input_shape=(context,),
      context=context,
      standardize=False,
      tokens=corpus.tokens,
      documents=corpus.n_docs,
      sha256=corpus.sha256,
      tokenizer=corpus.index["tokenizer"]["kind"],
      split_by="document",
      held_out_documents=[len(val), len(test)],
      split_tokens=[stream.tokens, held],
      train_windows=stream.n_windows,
      loss="next-token cross-entropy",
      source=f"token corpus at {path}",
      stream=stream,
    )
    if (table := token_bytes(corpus)) is not None:
      info["token_bytes"] = table  # per id (an array: not in a record's data_info)
  return Split({}, parts["val"], parts["test"], info)


# ---------------------------------------------------------------- streaming the training windows
def batches(stream: TrainStream, *, global_batch: int, seed: int, process_index: int = 0, process_count: int = 1):
  """A grain.MapDataset whose element s is this host's rows of step s's global batch: {"x", "y"} int32
  [global_batch // process_count, context]. Random access: ds[s] costs one batch of reads whatever s is."""
  import grain

  if global_batch < 1 or global_batch % process_count:
    raise ValueError(f"global_batch {global_batch} must be a positive multiple of process_count {process_count}")
  if not 0 <= process_index < process_count:
    raise ValueError(f"process_index {process_index} outside [0, {process_count})")
  corpus = open_corpus(stream.path)
  if corpus.sha256 != stream.sha256:
    raise ValueError(f"{stream.path}: the corpus changed since its split was made (index.json differs)")
  runs, c = _Runs(corpus, stream.held_out), stream.context
  if runs.tokens != stream.tokens:
    raise ValueError(f"{stream.path}: the training stream holds {runs.tokens} tokens, the split said {stream.tokens}")
  rows = global_batch // process_count
  epochs = -(-MAX_POSITIONS // stream.n_windows)  # finite: Grain's len() of an endless batched set overflows
  order = grain.MapDataset.range(stream.n_windows).shuffle(seed=seed32(seed, 1)).repeat(epochs)
  windows = order.map(lambda w: runs.read(w * c, c + 1)).batch(rows)  # element k: positions k*rows ..
  return windows[process_index::process_count].map(_xy)  # step s: micro-batch s * P + h


def _xy(w: np.ndarray) -> dict[str, np.ndarray]:
  w = w.astype(np.int32)
  return {"x": w[:, :-1], "y": w[:, 1:]}


def train_batches(
  stream: TrainStream,
  *,
  global_batch: int,
  seed: int,
  start_step: int = 0,
  process_index: int | None = None,
  process_count: int | None = None,
  prefetch: int = 2,
) -> Iterator[dict[str, np.ndarray]]:
  """This host's batches of steps start_step, start_step + 1, ... (endless), `prefetch` batches read ahead on a
  background thread. process_index/process_count default to JAX's."""
  import grain

  if process_index is None or process_count is None:
    import jax

    process_index, process_count = jax.process_index(), jax.process_count()
  ds = batches(stream, global_batch=global_batch, seed=seed, process_index=process_index, process_count=process_count)
  it = ds[start_step:].to_iter_dataset(grain.ReadOptions(num_threads=0, prefetch_buffer_size=0))
  if prefetch:
    it = grain.experimental.ThreadPrefetchIterDataset(it, prefetch_buffer_size=prefetch)
  return Batches(iter(it))


class Batches(Iterator[dict[str, np.ndarray]]):
  """Grain's iterator, closed (its prefetch thread stopped, the iterator released) by close(), when collected, or at
  interpreter exit: a prefetch thread still reading while Python finalizes aborts the process."""

  def __init__(self, it):
    self._box = [it]  # the finalizer holds the box, not self
    self._close = weakref.finalize(self, _release, self._box)

  def __next__(self) -> dict[str, np.ndarray]:
    if self._box[0] is None:
      raise StopIteration
    return next(self._box[0])

  def close(self) -> None:
    self._close()


def _release(box: list) -> None:
  box[0].close()
  box[0] = None


def tokens_seen(steps: int, global_batch: int, context: int) -> int:
  """A run's D: the training tokens its steps consumed (every x position is a predicted token)."""
  return steps * global_batch * context


register(
  DataSpec(
    "tokens",
    load,
    "lm",
    OPTIONS,
    "a token corpus on disk (`scalezoo tokenize`): training windows streamed through Grain (train is {}, "
    "info['stream'] for train_batches), val/test from held-out documents; x, y int32 (N, context)",
  )
)
