"""Figures that tell the truth, on synthetic rows (no training): the frontier is a running minimum, a plot whose x
does not vary is skipped with a note, fits stay within the data (a marked extrapolation beyond, y limits from the
data), no two files are the same figure, log axes carry readable ticks, sweep axes a plot does not show are named."""

import hashlib
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from scalezoo import scaling
from scalezoo.scaling import plots

ROOT = Path(__file__).resolve().parents[1]


def _row(i, width, n_train, lr, seed):
  N = 10 * width * width
  flops = 6.0 * N * n_train * np.linspace(0.1, 1, 6)
  loss = 0.2 + 40 * N**-0.45 + 30 * n_train**-0.4 + 0.05 * abs(np.log10(lr) + 2) + 0.01 * seed
  curve = loss * (1 + 1 / np.arange(1, 7))
  return {
    "run_id": f"r{i}",
    "status": "finished",
    "config": {
      "model": "mlp",
      "model_args": {"width": width},
      "data_args": {"n_train": n_train},
      "seed": seed,
      "optimizer": {"lr": lr},
    },
    "metrics": {"val_loss": loss, "test_loss": loss * 1.01},
    "params": N,
    "flops_total": float(flops[-1]),
    "examples_seen": n_train,
    "curve": {"flops": flops.tolist(), "val_loss": curve.tolist()},
  }


def _folder(tmp_path, widths=(8, 32), n_trains=(1000,), lrs=(1e-3, 1e-2, 1e-1), seeds=(0, 1)):
  grid = [(w, n, lr, s) for w in widths for n in n_trains for lr in lrs for s in seeds]
  rows = [_row(i, *g) for i, g in enumerate(grid)]
  (tmp_path / "runs.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n")
  return tmp_path


def _labels(ax, which="y"):
  """The labelled major ticks inside the view, after a draw."""
  ax.figure.canvas.draw()
  axis = ax.yaxis if which == "y" else ax.xaxis
  lo, hi = sorted(axis.get_view_interval())
  return [t.get_text() for t, v in zip(axis.get_ticklabels(), axis.get_ticklocs()) if lo <= v <= hi and t.get_text()]


def test_frontier_is_the_running_minimum_over_compute():
  # two curves, the cheap one ending low: a grid envelope of curves still running jumps up past the cheap one's end
  t = {
    "N": np.array([10.0, 1000.0]),
    "C": np.array([1e3, 1e5]),
    "metrics.test_loss": np.array([0.3, 0.5]),
    "curve.flops": np.array([[1e2, 1e3], [1e3, 1e4, 1e5]], dtype=object),
    "curve.val_loss": np.array([[0.9, 0.3], [2.0, 1.0, 0.5]], dtype=object),
  }
  fig = plots.loss_vs_compute(t)
  (line,) = [ln for ln in fig.axes[0].lines if ln.get_label().startswith("frontier")]
  x, y = line.get_xdata(), line.get_ydata()
  assert np.all(np.diff(y) <= 0) and y[-1] == pytest.approx(0.3)
  assert np.allclose(y, plots.running_min([1e2, 1e3, 1e3, 1e4, 1e5], [0.9, 0.3, 2.0, 1.0, 0.5])[1][np.argsort(x)])
  xs, ys = plots.running_min([3, 1, 2], [1.0, 2.0, 0.5])
  assert xs.tolist() == [1, 2, 3] and ys.tolist() == [2.0, 0.5, 0.5]


def test_a_plot_whose_x_does_not_vary_is_skipped_with_a_note(tmp_path):
  folder = _folder(tmp_path)  # one n_train: D is the same for every run
  notes = []
  names = {p.name for p in scaling.plot_dir(folder, notes=notes)}
  assert "loss_vs_data.png" not in names and not (folder / "loss_vs_data.png").exists()
  assert notes == ["loss_vs_data.png not drawn: D does not vary (every run has D = 1000)"]
  t = scaling.finished(scaling.table(folder))
  with pytest.raises(ValueError, match="D does not vary"):
    plots.loss_vs_input(t, "D", t["metrics.test_loss"])


def test_no_two_figures_are_the_same_file(tmp_path):
  # loss_vs_params.png was fit_power.png byte for byte once a fit_power.json existed: here the committed tiny
  # sweep and its fit (results/sweep_tiny), so no fit runs in this test
  for name in ("runs.jsonl", "fit_power.json"):
    shutil.copy(ROOT / "results" / "sweep_tiny" / name, tmp_path / name)
  paths = scaling.plot_dir(tmp_path)
  assert {p.name for p in paths} == {"loss_vs_compute.png", "loss_vs_params.png", "fit_power.png"}
  digests = [hashlib.sha256(p.read_bytes()).hexdigest() for p in paths]
  assert len(set(digests)) == len(digests)


