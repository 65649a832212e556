"""Sweeps: stable ids, one clear line for bad input with nothing written, one sweep per folder, exactly-once records
that survive cut-offs, SIGKILLs, corrupt checkpoints and torn lines, and executors that agree bit for bit."""

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
import tomllib
from pathlib import Path

import jax
import pytest
import tiny
from jax.experimental.compilation_cache import compilation_cache

from scalezoo import cli, sweep
from scalezoo.sweep import store
from scalezoo.train import config
from scalezoo.train.config import ConfigError

ROOT = Path(__file__).resolve().parents[1]
TINY = ROOT / "configs" / "sweep_tiny.toml"
CACHE_KEYS = (
  "jax_compilation_cache_dir",
  "jax_persistent_cache_min_compile_time_secs",
  "jax_persistent_cache_min_entry_size_bytes",
)


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
  """One compile cache for this module's sweeps, in process and in subprocesses; the JAX settings are restored."""
  old = {k: getattr(jax.config, k) for k in CACHE_KEYS}
  mp = pytest.MonkeyPatch()
  mp.setenv("JAX_COMPILATION_CACHE_DIR", str(tmp_path_factory.mktemp("jax_cache")))
  yield
  mp.undo()
  for k, v in old.items():
    jax.config.update(k, v)
  compilation_cache.reset_cache()


@pytest.fixture(scope="module")
def reference(tmp_path_factory, cache):
  """The tiny sweep, uninterrupted, in this process."""
  out = tmp_path_factory.mktemp("reference") / "out"
  assert cli.main(["sweep", str(TINY), "--out", str(out), "--quiet"]) == 0
  return out


def records(out) -> dict:
  rows = store.read(out)
  ids = [r["run_id"] for r in rows]
  assert len(ids) == len(set(ids)), "a run id appears twice in runs.jsonl"
  return {r["run_id"]: r for r in rows}


def numbers(rec: dict) -> tuple:
  return rec["status"], rec["metrics"], rec["curve"], rec["steps_run"]


def assert_same_numbers(out, ref):
  got, want = records(out), records(ref)
  assert sorted(got) == sorted(want)
  for k in want:
    assert numbers(got[k]) == numbers(want[k]), k


def write(path: Path, text: str) -> Path:
  path.write_text(text)
  return path


def test_grid_has_stable_ids_and_shape_sharing_groups():
  s = sweep.load(TINY)
  ids = [r.run_id() for r in s.runs]
  assert len(ids) == len(set(ids)) == 12
  assert ids == [r.run_id() for r in sweep.load(TINY).runs]
  gs = sweep.groups(s.runs)
  assert [len(g) for g in gs] == [6, 6]
  assert all(len({r.model_args["width"] for r in g}) == 1 for g in gs)
  again = sweep.parse(tomllib.loads(sweep.spec_text(s)), "spec.toml")  # what the sweep writes to out/spec.toml
  assert [r.run_id() for r in again.runs] == ids


@pytest.mark.parametrize(
  "spec", sorted(ROOT.glob("results/**/spec.toml")), ids=lambda p: str(p.parent.relative_to(ROOT / "results"))
)
def test_committed_sweeps_expand_to_the_run_ids_they_recorded(spec):
  """The grid's expansion (seed and lr axes spliced into one parsed config per other cell) gives the ids the
  committed runs.jsonl files hold, bit for bit (a study left partly run, e.g. lm_scaling_wsd, holds a subset)."""
  recorded = {row["run_id"] for row in store.read(spec.parent)}
  assert recorded and recorded <= {r.run_id() for r in sweep.load(spec).runs}


