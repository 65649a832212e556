"""Evaluation's standard errors (train/eval.py): the held-out losses' val_loss_se and test_loss_se, and the warning
for a held-out set too small to trust."""

import numpy as np
import pytest
import tiny

from scalezoo.train import config, loop
from scalezoo.train import eval as E


def test_standard_error_matches_the_spread_of_the_mean_over_redrawn_sets():
  rng = np.random.default_rng(0)
  n, draws = 200, 4000
  wt = rng.integers(1, 65, size=(draws, n)).astype(float)  # examples of unequal weight (tokens scored)
  loss = wt * rng.gamma(4.0, 0.5, size=(draws, n)) + rng.normal(0, 3, size=(draws, n))
  means = loss.sum(1) / wt.sum(1)
  ses = [E.standard_error(np.stack([loss[d], wt[d], np.ones(n)]))[0] for d in range(200)]
  assert np.mean(ses) == pytest.approx(np.std(means), rel=0.08)  # the ratio estimator's error, not s/sqrt(n)
  one = np.stack([loss[0], np.ones(n), np.ones(n)])  # equal weights: the textbook s / sqrt(n)
  assert E.standard_error(one) == pytest.approx((np.std(loss[0], ddof=1) / np.sqrt(n), n), rel=1e-12)
  padded = np.concatenate([one, np.array([[0.0] * 7, [0.0] * 7, [0.0] * 7])], axis=1)  # pad_for_eval's zeros
  assert E.standard_error(padded) == E.standard_error(one)
  se, k = E.standard_error(one[:, :1])
  assert np.isnan(se) and k == 1


TINY = tiny.mlp_digits(data_args={"n_train": 512}, model_args={"width": 16}, steps=40, eval_every=20)


def test_records_carry_held_out_standard_errors_equal_in_a_group_and_alone():
  cfgs = [config.parse(tiny.merge(TINY, {"seed": s})) for s in (0, 1)]
  together = loop.fit_group(cfgs).records
  for cfg, t in zip(cfgs, together):
    a = loop.fit(cfg).record
    for k in ("val_loss_se", "test_loss_se"):
      assert 0 < t.metrics[k] < 0.2 * t.metrics[k.removesuffix("_se")]
      assert t.metrics[k] == pytest.approx(a.metrics[k], rel=1e-5)  # each run its own examples, not the group's
    assert t.warnings == [] and "warnings" not in t.to_dict()  # digits holds out 270 examples a split
  assert together[0].metrics["test_loss_se"] != together[1].metrics["test_loss_se"]


def test_a_small_held_out_set_is_named_once_in_the_record():
  rec = loop.fit(config.parse(tiny.merge(TINY, {"eval_examples": 40}))).record
  assert len(rec.warnings) == 2 and rec.to_dict()["warnings"] == rec.warnings
  assert rec.warnings[0].startswith(f"val: 40 held-out examples (windows), fewer than {E.MIN_HELD_OUT}")
  assert rec.warnings[1].startswith("test: 40 held-out examples")
  assert np.isfinite(rec.metrics["val_loss_se"])


def test_a_language_models_record_has_the_se_in_bits_and_names_its_few_windows(tmp_path):
  from scalezoo.data import tokenize

  rng = np.random.default_rng(0)
  (tmp_path / "src").mkdir()
  for i in range(40):
    (tmp_path / "src" / f"doc{i:02d}.txt").write_text(" ".join(rng.choice(["def", "x", "(", ")", "\n"], 200)))
  tokenize.tokenize(tmp_path / "src", tmp_path / "tok")
  raw = {
    "model": "gpt", "data": "tokens", "steps": 4, "batch_size": 8, "eval_every": 2, "eval_examples": 16,
    "model_args": {"d_model": 32, "n_layers": 1, "n_heads": 2, "context": 16},
    "data_args": {"path": str(tmp_path / "tok"), "context": 16, "eval_windows": 32},
  }  # fmt: skip
  m = (rec := loop.fit(config.parse(raw)).record).metrics
  for split in ("val", "test"):
    assert m[f"{split}_bits_per_byte_se"] == pytest.approx(m[f"{split}_loss_se"] / np.log(2), rel=1e-12)
    assert 0 < m[f"{split}_loss_se"] < 0.1 * m[f"{split}_loss"]
  assert [w.split(":")[0] for w in rec.warnings] == ["val", "test"]  # eval_examples 16: the windows measured
  assert all("16 held-out examples (windows), fewer than 100" in w for w in rec.warnings)
