"""The best run per point (scaling/best.py) and `scalezoo fit`'s use of it: a tuned grid is fitted at its best runs,
`--all-runs` at every run, `--n non_embedding` for every law."""

import json

import numpy as np
import pytest

from scalezoo import scaling
from scalezoo.cli import main


def test_best_per_point_takes_the_lowest_finite_loss_of_each_point_and_names_the_tuned_axis():
  N = np.array([1, 1, 1, 2, 2, 2, 1, 1])
  seed = np.array([0, 0, 0, 0, 0, 0, 1, 1])
  lr = np.array([0.1, 0.2, 0.4, 0.1, 0.2, 0.4, 0.1, 0.2])
  L = np.array([3.0, 2.0, np.nan, 1.5, 1.9, 1.0, 2.5, 2.5])  # N=1 seed 0: NaN at 0.4 is no candidate
  b = scaling.best_per_point(L, {"N": N, "seed": seed}, {"lr": lr, "width": N})
  assert b.index.tolist() == [1, 5, 6]  # in the order of the points' first runs; a tie keeps the first
  assert (b.runs, b.points, b.point, b.tuned) == (7, 3, ("N", "seed"), {"lr": 3})
  assert "7 runs -> 3 points" in b.summary() and "lr (3 values)" in b.summary()
  one = scaling.best_per_point(L[[0, 3]], {"N": N[[0, 3]]}, {"lr": lr[[0, 3]]})
  assert one.tuned == {} and one.summary().startswith("one run per point")
  with pytest.raises(ValueError, match="point column 'N' has 2 rows; the loss has 8"):
    scaling.best_per_point(L, {"N": N[:2]})


E, A, ALPHA, EMB = 1.0, 50.0, 0.5, 5000  # L = E + A / N_non_embedding^alpha at the best learning rate


