"""scaling.fit_hparam_law: the optimal learning rate as a power law (DeepSeek LLM's form and procedure)."""

import warnings

import numpy as np
import pytest

from scalezoo import scaling


def _sweep(b=-0.125, a=0.3118, noise=0.0, seed=0, flat=0.0):
  """Runs on a grid of rates a factor 2 apart around η_opt = a·C^b at 8 budgets; the loss is a parabola in log η
  about the true optimum, so the grid's near-optimal band brackets it."""
  rng = np.random.default_rng(seed)
  C = np.repeat(np.logspace(17, 21, 8), 9)
  opt = a * C**b
  lr = opt * 2.0 ** np.tile(np.arange(-4, 5), 8) * np.exp(rng.uniform(-0.3, 0.3, C.size))
  loss = 2.0 * (1 + 0.01 * np.log(lr / opt) ** 2 + flat + noise * rng.normal(size=C.size))
  return {"C": C, "lr": lr, "loss": loss}


@pytest.mark.parametrize("method", ["near_optimal", "argmin", "parabola"])
def test_recovers_the_exponent_of_a_known_law(method):
  fit = scaling.fit_hparam_law(_sweep(), hparam="lr", loss="loss", on="C", method=method, bootstrap=200)
  tol = 0.01 if method == "parabola" else 0.04  # the vertex is exact for a parabola; the grid rounds to 2^(±1/2)
  assert fit.exponents["C"] == pytest.approx(-0.125, abs=tol)
  lo, hi = fit.intervals["C"]
  assert lo <= fit.exponents["C"] <= hi and lo < -0.125 + tol and hi > -0.125 - tol
  assert fit.n_points == 8 and fit.edge_points == 0
  assert fit.predict({"C": 1e19}) == pytest.approx(0.3118 * 1e19**-0.125, rel=0.3)


def test_near_optimal_band_takes_more_than_the_argmins():
  r = _sweep()
  wide = scaling.fit_hparam_law(r, hparam="lr", loss="loss", on="C", tol=0.0025, bootstrap=0)
  assert wide.n_fit > wide.n_points  # runs within 0.25% of each best join the fit
  only = scaling.fit_hparam_law(r, hparam="lr", loss="loss", on="C", tol=0.0, bootstrap=0)
  assert only.n_fit == only.n_points


def test_two_inputs_are_separated():
  rng = np.random.default_rng(1)
  N, D = np.meshgrid(np.logspace(5, 8, 4), np.logspace(8, 11, 4))
  N, D = np.repeat(N.ravel(), 7), np.repeat(D.ravel(), 7)
  opt = 3.0 * N**-0.5 * D**-0.1
  lr = opt * 2.0 ** (np.tile(np.arange(-3, 4), 16) + rng.uniform(-0.2, 0.2, N.size))
  loss = 1 + 0.01 * np.log(lr / opt) ** 2
  fit = scaling.fit_hparam_law(
    {"N": N, "D": D, "lr": lr, "L": loss}, hparam="lr", loss="L", on=("N", "D"), method="parabola", bootstrap=100
  )
  assert fit.exponents["N"] == pytest.approx(-0.5, abs=0.01) and fit.exponents["D"] == pytest.approx(-0.1, abs=0.01)


def test_refusals_are_one_line():
  r = _sweep()
  few = {k: v[:18] for k, v in r.items()}  # two budgets: a line in C needs three
  with pytest.raises(ValueError, match="2 points, a power law in C needs at least 3"):
    scaling.fit_hparam_law(few, hparam="lr", loss="loss", on="C")
  one = {k: v[::9] for k, v in r.items()}  # one rate per budget: no optimum to find
  with pytest.raises(ValueError, match="trained 1 lr values; near_optimal needs >= 2"):
    scaling.fit_hparam_law(one, hparam="lr", loss="loss", on="C")
  with pytest.raises(ValueError, match="no column 'batch'"):
    scaling.fit_hparam_law(r, hparam="batch", loss="loss", on="C")
  with pytest.raises(ValueError, match="method 'best'"):
    scaling.fit_hparam_law(r, hparam="lr", loss="loss", on="C", method="best")
  with pytest.raises(ValueError, match="varies within the point"):
    scaling.fit_hparam_law(r | {"N": np.arange(r["C"].size) + 1.0}, hparam="lr", loss="loss", on="N", point="C")