def test_seed_and_lr_axes_give_the_configs_and_ids_that_parsing_each_run_gives():
  raw = {
    "base": tiny.mlp_digits(steps=10),
    "axes": {
      "optimizer.lr": [1, 0.01, 3e-3],  # an int lr is a float, as parse() makes it
      "model_args.width": [8, 16],
      "data_seed": [0, 5],
      "seed": [0, 1, 1],  # a repeated run once
      "optimizer.name, schedule.name": [["sgd", "cosine"], ["adam", "constant"]],
    },
  }
  runs = sweep.parse(raw, "x").runs
  assert len(runs) == 3 * 2 * 2 * 2 * 2
  for r in runs:
    again = config.parse(r.to_dict())
    assert r == again and r.run_id() == again.run_id() and type(r.optimizer.lr) is float
  with pytest.raises(ConfigError, match="'seed' must be in"):
    sweep.parse({**raw, "axes": {"seed": [0, 2**32]}}, "x")
  with pytest.raises(ConfigError, match="'optimizer.lr' must be > 0"):
    sweep.parse({**raw, "axes": {"optimizer.lr": [1e-3, 0.0]}}, "x")


def test_checkpoint_cadence_is_a_sweep_setting_not_part_of_the_id():
  s = sweep.load(TINY)
  assert all(r.checkpoint_every == 0 for r in s.runs)
  assert sweep.checkpoint_cadence(s.runs[0], None) == 48  # about 5 per run
  assert sweep.checkpoint_cadence(s.runs[0], 80) == 80
  assert sweep.checkpoint_cadence(s.runs[0].replace(checkpoint_every=40), 80) == 40
  assert [r.run_id() for r in sweep.load(TINY, ["sweep.checkpoint_every=80"]).runs] == [r.run_id() for r in s.runs]


def test_dry_run_prints_one_id_per_line_and_writes_nothing(tmp_path, capsys):
  assert cli.main(["sweep", str(TINY), "--out", str(tmp_path / "out"), "--dry-run"]) == 0
  assert capsys.readouterr().out.split() == [r.run_id() for r in sweep.load(TINY).runs]
  assert not (tmp_path / "out").exists()


