"""The built wheel works away from the checkout: installed into a fresh venv and run from a folder that holds a
`train.py` of its own, `scalezoo models`, a short `scalezoo train` and a short demo (its packaged spec) all work."""

import json
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest
import tiny

ROOT = Path(__file__).resolve().parents[1]
IGNORE = shutil.ignore_patterns(
  ".git", ".venv", "results", "notebooks", "build", "dist", "*.egg-info", "__pycache__", ".pytest_cache", ".ruff_cache"
)
TINY = tiny.toml(tiny.mlp_digits(steps=20, eval_every=10, data_args={"n_train": 256}))


def run(*cmd, cwd, timeout=300) -> str:
  res = subprocess.run([str(c) for c in cmd], cwd=cwd, capture_output=True, text=True, timeout=timeout)
  assert res.returncode == 0, f"{cmd}: exit {res.returncode}\n{res.stdout[-2000:]}\n{res.stderr[-2000:]}"
  return res.stdout


@pytest.fixture(scope="module")
def venv(tmp_path_factory) -> Path:
  """A fresh venv with only the wheel installed; the dependencies come from this interpreter's site-packages
  (through a .pth line, which adds the folder but runs none of its .pth files: not the editable install)."""
  tmp = tmp_path_factory.mktemp("wheel")
  src = tmp / "src"
  shutil.copytree(ROOT, src, ignore=IGNORE)  # build from a copy: no build/ or egg-info in the checkout
  run(sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", tmp / "dist", src, cwd=tmp)
  (wheel,) = (tmp / "dist").glob("scalezoo-*.whl")
  venv = tmp / "venv"
  run(sys.executable, "-m", "venv", venv, cwd=tmp)
  purelib = Path(
    run(venv / "bin" / "python", "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])", cwd=tmp).strip()
  )
  (purelib / "deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
  run(venv / "bin" / "python", "-m", "pip", "install", "-q", "--no-deps", "--no-index", wheel, cwd=tmp)
  return venv


@pytest.fixture(scope="module")
def elsewhere(tmp_path_factory) -> Path:
  """A researcher's folder: modules named like the kit's own packages, which must not be imported."""
  d = tmp_path_factory.mktemp("elsewhere")
  for name in ("train", "zoo", "scaling", "configs"):
    (d / f"{name}.py").write_text(f"raise SystemExit('imported the folder\\'s own {name}.py')\n")
  (d / "tiny.toml").write_text(TINY)
  return d


def test_the_wheel_imports_the_installed_package_not_the_checkout(venv, elsewhere):
  where = run(
    venv / "bin" / "python", "-c", "import scalezoo.train, scalezoo.zoo; print(scalezoo.train.__file__)", cwd=elsewhere
  )
  assert str(venv) in where and str(ROOT) not in where


def test_models_lists_the_zoo(venv, elsewhere):
  out = run(venv / "bin" / "scalezoo", "models", cwd=elsewhere)
  assert "resnet50" in out and "25,557,032" in out and "gpt2_small" in out


def test_a_short_train_writes_its_record_without_a_git_commit(venv, elsewhere):
  run(venv / "bin" / "scalezoo", "train", "tiny.toml", "--out", "run", "--quiet", cwd=elsewhere)
  rec = json.loads((elsewhere / "run" / "record.json").read_text())
  assert rec["status"] == "finished" and rec["steps_run"] == 20 and rec["schema"] == 2
  assert rec["provenance"]["package_version"] and "git_commit" not in rec["provenance"]  # not run from a checkout


@pytest.mark.long  # nine runs and their fits from the wheel
def test_a_short_demo_runs_from_its_packaged_spec(venv, elsewhere):
  sets = [
    "base.steps=20",
    "base.eval_every=10",
    "base.early_stopping_patience=0",
    'axes."model_args.width"=[4, 8, 16]',
    'axes."data_args.n_train"=[875, 1750, 3500]',
  ]
  run(
    venv / "bin" / "scalezoo",
    "demo",
    "--out",
    "demo",
    "--quiet",
    *[a for s in sets for a in ("--set", s)],
    cwd=elsewhere,
    timeout=600,
  )
  summary = json.loads((elsewhere / "demo" / "summary.json").read_text())
  assert summary["runs"] == {"finished": 9}
  assert {p.name for p in (elsewhere / "demo").glob("*.png")} >= {"loss_vs_compute.png", "loss_vs_params.png"}
