"""MFU (FLOPs per second per device against the device's peak) in every run record and the progress line; the
record's wall time by what it went to."""

import types

import pytest

from scalezoo.train import config, loop, mfu


def test_utilisation_is_flops_over_time_over_devices_over_peak():
  tpu = types.SimpleNamespace(platform="tpu", device_kind="TPU v5 lite")
  got = mfu.utilisation(1e15, 2.0, 16, 1, tpu)
  assert got["peak_flops"] == 197e12 and got["model_flops_per_device"] == pytest.approx(1e15 / 2 / 16)
  assert got["mfu"] == pytest.approx(1e15 / 2 / 16 / 197e12)
  assert mfu.utilisation(1e15, 2.0, 16, 4, tpu)["mfu"] == pytest.approx(4 * got["mfu"])  # 4 vmapped runs a step
  h100 = types.SimpleNamespace(platform="gpu", device_kind="NVIDIA H100 80GB HBM3")
  assert mfu.peak(h100) == 989e12
  assert mfu.utilisation(None, 2.0, 1, 1, h100)["mfu"] is None


def test_a_cpu_runs_record_and_progress_carry_its_mfu():
  cfg = config.parse(
    {"model": "mlp", "data": "mnist1d", "steps": 40, "eval_every": 10, "batch_size": 32, "model_args": {"width": 16}}
  )
  said = []
  rec = loop.fit(cfg, progress=lambda done, steps, msg: said.append(msg)).record
  assert rec.peak_flops == mfu.cpu_peak() > 1e8  # measured: any CPU of this decade does 0.1 GFLOP/s
  assert rec.model_flops_per_device == pytest.approx(rec.flops_per_step / rec.step_time)
  assert 0 < rec.mfu < 1.5 and rec.mfu == pytest.approx(rec.model_flops_per_device / rec.peak_flops)
  assert "MFU" in said[-1] and "GFLOP/s/device" in said[-1]
  t = rec.time_breakdown
  assert set(t) == {"compile", "steps", "data", "eval", "checkpoint", "other"} and min(t.values()) >= 0
  assert t["compile"] == rec.compile_time and t["steps"] == pytest.approx(rec.step_time * 30)  # 3 timed chunks of 10
  assert t["eval"] > 0 and sum(t.values()) == pytest.approx(rec.wall_time)


def test_plan_takes_a_measured_mfu_from_a_run_folder(tmp_path, capsys):
  import json
  from pathlib import Path

  from scalezoo import cli

  ladder = str(Path(__file__).resolve().parents[1] / "configs" / "ladder" / "gpt.toml")
  (tmp_path / "record.json").write_text(json.dumps({"mfu": 0.25}))
  assert cli.main(["plan", ladder, "--chip", "v5e", "--chips", "16", "--mfu", str(tmp_path)]) == 0
  assert "at MFU 0.25" in capsys.readouterr().out
  (tmp_path / "record.json").write_text(json.dumps({"mfu": None}))
  assert cli.main(["plan", ladder, "--mfu", str(tmp_path)]) == 2
  assert "no measured mfu" in capsys.readouterr().err