def _sweep(folder, *, lrs=(1e-3, 3e-3, 1e-2), seeds=(0, 1)):
  """A width x lr x seed grid: the middle lr is best at every point; a mistuned run's loss is higher by a factor
  that grows with N, so fitting every run bends the exponent."""
  rows = []
  for width in (8, 16, 32, 64, 128):
    Nn = 100 * width * width
    for seed in seeds:
      for k, lr in enumerate(lrs):
        loss = (E + A * Nn**-ALPHA) * (1 + abs(k - 1) * 0.02 * np.log(Nn)) * (1 + 0.001 * seed)
        cfg = {"model_args": {"width": width}, "seed": seed, "optimizer": {"lr": lr}, "steps": 100}
        rows.append({
          "run_id": f"w{width}s{seed}k{k}", "status": "finished", "config": cfg, "params": Nn + EMB,
          "params_non_embedding": Nn, "examples_seen": 3200, "flops_total": 6.0 * Nn * 3200,
          "metrics": {"test_loss": loss},
        })  # fmt: skip
  (folder / "runs.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))


def test_fit_uses_each_points_best_run_by_default_and_every_run_with_all_runs(tmp_path, capsys):
  _sweep(tmp_path)
  assert main(["fit", str(tmp_path), "--n", "non_embedding", "--bootstrap", "0"]) == 0
  out = capsys.readouterr().out
  assert "best run per point: 30 runs -> 10 points (point = (N, D, seed, the other config keys))" in out
  assert "lowest loss over config.optimizer.lr (3 values)" in out and "--all-runs fits every run" in out
  saved = json.loads((tmp_path / "fit_power_non_embedding.json").read_text())
  assert saved["meta"]["runs_used"] == 10 and saved["meta"]["tuned"] == ["config.optimizer.lr"]
  assert saved["params"]["alpha"] == pytest.approx(ALPHA, rel=1e-3)  # seeds differ by 0.1%: a tiny bias at most
  assert saved["params"]["E"] == pytest.approx(E, rel=1e-2)
  assert saved["conventions"]["N"].startswith("runs.jsonl 'params_non_embedding'")

  assert main(["fit", str(tmp_path), "--n", "non_embedding", "--bootstrap", "0", "--all-runs"]) == 0
  out = capsys.readouterr().out
  assert "runs used 30" in out and "every run fitted (--all-runs): 30 runs at 10 points" in out
  every = json.loads((tmp_path / "fit_power_non_embedding.json").read_text())
  assert abs(every["params"]["alpha"] - ALPHA) > 0.01  # what the default protects against

  assert main(["fit", str(tmp_path), "--bootstrap", "0"]) == 0  # N = all parameters: the embeddings bend the law
  total = json.loads((tmp_path / "fit_power.json").read_text())
  assert total["meta"]["n"] == "params" and abs(total["params"]["alpha"] - ALPHA) > 0.01
  names = {p.name for p in scaling.plot_dir(tmp_path)}  # the figures are drawn over the runs each fit used
  assert {"fit_power.png", "fit_power_non_embedding.png"} <= names


def test_every_law_takes_non_embedding_n(tmp_path, capsys):
  _sweep(tmp_path, seeds=(0,))
  rows = [json.loads(ln) for ln in (tmp_path / "runs.jsonl").read_text().splitlines()]
  for r in list(rows):  # a second data size, so a law in N and D has something to fit
    rows.append(r | {"run_id": r["run_id"] + "d", "examples_seen": 12800})
    rows[-1]["metrics"] = {"test_loss": r["metrics"]["test_loss"] + 2.0 * (12800**-0.3 - 3200**-0.3)}
  (tmp_path / "runs.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
  assert main(["fit", str(tmp_path), "--law", "chinchilla", "--n", "non_embedding", "--bootstrap", "0"]) == 0
  assert (
    "best run per point: 30 runs -> 10 points (point = (N, D, seed, the other config keys))" in capsys.readouterr().out
  )
  fit = json.loads((tmp_path / "fit_chinchilla_non_embedding.json").read_text())
  assert fit["meta"]["n"] == "non_embedding" and fit["stats"]["n"] == 10
  args = ["fit", str(tmp_path), "--hparam", "lr", "--n", "non_embedding", "--bootstrap", "0"]
  assert main([*args, "--method", "parabola"]) == 0
  assert json.loads((tmp_path / "fit_hparam_lr_N.json").read_text())["conventions"]["N"].startswith(
    "runs.jsonl 'params_non_embedding'"
  )


def test_a_data_set_size_axis_at_equal_d_is_a_point_of_its_own_not_a_tuned_axis(tmp_path, capsys):
  rows = []  # the demo's design: n_train varies, steps (so D, the examples seen) do not
  for width in (8, 16, 32, 64):
    for n_train in (500, 1000, 2000):
      cfg = {"model": "mlp", "model_args": {"width": width}, "data_args": {"n_train": n_train}, "seed": 0}
      loss = 1.0 + 30 * (100 * width**2) ** -0.5 + 20 * n_train**-0.5
      rows.append({
        "run_id": f"w{width}n{n_train}", "status": "finished", "config": cfg, "params": 100 * width**2,
        "examples_seen": 3200, "metrics": {"test_loss": loss},
      })  # fmt: skip
  (tmp_path / "runs.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
  assert main(["fit", str(tmp_path), "--bootstrap", "0"]) == 0
  out = capsys.readouterr().out
  assert "runs used 12," in out and "best run per point" not in out  # nothing was tuned: every run is a point


@pytest.mark.parametrize(
  "extra, words",
  [
    (["--n", "embedding"], "--n 'embedding': must be one of params, non_embedding"),
    (["--hparam", "lr", "--all-runs"], "--all-runs: --hparam always reads every run"),
  ],
)
def test_fit_refusals_are_one_line(tmp_path, capsys, extra, words):
  _sweep(tmp_path)
  assert main(["fit", str(tmp_path), *extra]) == 2
  err = capsys.readouterr().err.strip()
  assert words in err and "\n" not in err and not list(tmp_path.glob("fit_*.json"))


def test_non_embedding_n_without_the_count_is_refused(tmp_path, capsys):
  _sweep(tmp_path)
  text = (tmp_path / "runs.jsonl").read_text().replace('"params_non_embedding"', '"other"')
  (tmp_path / "runs.jsonl").write_text(text)
  assert main(["fit", str(tmp_path), "--n", "non_embedding"]) == 2
  assert "no run records params_non_embedding" in capsys.readouterr().err
