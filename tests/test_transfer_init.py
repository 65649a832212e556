"""init_from: a run starts from a finished run's parameters (matching path and shape), the rest fresh."""

import json

import numpy as np
import pytest
import tiny

from scalezoo.train import config, loop
from scalezoo.train import eval as E

BASE = tiny.mlp_digits(
  data_args={"n_train": 256}, model_args={"width": 16}, steps=40, eval_every=20, checkpoint_every=40
)


def cfg(**changes):
  return config.parse({**tiny.merge(BASE, {}), **changes})


@pytest.fixture(scope="module")
def pretrained(tmp_path_factory):
  out = tmp_path_factory.mktemp("pre")
  rec = loop.fit(cfg(), out=out).record.to_dict()
  assert rec["status"] == "finished"
  return out, rec


def test_default_leaves_run_ids_unchanged():
  c = cfg()
  assert c.init_from == ""
  d = c.to_dict()
  for key in config.ADDED_LATER:  # keys added later, hashed only when set ("schedule.cooldown": inside a table)
    *parents, leaf = key.split(".")
    node = d
    for p in parents:
      node = node[p]
    del node[leaf]
  d["checkpoint_every"] = 0  # hashed at its default: it changes no number (config.NOT_IN_ID)
  import hashlib

  blob = json.dumps(d, sort_keys=True, separators=(",", ":"))
  assert c.run_id() == hashlib.sha256(blob.encode()).hexdigest()[:12]
  assert cfg(init_from="somewhere").run_id() != c.run_id()


def test_zero_steps_of_finetuning_reproduce_the_source(pretrained):
  out, rec = pretrained
  src = loop.load_init(out)
  c = cfg(init_from=str(out), checkpoint_every=0)
  split = loop.load_split(c)
  eng = loop.make_engine(c, split)
  import jax

  arrays = {k: np.asarray(v) for k, v in split.train.items()}
  state = loop.S.init_state(eng, jax.random.key(5), arrays, 1e-3)
  new, report = loop.start_from(eng, state, src, 1e-3)
  assert report["restored"] == 6 and report["fresh"] == []  # 3 dense layers: kernel + bias each
  for a, b in zip(jax.tree.leaves(new.params), jax.tree.leaves(src["params"])):
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
  ev = E.evaluate_split(eng, 1, new.params, new.model_state, E.pad_for_eval(split.test, 512))
  np.testing.assert_allclose(ev["loss"] / ev["weight"], rec["metrics"]["test_loss"], rtol=1e-5)


def test_finetuned_run_starts_where_the_source_ended(pretrained):
  out, rec = pretrained
  scratch = loop.fit(cfg(checkpoint_every=0, steps=20, seed=3)).record.to_dict()
  tuned = loop.fit(cfg(init_from=str(out), checkpoint_every=0, steps=20, seed=3)).record.to_dict()
  assert tuned["init"]["restored"] == 6 and tuned["init"]["checkpoint_step"] == 40
  assert tuned["curve"]["train_loss"][0] < scratch["curve"]["train_loss"][0]
  assert tuned["config"]["init_from"] == str(out)


def test_parameters_without_a_match_keep_their_fresh_init(pretrained):
  out, _ = pretrained  # depth 2 has dense_0, dense_1 and the head; depth 3 adds dense_2
  rec = loop.fit(
    cfg(init_from=str(out), checkpoint_every=0, steps=20, model_args={"width": 16, "depth": 3})
  ).record.to_dict()
  assert rec["status"] == "finished"
  assert rec["init"]["restored"] == 6 and rec["init"]["fresh"] == ["dense_2/bias", "dense_2/kernel"]


def test_bad_sources_are_refused(tmp_path, pretrained):
  with pytest.raises(ValueError, match="no such folder"):
    loop.fit(cfg(init_from=str(tmp_path / "missing"), checkpoint_every=0))
  (tmp_path / "empty").mkdir()
  with pytest.raises(ValueError, match="no checkpoint"):
    loop.fit(cfg(init_from=str(tmp_path / "empty"), checkpoint_every=0))
  out, _ = pretrained  # matching is by path and shape alone: of an MLP, LeNet-5 finds only the head's bias
  rec = loop.fit(
    cfg(
      init_from=str(out),
      checkpoint_every=0,
      steps=20,
      model="lenet5",
      model_args={},
      data_args={"size": 32, "n_train": 256},
    )
  ).record.to_dict()
  assert rec["init"]["restored"] == 1 and "head/bias" not in rec["init"]["fresh"]
