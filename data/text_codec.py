"""Text in and out of a trained language model: the codec of the data it was trained on.

A byte-level data set (pycode, text: vocab 256, ids are the bytes) encodes UTF-8; a `tokens` corpus encodes with its
own tokenizer (bytes, or the BPE tokenizer.json in the corpus folder). Anything else has no text to speak of.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any


@dataclasses.dataclass(frozen=True)
class Codec:
  encode: Callable[[str], list[int]]
  decode: Callable[[list[int]], str]


def _bytes_codec() -> Codec:
  return Codec(lambda text: list(text.encode()), lambda ids: bytes(i for i in ids if i < 256).decode(errors="replace"))


def tokenizer_codec(tok) -> Codec:
  """A Hugging Face `tokenizers.Tokenizer` as a codec."""
  return Codec(lambda text: tok.encode(text).ids, lambda ids: tok.decode([int(i) for i in ids]))


def codec(data: str, data_args: dict[str, Any], data_info: dict[str, Any]) -> Codec:
  """The codec of a run's data: its config's `data`, `data_args` and its record's `data_info`."""
  if data == "tokens":
    from scalezoo.data.corpus import TOKENIZER, open_corpus

    path = data_args.get("path", "")
    with open_corpus(path) as corpus:
      kind = corpus.index["tokenizer"]["kind"]
      folder = corpus.path
    if kind == "bytes":
      return _bytes_codec()
    from tokenizers import Tokenizer

    return tokenizer_codec(Tokenizer.from_file(str(folder / TOKENIZER)))
  if data_info.get("task") == "lm" and data_info.get("vocab_size") == 256:
    return _bytes_codec()
  raise ValueError(f"data {data!r} is not text: generate reads byte-level data sets and token corpora")