BAD = {
  "not toml": ("name = [", [], "not valid TOML"),
  "unknown section": ('[bsae]\nmodel = "mlp"\n', [], "unknown key 'bsae'"),
  "axis not a list": ('[base]\nmodel = "mlp"\n[axes]\nseed = 3\n', [], "non-empty list"),
  "unknown run key": ('[base]\nmodel = "mlp"\n[axes]\nwidth = [8]\n', [], "unknown key 'width'"),
  "zipped axis entry of the wrong length": (
    '[base]\nmodel = "mlp"\n[axes]\n"seed, steps" = [[0, 10], [1]]\n',
    [],
    "needs a list of 2 values per entry",
  ),
  "bad executor": (TINY, ['sweep.executor="slurm"'], "allowed: local, process, ray"),
  "no workers": (TINY, ["sweep.workers=0"], "'sweep.workers' must be >= 1"),
  "unknown model": (TINY, ['base.model="mpl"'], "'model'"),
  "data that does not load": (TINY, ["base.data_args.size=4"], "size must be at least 8"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_input_is_one_line_exit_2_and_nothing_written(case, tmp_path, capsys):
  spec, sets, message = BAD[case]
  spec = spec if isinstance(spec, Path) else write(tmp_path / "spec.toml", spec)
  out = tmp_path / "out"
  code = cli.main(["sweep", str(spec), "--out", str(out), *[a for s in sets for a in ("--set", s)]])
  err = capsys.readouterr().err
  assert code == 2 and message in err and err.count("\n") == 1 and err.startswith("scalezoo sweep: ")
  assert not out.exists()


def test_zipped_axes_move_together_and_cross_the_others():
  raw = tomllib.loads(TINY.read_text())
  raw["axes"] = {"model_args.width, optimizer.lr": [[8, 1e-2], [32, 3e-3]], "seed": [0, 1]}
  runs = sweep.parse(raw, "zipped").runs
  got = sorted((r.model_args["width"], r.optimizer.lr, r.seed) for r in runs)
  assert got == [(8, 1e-2, 0), (8, 1e-2, 1), (32, 3e-3, 0), (32, 3e-3, 1)]
  assert [len(g) for g in sweep.groups(runs)] == [2, 2]  # each width trains its two seeds together


def test_out_that_is_a_file_is_bad_input(tmp_path, capsys):
  write(tmp_path / "out", "x")
  assert cli.main(["sweep", str(TINY), "--out", str(tmp_path / "out")]) == 2
  assert "not a folder" in capsys.readouterr().err


def test_a_second_sweep_on_one_folder_is_refused(tmp_path, capsys):
  out = tmp_path / "out"
  out.mkdir()
  with sweep.Lock(out):
    assert cli.main(["sweep", str(TINY), "--out", str(out)]) == 2
    assert f"another sweep (pid {os.getpid()}) is running" in capsys.readouterr().err
    assert sorted(p.name for p in out.iterdir()) == [".lock"]  # the refused sweep wrote nothing
  assert not (out / ".lock").exists()


def test_a_stale_lock_from_a_killed_sweep_is_taken_over(tmp_path):
  dead = subprocess.Popen([sys.executable, "-c", "pass"])
  dead.wait()
  write(tmp_path / ".lock", str(dead.pid))
  with sweep.Lock(tmp_path) as lock:
    assert (tmp_path / ".lock").read_text() == str(os.getpid()) and lock.fd is not None


def test_tiny_sweep_records_every_run_once_and_a_rerun_runs_nothing(reference, capsys):
  recs = records(reference)
  s = sweep.load(TINY)
  assert sorted(recs) == sorted(r.run_id() for r in s.runs)
  for cfg in s.runs:
    rec = recs[cfg.run_id()]
    assert rec["status"] == "finished" and rec["group_size"] == 6 and rec["steps_run"] == 240
    assert rec["config"] == json.loads(json.dumps(cfg.to_dict()))  # the spec's config, checkpoint_every 0 and all
  assert (reference / "spec.toml").is_file() and not (reference / ".lock").exists()
  before = (reference / "runs.jsonl").read_bytes()
  assert cli.main(["sweep", str(TINY), "--out", str(reference), "--quiet"]) == 0
  assert "12 already ended, 0 to run" in capsys.readouterr().out
  assert (reference / "runs.jsonl").read_bytes() == before


def test_cut_off_groups_resume_from_checkpoints_past_corruption_and_torn_lines(reference, tmp_path, caplog):
  out = tmp_path / "out"
  shutil.copytree(reference, out)
  gs = [[c.run_id() for c in g] for g in sweep.groups(sweep.load(TINY).runs)]
  lines = (out / "runs.jsonl").read_text().splitlines(keepends=True)
  keep = [ln for ln in lines if json.loads(ln)["run_id"] not in gs[0] + gs[1][4:]]
  torn = next(ln for ln in lines if json.loads(ln)["run_id"] == gs[1][4])
  # group 0 was cut off after its last checkpoint; group 1 after 4 of its 6 appends, the 5th torn mid-line
  (out / "runs.jsonl").write_text("".join(keep) + torn[: len(torn) // 2])
  ckpt = out / "checkpoints" / sweep.group_id(sweep.groups(sweep.load(TINY).runs)[0])
  assert sorted(int(p.name) for p in ckpt.iterdir() if p.name.isdigit()) == [160, 240]
  for f in (ckpt / "240").rglob("*"):
    if f.is_file() and f.stat().st_size > 0 and "meta" not in str(f):
      f.write_bytes(f.read_bytes()[: f.stat().st_size // 2])  # a truncated newest checkpoint
  with caplog.at_level("WARNING"):
    assert cli.main(["sweep", str(TINY), "--out", str(out), "--quiet"]) == 0
  assert "checkpoint at step 240 is unreadable" in caplog.text
  assert_same_numbers(out, reference)


def test_a_diverging_run_is_recorded_and_a_failed_one_exits_1_after_the_rest(tmp_path, capsys):
  # width 8 as in the tiny sweep, so the compiled programs come from the cache; devices=64 fails before compiling
  axes = '[axes]\n"optimizer.lr" = [3e-3, 1e-2, 1e4]\nseed = [0, 1]\ndevices = [1, 64]\n'
  spec = write(tmp_path / "spec.toml", TINY.read_text().split("[axes]")[0] + axes)
  out = tmp_path / "out"
  argv = ["sweep", str(spec), "--out", str(out), "--quiet", "--set", "base.model_args.width=8"]
  assert cli.main(argv) == 1
  recs = records(out)
  assert len(recs) == 12
  by = {(r["config"]["optimizer"]["lr"], r["config"]["seed"], r["config"]["devices"]): r for r in recs.values()}
  assert by[(1e-2, 0, 1)]["status"] == "finished" and by[(1e4, 0, 1)]["status"] == "diverged"
  assert 0 < by[(1e4, 0, 1)]["diverged_step"] <= 240
  assert by[(1e-2, 0, 64)]["status"] == "failed" and "devices=64" in by[(1e-2, 0, 64)]["error"]
  assert "2 diverged, 6 failed, 4 finished" in capsys.readouterr().out
  before = (out / "runs.jsonl").read_bytes()
  assert cli.main(argv) == 1  # ended runs, failed ones too, are not repeated
  assert (out / "runs.jsonl").read_bytes() == before


def _sweep_cmd(out, *extra):
  return [sys.executable, "-m", "scalezoo.cli", "sweep", str(TINY), "--out", str(out), "--quiet", *extra]


def _checkpoints(out: Path) -> list[Path]:
  return [d for d in (out / "checkpoints").glob("*/*") if d.name.isdigit()]


def _kill_after(p: subprocess.Popen, event, delay: float) -> None:
  """SIGKILL `p` `delay` seconds after `event()` first holds; fails the test if `p` ended first."""
  t_end = time.monotonic() + 120
  while not event() and p.poll() is None and time.monotonic() < t_end:
    time.sleep(0.02)
  assert event(), "the sweep ended (or stalled) before the moment to kill it"
  with pytest.raises(subprocess.TimeoutExpired):  # still running after the delay: kill it now
    p.wait(delay)
  p.send_signal(signal.SIGKILL)
  p.wait()


@pytest.mark.parametrize("trial", [0, pytest.param(1, marks=pytest.mark.slow), pytest.param(2, marks=pytest.mark.slow)])
def test_sigkill_at_random_moments_then_resume_gives_every_run_once_with_the_same_numbers(trial, reference, tmp_path):
  rng, out = random.Random(trial), tmp_path / "out"
  jsonl = out / "runs.jsonl"
  # the first kill lands at a random moment after the first group's first checkpoint (mid-group), the second at a
  # random moment after the first group's records were appended (mid second group)
  for event, delay in [
    (lambda: _checkpoints(out), rng.uniform(0.0, 0.5)),
    (lambda: jsonl.exists(), rng.uniform(0.0, 0.5)),
  ]:
    p = subprocess.Popen(_sweep_cmd(out), cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _kill_after(p, event, delay)
    assert len(store.read(out)) < 12, "killed after every run had ended"
  assert 0 < len(store.read(out)) <= 6  # some of the first group's runs, once each (the kill may land mid-appends)
  done = subprocess.run(_sweep_cmd(out), cwd=ROOT, capture_output=True, text=True)
  assert done.returncode == 0, done.stderr[-2000:]
  assert_same_numbers(out, reference)


def _alive(pid: int) -> bool:
  try:
    return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] != "Z"
  except FileNotFoundError:
    return False


@pytest.mark.slow
@pytest.mark.skipif(sys.platform != "linux", reason="reads /proc")
def test_process_workers_die_with_a_killed_driver_and_the_sweep_resumes(reference, tmp_path):
  out = tmp_path / "out"
  p = subprocess.Popen(
    _sweep_cmd(out, "--executor", "process"), cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
  )
  kids = Path(f"/proc/{p.pid}/task/{p.pid}/children")
  t_end = time.monotonic() + 60
  while len(kids.read_text().split()) < 3 and time.monotonic() < t_end:  # 2 workers and the resource tracker
    time.sleep(0.05)
  while not _checkpoints(out) and p.poll() is None and time.monotonic() < t_end:  # a worker is training
    time.sleep(0.02)
  assert _checkpoints(out) and p.poll() is None
  children = [int(c) for c in kids.read_text().split()]
  p.send_signal(signal.SIGKILL)
  p.wait()
  t_end = time.monotonic() + 10
  while any(_alive(c) for c in children) and time.monotonic() < t_end:
    time.sleep(0.1)
  assert children and not any(_alive(c) for c in children)
  done = subprocess.run(_sweep_cmd(out, "--executor", "process"), cwd=ROOT, capture_output=True, text=True)
  assert done.returncode == 0, done.stderr[-2000:]
  assert_same_numbers(out, reference)


def test_process_executor_gives_the_same_records(reference, tmp_path):
  out = tmp_path / "out"
  assert cli.main(["sweep", str(TINY), "--out", str(out), "--quiet", "--executor", "process"]) == 0
  assert_same_numbers(out, reference)


@pytest.mark.ci  # a local Ray cluster
def test_ray_executor_on_a_local_cluster_gives_the_same_records(reference, tmp_path):
  pytest.importorskip("ray")
  out = tmp_path / "out"
  assert cli.main(["sweep", str(TINY), "--out", str(out), "--quiet", "--executor", "ray"]) == 0
  assert_same_numbers(out, reference)


def test_lock_errors_are_config_errors(tmp_path):
  with sweep.Lock(tmp_path), pytest.raises(ConfigError, match="another sweep"):
    sweep.Lock(tmp_path).__enter__()


def test_ray_ships_the_package_itself(tmp_path):
  """What a remote Ray cluster gets: the package's own folders (configs included), importable as scalezoo."""
  from scalezoo.sweep.executors import package_copy

  root = Path(package_copy(tmp_path))
  assert {p.name for p in root.iterdir()} == {"zoo", "data", "scaling", "train", "sweep", "configs"}
  assert (root / "configs" / "demo.toml").is_file() and (root / "sweep" / "executors.py").is_file()
  assert not list(root.rglob("__pycache__")) and not list(root.rglob("site-packages"))
  code = "import sys; sys.path.insert(0, sys.argv[1]); import scalezoo.sweep as s; print(s.__file__)"
  where = subprocess.run([sys.executable, "-c", code, str(tmp_path)], capture_output=True, text=True, check=True)
  assert where.stdout.strip().startswith(str(root))


def test_a_corrupt_line_in_runs_jsonl_stops_the_sweep_with_one_line_and_appends_nothing(reference, tmp_path, capsys):
  out = tmp_path / "out"
  shutil.copytree(reference, out, ignore=shutil.ignore_patterns("checkpoints"))
  lines = (out / "runs.jsonl").read_text().splitlines(keepends=True)
  lines[3] = lines[3][:40] + "\n"  # a middle line cut short: not a torn last line
  (out / "runs.jsonl").write_text("".join(lines))
  before = (out / "runs.jsonl").read_bytes()
  assert cli.main(["sweep", str(TINY), "--out", str(out), "--quiet"]) == 2
  err = capsys.readouterr().err
  assert err.count("\n") == 1 and "runs.jsonl:4: not valid JSON" in err
  assert (out / "runs.jsonl").read_bytes() == before
  assert cli.main(["fit", str(out)]) == 2 and "runs.jsonl:4: not valid JSON" in capsys.readouterr().err
