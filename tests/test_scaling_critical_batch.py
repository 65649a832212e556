"""scaling.fit_critical_batch on Zhang et al. 2025's published points (tests/data/critical_batch, MIT) and on a
synthetic design with a known law."""

import json
import warnings
from pathlib import Path

import numpy as np
import pytest

from scalezoo.scaling.critical_batch import critical_batch, fit_critical_batch, fit_steps, steps_to_target

DATA = Path(__file__).parent / "data" / "critical_batch" / "steps_to_target.json"
# the notebook's outputs (plots/chinchilla.ipynb cell 5; SOURCE.md): a, b, B_crit per size in millions
PUBLISHED = {
  85: (1293.8268694659337, 2834258.0888740215, 745.3201466381583),
  151: (1752.4211962796799, 5677478.783007255, 955.1582414387951),
  302: (2095.3497601960876, 11383269.891870424, 1393.726947253441),
  604: (2459.9274969089824, 19449688.58779496, 1888.5221009346358),
  1200: (3897.306597333535, 43381130.22429582, 2533.4108017868743),
}


def _published_runs():
  rows = json.loads(DATA.read_text())["rows"]
  return {
    "N": np.array([r["N_millions"] for r in rows], float),
    "batch": np.array([r["batch_size_sequences"] for r in rows], float),
    "steps": np.array([r["steps_to_target"] for r in rows], float),
  }


def test_reproduces_the_published_critical_batches_and_law():
  with warnings.catch_warnings():
    warnings.simplefilter("error")  # no RuntimeWarning from the fit or the bootstrap
    fit = fit_critical_batch(_published_runs(), bootstrap=300)
  for s in fit.sizes:
    a, b, crit = PUBLISHED[int(s["X"])]
    # scipy's curve_fit stopped at its default tolerance; the kit's polish lands within 1e-7 of its a and b
    assert s["a"] == pytest.approx(a, rel=1e-6) and s["b"] == pytest.approx(b, rel=1e-6)
    assert round(s["B_crit"], 2) == round(crit, 2)  # 745.32, 955.16, 1393.73, 1888.52, 2533.41
  assert fit.coef == pytest.approx(93.196814043949, rel=1e-5)
  assert fit.exponent == pytest.approx(0.4682782328130422, abs=1e-6)
  lo, hi = fit.intervals["beta"]
  assert lo < fit.exponent < hi and hi - lo < 0.5
  assert fit.predict(1200) == pytest.approx(2578.188, rel=1e-4)  # cell 7's forecast at 1.2B
  assert "B_crit = 93.2·N^0.468" in fit.summary()


def test_the_critical_batch_is_where_steps_exceed_linear_scaling_by_the_overhead():
  a, b, B0, eps = 1500.0, 4e6, 256.0, 0.2
  S = lambda B: a + b / B
  Bc = critical_batch(a, b, eps, B0)
  assert S(Bc) == pytest.approx((1 + eps) * S(B0) * B0 / Bc, rel=1e-12)
  assert critical_batch(a, b, 0.5, B0) > Bc  # more overhead allowed: a larger batch


def test_fit_steps_is_exact_on_exact_data_from_a_far_start():
  B = 2.0 ** np.arange(4, 14)
  a, b, rmse = fit_steps(B, 37.0 + 9e5 / B)
  assert a[0] == pytest.approx(37.0, rel=1e-8) and b[0] == pytest.approx(9e5, rel=1e-8) and rmse[0] < 1e-8


def test_recovers_a_known_law_with_noise():
  """S = a + b/B per size with 3% log-normal noise, a and b chosen so B_crit = 400·N^0.35 exactly."""
  rng = np.random.default_rng(3)
  Ns = np.logspace(1, 4, 6)
  B = 2.0 ** np.arange(5, 16)
  rows = []
  for N in Ns:
    a = 800.0 * N**0.2
    b = (400.0 * N**0.35 - 1.2 * 256) * a / 0.2  # inverts critical_batch
    S = (a + b / B) * np.exp(0.03 * rng.normal(size=B.size))
    rows += [(N, x, s) for x, s in zip(B, S)]
  N, Bs, S = np.array(rows).T
  fit = fit_critical_batch({"N": N, "batch": Bs, "steps": S}, bootstrap=400, seed=1)
  assert fit.exponent == pytest.approx(0.35, abs=0.03)
  lo, hi = fit.intervals["beta"]
  assert lo < 0.35 < hi
  for s, x in zip(fit.sizes, Ns):
    assert s["B_crit"] == pytest.approx(400.0 * x**0.35, rel=0.15)


def test_a_size_without_a_step_floor_is_flagged():
  r = _published_runs()
  steps = np.where(r["N"] == 85, 3e6 / r["batch"], r["steps"])  # 85M: S = b/B exactly, no minimum of steps
  with warnings.catch_warnings():
    warnings.simplefilter("error")
    fit = fit_critical_batch(r | {"steps": steps}, bootstrap=0)
  assert len(fit.warnings) == 1 and fit.warnings[0].startswith("N = 85: steps still fall as 1/B")
  assert "warning: N = 85" in fit.summary()
  assert not fit_critical_batch(r, bootstrap=0).warnings


