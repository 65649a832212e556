"""The training engine: exact, resumable, vmappable, shardable, and honest about divergence."""

import functools
import json
import os
import re
import signal
import subprocess
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
import tiny

from scalezoo.data import order
from scalezoo.train import config, loop
from scalezoo.train import step as S

TINY = tiny.mlp_digits(data_args={"n_train": 512}, model_args={"width": 32}, steps=60, eval_every=20)


def fit(cfg, **kw) -> dict:
  return loop.fit(cfg, **kw).record.to_dict()


def fit_group(cfgs) -> list[dict]:
  return [r.to_dict() for r in loop.fit_group(cfgs).records]


def parsed(**changes):
  return config.parse(tiny.merge(TINY, changes))


def test_same_config_same_numbers_bit_for_bit():
  a, b = fit(parsed()), fit(parsed())
  assert a["metrics"] == b["metrics"]
  assert a["curve"]["train_loss"] == b["curve"]["train_loss"]
  c = fit(parsed(seed=1))
  assert c["metrics"]["test_loss"] != a["metrics"]["test_loss"]


def test_vmap_of_seeds_and_lrs_equals_single_runs():
  cfgs = [parsed(seed=s, optimizer={"lr": lr}) for s, lr in [(1, 1e-3), (2, 3e-3)]]
  together = fit_group(cfgs)
  alone = [fit(c) for c in cfgs]
  for t, a in zip(together, alone):
    assert t["group_size"] == 2 and a["group_size"] == 1
    np.testing.assert_allclose(t["curve"]["train_loss"], a["curve"]["train_loss"], rtol=1e-5)
    np.testing.assert_allclose(t["metrics"]["test_loss"], a["metrics"]["test_loss"], rtol=1e-5)


def test_group_rejects_runs_of_different_shapes():
  with pytest.raises(ValueError, match="differ only in seed"):
    loop.fit_group([parsed(), parsed(model_args={"width": 16})])


def test_scan_fused_steps_equal_plain_steps():
  cfg = parsed()
  split = loop.load_split(cfg)
  eng = loop.make_engine(cfg, split)
  arrays = {k: jnp.asarray(v) for k, v in split.train.items()}
  key = jax.random.key(1)
  state0 = S.init_state(eng, jax.random.key(0), arrays, 1e-3)
  fused, m = S.train_chunk(eng, state0, arrays, 1e-3, key, length=25)
  idx = order.batch_indices(jax.random.split(key, 3)[0], jnp.int32(0), 25, eng.n_train, eng.batch_size)
  step = jax.jit(functools.partial(S.train_step, eng))
  state, losses = state0, []
  for i in range(25):
    state, mi = step(state, S.gather(arrays, idx[i]), 1e-3, key)
    losses.append(float(mi["loss"]))
  np.testing.assert_allclose(np.asarray(m["loss"]), losses, rtol=1e-5, atol=1e-6)
  for a, b in zip(jax.tree.leaves(fused.params), jax.tree.leaves(state.params)):
    np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)


def test_data_order_is_epoch_permutations():
  idx = np.asarray(order.batch_indices(jax.random.key(0), jnp.int32(0), 8, 32, 8))  # 4 steps an epoch
  assert sorted(idx[:4].ravel()) == list(range(32)) and sorted(idx[4:].ravel()) == list(range(32))
  assert not np.array_equal(idx[:4], idx[4:])
  later = np.asarray(order.batch_indices(jax.random.key(0), jnp.int32(3), 3, 32, 8))  # the same steps from step 3
  np.testing.assert_array_equal(later, idx[3:6])


def test_permutation_is_jax_random_permutation_bit_for_bit():
  # committed runs' data order depends on it; 300k examples have 32-bit key collisions (ties go by position)
  perm = jax.jit(order.permutation, static_argnums=1)
  for n in (1, 2, 7, 1000, 7000, 300_000):
    for key in (jax.random.key(n), jax.random.PRNGKey(n + 1)):
      np.testing.assert_array_equal(perm(key, n), jax.random.permutation(key, n))
  keys = jax.random.split(jax.random.key(0), 4)
  np.testing.assert_array_equal(
    jax.vmap(lambda k: order.permutation(k, 500))(keys), jax.vmap(lambda k: jax.random.permutation(k, 500))(keys)
  )
  assert not jax.config.jax_enable_x64


