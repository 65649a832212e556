"""Loss curves across learning-rate schedules on Luo et al. 2025's runs (tests/data/multipower_law, MIT):
the Multi-Power Law with its published parameters predicts the six held-out schedules as published; fits on the
three training schedules, Multi-Power and Tissue et al. 2024's form side by side."""

import csv
from pathlib import Path

import numpy as np
import pytest

from scalezoo.scaling import curve_laws as S

DATA = Path(__file__).parent / "data" / "multipower_law"
TRAIN = ["cosine_24000", "constant_24000", "wsdcon_9"]
TEST = ["cosine_72000", "constant_72000", "wsd_20000_24000", "wsdld_20000_24000", "wsdcon_3", "wsdcon_18"]
PUBLISHED = {  # [L0, A, alpha, B, C, beta, gamma] and test-set PredE (mean relative error), upstream README
  25: ([3.04045406, 0.52468604, 0.50786857, 363.78751622, 2.06560812, 0.58279013, 0.64142257], 0.00110),
  100: ([2.6514477, 0.60115152, 0.45295811, 437.9464276, 2.13245612, 0.59785199, 0.65523644], 0.00142),
  400: ([2.37474466, 0.65421216, 0.42878731, 523.42464371, 2.02462735, 0.59350493, 0.63472457], 0.00168),
}


def _schedule(name):  # upstream src/data_loader.py: warmup 2160, peak 3e-4, end 3e-5
  if name.startswith("cosine"):
    return S.cosine(2160, int(name.split("_")[1]), 3e-4, 3e-5)
  if name.startswith("constant"):
    return S.constant(2160, int(name.split("_")[1]), 3e-4)
  if name.startswith("wsdcon"):
    return S.two_stage(2160, 16000, 3e-4, int(name.split("_")[1]) * 1e-5, 8000)
  return S.wsd(2160, 24000, 20000, 3e-4, 3e-5, linear=name.startswith("wsdld"))


def _curve(size, name):
  rows = list(csv.DictReader((DATA / f"csv_{size}" / f"{name}.csv").open()))
  step, loss = (np.array([float(r[k]) for r in rows]) for k in ("step", "loss"))
  keep = step < 24000  # upstream drops the logged step 24000 of the 24k runs
  return S.Curve(name, _schedule(name), step[keep].astype(int), loss[keep])


def _test_set(size, f, theta):
  curves = [_curve(size, n) for n in TEST]
  return S.metrics(np.concatenate([f(theta, c) for c in curves]), np.concatenate([c.loss for c in curves]))


@pytest.mark.long  # the 72k-step cosine's loss-drop sums, tens of millions of terms per size
@pytest.mark.parametrize("size", [25, 100, 400])
def test_published_multi_power_parameters_predict_the_held_out_schedules(size):
  theta, pred_e = PUBLISHED[size]
  m = _test_set(size, S.multi_power, theta)
  # the published PredE, loosely: ours is lower at the larger sizes (the numbers: the commit that added this test)
  assert m["PredE"] == pytest.approx(pred_e, rel=0.3)
  assert m["R2"] > 0.997 and m["WorstE"] < 0.02


def test_schedules_match_upstream_shapes():
  cos = S.cosine(2160, 24000, 3e-4, 3e-5)
  assert cos.shape == (24000,) and cos[2160] == pytest.approx(3e-4) and cos[-1] == pytest.approx(3e-5, rel=1e-3)
  two = S.two_stage(2160, 16000, 3e-4, 9e-5, 8000)
  assert two[7999] == 3e-4 and two[8000] == 9e-5
  # the logged lr column agrees with the reconstructed schedule at every logged step
  for name in TRAIN + TEST:
    rows = list(csv.DictReader((DATA / "csv_25" / f"{name}.csv").open()))
    step = np.array([int(float(r["step"])) for r in rows])
    lr = np.array([float(r["lr"]) for r in rows])
    keep = step < len(_schedule(name))
    assert np.allclose(_schedule(name)[step[keep]], lr[keep], rtol=2e-2), name


# Tissue et al.'s form fitted on the three training schedules from the variable-projection start (λ = 0.999, the
# paper's): held-out PredE 0.00096 / 0.00096 / 0.00133 here, the Multi-Power Law's published 0.00110 / 0.00142 /
# 0.00168. From the old fixed start [2.4, 0.65, 0.43, 1.0] the 100M fit stopped in a far minimum (PredE 0.047).
TISSUE_PRED_E = {25: 0.00096, 100: 0.00096, 400: 0.00133}


@pytest.mark.parametrize("size", [25, 100, 400])
def test_tissue_form_fitted_on_the_training_schedules_predicts_the_rest(size):
  curves = [_curve(size, n) for n in TRAIN]
  theta, obj = S.fit("tissue", curves)
  m = _test_set(size, S.tissue, theta)
  assert m["PredE"] == pytest.approx(TISSUE_PRED_E[size], rel=0.05) and obj > 0
  assert m["PredE"] < PUBLISHED[size][1]
  # the old fixed start is never better, and at 100M far worse: a local minimum, not the form's limit
  _, old = S.fit("tissue", curves, [2.4, 0.65, 0.43, 1.0])
  assert obj <= old * (1 + 1e-6) and (size != 100 or old > 10 * obj)


def test_tissue_fit_holds_a_fixed_asymptote():
  curves = [_curve(25, n) for n in TRAIN]
  theta, _ = S.fit("tissue", curves, fixed={"L0": 3.0})
  assert theta[0] == 3.0 and np.all(theta[1:] > 0)
  with pytest.raises(ValueError, match="tissue has no parameter 'E' to fix"):
    S.fit("tissue", curves, fixed={"E": 3.0})


@pytest.mark.slow  # a few minutes: the 24k-step cosine's drop sum at every evaluation of a numerical Jacobian
def test_multi_power_fit_on_the_training_schedules():
  curves = [_curve(25, n) for n in TRAIN]
  theta, _ = S.fit("multi_power", curves, PUBLISHED[25][0])
  pred_e = _test_set(25, S.multi_power, theta)["PredE"]  # 0.00077 (results/schedule_laws/compare.json)
  assert pred_e == pytest.approx(0.00077, rel=0.05) and pred_e <= PUBLISHED[25][1]
