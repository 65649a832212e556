"""A toy translation task: sentences of a small SVO grammar into an SOV language with its own words.

Source: NP verb NP [prep NP], NP = det adj{0..max_adj} noun. Target: a fixed random word-for-word lexicon (from
data_seed), nouns before their adjectives (whose order flips), the verb moved to the end of its clause, and a verb
suffix that agrees with the subject noun's gender (noun id parity): reordering, agreement and a 1->2 word mapping.
Ids: 0 pad, 1 BOS, 2 EOS in both vocabularies. x: source + EOS; y_in: BOS + target; y: target + EOS; all padded
with 0 (loss: token cross-entropy on y where y != 0).
"""

from __future__ import annotations

import functools

import numpy as np

from scalezoo.data.base import DataSpec, Split, random_split, register, take

PAD, BOS, EOS = 0, 1, 2
CLASSES = ("det", "adj", "noun", "verb", "prep")
OPTIONS = {"n": 10000, "words": 8, "max_adj": 2, "data_seed": 0}


def _lexicon(words: int, rng: np.random.Generator) -> tuple[dict, dict, tuple[int, int], int]:
  """Source ids per word class, their translations (a random permutation), the two suffix ids, the source vocab."""
  src, tgt, nxt = {}, {}, 3
  for c in CLASSES:
    src[c] = np.arange(nxt, nxt + words)
    nxt += words
  perm = rng.permutation(len(CLASSES) * words) + 3
  for i, c in enumerate(CLASSES):
    tgt[c] = perm[i * words : (i + 1) * words]
  suffix = (3 + len(CLASSES) * words, 4 + len(CLASSES) * words)
  return src, tgt, suffix, nxt


def _noun_phrase(rng, src, tgt, max_adj) -> tuple[list[int], list[int], int]:
  det, noun = rng.integers(len(src["det"])), rng.integers(len(src["noun"]))
  adj = rng.integers(len(src["adj"]), size=rng.integers(0, max_adj + 1))
  s = [src["det"][det], *src["adj"][adj], src["noun"][noun]]
  t = [tgt["det"][det], tgt["noun"][noun], *tgt["adj"][adj[::-1]]]
  return s, t, int(noun % 2)


@functools.lru_cache(maxsize=4)
def _generate(n: int, words: int, max_adj: int, data_seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict]:
  rng = np.random.default_rng(data_seed)
  src, tgt, suffix, src_vocab = _lexicon(words, rng)
  pairs = set()
  rows: list[tuple[list[int], list[int]]] = []
  for _ in range(n):
    (s1, t1, g), (s2, t2, _) = (_noun_phrase(rng, src, tgt, max_adj) for _ in range(2))
    v = rng.integers(words)
    s, t = [*s1, src["verb"][v], *s2], [*t1, *t2, tgt["verb"][v], suffix[g]]
    if rng.random() < 0.3:
      p, (s3, t3, _) = rng.integers(words), _noun_phrase(rng, src, tgt, max_adj)
      s, t = [*s, src["prep"][p], *s3], [*t, *t3, tgt["prep"][p]]  # postposition: after its noun phrase
    if tuple(s) not in pairs:  # drop repeats, so a test sentence is never a training sentence
      pairs.add(tuple(s))
      rows.append((s, t))
  Ls, Lt = max(len(s) for s, _ in rows) + 1, max(len(t) for _, t in rows) + 1
  x, y_in, y = (np.zeros((len(rows), L), np.int32) for L in (Ls, Lt, Lt))
  for i, (s, t) in enumerate(rows):
    x[i, : len(s) + 1] = [*s, EOS]
    y_in[i, : len(t) + 1] = [BOS, *t]
    y[i, : len(t) + 1] = [*t, EOS]
  sizes = {"src_vocab_size": src_vocab, "tgt_vocab_size": suffix[1] + 1}
  return x, y_in, y, sizes


def load(*, seed: int, n: int, words: int, max_adj: int, data_seed: int) -> Split:
  x, y_in, y, sizes = _generate(n, words, max_adj, data_seed)
  a = {"x": x, "y_in": y_in, "y": y}
  info = dict(
    task="seq2seq",
    vocab_size=max(sizes.values()),
    **sizes,
    pad_id=PAD,
    bos_id=BOS,
    eos_id=EOS,
    input_shape=x.shape[1:],
    target_shape=y.shape[1:],
    standardize=False,
    n_unique=len(x),
    loss="token cross-entropy on y where y != pad_id",
    source=f"SVO->SOV toy grammar words={words} max_adj={max_adj} n={n} data_seed={data_seed}",
  )
  return Split(*(take(a, p) for p in random_split(len(x), (0.70, 0.15, 0.15), seed)), info)


register(
  DataSpec(
    "seq2seq",
    load,
    "seq2seq",
    OPTIONS,
    "toy translation: SVO grammar -> SOV with lexicon, "
    "adjective reordering and verb agreement; x (N, Ls), y_in/y (N, Lt), pad 0, BOS 1, EOS 2",
  )
)
