"""Live metric writers (train/writers.py): TensorBoard event files that read back, through TensorBoard's own reader,
as the losses of the JSONL curve with the config as hyperparameters; W&B offline; `log` never changes a run id."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import tiny

from scalezoo import cli, sweep
from scalezoo.sweep import store
from scalezoo.train import config as C

ROOT = Path(__file__).resolve().parents[1]
RAW = tiny.spec(
  "writers",
  tiny.mlp_digits(
    steps=40,
    batch_size=16,
    eval_every=10,
    log=["jsonl", "tensorboard"],
    model_args={"depth": 1},
    optimizer={"name": "adam"},
  ),
  {"optimizer.lr": [3e-3, 1e-2]},
)
SPEC = tiny.toml(RAW)


def test_log_is_not_part_of_the_run_id_and_a_bad_writer_is_one_line():
  base = C.RunConfig()
  assert base.replace(log=["jsonl", "tensorboard", "wandb"]).run_id() == base.run_id()
  assert C.parse({"log": ["tensorboard"]}).log == ["tensorboard"]
  with pytest.raises(C.ConfigError, match=r"'log' must be a list of writers from jsonl, tensorboard, wandb"):
    C.parse({"log": ["tensorbord"]})


def test_a_sweep_writes_one_tensorboard_run_per_run_id_that_reads_back_as_its_curve(tmp_path, monkeypatch):
  import jax

  # the session's compile cache (tests/conftest.py), so the sweep neither compiles afresh nor resets JAX's cache
  monkeypatch.setenv("JAX_COMPILATION_CACHE_DIR", jax.config.jax_compilation_cache_dir)
  ea_mod = pytest.importorskip("tensorboard.backend.event_processing.event_accumulator")
  from tensorboard.plugins.hparams import plugin_data_pb2

  spec, out = tmp_path / "spec.toml", tmp_path / "out"
  spec.write_text(SPEC)
  assert cli.main(["sweep", str(spec), "--out", str(out), "--quiet"]) == 0
  recs = {r["run_id"]: r for r in store.read(out)}
  assert sorted(recs) == sorted(r.run_id() for r in sweep.load(spec).runs)
  assert sorted(p.name for p in (out / "tensorboard").iterdir()) == sorted(recs)
  for rid, rec in recs.items():
    ea = ea_mod.EventAccumulator(str(out / "tensorboard" / rid))
    ea.Reload()
    for tag in ("train_loss", "val_loss", "grad_norm"):
      events = ea.Scalars(tag)
      assert [e.step for e in events] == rec["curve"]["step"] == [10, 20, 30, 40]
      assert [e.value for e in events] == [float(np.float32(v)) for v in rec["curve"][tag]], (rid, tag)
    content = ea.PluginTagToContent("hparams")["_hparams_/session_start_info"]  # the run's config
    hp = plugin_data_pb2.HParamsPluginData.FromString(content).session_start_info.hparams
    assert hp["optimizer.lr"].number_value == rec["config"]["optimizer"]["lr"]
    assert hp["model"].string_value == "mlp" and hp["model_args.width"].number_value == 8


@pytest.mark.ci  # a sweep's process and wandb's own service process
def test_wandb_offline_run_per_run_id(tmp_path):
  pytest.importorskip("wandb")
  spec, out = tmp_path / "spec.toml", tmp_path / "out"
  spec.write_text(tiny.toml(tiny.merge(RAW, {"base": {"log": ["jsonl", "wandb"]}, "axes": {"optimizer.lr": [3e-3]}})))
  env = dict(os.environ, WANDB_MODE="offline", WANDB_SILENT="true", HOME=str(tmp_path))  # nothing leaves the machine
  cmd = [sys.executable, "-m", "scalezoo.cli", "sweep", str(spec), "--out", str(out), "--quiet"]
  done = subprocess.run(cmd, env=env, cwd=ROOT, capture_output=True, text=True, timeout=300)
  assert done.returncode == 0, done.stderr[-2000:]
  [rec] = store.read(out)
  [run] = list((out / "wandb").glob(f"offline-run-*-{rec['run_id']}"))
  # the run's data for `wandb sync`: wandb 0.31 ships no reader of it, but each history value is stored as its JSON
  data = (run / f"run-{rec['run_id']}.wandb").read_bytes()
  for tag in ("train_loss", "val_loss", "grad_norm"):
    assert tag.encode() in data and all(json.dumps(v).encode() in data for v in rec["curve"][tag]), tag


def test_a_writer_whose_package_is_missing_is_one_line_exit_2_and_nothing_written(tmp_path, monkeypatch, capsys):
  from scalezoo.train import writers

  monkeypatch.setitem(writers.MODULES, "tensorboard", "tensorboardX_not_installed")
  spec, out = tmp_path / "spec.toml", tmp_path / "out"
  spec.write_text(SPEC)
  assert cli.main(["sweep", str(spec), "--out", str(out), "--quiet"]) == 2
  err = capsys.readouterr().err
  assert err.count("\n") == 1 and "needs tensorboardX_not_installed, not installed" in err
  assert "pip install 'scalezoo[tensorboard]'" in err and not out.exists()
