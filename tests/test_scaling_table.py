"""table() over runs.jsonl (torn last line, flattening, N/D/C), and the CLI helpers fit_dir / plot_dir."""

import json

import numpy as np
import pytest

from scalezoo import scaling


def _row(i, width, n_train, status="finished"):
  N = 10 * width * width
  steps = 50
  flops = 6.0 * N * n_train * np.linspace(0.1, 1, 10)
  loss = 0.2 + 40 * N**-0.45 + 30 * n_train**-0.4
  return {
    "run_id": f"r{i}",
    "status": status,
    "config": {
      "model": "mlp",
      "model_args": {"width": width},
      "data": "mnist1d",
      "data_args": {"n_train": n_train, "noise": 0.0},
      "steps": steps,
      "seed": 0,
      "optimizer": {"name": "adam", "lr": 1e-3},
    },
    "metrics": {"train_loss": loss * 0.9, "val_loss": loss, "test_loss": loss * 1.01, "test_accuracy": 0.5},
    "params": N,
    "params_non_embedding": N,
    "flops_per_step": float(flops[-1] / steps),
    "flops_total": float(flops[-1]),
    "examples_seen": n_train,
    "tokens_seen": None,
    "wall_time": 1.0,
    "step_time": 0.01,
    "compile_time": 0.5,
    "curve": {
      "step": list(range(10)),
      "examples": list(range(10)),
      "flops": flops.tolist(),
      "train_loss": (loss * (1 + 1 / np.arange(1, 11))).tolist(),
      "val_loss": (loss * (1 + 1 / np.arange(1, 11))).tolist(),
      "grad_norm": [1.0] * 10,
    },
  }


@pytest.fixture
def results(tmp_path):
  rows = [
    _row(i, w, n)
    for i, (w, n) in enumerate(
      (w, n) for w in (8, 16, 32, 64, 128) for n in (250, 500, 1000, 2000, 4000, 8000, 16000, 32000)
    )
  ]
  rows.append(_row(99, 8, 250, status="diverged"))
  text = "\n".join(json.dumps(r) for r in rows) + "\n" + json.dumps(_row(100, 8, 250))[:57]  # torn by a power cut
  (tmp_path / "runs.jsonl").write_text(text)
  return tmp_path


def test_table_tolerates_torn_last_line_and_flattens(results):
  with pytest.warns(UserWarning, match="torn"):
    t = scaling.table(results)
  assert len(t["run_id"]) == 41
  assert t["config.model_args.width"].dtype == np.int64
  assert t["config.optimizer.lr"][0] == 1e-3
  np.testing.assert_array_equal(t["N"], t["params"])
  np.testing.assert_array_equal(t["D"], t["examples_seen"])  # tokens_seen is null
  np.testing.assert_array_equal(t["C"], t["flops_total"])
  assert t["curve.val_loss"].dtype == object and isinstance(t["curve.val_loss"][0], list)
  assert len(scaling.finished(t)["run_id"]) == 40
  assert len(scaling.table(results / "runs.jsonl")["run_id"]) == 41  # the file path works too


def test_table_rejects_a_corrupt_middle_line(tmp_path):
  (tmp_path / "runs.jsonl").write_text('{"a": 1}\n{"a": \n{"a": 2}\n')
  with pytest.raises(ValueError, match=":2: not valid JSON"):
    scaling.table(tmp_path)
  with pytest.raises(ValueError, match="no results file"):
    scaling.table(tmp_path / "missing")


def test_fit_dir_and_plot_dir(results):
  fit, text = scaling.fit_dir(results, "power", bootstrap=64)
  assert (results / "fit_power.json").exists() and "alpha" in text
  fit_d, _ = scaling.fit_dir(results, "power", x="D", bootstrap=64)
  assert (results / "fit_power_D.json").exists() and fit_d.inputs == ("D",)
  with pytest.raises(ValueError, match="no column"):
    scaling.fit_dir(results, "power", y="metrics.nope")
  paths = scaling.plot_dir(results)
  names = {p.name for p in paths}
  assert {"loss_vs_compute.png", "loss_vs_params.png", "loss_vs_data.png", "fit_power.png"} <= names
  assert all(p.stat().st_size > 10_000 for p in paths)


def test_error_curves_shapes_values_and_missing_runs(tmp_path):
  from scalezoo.scaling import error_curves, select, table

  rows = [
    {
      "run_id": f"{s}{w}",
      "status": "finished",
      "config": {"seed": s, "model_args": {"width": w}},
      "metrics": {"train_accuracy": 1 - 0.1 * w, "test_accuracy": 0.5 + 0.01 * s},
    }
    for s in (0, 1)
    for w in (1, 2, 3)
  ]
  (tmp_path / "runs.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
  t = table(tmp_path)
  x, seeds, train, test = error_curves(t, "config.model_args.width")
  np.testing.assert_array_equal(x, [1, 2, 3])
  np.testing.assert_allclose(train[1], [0.1, 0.2, 0.3])
  np.testing.assert_allclose(test[:, 0], [0.5, 0.49])
  with pytest.raises(ValueError, match="want one finished run"):
    error_curves(select(t, np.arange(6) != 4), "config.model_args.width")