def test_refusals_are_one_line():
  r = _published_runs()
  cases = [
    ({k: v[:18] for k, v in r.items()}, "2 values of 'N'; a power law in N needs at least 3"),
    ({k: v[r["batch"] <= 128] for k, v in r.items()}, "N = 85 has 2 batch sizes"),
    (r | {"steps": np.where(r["batch"] == 64, np.inf, r["steps"])}, "column 'steps' must be positive and finite"),
    ({k: v for k, v in r.items() if k != "batch"}, "no column 'batch'"),
  ]
  for runs, words in cases:
    with pytest.raises(ValueError, match=words) as e:
      fit_critical_batch(runs, bootstrap=0)
    assert "\n" not in str(e.value)
  with pytest.raises(ValueError, match="overhead -0.2"):
    fit_critical_batch(r, overhead=-0.2, bootstrap=0)


def test_steps_to_target_is_the_first_logged_step_below():
  assert steps_to_target([10, 20, 30, 40], [3.0, 2.5, 2.4, 2.1], 2.5) == 30  # strictly below, as the notebook
  assert np.isnan(steps_to_target([10, 20], [3.0, np.nan], 2.5))


def _sweep_folder(folder, B_crit=lambda N: 200.0 * (N / 1e6) ** 0.4, a=50.0, reference=64.0):
  """4 sizes x 10 batch sizes (16..8192) x 2 learning rates; each run's val_loss crosses the target 3.0 at
  S = a + b/B steps (the worse rate 1.5x later), b set so the critical batch is B_crit(N); curves logged at steps
  ~1% apart.
  Batch 8192 stops early at the smallest size: a cell that never reaches the target."""
  rows = []
  logged = np.unique(np.round(1.01 ** np.arange(0, 1100))).astype(int)
  for N in (1e6, 4e6, 1.6e7, 6.4e7):
    b = (B_crit(N) - 1.2 * reference) * a / 0.2
    for B in 2 ** np.arange(4, 14):
      for lr, slow in ((1e-3, 1.0), (3e-3, 1.5)):
        S = slow * (a + b / B)
        steps = logged[logged <= (S / 2 if (N == 1e6 and B == 8192) else 3 * S)]
        cfg = {"seed": 0, "batch_size": int(B), "optimizer": {"lr": lr}}
        curve = {"step": steps.tolist(), "val_loss": (3.0 * (S / steps) ** 0.1).tolist()}
        rows.append({"run_id": f"r{len(rows)}", "status": "finished", "params": N, "config": cfg, "curve": curve})
  rows.append({"run_id": "bad", "status": "diverged", "params": 1e6, "config": {"seed": 0, "batch_size": 16}})
  (folder / "runs.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))


def test_fit_cli_critical_batch_from_a_sweep_folder(tmp_path, capsys):
  from scalezoo.cli import main

  _sweep_folder(tmp_path)
  args = ["fit", str(tmp_path), "--x", "params", "--reference", "64", "--bootstrap", "100"]
  with warnings.catch_warnings():
    warnings.simplefilter("error")
    assert main([*args, "--critical-batch", "3.0"]) == 0
  out = capsys.readouterr().out
  assert "1 (x, batch) cells never reached the target: [(1000000.0, 8192.0)]" in out
  fit = json.loads((tmp_path / "fit_critical_batch_N.json").read_text())
  assert fit["beta"] == pytest.approx(0.4, abs=0.02) and fit["reference"] == 64
  for s in fit["sizes"]:  # the 1% logging grid rounds each S up by < 1%
    assert s["B_crit"] == pytest.approx(200.0 * (s["X"] / 1e6) ** 0.4, rel=0.05)
    assert s["batches"] == (9 if s["X"] == 1e6 else 10)


@pytest.mark.parametrize(
  "extra, words",
  [
    (["--critical-batch", "-1"], "--critical-batch -1: must be a positive number"),
    (["--critical-batch", "3", "--reference", "x"], "--reference x: must be a positive number"),
    (["--critical-batch", "3", "--hparam", "lr"], "--hparam does not apply to --critical-batch"),
    (["--critical-batch", "3", "--curve", "val_acc"], "no run in"),
    (["--critical-batch", "0.1"], "reached val_loss < 0.1"),
  ],
)
def test_fit_cli_critical_batch_refusals_are_one_line(tmp_path, capsys, extra, words):
  from scalezoo.cli import main

  _sweep_folder(tmp_path)
  assert main(["fit", str(tmp_path), *extra]) == 2
  err = capsys.readouterr().err.strip()
  assert words in err and "\n" not in err and "Traceback" not in err
  assert not list(tmp_path.glob("fit_*.json"))