def test_points_whose_best_sits_at_a_grid_edge_are_counted():
  r = _sweep()
  lr = r["lr"] * np.where(r["C"] > 1e20, 64.0, 1.0)  # the top two budgets' grids lie above their optimum
  loss = 2.0 * (1 + 0.01 * np.log(lr / (0.3118 * r["C"] ** -0.125)) ** 2)
  fit = scaling.fit_hparam_law(r | {"lr": lr, "loss": loss}, hparam="lr", loss="loss", on="C", bootstrap=0)
  assert fit.edge_points == 2 and sum(p["edge"] for p in fit.points) == 2
  assert "2 with the best at a grid edge" in fit.summary()


def _bowl(seed=0, noise=1e-4):
  """A joint lr × batch grid at 12 (N, D) points: 9 rates and 7 batches 2^(1/2) apart, shifted off the optimum
  by a random fraction of a step; the loss is a tilted bowl in (log lr, log B) about lr_opt = 0.3·N^-0.25·D^0.05
  and B_opt = 2·N^0.1·D^0.3, with relative noise `noise`."""
  rng = np.random.default_rng(seed)
  rows = []
  for N in np.logspace(6, 9, 4):
    for D in np.logspace(9, 11, 3):
      ou, ov = rng.uniform(-0.5, 0.5, 2)
      for i in range(-4, 5):
        for j in range(-3, 4):
          u, v = 0.5 * np.log(2) * (i + ou), 0.5 * np.log(2) * (j + ov)
          L = 3.0 * N**-0.1 * (1 + 0.02 * u * u + 0.01 * v * v + 0.01 * u * v) * (1 + noise * rng.normal())
          rows.append((N, D, 0.3 * N**-0.25 * D**0.05 * np.exp(u), 2.0 * N**0.1 * D**0.3 * np.exp(v), L))
  N, D, lr, B, L = np.array(rows).T
  return {"N": N, "D": D, "lr": lr, "batch": B, "loss": L}


TRUE = {"lr": {"N": -0.25, "D": 0.05}, "batch": {"N": 0.1, "D": 0.3}}
# the largest exponent error over seeds 0-9 was 0.003 (parabola), 0.031 (argmin), 0.017 (near_optimal): 3x, 2x, 2x
JOINT_TOL = {"parabola": 0.01, "argmin": 0.06, "near_optimal": 0.04}


@pytest.mark.parametrize("method", ["parabola", "argmin", "near_optimal"])
@pytest.mark.parametrize("seed", [0, 7])
def test_joint_grid_recovers_both_laws_without_warnings(method, seed):
  with warnings.catch_warnings():
    warnings.simplefilter("error")  # no RankWarning, RuntimeWarning, ... from any method
    laws = scaling.fit_hparam_law(
      _bowl(seed), hparam=("lr", "batch"), loss="loss", on=("N", "D"), method=method, bootstrap=100, seed=seed
    )
  assert set(laws) == {"lr", "batch"}
  for h, law in laws.items():
    assert law.hparam == h and law.n_points == 12 and law.edge_points == 0
    for k, b in TRUE[h].items():
      assert law.exponents[k] == pytest.approx(b, abs=JOINT_TOL[method]), (h, k)
      lo, hi = law.intervals[k]
      assert lo <= law.exponents[k] <= hi
    assert "lr × batch" in law.conventions["joint"]
  # both laws come from the same joint optimum of each point
  assert [p["at"] for p in laws["lr"].points] == [p["at"] for p in laws["batch"].points]


def test_one_hparam_on_a_joint_grid_profiles_the_other_out():
  """lr alone on the lr × batch grid: each rate at its best batch, so a parabola never mixes batch sizes (before,
  its three best runs could share a rate: a RankWarning per point and an exponent of -0.31 for -0.25)."""
  with warnings.catch_warnings():
    warnings.simplefilter("error")
    law = scaling.fit_hparam_law(_bowl(), hparam="lr", loss="loss", on=("N", "D"), method="parabola", bootstrap=0)
  assert law.exponents["N"] == pytest.approx(-0.25, abs=0.01) and law.exponents["D"] == pytest.approx(0.05, abs=0.01)


