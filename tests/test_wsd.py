"""The wsd schedule (warmup-stable-decay, Hägele et al. 2024): its values, its bit-for-bit agreement with a longer
or constant run before the cooldown (what branches rely on), its keys' validation, and unchanged run ids."""

import json
import math
from pathlib import Path

import jax.numpy as jnp
import numpy as np
import pytest

from scalezoo.train import config, optim
from scalezoo.train.config import ConfigError, ScheduleConfig

ROOT = Path(__file__).resolve().parents[1]


def values(s: ScheduleConfig, steps: int, lr=0.1) -> np.ndarray:
  f = optim.schedule(s, steps, jnp.float32(lr))
  return np.array([float(f(t)) for t in range(steps + 1)])


def test_warmup_then_constant_then_each_cooldown_shape_to_the_end_value():
  steps, lr = 100, 0.1
  for shape, g in {
    "linear": lambda p: 1 - p,
    "cosine": lambda p: 0.5 * (1 + math.cos(math.pi * p)),
    "1-sqrt": lambda p: 1 - math.sqrt(p),
  }.items():
    s = ScheduleConfig(name="wsd", warmup=10, cooldown=0.2, cooldown_shape=shape, final_fraction=0.1)
    v = values(s, steps, lr)
    assert optim.cooldown_start(steps, 0.2) == 80
    np.testing.assert_allclose(v[:10], lr * np.arange(10) / 10, rtol=1e-6)
    assert (v[10:81] == np.float32(lr)).all()  # exactly lr from the warmup's end to the cooldown's start
    want = [lr * 0.1 + (lr - lr * 0.1) * g((t - 80) / 20) for t in range(80, 101)]
    np.testing.assert_allclose(v[80:], want, rtol=1e-5, atol=1e-8)
    assert v[100] == pytest.approx(lr * 0.1) and np.all(np.diff(v[80:]) < 0)


def test_before_its_cooldown_a_run_agrees_bit_for_bit_with_a_stable_one_of_any_length():
  base = ScheduleConfig(name="wsd", warmup=8, cooldown=0.2, cooldown_shape="1-sqrt")
  stable = values(ScheduleConfig(name="wsd", warmup=8, cooldown=0.0), 2048, 0.004)
  for steps in (256, 512, 1024, 2048):
    start = optim.cooldown_start(steps, 0.2)
    v = values(base, steps, 0.004)
    assert start == steps - round(0.2 * steps) and (v[:start] == stable[:start]).all() and v[start] == stable[start]
    assert v[start + 1] < stable[start + 1]  # the cooldown starts there


def test_cooldown_of_the_whole_run_and_none():
  assert (values(ScheduleConfig(name="wsd", cooldown=0.0), 10) == np.float32(0.1)).all()
  v = values(ScheduleConfig(name="wsd", cooldown=1.0, cooldown_shape="linear"), 10)
  np.testing.assert_allclose(v, 0.1 * (1 - np.arange(11) / 10), rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize(
  "schedule, needle",
  [
    ({"name": "wsd", "cooldown": 1.5}, "'schedule.cooldown' must be in [0, 1]"),
    ({"name": "wsd", "cooldown": -0.1}, "'schedule.cooldown' must be in [0, 1]"),
    ({"name": "wsd", "cooldown_shape": "sqrt"}, "allowed: linear, cosine, 1-sqrt"),
    ({"name": "wsdd"}, "allowed: constant, cosine, linear, step, wsd"),
  ],
)
def test_bad_wsd_keys_are_one_line_errors(schedule, needle):
  with pytest.raises(ConfigError) as e:
    config.parse({"schedule": schedule})
  assert needle in str(e.value) and "\n" not in str(e.value)


def test_the_new_keys_at_their_defaults_leave_every_committed_run_id_as_it_was():
  lines = (ROOT / "results" / "lm_scaling" / "runs.jsonl").read_text().splitlines()
  recs = [json.loads(line) for line in lines if line.strip()]
  assert len(recs) == 84 and all(config.parse(r["config"]).run_id() == r["run_id"] for r in recs)
  wsd = config.parse({"schedule": {"name": "wsd"}})
  assert wsd.run_id() != config.parse({"schedule": {"name": "wsd", "cooldown": 0.25}}).run_id()
  assert wsd.run_id() == config.parse({"schedule": {"name": "wsd", "cooldown": 0.2}}).run_id()