@pytest.mark.parametrize("name", ["sgd", "adam", "adamw", "rmsprop", "adagrad", "lion"])
def test_each_optimizer_decreases_the_loss(name):
  lr = {"sgd": 0.1, "adagrad": 0.05, "lion": 2e-3}.get(name, 3e-3)
  r = fit(parsed(optimizer={"name": name, "lr": lr, "momentum": 0.9 if name == "sgd" else 0.0}))
  c = r["curve"]["train_loss"]
  assert r["status"] == "finished" and c[-1] < 0.7 * c[0], c


@pytest.mark.parametrize(
  "schedule",
  [
    {"name": "cosine", "warmup": 10},
    {"name": "linear", "warmup": 5},
    {"name": "step", "step_every": 20, "step_factor": 0.5},
    {"name": "constant", "plateau_patience": 5},
  ],
)
def test_each_schedule_decreases_the_loss(schedule):
  r = fit(parsed(schedule=schedule, optimizer={"lr": 1e-2}))
  c = r["curve"]["train_loss"]
  assert r["status"] == "finished" and c[-1] < 0.7 * c[0], c


def test_schedules_have_the_shape_they_claim():
  from scalezoo.train import optim
  from scalezoo.train.config import ScheduleConfig

  cos = optim.schedule(ScheduleConfig(name="cosine", warmup=10), 110, 1.0)
  assert float(cos(0)) == 0.0 and float(cos(10)) == pytest.approx(1.0) and float(cos(110)) == pytest.approx(0.0)
  step = optim.schedule(ScheduleConfig(name="step", step_every=5, step_factor=0.1), 100, 1.0)
  assert float(step(4)) == pytest.approx(1.0) and float(step(5)) == pytest.approx(0.1)


def applied_lrs(cfg, steps: int) -> tuple[list[float], list[float]]:
  """The learning rate each of the engine's train steps applied, and each step's loss: under plain SGD (no momentum,
  decay or clipping) a step moves the parameters by lr_t * |grad|."""
  split = loop.load_split(cfg)
  eng = loop.make_engine(cfg, split)
  arrays = {k: jnp.asarray(v) for k, v in split.train.items()}
  lr, key = cfg.optimizer.lr, jax.random.key(1)
  state = S.init_state(eng, jax.random.key(0), arrays, lr)
  idx = order.batch_indices(jax.random.split(key, 3)[0], jnp.int32(0), steps, eng.n_train, eng.batch_size)
  step = jax.jit(functools.partial(S.train_step, eng))
  lrs, losses = [], []
  for i in range(steps):
    new, m = step(state, S.gather(arrays, idx[i]), lr, key)
    moved = optax.global_norm(jax.tree.map(jnp.subtract, new.params, state.params))
    lrs.append(float(moved / m["grad_norm"]))
    losses.append(float(m["loss"]))
    state = new
  return lrs, losses


def test_the_step_schedule_is_the_lr_the_train_steps_apply():
  cfg = parsed(optimizer={"name": "sgd", "lr": 0.1}, schedule={"name": "step", "step_every": 4, "step_factor": 0.5})
  lrs, _ = applied_lrs(cfg, 10)
  np.testing.assert_allclose(lrs, [0.1] * 4 + [0.05] * 4 + [0.025] * 2, rtol=1e-3)


def test_the_plateau_schedule_cuts_the_lr_the_train_steps_apply():
  """After plateau_patience steps without a better training loss (by optax's default relative 1e-4) the lr is
  multiplied by plateau_factor, from the step that saw the last of them on."""
  cfg = parsed(optimizer={"name": "sgd", "lr": 0.1}, schedule={"plateau_patience": 2, "plateau_factor": 0.5})
  lrs, losses = applied_lrs(cfg, 12)
  best, waited, scale, want = np.inf, 0, 1.0, []
  for loss in losses:
    best, waited = (loss, 0) if loss < best * (1 - 1e-4) else (best, waited + 1)
    if waited >= 2:
      scale, waited = scale * 0.5, 0
    want.append(0.1 * scale)
  assert want[-1] <= 0.1 / 4, want  # cut at least twice: the check below sees the rule at work
  np.testing.assert_allclose(lrs, want, rtol=1e-3)


def test_divergence_is_recorded_not_raised():
  r = fit(parsed(optimizer={"name": "sgd", "lr": 1e4}))
  assert r["status"] == "diverged" and 1 <= r["diverged_step"] <= 60
  assert np.isnan(r["metrics"]["test_loss"])


