"""Training on a token corpus streamed from disk: D is tokens seen, a resumed run reads what an uninterrupted one
does (bit for bit), a mesh run equals one device, vmapped seeds read their own orders."""

import numpy as np
import pytest

from scalezoo.data import tokenize
from scalezoo.train import config, loop


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
  d = tmp_path_factory.mktemp("corpus")
  rng = np.random.default_rng(0)
  words = ["alpha", "beta", "gamma", "delta", "def", "return", "(", ")", ":", "\n"]
  for i in range(40):
    (d / "src").mkdir(exist_ok=True)
    (d / "src" / f"doc{i:02d}.txt").write_text(" ".join(rng.choice(words, 200)))
  tokenize.tokenize(d / "src", d / "tok")
  return d / "tok"


def run_cfg(corpus, **changes):
  raw = {
    "model": "gpt",
    "data": "tokens",
    "steps": 6,
    "batch_size": 8,
    "eval_every": 2,
    "eval_examples": 16,
    "model_args": {"d_model": 32, "n_layers": 1, "n_heads": 2, "context": 16},
    "data_args": {"path": str(corpus), "context": 16, "eval_windows": 32},
  }
  return config.parse({**raw, **changes})


class Stop(Exception):
  pass


def test_a_resumed_run_on_a_corpus_ends_bit_for_bit_where_an_uninterrupted_one_does(corpus, tmp_path):
  cfg = run_cfg(corpus, checkpoint_every=2)
  want = loop.fit(cfg, out=tmp_path / "a").record

  def stop_at_4(done, total, msg):
    if done == 4:  # after the checkpoint at step 2, before the one at 4
      raise Stop

  with pytest.raises(Stop):
    loop.fit(cfg, out=tmp_path / "b", progress=stop_at_4)
  got = loop.fit(cfg, out=tmp_path / "b").record
  assert got.curve == want.curve and got.metrics == want.metrics
  assert got.tokens_seen == 6 * 8 * 16 and got.examples_seen == 48
  assert np.isfinite(got.metrics["test_loss"]) and got.metrics["test_loss"] < want.curve["train_loss"][0]


@pytest.mark.long  # five runs, one on a 2 x 2 mesh
def test_a_mesh_run_on_a_corpus_equals_one_device_and_group_members_read_their_own_order(corpus):
  one = loop.fit(run_cfg(corpus)).record
  sharded = loop.fit(run_cfg(corpus, mesh={"data": 2, "fsdp": 2})).record
  np.testing.assert_allclose(sharded.curve["train_loss"], one.curve["train_loss"], rtol=1e-5)
  np.testing.assert_allclose(sharded.metrics["test_loss"], one.metrics["test_loss"], rtol=1e-5)
  group = loop.fit_group([run_cfg(corpus), run_cfg(corpus, seed=1)]).records
  np.testing.assert_allclose(group[0].curve["train_loss"], one.curve["train_loss"], rtol=1e-5)
  alone = loop.fit(run_cfg(corpus, seed=1)).record
  np.testing.assert_allclose(group[1].curve["train_loss"], alone.curve["train_loss"], rtol=1e-5)
  assert group[1].curve["train_loss"] != group[0].curve["train_loss"]


def test_a_bpe_corpus_reports_bits_per_token_and_true_bits_per_byte(corpus, tmp_path):
  """On BPE tokens, loss / ln 2 is bits per *token*; bits per byte divides the summed nats by the bytes of text the
  evaluated targets stand for (here counted by decoding them), the measure that compares across tokenizers."""
  import math

  from scalezoo import data
  from scalezoo.data.corpus import open_corpus
  from scalezoo.train import eval as E

  bpe = tmp_path / "bpe"
  tokenize.tokenize(corpus.parent / "src", bpe, tokenizer="bpe", vocab=300)
  cfg = run_cfg(bpe)
  rec = loop.fit(cfg).record
  m = rec.metrics
  assert m["test_bits_per_token"] == pytest.approx(m["test_loss"] / math.log(2), rel=1e-12)
  split = data.load("tokens", seed=cfg.data_seed, **cfg.data_args)
  with open_corpus(bpe) as c:
    test = E.eval_subset(split.test, cfg.eval_examples)
    text_bytes = sum(len(c.decode(row.tolist()).encode()) for row in test["y"])  # ASCII text: a char is a byte
  n_tokens = test["y"].size
  assert m["test_bits_per_byte"] == pytest.approx(m["test_loss"] * n_tokens / math.log(2) / text_bytes, rel=1e-6)
  assert text_bytes > 1.5 * n_tokens  # merges: a token stands for more than a byte, so the two measures differ
  assert m["test_bits_per_byte"] < m["test_bits_per_token"] / 1.5


def test_a_byte_corpus_reports_bits_per_byte_as_before(corpus):
  """The byte tokenizer's ids are bytes: bits per byte is loss / ln 2, and no bits per token is claimed."""
  import math

  m = loop.fit(run_cfg(corpus, steps=2)).record.metrics
  assert m["test_bits_per_byte"] == m["test_loss"] / math.log(2) and "test_bits_per_token" not in m
