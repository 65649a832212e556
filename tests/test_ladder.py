"""configs/ladder/gpt.toml: its sizes are what zoo.gpt_shape_for gives and span ~10M-1B non-embedding parameters,
the learning rate falls and the batch grows with size, and its tiny mode trains every size end to end on a corpus
tokenized here."""

import tomllib
from pathlib import Path

import numpy as np
import pytest
import tiny

from scalezoo import sweep, zoo
from scalezoo.data import tokenize
from scalezoo.sweep import store
from scalezoo.train.config import ConfigError

LADDER = Path(__file__).resolve().parents[1] / "configs" / "ladder" / "gpt.toml"
TARGETS = (1e7, 2.5e7, 6e7, 1.5e8, 4e8, 1e9)


def test_the_ladder_spans_10m_to_1b_with_the_lr_falling_and_the_batch_growing():
  runs = sweep.load(LADDER).runs
  assert len(runs) == len(TARGETS)
  for cfg, target in zip(runs, TARGETS):
    shape = {k: cfg.model_args[k] for k in ("d_model", "n_layers", "n_heads")}
    assert shape == zoo.gpt_shape_for(target)
    n = zoo.count_params_split("gpt", **cfg.model_args)["non_embedding"]
    assert 0.85 * target < n < 1.1 * target
    tokens = cfg.steps * cfg.batch_size * cfg.data_args["context"]
    assert abs(tokens / (20 * n) - 1) < 0.01  # Chinchilla's 20 tokens per parameter
    assert cfg.schedule.name == "cosine" and 0 < cfg.schedule.warmup < cfg.steps // 10
  lrs, batches = [r.optimizer.lr for r in runs], [r.batch_size for r in runs]
  assert all(a > b for a, b in zip(lrs, lrs[1:])) and all(a <= b for a, b in zip(batches, batches[1:]))


@pytest.mark.long  # six compiled programs, two sharded over the 4 test devices
def test_tiny_mode_trains_every_size_of_the_ladder_on_a_corpus(tmp_path):
  rng = np.random.default_rng(0)
  words = ["def", "return", "x", "y", "(", ")", ":", "+", "\n", "if"]
  (tmp_path / "src").mkdir()
  for i in range(12):
    (tmp_path / "src" / f"doc{i:02d}.txt").write_text(" ".join(rng.choice(words, 120)))
  tokenize.tokenize(tmp_path / "src", tmp_path / "tok")
  spec = sweep.load(LADDER, ["sweep.tiny=true", f"base.data_args.path={str(tmp_path / 'tok')!r}"])
  full = sweep.load(LADDER).runs
  assert [r.model_args["n_layers"] for r in spec.runs] == [r.model_args["n_layers"] for r in full]
  assert [(r.mesh, r.remat, r.optimizer.lr) for r in spec.runs] == [(r.mesh, r.remat, r.optimizer.lr) for r in full]
  counts = sweep.run(spec, tmp_path / "out", log=lambda _: None, progress=False)
  assert counts == {"finished": len(TARGETS)}
  records = store.read(tmp_path / "out")
  assert sorted(r["run_id"] for r in records) == sorted(r.run_id() for r in spec.runs)
  for r in records:
    assert r["tokens_seen"] == 4 * 8 * 16 and np.isfinite(r["metrics"]["test_loss"])
    assert r["metrics"]["test_loss"] < 1.2 * np.log(257)  # a loss near a uniform guess over the vocabulary or below


def test_tiny_is_off_by_default_and_a_bad_tiny_table_is_one_line_of_bad_input(tmp_path):
  raw = tiny.spec("t", tiny.mlp_digits(), {"seed": [0, 1]}, tiny={"steps": 3})
  (tmp_path / "s.toml").write_text(tiny.toml(raw))
  assert [r.steps for r in sweep.load(tmp_path / "s.toml").runs] == [1000, 1000]
  small = sweep.load(tmp_path / "s.toml", ["sweep.tiny=true"])
  assert [r.steps for r in small.runs] == [3, 3]
  assert sweep.parse(tomllib.loads(sweep.spec_text(small)), "again").runs == small.runs  # spec.toml reruns it
  (tmp_path / "bad.toml").write_text(tiny.toml({**raw, "tiny": {"steps": 0}}))
  with pytest.raises(ConfigError, match="'steps' must be > 0"):
    sweep.load(tmp_path / "bad.toml", ["sweep.tiny=true"])
  with pytest.raises(ConfigError, match="must be tables"):
    sweep.load(tmp_path / "s.toml", ["tiny=3"])
