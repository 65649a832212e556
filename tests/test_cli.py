"""The scalezoo command: bad input exits 2 with one line and writes nothing; train and export work end to end."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import tiny

from scalezoo.cli import main

GOOD = tiny.toml(tiny.mlp_digits(steps=40, model_args={"width": 16}))


@pytest.mark.parametrize(
  "text, needle",
  [
    ("model = ", "not valid TOML"),
    ('model = "resnet9000"', "unknown model 'resnet9000'"),
    ('data = "imagenet"', "unknown data set 'imagenet'"),
    ("stpes = 10", "unknown key 'stpes'"),
    ('steps = "ten"', "'steps' must be int"),
    ("steps = -5", "'steps' must be > 0"),
    ('[optimizer]\nname = "adamax"', "'optimizer.name' is 'adamax'; allowed: sgd, adam"),
    ("[model_args]\nwidth = 1.5", "option 'width' must be int"),
    ("[data_args]\nnoise = 2.0", "'data_args.noise' must be a fraction"),
    ('data = "npz"\n[data_args]\npath = "/nonexistent.npz"', "/nonexistent.npz"),
  ],
)
def test_bad_config_exits_2_with_one_line_and_writes_nothing(tmp_path, capsys, text, needle):
  cfg = tmp_path / "bad.toml"
  cfg.write_text(text)
  out = tmp_path / "out"
  assert main(["train", str(cfg), "--out", str(out)]) == 2
  err = capsys.readouterr().err.strip()
  assert needle in err and "\n" not in err and "Traceback" not in err
  assert str(cfg) in err or "data" in err
  assert not out.exists()


def test_missing_config_file(tmp_path, capsys):
  assert main(["train", str(tmp_path / "nope.toml"), "--out", str(tmp_path / "o")]) == 2
  assert "no such file" in capsys.readouterr().err


def test_bad_set_override(tmp_path, capsys):
  cfg = tmp_path / "c.toml"
  cfg.write_text(GOOD)
  assert main(["train", str(cfg), "--set", "optimizer.lr=-1", "--out", str(tmp_path / "o")]) == 2
  assert "'optimizer.lr' must be > 0" in capsys.readouterr().err


def test_models_lists_the_zoo(capsys):
  assert main(["models", "--family", "mlp"]) == 0
  out = capsys.readouterr().out
  assert "mlp" in out and "78,858" in out


def test_fit_on_a_folder_without_runs_is_usage_error(tmp_path, capsys):
  assert main(["fit", str(tmp_path)]) == 2
  assert "no runs.jsonl" in capsys.readouterr().err


def test_train_writes_record_and_curve_and_an_export_a_fresh_process_runs(tmp_path, capsys):
  cfg = tmp_path / "c.toml"
  cfg.write_text(GOOD)
  out = tmp_path / "run"
  assert main(["train", str(cfg), "--out", str(out), "--export", str(tmp_path / "m.jaxexport"), "--quiet"]) == 0
  rec = json.loads((out / "record.json").read_text())
  assert rec["status"] == "finished" and rec["config"]["steps"] == 40
  assert (out / "curve.csv").read_text().startswith("step,examples,flops,train_loss,val_loss,grad_norm")
  x = np.random.default_rng(0).random((3, 64), dtype=np.float32)
  np.save(tmp_path / "x.npy", x)
  code = (
    "import sys, numpy as np; from jax import export; "
    "f = export.deserialize(bytearray(open(sys.argv[1], 'rb').read())).call; "
    "print(np.asarray(f(np.load(sys.argv[2]))).shape)"
  )
  env = {**os.environ, "XLA_FLAGS": ""}
  res = subprocess.run(
    [sys.executable, "-c", code, str(tmp_path / "m.jaxexport"), str(tmp_path / "x.npy")],
    capture_output=True,
    text=True,
    env=env,
    cwd=tmp_path,
    check=True,
  )
  assert res.stdout.strip() == "(3, 10)"


def test_bench_rejects_an_unknown_row(capsys, tmp_path):
  out = tmp_path / "bench.json"
  assert main(["bench", "--rows", "chinchilla_fit,gpt_small", "--json", str(out)]) == 2
  err = capsys.readouterr().err
  assert "'gpt_small'" in err and "chinchilla_fit" in err and "Traceback" not in err
  assert not out.exists()