def test_joint_surface_vertex_is_exact_on_a_quadratic_bowl():
  from scalezoo.scaling.vertex import vertex

  lr, B = np.meshgrid(2.0 ** np.arange(-9, -3), 2.0 ** np.arange(4, 10), indexing="ij")
  u, v = np.log(lr / 0.0123), np.log(B / 97.0)
  L = 2 + 0.3 * u * u + 0.1 * v * v + 0.2 * u * v
  (lr_opt, B_opt), convex = vertex(np.column_stack([lr.ravel(), B.ravel()]), L.ravel())
  assert convex and lr_opt == pytest.approx(0.0123, rel=1e-9) and B_opt == pytest.approx(97.0, rel=1e-9)
  saddle = 2 + 0.1 * u * u - 0.1 * v * v  # no minimum: the best run stands
  h, convex = vertex(np.column_stack([lr.ravel(), B.ravel()]), saddle.ravel())
  assert not convex and tuple(h) == (lr.ravel()[np.argmin(saddle)], B.ravel()[np.argmin(saddle)])


def test_joint_refusals_are_one_line():
  r = _bowl()
  with pytest.raises(ValueError, match="no column 'batch_size'"):
    scaling.fit_hparam_law(r, hparam=("lr", "batch_size"), loss="loss", on=("N", "D"))
  with pytest.raises(ValueError, match="several distinct names"):
    scaling.fit_hparam_law(r, hparam=("lr", "lr"), loss="loss", on=("N", "D"))
  two = {k: v[np.isin(r["batch"], np.unique(r["batch"])[::20])] for k, v in r.items()}  # under 3 batches a point
  with pytest.raises(ValueError, match="batch values; parabola needs >= 3"):
    scaling.fit_hparam_law(two, hparam=("lr", "batch"), loss="loss", on=("N", "D"), method="parabola")