def test_fit_stays_in_the_data_range_with_a_marked_extrapolation_and_data_y_limits():
  N = np.array([1e3, 3e3, 1e4])
  L = np.array([0.38, 0.31, 0.38])
  fig = plots.fitted_law(_Law(lambda n: 0.25 + 4 * n**-0.5), {"N": N}, L)
  ax = fig.axes[0]
  solid = [ln for ln in ax.lines if ln.get_linestyle() == "-"]
  dashed = [ln for ln in ax.lines if ln.get_linestyle() != "-"]
  assert (
    len(solid) == 1
    and solid[0].get_xdata().min() == pytest.approx(1e3)
    and solid[0].get_xdata().max() == pytest.approx(1e4)
  )
  assert len(dashed) == 2 and [ln.get_label() for ln in dashed].count("extrapolation") == 1
  xs = np.concatenate([ln.get_xdata() for ln in dashed])
  assert xs.min() >= 1e3 / 1.31 and xs.max() <= 1e4 * 1.31
  lo, hi = ax.get_ylim()
  assert 0.25 < lo < 0.31 and 0.38 < hi < 0.45  # from the data, whatever the law does past it


class _Law:
  """What fitted_law reads of a Fit, for a given curve (no fitting in these tests)."""

  inputs, law, params, ci, theta_samples = ("N",), "power", {"E": 0.0}, 0.95, None
  conventions, warnings = {}, []
  law_obj = type("L", (), {"formula": "L = E + A·x^(−α)"})

  def __init__(self, f):
    self.f = f

  def predict(self, X):
    return self.f(np.asarray(X["N"], float))


def test_y_limits_ignore_a_law_that_explodes_past_the_data():
  N, L = np.array([1e3, 3e3, 1e4]), np.array([0.38, 0.31, 0.37])
  exploding = _Law(lambda n: np.where(n > 1.01e4, 1e6, 0.35))  # shoots to 1e6 just past the data (the ViT's did)
  lo, hi = plots.fitted_law(exploding, {"N": N}, L).axes[0].get_ylim()
  assert hi < 1.0


@pytest.mark.parametrize("lo, hi", [(0.22, 0.43), (0.9, 1.1), (0.3, 0.9), (5e6, 1e8), (1e2, 1e9), (450, 2700)])
def test_log_axes_have_at_least_three_readable_labels(lo, hi):
  fig = Figure()
  FigureCanvasAgg(fig)
  ax = fig.subplots()
  ax.plot([lo, hi], [lo, hi])
  plots._log(ax)
  ax.set_xlim(lo, hi)
  ax.set_ylim(lo, hi)
  for which in "xy":
    labels = _labels(ax, which)
    assert 3 <= len(labels) <= 9 and len(set(labels)) == len(labels), labels


def test_hidden_sweep_axes_are_shown_by_marker_or_named(tmp_path):
  t = scaling.finished(scaling.table(_folder(tmp_path)))
  hidden = plots.hidden_axes(t, ["N"])
  assert set(hidden) == {"optimizer.lr", "seed"}  # model_args.width is N, one to one; n_train does not vary
  fig = plots.loss_vs_compute(t)
  labels = [h.get_label() for h in fig.axes[0].collections if h.get_label().startswith("final")]
  assert labels == ["final test_loss, lr=0.001", "final test_loss, lr=0.01", "final test_loss, lr=0.1"]
  assert fig._supxlabel.get_text() == "not told apart: seed (2 values)"
  fig = plots.loss_vs_input(t, "N", t["metrics.test_loss"], color_by="D")
  legend = [x.get_text() for x in fig.axes[0].get_legend().get_texts()]
  assert legend == ["lr=0.001", "lr=0.01", "lr=0.1"] and "mean over 2 seeds" in fig._supxlabel.get_text()


def test_the_collapsed_note_names_the_values_and_counts_the_seeds(tmp_path):
  t = scaling.finished(scaling.table(_folder(tmp_path)))
  note = plots.collapsed_note(plots.hidden_axes(t, ["N"]))
  assert note == "not told apart: optimizer.lr {0.001, 0.01, 0.1}; seed (2 values)"


def test_plot_on_zero_losses_refuses_with_one_line_and_writes_nothing(tmp_path, capsys):
  import json
  from pathlib import Path

  from scalezoo.cli import main

  src = Path(__file__).resolve().parents[1] / "results" / "sweep_tiny" / "runs.jsonl"
  with (tmp_path / "runs.jsonl").open("w") as out:
    for line in src.read_text().splitlines():
      r = json.loads(line)
      r["metrics"] = {k: 0.0 for k in r["metrics"]}
      r["curve"] = {k: [0.0] * len(v) if k.endswith("loss") else v for k, v in r["curve"].items()}
      out.write(json.dumps(r) + "\n")
  assert main(["plot", str(tmp_path)]) == 2
  err = capsys.readouterr().err
  assert "no run has a positive, finite 'metrics.test_loss'" in err and err.count("\n") == 1, err
  assert sorted(p.name for p in tmp_path.iterdir()) == ["runs.jsonl"]
