"""Fits that refuse or flag nonsense: design refusals, warnings in the table, the JSON and the figure, CLI errors."""

import json

import numpy as np
import pytest

from scalezoo import cli, scaling


def _runs(tmp_path, N, D, L, model_width=None):
  rows = []
  for i, (n, d, l) in enumerate(zip(N, D, L)):
    rows.append(
      {
        "run_id": f"r{i}",
        "status": "finished",
        "params": float(n),
        "examples_seen": float(d),
        "flops_total": float(6 * n * d),
        "config": {"model": "mlp", "model_args": {"width": int(model_width[i]) if model_width is not None else i}},
        "metrics": {"test_loss": float(l)},
      }
    )
  (tmp_path / "runs.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n")
  return tmp_path


def test_one_distinct_D_is_refused_for_a_law_in_D():
  N = np.logspace(3, 5, 6)
  with pytest.raises(ValueError, match=r"one distinct D .* cannot identify law 'chinchilla'.*vary D"):
    scaling.fit_law("chinchilla", {"N": N, "D": np.full(6, 1e6)}, 1 + 10 / N**0.3)


def test_fewer_points_or_designs_than_parameters_are_refused():
  with pytest.raises(ValueError, match="4 points are fewer than the 5 parameters"):
    scaling.fit_law("chinchilla", {"N": [1e3, 2e3, 3e3, 4e3], "D": [1e5, 2e5, 3e5, 4e5]}, [3, 2.5, 2.2, 2.0])
  # six runs but only two distinct sizes: E, A and alpha cannot all be identified
  with pytest.raises(ValueError, match="2 distinct values of N are fewer than the 3 parameters"):
    scaling.fit_law("power", {"N": [1e3, 1e3, 1e3, 1e4, 1e4, 1e4]}, [3.0, 3.1, 2.9, 2.0, 2.1, 1.9])


@pytest.mark.parametrize(
  "kw, word",
  [({"bootstrap": -3}, "bootstrap=-3"), ({"bootstrap": 10**6}, "bootstrap=1000000"), ({"ci": 1.5}, "ci=1.5")],
)
def test_bad_settings_name_the_bad_one(kw, word):
  N = np.logspace(3, 5, 8)
  with pytest.raises(ValueError) as e:
    scaling.fit_law("power", {"N": N}, 1 + 10 / N**0.3, **kw)
  msg = str(e.value)
  assert msg.startswith(word) and "\n" not in msg and "huber_delta" not in msg


def test_non_monotone_sweep_is_flagged_in_table_json_and_caption(tmp_path):
  # the ViT sweep: loss 0.38, 0.31, 0.38 over N (two seeds each)
  N = np.repeat([1e5, 4e5, 1.6e6], 2)
  L = np.array([0.38, 0.381, 0.31, 0.312, 0.38, 0.379])
  fit = scaling.fit_law("power", {"N": N}, L, bootstrap=32)
  assert fit.params["alpha"] >= 0  # was -67.9 before exponents were bounded
  assert any("not monotone in N" in w for w in fit.warnings)
  assert "WARNING: the loss is not monotone in N" in fit.summary()
  assert scaling.Fit.from_json(fit.to_json()).warnings == fit.warnings
  assert "not monotone" in fit.caption()


def test_a_clean_fit_has_no_warnings_and_records_its_conventions():
  X, L = scaling.synthetic_chinchilla(n_points=80, noise=0.005, seed=2)
  fit = scaling.fit_law("chinchilla", X, L, bootstrap=32, conventions={"N": "non-embedding parameters"})
  assert fit.warnings == []
  c = fit.conventions
  assert c["N"] == "non-embedding parameters" and "delta=0.001" in c["objective"] and c["method"] == "varpro"
  assert "32 case resamples" in c["bootstrap"] and "Levenberg" in c["optimizer"]
  assert "conventions: N = non-embedding parameters" in fit.summary()


def test_flat_optimum_from_the_hessian_and_from_the_bootstrap():
  # three sizes, a curve that has hardly started to bend: E, A and alpha trade off along a near-flat valley
  N = np.array([1e4, 1e4, 2e4, 2e4, 4e4, 4e4])
  L = (2.0 + 5 * N**-0.05) * np.exp(0.01 * np.random.default_rng(0).normal(size=6))
  fit = scaling.fit_law("power", {"N": N}, L, bootstrap=64)
  assert any(w.startswith("flat optimum") for w in fit.warnings), fit.warnings


def test_cli_fit_errors_are_one_line_naming_the_option(tmp_path, capsys):
  d = _runs(tmp_path, np.logspace(3, 5, 8), np.full(8, 1e5), 1 + 10 / np.logspace(3, 5, 8) ** 0.3)
  for argv, word in [
    (["--law", "nosuchlaw"], "--law 'nosuchlaw' is not a law"),
    (["--bootstrap", "-3"], "--bootstrap -3: must be an integer from 0 to 10000"),
    (["--bootstrap", "many"], "--bootstrap many"),
    (["--recommend", "abc"], "--recommend abc"),
    (["--method", "newton"], "--method 'newton'"),
    (["--law", "chinchilla"], "one distinct D (100000) cannot identify"),
  ]:
    assert cli.main(["fit", str(d), *argv]) == 2
    err = capsys.readouterr().err.strip()
    assert word in err and "\n" not in err, err
  assert not (d / "fit_chinchilla.json").exists()  # refused: nothing written


def test_cli_fit_recommend_names_n_d_and_the_nearest_config(tmp_path, capsys):
  p = {"E": 1.69, "A": 406.4, "B": 410.7, "alpha": 0.34, "beta": 0.28}
  N = np.repeat(np.logspace(6, 8, 5), 3)
  D = np.tile(np.logspace(8, 10, 3), 5)
  d = _runs(
    tmp_path, N, D, scaling.laws.chinchilla.predict(p, {"N": N, "D": D}), model_width=np.repeat(np.arange(5), 3)
  )
  assert cli.main(["fit", str(d), "--law", "chinchilla", "--bootstrap", "16", "--recommend", "1e17"]) == 0
  out = capsys.readouterr().out
  a = scaling.compute_optimal(scaling.Fit.load(d / "fit_chinchilla.json"), 1e17)
  assert f"N_opt {a.N_opt[0]:.4g}" in out and "nearest config: mlp(width=" in out
  rec = scaling.recommend(scaling.Fit.load(d / "fit_chinchilla.json"), 1e17, ladder={"small": 1e6, "big": 1e8})
  assert rec.N_opt == pytest.approx(a.N_opt[0]) and rec.nearest == min(
    ("small", "big"), key=lambda k: abs(np.log({"small": 1e6, "big": 1e8}[k] / rec.N_opt))
  )
  assert rec.nearest_D == pytest.approx(1e17 / (6 * rec.nearest_N))
  lo, hi = rec.intervals["N_opt"]
  assert lo <= rec.N_opt <= hi