def test_one_run_of_a_group_diverging_leaves_the_others_alone():
  good, bad = parsed(optimizer={"name": "sgd", "lr": 0.1}), parsed(optimizer={"name": "sgd", "lr": 1e4})
  rg, rb = fit_group([good, bad])
  assert rg["status"] == "finished" and rb["status"] == "diverged"
  np.testing.assert_allclose(rg["metrics"]["test_loss"], fit(good)["metrics"]["test_loss"], rtol=1e-5)


def test_early_stopping_keeps_the_best_checkpoint():
  r = fit(
    parsed(
      steps=400,
      eval_every=10,
      early_stopping_patience=2,
      data_args={"n_train": 64},
      model_args={"width": 256},
      optimizer={"lr": 1e-2},
    )
  )
  assert r["stopped_step"] is not None and r["stopped_step"] < 400
  assert r["metrics"]["val_loss"] == pytest.approx(min(r["curve"]["val_loss"]), rel=1e-5)


def test_record_counts_flops_and_examples():
  r = fit(parsed())
  assert r["params"] == 64 * 32 + 32 + 32 * 32 + 32 + 32 * 10 + 10
  assert r["flops_per_step"] > 3 * 2 * 32 * r["params"] * 0.8  # forward + backward ~ 6 N per example
  assert r["flops_total"] == pytest.approx(60 * r["flops_per_step"])
  assert r["examples_seen"] == 60 * 32 and r["curve"]["step"] == [20, 40, 60]
  assert r["curve"]["val_accuracy"][-1] == pytest.approx(r["metrics"]["val_accuracy"])  # no early stop: same state
  assert 0.0 <= r["metrics"]["test_accuracy"] <= 1.0 and len(r["metrics"]["test_per_class_error"]) == 10


def test_four_devices_match_one():
  assert len(jax.devices()) == 4
  one, four = fit(parsed()), fit(parsed(devices=4))
  np.testing.assert_allclose(four["metrics"]["test_loss"], one["metrics"]["test_loss"], atol=1e-4)
  np.testing.assert_allclose(four["curve"]["train_loss"], one["curve"]["train_loss"], atol=1e-4)


def test_bf16_compute_trains():
  r = fit(parsed(precision="bf16", optimizer={"lr": 3e-3}))
  c = r["curve"]["train_loss"]
  assert r["status"] == "finished" and c[-1] < 0.7 * c[0]


@pytest.mark.parametrize("precision, dtype", [("f32", "f32"), ("bf16", "bf16")])
def test_the_train_steps_matmuls_run_in_the_configured_precision(precision, dtype):
  """Every matmul of the lowered train step (forward and backward) takes and gives `dtype`; the parameters the step
  returns stay f32 (bf16 compute, f32 master weights)."""
  cfg = parsed(precision=precision)
  split = loop.load_split(cfg)
  eng = loop.make_engine(cfg, split)
  arrays = {k: jnp.asarray(v) for k, v in split.train.items()}
  state = S.init_state(eng, jax.random.key(0), arrays, 1e-3)
  batch = S.gather(arrays, jnp.arange(eng.batch_size))
  step = jax.jit(functools.partial(S.train_step, eng))
  text = step.lower(state, batch, 1e-3, jax.random.key(1)).as_text()
  dots = [line.split(" : ")[-1] for line in text.splitlines() if "dot_general" in line]
  assert len(dots) >= 6, text  # three layers, forward and backward
  assert {t for d in dots for t in re.findall(r"tensor<(?:\d+x)*(\w+)>", d)} == {dtype}, dots
  new, _ = step(state, batch, 1e-3, jax.random.key(1))
  assert {a.dtype for a in jax.tree.leaves(new.params)} == {jnp.dtype("float32")}