def _runs_jsonl(folder, b=-0.5, a=4.0):
  """A sweep folder's runs.jsonl: 4 sizes x 7 rates 2x apart x 2 seeds; each seed's loss is the same parabola in
  log lr about a·N^b plus a seed offset (±0.05), so only the seed mean is exactly the parabola."""
  import json

  rows = []
  for N in (1e4, 4e4, 1.6e5, 6.4e5):
    opt = a * N**b
    for k in range(-3, 4):
      lr = opt * 2.0 ** (k + 0.3)  # the optimum between grid points: argmin alone would miss it
      for seed, off in ((0, 0.05), (1, -0.05)):
        loss = 2.0 + 0.1 * np.log(lr / opt) ** 2 + off
        rid = f"r{len(rows)}"
        cfg = {"seed": seed, "optimizer": {"lr": lr}}
        rows.append({"run_id": rid, "status": "finished", "params": N, "config": cfg, "metrics": {"val_loss": loss}})
  rows.append({"run_id": "bad", "status": "diverged", "params": 1e4, "config": {"seed": 0, "optimizer": {"lr": 1.0}}})
  (folder / "runs.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))


def test_fit_cli_hparam_recovers_the_law_from_a_sweep_folder(tmp_path, capsys):
  import json

  from scalezoo.cli import main

  _runs_jsonl(tmp_path)
  args = ["fit", str(tmp_path), "--hparam", "lr", "--x", "params", "--y", "metrics.val_loss", "--bootstrap", "50"]
  assert main([*args, "--method", "parabola"]) == 0
  assert "lr_opt = 4·N^-0.500" in capsys.readouterr().out
  law = json.loads((tmp_path / "fit_hparam_lr_N.json").read_text())
  assert law["exponents"]["N"] == pytest.approx(-0.5, abs=1e-9) and law["a"] == pytest.approx(4.0, rel=1e-9)
  assert law["n_points"] == 4 and law["n_fit"] == 4  # seeds averaged into one grid per size; the diverged run out
  assert main(args) == 0  # DeepSeek's near-optimal band: the two grid points about each optimum
  assert json.loads((tmp_path / "fit_hparam_lr_N.json").read_text())["exponents"]["N"] == pytest.approx(-0.5, abs=0.05)


def _joint_runs_jsonl(folder):
  """4 sizes x 5 rates x 5 batch sizes 2x apart, 2 seeds: a tilted bowl in (log lr, log B) about lr_opt =
  4·N^-0.5 and B_opt = 0.5·N^0.4, off the grid by 0.3 and 0.2 of a step; seeds offset the loss by ±0.05."""
  import json

  rows = []
  for N in (1e4, 4e4, 1.6e5, 6.4e5):
    for i in range(-2, 3):
      for j in range(-2, 3):
        u, v = np.log(2) * (i + 0.3), np.log(2) * (j + 0.2)
        for seed, off in ((0, 0.05), (1, -0.05)):
          loss = 2.0 + 0.1 * u * u + 0.05 * v * v + 0.04 * u * v + off
          cfg = {"seed": seed, "batch_size": 0.5 * N**0.4 * np.exp(v), "optimizer": {"lr": 4 * N**-0.5 * np.exp(u)}}
          rows.append({"run_id": f"r{len(rows)}", "status": "finished", "params": N, "config": cfg,
                       "metrics": {"val_loss": loss}})  # fmt: skip
  (folder / "runs.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))


def test_fit_cli_joint_hparams_give_both_laws_and_a_single_one_profiles_the_batch(tmp_path, capsys):
  import json

  from scalezoo.cli import main

  _joint_runs_jsonl(tmp_path)
  args = ["fit", str(tmp_path), "--x", "params", "--y", "metrics.val_loss", "--bootstrap", "50", "--method", "parabola"]
  with warnings.catch_warnings():
    warnings.simplefilter("error")
    assert main([*args, "--hparam", "lr,batch_size"]) == 0
  out = capsys.readouterr().out
  assert "lr_opt = 4·N^-0.500" in out and "batch_size_opt = 0.5·N^+0.400" in out
  laws = json.loads((tmp_path / "fit_hparam_lr_batch_size_N.json").read_text())
  assert laws["lr"]["exponents"]["N"] == pytest.approx(-0.5, abs=1e-9)
  assert laws["batch_size"]["exponents"]["N"] == pytest.approx(0.4, abs=1e-9)
  assert laws["lr"]["n_points"] == 4 and "lr × batch_size" in laws["lr"]["conventions"]["joint"]
  # lr alone: the batch axis is profiled out (each rate at its best batch), not averaged in as if it were seeds
  assert main([*args, "--hparam", "lr"]) == 0
  assert "also tuned, not fitted: config.batch_size" in capsys.readouterr().out
  lr = json.loads((tmp_path / "fit_hparam_lr_N.json").read_text())
  assert lr["exponents"]["N"] == pytest.approx(-0.5, abs=0.02)
  assert main([*args, "--hparam", "lr,lr"]) == 2
  assert "several distinct names" in capsys.readouterr().err


@pytest.mark.parametrize(
  "extra, words",
  [
    (["--law", "chinchilla"], "--law fits a loss law; --hparam fits"),
    (["--method", "varpro"], "--method 'varpro' with --hparam: must be one of near_optimal"),
    (["--tol", "1.5"], "--tol 1.5: must be a relative loss band"),
    (["--x", "width"], "no column 'width'"),
    (["--y", "metrics.test_loss"], "no column 'metrics.test_loss'"),
  ],
)
def test_fit_cli_hparam_refusals_are_one_line(tmp_path, capsys, extra, words):
  from scalezoo.cli import main

  _runs_jsonl(tmp_path)
  assert main(["fit", str(tmp_path), "--hparam", "lr", "--y", "metrics.val_loss", *extra]) == 2
  err = capsys.readouterr().err.strip()
  assert words in err and "\n" not in err and "Traceback" not in err
  assert not list(tmp_path.glob("fit_*.json"))
