"""Algorithmic sequence tasks for RNNs (copy, reverse, addition), laid out so a causal model can solve them.

x and y are aligned (N, T) int32: the model reads x[:, t] and is scored on y[:, t] wherever mask[:, t] is 1
(per-position cross-entropy over vocab_size; positions with mask 0 hold y = 0 and do not count). The answer comes
after the whole question has been read. Ids: 0 blank/pad, 1 GO ('+' for addition), 2 '=', symbols from 3.
Duplicate examples are dropped before the split, so a test sequence is never a training sequence.
"""

from __future__ import annotations

import functools

import numpy as np

from scalezoo.data.base import DataSpec, Split, random_split, register, take

BLANK, GO, EQ, FIRST = 0, 1, 2, 3
OPTIONS = {"length": 10, "vocab": 8, "n": 10000, "data_seed": 0}


def _copy_like(s_NL: np.ndarray, reverse: bool) -> tuple[np.ndarray, np.ndarray]:
  N, L = s_NL.shape  # x = s GO _ _ ..., y = _ ... _ s (or s reversed), answer starts at GO
  x = np.concatenate([s_NL, np.full((N, 1), GO), np.full((N, L - 1), BLANK)], 1)
  y = np.concatenate([np.full((N, L), BLANK), s_NL[:, ::-1] if reverse else s_NL], 1)
  return x, y


def _addition(a_NL: np.ndarray, b_NL: np.ndarray, base: int) -> tuple[np.ndarray, np.ndarray]:
  N, L = a_NL.shape  # x = a + b = _ ... _, y = _ ... _ (sum, L+1 digits, most significant first) from '=' on
  p = base ** np.arange(L - 1, -1, -1, dtype=np.int64)
  total = a_NL @ p + b_NL @ p
  s = (total[:, None] // (base ** np.arange(L, -1, -1, dtype=np.int64))) % base
  x = np.concatenate([a_NL + FIRST, np.full((N, 1), GO), b_NL + FIRST, np.full((N, 1), EQ), np.full((N, L), BLANK)], 1)
  y = np.concatenate([np.full((N, 2 * L + 1), BLANK), s + FIRST], 1)
  return x, y


@functools.lru_cache(maxsize=8)
def _generate(task: str, length: int, vocab: int, n: int, data_seed: int) -> tuple[np.ndarray, ...]:
  if length < 1 or vocab < 2:
    raise ValueError(f"{task}: need length >= 1 and vocab >= 2, got length={length} vocab={vocab}")
  rng = np.random.default_rng(data_seed)
  if task == "addition":
    d = rng.integers(0, vocab, (n, 2 * length))  # vocab is the number base
    x, y = _addition(d[:, :length], d[:, length:], vocab)
  else:
    x, y = _copy_like(rng.integers(FIRST, FIRST + vocab, (n, length)), reverse=task == "reverse")
  _, first = np.unique(x, axis=0, return_index=True)
  keep = np.sort(first)  # drop duplicates, keep generation order
  answer = length + (task == "addition")  # the last `answer` positions are scored
  mask = np.zeros(x.shape, np.float32)
  mask[:, -answer:] = 1
  return x[keep].astype(np.int32), y[keep].astype(np.int32), mask[keep]


def _loader(task: str):
  def load(*, seed: int, length: int, vocab: int, n: int, data_seed: int) -> Split:
    x, y, mask = _generate(task, length, vocab, n, data_seed)
    a = {"x": x, "y": y, "mask": mask}
    info = dict(
      task="seq_labeling",
      vocab_size=FIRST + vocab,
      num_classes=FIRST + vocab,
      input_shape=x.shape[1:],
      standardize=False,
      n_unique=len(x),
      loss="per-position cross-entropy on y where mask == 1",
      source=f"{task} length={length} vocab={vocab} n={n} data_seed={data_seed}",
    )
    return Split(*(take(a, p) for p in random_split(len(x), (0.70, 0.15, 0.15), seed)), info)

  return load


for _task, _about in [
  ("copy", "recall a sequence after a GO token"),
  ("reverse", "recall it reversed"),
  ("addition", "sum of two length-digit base-vocab numbers, most significant digit first"),
]:
  register(DataSpec(_task, _loader(_task), "seq_labeling", OPTIONS, f"{_about}; x, y, mask (N, T) aligned"))