def test_bf16_reaches_the_matmuls_of_a_model_with_a_compute_dtype():
  """gpt's layers compute in their `dtype` (f32 by default): precision = "bf16" sets it, else flax would promote the
  bf16 parameters back to f32 and the step would run (and compile for a TPU) in f32."""
  cfg = config.parse(
    dict(model="gpt", data="pycode", steps=1, batch_size=2, eval_examples=4, data_args={"context": 8},
         model_args={"context": 8, "d_model": 16, "n_layers": 1, "n_heads": 2}, precision="bf16")
  )  # fmt: skip
  split = loop.load_split(cfg)
  eng = loop.make_engine(cfg, split)
  assert eng.model.dtype == jnp.bfloat16
  arrays = {k: jnp.asarray(v) for k, v in split.train.items()}
  state = S.init_state(eng, jax.random.key(0), arrays, 1e-3)
  batch = S.gather(arrays, jnp.arange(eng.batch_size))
  text = jax.jit(functools.partial(S.train_step, eng)).lower(state, batch, 1e-3, jax.random.key(1)).as_text()
  dots = [line.split(" : ")[-1] for line in text.splitlines() if "dot_general" in line]
  kinds = [set(re.findall(r"tensor<(?:\d+x)*(\w+)>", d)) for d in dots]
  assert dots and sum(k == {"bf16"} for k in kinds) >= 0.8 * len(kinds), dots  # attention logits may be f32


@pytest.mark.ci  # kills a training process
def test_resume_after_sigkill_equals_uninterrupted(tmp_path):
  cfg_path = tmp_path / "run.toml"
  cfg_path.write_text(tiny.toml(tiny.merge(TINY, {"steps": 2000, "eval_every": 100, "checkpoint_every": 100})))
  cmd = [sys.executable, "-m", "scalezoo.cli", "train", str(cfg_path), "--out", str(tmp_path / "a"), "--quiet"]
  env = {**os.environ, "XLA_FLAGS": ""}
  p = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
  ckpts = tmp_path / "a" / "checkpoints"
  saved = lambda: sorted(int(d.name) for d in ckpts.glob("*/*") if d.name.isdigit())
  deadline = time.monotonic() + 120
  while p.poll() is None and time.monotonic() < deadline and len(saved()) < 2:  # wait for the second checkpoint
    time.sleep(0.02)
  assert p.poll() is None, "the run ended before it could be killed"
  p.send_signal(signal.SIGKILL)
  p.wait()
  steps = saved()
  assert len(steps) >= 2 and steps[-1] < 2000, f"killed with checkpoints at {steps}: not mid-run"
  assert not (tmp_path / "a" / "record.json").exists()
  subprocess.run(cmd, env=env, check=True, capture_output=True)
  subprocess.run([*cmd[:-3], "--out", str(tmp_path / "b"), "--quiet"], env=env, check=True, capture_output=True)
  ra = json.loads((tmp_path / "a" / "record.json").read_text())
  rb = json.loads((tmp_path / "b" / "record.json").read_text())
  assert ra["metrics"] == rb["metrics"]
  assert ra["curve"]["train_loss"] == rb["curve"]["train_loss"]


def test_sequence_accuracy_counts_only_scored_positions():
  from scalezoo.train.tasks import get

  task = get("seq_labeling")
  y = jnp.asarray([[1, 2, 3, 4]])
  mask = jnp.asarray([[0.0, 0.0, 1.0, 1.0]])
  logits = jax.nn.one_hot(jnp.asarray([[0, 0, 3, 4]]), 5)  # wrong only where nothing is scored
  s = task.stats(logits, {"y": y, "mask": mask}, jnp.ones(1), 5)
  assert task.finish(jax.tree.map(np.asarray, s))["accuracy"] == 1.0


def test_z_loss_is_a_run_option_of_language_models_that_changes_training_not_the_reported_loss():
  """z_loss in a run config reaches the LM task's training loss (the run trains differently) while the record's
  losses stay cross-entropy; on another task it is bad input; at its default the run id is the one it always was."""
  import dataclasses

  base = dict(model="gpt", data="pycode", steps=4, batch_size=4, eval_examples=8, data_args={"context": 16},
              model_args={"d_model": 16, "n_layers": 1, "n_heads": 2, "context": 16})  # fmt: skip
  plain, z = config.parse(base), config.parse({**base, "z_loss": 0.5})
  assert plain.run_id() == config.parse({**base, "z_loss": 0.0}).run_id() != z.run_id()
  a, b = loop.fit(plain).record, loop.fit(z).record
  assert a.curve["train_loss"] != b.curve["train_loss"]
  eng = loop.make_engine(z, loop.load_split(z))
  assert (
    eng.task.penalty is not None
    and dataclasses.replace(eng.task, penalty=None) == loop.make_engine(plain, loop.load_split(plain)).task
  )
  bad = config.parse({**tiny.mlp_digits(), "z_loss": 0.1})
  with pytest.raises(config.ConfigError, match="z_loss"):
    loop.make_engine(bad, loop.load_split(bad))
