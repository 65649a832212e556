"""The fault-injection suite (issue 21): kills, interrupts, corruption, full disks and hostile input, each case
asserting that the record equals the uninterrupted one or that the command refused with one line (no traceback).

The suite counts what it did (trials, kills and interrupts, corruptions, refusals, wrong records) and prints the
counts when the module ends; docs/reliability.md quotes them.
"""

import collections
import errno
import json
import os
import pickle
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import tiny
from jax.experimental.compilation_cache import compilation_cache

from scalezoo import cli
from scalezoo.data import atomic
from scalezoo.sweep import store
from scalezoo.train import checkpoint, config, faults, loop, outdir

ROOT = Path(__file__).resolve().parents[1]
COUNTS = collections.Counter({"trials": 0, "kills": 0, "corruptions": 0, "refusals": 0, "wrong records": 0})

RUN_RAW = tiny.mlp_digits(
  steps=60, eval_every=20, checkpoint_every=20, model_args={"width": 16}, data_args={"n_train": 256}
)
RUN = tiny.toml(RUN_RAW)
SPEC_RAW = tiny.spec(
  "faults",
  tiny.mlp_digits(steps=40, eval_every=20, data_args={"n_train": 256}),
  {"seed": [0, 1], "model_args.depth": [1, 2]},
  sweep={"checkpoint_every": 20},
)
SPEC = tiny.toml(SPEC_RAW)
CACHE_KEYS = (
  "jax_compilation_cache_dir",
  "jax_persistent_cache_min_compile_time_secs",
  "jax_persistent_cache_min_entry_size_bytes",
)


@pytest.fixture(scope="module", autouse=True)
def report(request):
  yield
  line = "fault-injection suite: " + ", ".join(f"{k} {v}" for k, v in COUNTS.items())
  capture = request.config.pluginmanager.get_plugin("capturemanager")
  with capture.global_and_fixture_disabled() if capture else open(os.devnull):  # past pytest's capture
    print("\n" + line, file=sys.stderr)


@pytest.fixture(autouse=True)
def no_traceback(capsys, caplog):
  """No command in the suite prints a traceback: what a test left unread on stderr, and what was logged with one
  (absl and asyncio log a library thread's error with its traceback; pytest takes logs away from stderr)."""
  yield
  err = capsys.readouterr().err
  logged = [r.getMessage()[:300] for r in caplog.get_records("call") if r.exc_info]
  assert "Traceback" not in err and not logged, (err[-2000:], logged)


@pytest.fixture(scope="module")
def jax_cache(tmp_path_factory):
  """Sweeps switch JAX's compile cache to their folder's; the session's settings come back afterwards."""
  old = {k: getattr(jax.config, k) for k in CACHE_KEYS}
  yield tmp_path_factory.mktemp("shared_cache")
  for k, v in old.items():
    jax.config.update(k, v)
  compilation_cache.reset_cache()


def write(path: Path, text: str) -> Path:
  path.parent.mkdir(parents=True, exist_ok=True)
  path.write_text(text)
  return path


def numbers(rec: dict) -> tuple:
  return rec["status"], rec["metrics"], rec["curve"], rec["steps_run"]


def same(got: dict, want: dict) -> None:
  COUNTS["trials"] += 1
  if numbers(got) != numbers(want):
    COUNTS["wrong records"] += 1
  assert numbers(got) == numbers(want)


def main(argv) -> int:
  return cli.main([str(a) for a in argv])


def refused(argv, capsys, code=2, needle="") -> str:
  """`scalezoo ARGV` exits `code` with one line on stderr naming `needle`, and no traceback."""
  got = main(argv)
  err = capsys.readouterr().err
  lines = [ln for ln in err.splitlines() if ln.strip()]
  assert got == code, err[-2000:]
  assert len(lines) == 1 and "Traceback" not in err and len(lines[0]) < 700, err[-2000:]
  assert needle.lower() in lines[0].lower(), lines[0]
  COUNTS["refusals"] += 1
  return lines[0]


def train_args(cfg: Path, out: Path, *sets):
  return ["train", cfg, "--out", out, "--quiet", *[x for s in sets for x in ("--set", s)]]


def record(out: Path) -> dict:
  return json.loads((out / "record.json").read_text())


@pytest.fixture(scope="module")
def run_toml(tmp_path_factory):
  return write(tmp_path_factory.mktemp("cfg") / "run.toml", RUN)


@pytest.fixture(scope="module")
def reference(tmp_path_factory, run_toml):
  """The tiny run, uninterrupted, into a run folder."""
  out = tmp_path_factory.mktemp("ref") / "run"
  assert main(train_args(run_toml, out)) == 0
  return record(out)


def steps_in(ckpts: Path) -> list[int]:
  return sorted(int(p.name) for p in ckpts.iterdir() if p.name.isdigit()) if ckpts.is_dir() else []


# ---- 1. nothing in a results folder is executed ---------------------------------------------------------------


class Bomb:
  """A pickle that, if anything ever unpickled it, would leave a marker file (as a crafted cache entry could)."""

  def __init__(self, marker: Path):
    self.marker = marker

  def __reduce__(self):
    return (Path.touch, (self.marker,))


@pytest.mark.long  # three sweeps and a run
def test_nothing_in_a_results_folder_or_a_shared_cache_is_unpickled_or_run(tmp_path, jax_cache, monkeypatch, capsys):
  spec, marker = write(tmp_path / "spec.toml", SPEC), tmp_path / "EXECUTED"
  monkeypatch.setenv("JAX_COMPILATION_CACHE_DIR", str(jax_cache))
  jax_cache.chmod(0o700)
  assert main(["sweep", spec, "--out", tmp_path / "a", "--quiet"]) == 0
  want = {r["run_id"]: r for r in store.read(tmp_path / "a")}
  bomb = pickle.dumps(Bomb(marker))
  planted = 0
  for folder in (jax_cache, tmp_path / "a"):  # every file of the shared cache, and crafted files in the results folder
    for f in [p for p in folder.rglob("*") if p.is_file() and p.suffix not in (".jsonl", ".toml")]:
      f.write_bytes(bomb)
      planted += 1
    for name in (".cache/jax/entry", ".cache/exec/entry.pkl", "checkpoints/x.pkl"):
      write(folder / name, "").write_bytes(bomb)
      planted += 1
  COUNTS["corruptions"] += planted

  def never(*a, **k):
    raise AssertionError("something was unpickled")

  monkeypatch.setattr(pickle, "loads", never)
  monkeypatch.setattr(pickle, "load", never)
  shutil.rmtree(tmp_path / "a" / "checkpoints")
  (tmp_path / "a" / "runs.jsonl").unlink()
  assert main(["sweep", spec, "--out", tmp_path / "a", "--quiet"]) == 0  # the same folder, cache entries bombed
  assert main(["sweep", spec, "--out", tmp_path / "b", "--quiet"]) == 0  # a fresh folder, the shared cache
  assert main(train_args(write(tmp_path / "run.toml", RUN), tmp_path / "run")) == 0
  capsys.readouterr()
  assert not marker.exists()
  for out in ("a", "b"):
    got = {r["run_id"]: r for r in store.read(tmp_path / out)}
    assert sorted(got) == sorted(want)
    for k in want:
      same(got[k], want[k])


def test_a_cache_folder_others_can_write_or_holding_a_link_is_not_used(tmp_path, jax_cache, caplog):
  from scalezoo.sweep.group import trusted, use_compile_cache

  shared = tmp_path / "shared"
  shared.mkdir(mode=0o700)
  assert trusted(shared) and trusted(shared / "not_yet")
  shared.chmod(0o777)
  jax.config.update("jax_compilation_cache_dir", str(shared))  # as JAX sets it from $JAX_COMPILATION_CACHE_DIR
  jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)  # so any program compiled would go there
  jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
  with caplog.at_level("WARNING"):
    use_compile_cache(shared)
  assert jax.config.jax_compilation_cache_dir is None and "others can write" in caplog.text  # cleared, not kept
  jax.jit(lambda x: x * 3.0)(jnp.ones(7)).block_until_ready()
  assert list(shared.iterdir()) == []  # nothing compiled went there
  COUNTS["refusals"] += 1
  shared.chmod(0o700)  # this user's folder, an entry a link to /dev/zero (JAX reads an entry whole)
  (shared / "jit_f-0123456789abcdef-cache").symlink_to("/dev/zero")
  COUNTS["corruptions"] += 1
  jax.config.update("jax_compilation_cache_dir", str(shared))
  with caplog.at_level("WARNING"):
    use_compile_cache(shared)
  assert jax.config.jax_compilation_cache_dir is None and "special file" in caplog.text
  COUNTS["refusals"] += 1


# ---- 2. a run's checkpoints belong to it --------------------------------------------------------------------------


def test_a_run_folder_holds_one_run_and_its_checkpoints_are_its_own(tmp_path, run_toml, reference, capsys):
  out = tmp_path / "run"
  assert main(train_args(run_toml, out)) == 0
  rid = reference["run_id"]
  same(record(out), reference)
  before = (out / "record.json").read_bytes()
  refused(train_args(run_toml, out, "optimizer.lr=0.01"), capsys, needle="holds run")
  refused(train_args(run_toml, out, "steps=40"), capsys, needle="holds run")
  assert (out / "record.json").read_bytes() == before and steps_in(out / "checkpoints" / rid) == [40, 60]
  # another run's checkpoints copied under this run's id are refused, never used or deleted
  other = config.load(run_toml, ["optimizer.lr=0.01"]).run_id()
  shutil.copytree(out / "checkpoints" / rid, tmp_path / "b" / "checkpoints" / other)
  COUNTS["corruptions"] += 1
  refused(train_args(run_toml, tmp_path / "b", "optimizer.lr=0.01"), capsys, needle="belongs to other runs")
  assert steps_in(tmp_path / "b" / "checkpoints" / other) == [40, 60] and not (tmp_path / "b" / "record.json").exists()


@pytest.mark.long
def test_an_old_layout_checkpoint_is_not_adopted_and_the_run_restarts_cleanly(tmp_path, run_toml, reference, caplog):
  """Checkpoints written before they moved under checkpoints/<run id>/ (out/checkpoints/<step>, no owner): never
  restored, never deleted; the run trains from step 0 and ends as the uninterrupted one."""
  out, rid = tmp_path / "run", reference["run_id"]
  assert main(train_args(run_toml, out)) == 0
  (out / "checkpoints" / rid / "40").rename(out / "checkpoints" / "40")  # an in-progress run of the old layout
  shutil.rmtree(out / "checkpoints" / rid)
  (out / "record.json").unlink()
  meta = out / "checkpoints" / "40" / "meta" / "metadata"
  meta.write_text(json.dumps({k: v for k, v in json.loads(meta.read_text()).items() if k not in ("owner",)}))
  COUNTS["corruptions"] += 1
  assert main(train_args(run_toml, out)) == 0
  same(record(out), reference)
  assert "starts from step 0" in caplog.text
  assert steps_in(out / "checkpoints") == [40] and steps_in(out / "checkpoints" / rid) == [40, 60]


@pytest.mark.long
def test_a_checkpoint_past_the_runs_steps_is_refused(tmp_path, run_toml, reference, capsys, monkeypatch):
  out, save = tmp_path / "run", checkpoint.Checkpointer.save
  with monkeypatch.context() as m:  # a well-formed checkpoint of this very run, at a step it never reaches
    m.setattr(checkpoint.Checkpointer, "save", lambda self, step, *a: save(self, 9999 if step == 60 else step, *a))
    assert main(train_args(run_toml, out)) == 0
  COUNTS["corruptions"] += 1
  (out / "record.json").unlink()
  refused(train_args(run_toml, out), capsys, needle="past this run's 60 steps")
  assert steps_in(out / "checkpoints" / reference["run_id"]) == [40, 9999]


@pytest.mark.long
def test_a_transient_read_error_keeps_every_checkpoint(tmp_path, run_toml, reference, capsys, monkeypatch):
  out = tmp_path / "run"
  assert main(train_args(run_toml, out)) == 0
  (out / "record.json").unlink()
  ckpts = out / "checkpoints" / reference["run_id"]

  def eio(*a, **k):
    raise OSError(errno.EIO, "Input/output error")

  with monkeypatch.context() as m:
    m.setattr(checkpoint.ocp.CheckpointManager, "restore", eio)
    refused(train_args(run_toml, out), capsys, code=1, needle="it is kept")
  COUNTS["corruptions"] += 1
  assert steps_in(ckpts) == [40, 60] and not (ckpts / "unusable").exists()
  assert main(train_args(run_toml, out)) == 0  # the file system is back: the run resumes and ends as before
  same(record(out), reference)


# ---- 3. metadata is covered by the integrity hash -----------------------------------------------------------------


def _edit_meta(step_dir: Path, edit) -> None:
  path = step_dir / "meta" / "metadata"
  meta = json.loads(path.read_text())
  edit(meta)
  path.write_text(json.dumps(meta))


def _truncate_state(step_dir: Path) -> None:
  for f in (step_dir / "state").rglob("*"):
    if f.is_file() and f.stat().st_size > 0:
      f.write_bytes(f.read_bytes()[: f.stat().st_size // 2])


CORRUPT = {
  "curve value": lambda d: _edit_meta(d / "60", lambda m: m["curves"][0]["val_loss"].__setitem__(0, 0.5)),
  "status": lambda d: _edit_meta(d / "60", lambda m: m["runs"][0].__setitem__("status", "diverged")),
  "timers": lambda d: _edit_meta(d / "60", lambda m: m.__setitem__("train_time", 0.0)),
  "earlier meta and newest state": lambda d: (
    _edit_meta(d / "40", lambda m: m["curves"][0]["train_loss"].__setitem__(0, 9.0)),
    _truncate_state(d / "60"),
  ),
  "state bytes": lambda d: _truncate_state(d / "60"),
  "an earlier step copied as the newest": lambda d: (shutil.rmtree(d / "60"), shutil.copytree(d / "40", d / "60")),
  "older format (no integrity hash)": lambda d: _edit_meta(d / "60", lambda m: m.pop(checkpoint.INTEGRITY)),
}


@pytest.mark.parametrize(
  "case", [c if c == "curve value" else pytest.param(c, marks=pytest.mark.long) for c in CORRUPT]
)
def test_a_corrupt_checkpoint_is_set_aside_and_the_run_ends_as_uninterrupted(case, tmp_path, run_toml, reference):
  out = tmp_path / "run"
  assert main(train_args(run_toml, out)) == 0
  (out / "record.json").unlink()
  ckpts = out / "checkpoints" / reference["run_id"]
  CORRUPT[case](ckpts)
  COUNTS["corruptions"] += 1
  assert main(train_args(run_toml, out)) == 0
  same(record(out), reference)
  assert any((ckpts / "unusable").iterdir())  # kept for a look, never deleted


# ---- 4. resources that run out are not results --------------------------------------------------------------------


@pytest.fixture(scope="module")
def sweep_reference(tmp_path_factory, jax_cache):
  d = tmp_path_factory.mktemp("sweep_ref")
  spec = write(d / "spec.toml", SPEC)
  assert main(["sweep", spec, "--out", d / "out", "--quiet"]) == 0
  return spec, {r["run_id"]: r for r in store.read(d / "out")}


def _full_disk(*a, **k):
  raise OSError(errno.ENOSPC, "No space left on device")


def _no_memory(*a, **k):
  raise RuntimeError("RESOURCE_EXHAUSTED: Out of memory while trying to allocate 4.00GiB.")


RESOURCES = {
  "disk full on append": ("scalezoo.sweep.store.append", _full_disk, "no space left"),
  "disk full on checkpoint": ("scalezoo.train.checkpoint.Checkpointer.save", _full_disk, "no space left"),
  "device memory": ("scalezoo.train.eval.evaluate_split", _no_memory, "out of memory"),
  "host memory": ("scalezoo.train.eval.evaluate_split", lambda *a, **k: (_ for _ in ()).throw(MemoryError()), "memory"),
}


@pytest.mark.parametrize("case", [pytest.param(c, marks=pytest.mark.long) for c in RESOURCES])
def test_a_resource_running_out_ends_the_sweep_with_one_line_and_records_nothing_failed(
  case, tmp_path, sweep_reference, monkeypatch, capsys
):
  spec, want = sweep_reference
  target, fault, needle = RESOURCES[case]
  with monkeypatch.context() as m:
    m.setattr(target, fault)
    refused(["sweep", spec, "--out", tmp_path / "out", "--quiet"], capsys, code=1, needle=needle)
  assert all(r["status"] != "failed" for r in store.read(tmp_path / "out"))
  assert main(["sweep", spec, "--out", tmp_path / "out", "--quiet"]) == 0  # the cause is gone: it finishes
  got = {r["run_id"]: r for r in store.read(tmp_path / "out")}
  assert sorted(got) == sorted(want)
  for k in want:
    same(got[k], want[k])


@pytest.mark.long
def test_a_full_disk_in_train_is_one_line_exit_1(tmp_path, run_toml, reference, monkeypatch, capsys):
  with monkeypatch.context() as m:
    m.setattr(atomic, "write_atomic", _full_disk)
    refused(train_args(run_toml, tmp_path / "run"), capsys, code=1, needle="no space left")
  assert main(train_args(run_toml, tmp_path / "run")) == 0
  same(record(tmp_path / "run"), reference)


@pytest.mark.ci  # a worker process per case
@pytest.mark.parametrize("where", ["commit", "finalize"])
def test_a_full_disk_inside_orbaxs_save_is_one_line_and_leaves_no_half_checkpoint(where, tmp_path, run_toml, reference):
  """ENOSPC raised where Orbax writes (in a commit thread, or in the finalize), in a process of its own: its threads'
  logs, asyncio's unretrieved tasks and TensorStore's late callbacks all reach that process's stderr."""
  out = tmp_path / "run"
  worker = ROOT / "tests" / "workers" / "full_disk_in_orbax.py"
  p = subprocess.run(
    [sys.executable, worker, where, *map(str, train_args(run_toml, out))], capture_output=True, text=True, cwd=ROOT
  )
  lines = [ln for ln in p.stderr.splitlines() if ln.strip()]
  assert p.returncode == 1 and len(lines) == 1 and "Traceback" not in p.stderr, p.stderr[-3000:]
  assert "no space left" in lines[0].lower(), lines[0]
  COUNTS["refusals"] += 1
  ckpts = out / "checkpoints" / reference["run_id"]
  assert not list(ckpts.glob("*orbax-checkpoint-tmp*")) and steps_in(ckpts) == []  # nothing half-written
  assert not (out / "record.json").exists()
  assert main(train_args(run_toml, out)) == 0  # the disk has space again: it finishes
  same(record(out), reference)


def _mount_tmpfs(at: Path, size: str) -> bool:
  at.mkdir(parents=True, exist_ok=True)
  if not shutil.which("mount") or os.geteuid() != 0:
    return False
  return (
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(at)], capture_output=True).returncode
    == 0
  )


# Once flaky (1 of 2 CI runs): Orbax's writer threads logged the ENOSPC with tracebacks around the one line. A
# failed save now joins them (checkpoint.py) and their logs of it are dropped (faults.quiet_library_tracebacks).
@pytest.mark.ci  # a child process on a tmpfs this test mounts (root)
def test_a_real_full_disk_then_space_again_finishes_the_sweep(tmp_path, sweep_reference):
  spec, want = sweep_reference
  disk = tmp_path / "disk"
  if not _mount_tmpfs(disk, "300k"):
    pytest.skip("cannot mount a small tmpfs here (needs root and mount)")
  try:
    cmd = [sys.executable, "-m", "scalezoo.cli", "sweep", str(spec), "--out", str(disk / "out"), "--quiet"]
    env = {**os.environ, "XLA_FLAGS": "", "JAX_COMPILATION_CACHE_DIR": str(tmp_path / "cache")}
    p = subprocess.run(cmd, capture_output=True, text=True, env=env)
    lines = [ln for ln in p.stderr.splitlines() if ln.strip()]
    assert p.returncode == 1 and len(lines) == 1 and "Traceback" not in p.stderr, p.stderr[-2000:]
    assert "no space left" in lines[0].lower(), lines[0]
    assert all(r["status"] != "failed" for r in store.read(disk / "out"))
    assert not list((disk / "out").rglob("*orbax-checkpoint-tmp*"))  # no half-written checkpoint left
    COUNTS["refusals"] += 1
    subprocess.run(["mount", "-o", "remount,size=200m", str(disk)], check=True)
    p = subprocess.run(cmd, capture_output=True, text=True, env=env)
    assert p.returncode == 0 and "Traceback" not in p.stderr, p.stderr[-2000:]
    got = {r["run_id"]: r for r in store.read(disk / "out")}
    assert sorted(got) == sorted(want)
    for k in want:
      assert got[k]["status"] == want[k]["status"]  # one process vs 4 forced devices here: statuses, not digits
    COUNTS["trials"] += 1
  finally:
    subprocess.run(["umount", "-l", str(disk)], capture_output=True)


# ---- 5. runs.jsonl: one reader, one rule --------------------------------------------------------------------------


LINES = {
  "a garbled line": lambda lines: [lines[0], "#" + lines[1][1:], *lines[2:]],
  "a line without run_id": lambda lines: [json.dumps({"status": "finished"}) + "\n", *lines],
  "every line twice": lambda lines: lines + lines,
}


@pytest.mark.parametrize(
  "case", [c if c == "a garbled line" else pytest.param(c, marks=pytest.mark.long) for c in LINES]
)
def test_a_bad_runs_jsonl_stops_sweep_and_fit_alike(case, tmp_path, capsys):
  spec, out = write(tmp_path / "spec.toml", SPEC), tmp_path / "out"
  out.mkdir()
  rows = [
    {"run_id": f"r{i}", "status": "finished", "params": 10 * 2**i, "metrics": {"test_loss": 2.0 / (i + 1)}}
    for i in range(6)
  ]
  lines = [json.dumps(r) + "\n" for r in rows]
  (out / "runs.jsonl").write_text("".join(LINES[case](lines)))
  before = (out / "runs.jsonl").read_bytes()
  COUNTS["corruptions"] += 1
  refused(["sweep", spec, "--out", out, "--quiet"], capsys, needle="runs.jsonl")
  refused(["fit", out, "--x", "N"], capsys, needle="runs.jsonl")
  refused(["plot", out], capsys, needle="runs.jsonl")
  assert (out / "runs.jsonl").read_bytes() == before


# ---- 6. what the grouping does to the digits ------------------------------------------------------------------


@pytest.mark.long
def test_a_runs_numbers_depend_on_its_group_size_only_and_its_record_says_it(run_toml):
  base = config.load(run_toml, ["checkpoint_every=0"])
  a, b, c = base, base.replace(seed=1), base.replace(seed=2)
  ab = loop.fit_group([a, b]).records[0].to_dict()
  ac = loop.fit_group([a, c]).records[0].to_dict()
  alone = loop.fit(a).record.to_dict()
  same(ab, ac)  # the same group size, other partners: the same bits
  assert ab["group_size"] == 2 and alone["group_size"] == 1 and ab["run_id"] == alone["run_id"]
  assert np.allclose(ab["metrics"]["test_loss"], alone["metrics"]["test_loss"], rtol=1e-5)


# ---- 7. one command per run folder --------------------------------------------------------------------------------


def test_a_second_train_on_one_folder_is_refused_with_one_line(tmp_path, run_toml, capsys):
  out = tmp_path / "run"
  out.mkdir()
  with outdir.FolderLock(out, "train"):
    refused(train_args(run_toml, out), capsys, needle="another train")
  assert not (out / "record.json").exists()
  (out / ".lock").mkdir()
  refused(train_args(run_toml, out), capsys, needle=".lock")


# ---- 8. bad input: one line, exit 2, nothing written --------------------------------------------------------------


BAD_SETS = {
  "seed=9223372036854775808": "64-bit",
  "seed=4294967296": "32-bit",
  "divergence_factor=nan": "finite",
  "divergence_factor=-1.0": "> 1",
  "optimizer.b1=nan": "finite",
  "optimizer.b2=1.0": "[0, 1)",
  "optimizer.weight_decay=inf": "finite",
  "optimizer.lr=1e400": "finite",
  "batch_size=1e30": "64-bit",
  "model_args.width=10000000": "memory",
  "model_args.width=" + "9" * 5_000_000: "must be int",
  "schedule.name=" + "x" * 5_000_000: "allowed",
}


@pytest.mark.parametrize("assignment", sorted(BAD_SETS), ids=lambda s: s[:40])
def test_bad_values_are_refused_with_a_short_line_and_nothing_written(assignment, tmp_path, run_toml, capsys):
  line = refused(train_args(run_toml, tmp_path / "run", assignment), capsys, needle=BAD_SETS[assignment])
  assert len(line) < 400
  assert not (tmp_path / "run").exists()


def test_bad_paths_and_files_are_refused_with_one_line(tmp_path, run_toml, capsys):
  deep = write(tmp_path / "deep.toml", "x = " + "[" * 100_000 + "]" * 100_000)
  refused(["train", deep, "--out", tmp_path / "o", "--quiet"], capsys, needle="nest")
  nested = write(tmp_path / "nested.toml", RUN + "\n[model_args.a.b.c.d.e.f.g.h.i.j.k.l.m.n.o.p.q.r.s]\nz = 1\n")
  refused(["train", nested, "--out", tmp_path / "o", "--quiet"], capsys, needle="nest")
  write(tmp_path / "file", "")
  refused(train_args(run_toml, tmp_path / "file"), capsys, needle="not a folder")
  refused(["sweep", write(tmp_path / "s.toml", SPEC), "--out", tmp_path / "file", "--quiet"], capsys, needle="folder")
  (tmp_path / "o2" / "record.json").mkdir(parents=True)
  refused(train_args(run_toml, tmp_path / "o2"), capsys, needle="is a folder")
  write(tmp_path / "o3" / "checkpoints", "")
  refused(train_args(run_toml, tmp_path / "o3"), capsys, needle="is a file")
  assert not (tmp_path / "o").exists()


def test_a_read_only_out_is_refused_with_one_line(tmp_path, run_toml, capsys):
  ro = tmp_path / "ro"
  if not _mount_tmpfs(ro, "1m"):
    pytest.skip("cannot mount a tmpfs here (needs root and mount)")
  try:
    (ro / "out").mkdir()
    subprocess.run(["mount", "-o", "remount,ro", str(ro)], check=True)
    refused(train_args(run_toml, ro / "out"), capsys, needle="cannot write")
    refused(train_args(run_toml, ro / "new"), capsys, needle="cannot write")
    refused(["sweep", write(tmp_path / "s.toml", SPEC), "--out", ro / "out", "--quiet"], capsys, needle="cannot write")
  finally:
    subprocess.run(["umount", "-l", str(ro)], capture_output=True)


def test_unbounded_fit_and_plot_inputs_are_refused_with_one_line(tmp_path, capsys):
  """`fit --bootstrap 1000000` (once memory without bound) and `plot` on zero losses (once a crash after one
  figure)."""
  out = tmp_path / "out"
  out.mkdir()
  rows = [
    {"run_id": f"r{i}", "status": "finished", "params": 10 * 2**i, "metrics": {"test_loss": 0.0}} for i in range(6)
  ]
  (out / "runs.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
  refused(["fit", out, "--x", "N", "--bootstrap", "1000000"], capsys, needle="--bootstrap")
  refused(["plot", out], capsys, needle="loss")
  assert sorted(p.name for p in out.iterdir()) == ["runs.jsonl"]


def test_nan_in_a_users_npz_is_bad_data(tmp_path, capsys):
  x = np.random.default_rng(0).normal(size=(100, 4)).astype(np.float32)
  x[3, 1] = np.nan
  np.savez(tmp_path / "d.npz", x=x, y=np.arange(100) % 2)
  cfg = write(
    tmp_path / "c.toml", f'model = "mlp"\ndata = "npz"\nsteps = 5\n[data_args]\npath = "{tmp_path / "d.npz"}"\n'
  )
  refused(["train", cfg, "--out", tmp_path / "o", "--quiet"], capsys, needle="NaN")
  assert not (tmp_path / "o").exists()


@pytest.mark.long
def test_the_batch_size_used_is_recorded(run_toml):
  rec = loop.fit(config.load(run_toml, ["batch_size=1e9", "checkpoint_every=0"])).record.to_dict()
  assert rec["config"]["batch_size"] == 10**9 and rec["batch_size"] == 256 and rec["examples_seen"] == 60 * 256


def test_a_grid_past_the_cap_is_refused_before_it_is_expanded(tmp_path, capsys, monkeypatch):
  axes = {"seed": list(range(1001)), "model_args.depth": list(range(1, 1001))}
  spec = write(tmp_path / "s.toml", tiny.toml({**SPEC_RAW, "axes": axes}))
  monkeypatch.setattr(config, "parse", lambda *a, **k: pytest.fail("a cell was expanded"))
  refused(["sweep", spec, "--out", tmp_path / "o", "--dry-run"], capsys, needle="at most 1,000,000")


# ---- interrupts that keep work (issue 20, item 4) -----------------------------------------------------------------

LONG = tiny.merge(RUN_RAW, {"steps": 2000, "eval_every": 100})


def _cli(*argv) -> list[str]:
  return [sys.executable, "-m", "scalezoo.cli", *map(str, argv), "--quiet"]


ENV = {**os.environ, "XLA_FLAGS": ""}  # one device, as a user's shell has


@pytest.fixture(scope="module")
def long_run(tmp_path_factory):
  """The long run's config (checkpoint_every = 0) and its uninterrupted record, from a fresh process."""
  d = tmp_path_factory.mktemp("long")
  cfg = write(d / "run.toml", tiny.toml(tiny.merge(LONG, {"checkpoint_every": 0})))
  subprocess.run(_cli("train", cfg, "--out", d / "ref"), env=ENV, check=True, capture_output=True)
  return cfg, record(d / "ref")


def _interrupt(cmd: list[str], out: Path, signum: int, delay: float) -> subprocess.CompletedProcess:
  """Start `cmd`, send `signum` `delay` seconds after it took out/.lock (training is about to start), and wait."""
  p = subprocess.Popen(cmd, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
  t_end = time.monotonic() + 120
  while not (out / ".lock").exists() and p.poll() is None and time.monotonic() < t_end:
    time.sleep(0.02)
  with pytest.raises(subprocess.TimeoutExpired):  # still running after the delay: interrupt it now
    p.wait(delay)
  p.send_signal(signum)
  COUNTS["kills"] += 1
  stdout, stderr = p.communicate(timeout=120)
  return subprocess.CompletedProcess(cmd, p.returncode, stdout, stderr)


def _trial(long_run, tmp_path, signum: int, delay: float, every: int) -> None:
  cfg, want = long_run
  if every:  # checkpoint_every changes neither the numbers nor the run id
    cfg = write(tmp_path / "run.toml", cfg.read_text().replace("checkpoint_every = 0", f"checkpoint_every = {every}"))
  out = tmp_path / "out"
  got = _interrupt(_cli("train", cfg, "--out", out), out, signum, delay)
  lines = got.stderr.strip().splitlines()
  assert got.returncode == 128 + signum and len(lines) == 1 and "Traceback" not in got.stderr, got.stderr[-2000:]
  assert "checkpoint saved at step" in lines[0] and signal.Signals(signum).name in lines[0], lines[0]
  step = int(lines[0].split("at step ")[1].split(";")[0])
  assert 0 < step < 2000 and step in steps_in(out / "checkpoints" / want["run_id"])
  assert not (out / "record.json").exists()
  done = subprocess.run(_cli("train", cfg, "--out", out), env=ENV, capture_output=True, text=True)
  assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr[-2000:]
  assert record(out)["run_id"] == want["run_id"]
  same(record(out), want)


@pytest.mark.ci  # signals a training process
def test_sigterm_saves_a_checkpoint_even_without_checkpoint_every_and_the_rerun_is_bit_for_bit(long_run, tmp_path):
  _trial(long_run, tmp_path, signal.SIGTERM, 1.0, every=0)


@pytest.mark.ci  # signals training processes
@pytest.mark.parametrize("trial", range(4))
def test_sigint_and_sigterm_at_random_moments_then_resume_bit_for_bit(trial, long_run, tmp_path):
  rng = random.Random(trial)
  _trial(long_run, tmp_path, (signal.SIGINT, signal.SIGTERM)[trial % 2], rng.uniform(0.2, 1.5), [0, 300][trial // 2])


SWEEP_LONG = tiny.toml(tiny.merge(SPEC_RAW, {"base": {"steps": 1200}, "sweep": {"checkpoint_every": 0}}))


@pytest.mark.ci  # signals a sweep's process
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_an_interrupted_sweep_resumes_to_the_uninterrupted_records(signum, tmp_path):
  spec = write(tmp_path / "spec.toml", SWEEP_LONG)
  ENV_S = {**ENV, "JAX_COMPILATION_CACHE_DIR": str(tmp_path / "cache")}
  subprocess.run(_cli("sweep", spec, "--out", tmp_path / "ref"), env=ENV_S, check=True, capture_output=True)
  want = {r["run_id"]: r for r in store.read(tmp_path / "ref")}
  out = tmp_path / "out"
  got = _interrupt(_cli("sweep", spec, "--out", out), out, signum, random.Random(signum).uniform(0.5, 3.0))
  lines = got.stderr.strip().splitlines()
  assert got.returncode == 128 + signum and len(lines) == 1 and "Traceback" not in got.stderr, got.stderr[-2000:]
  assert len(store.read(out)) < len(want)
  done = subprocess.run(_cli("sweep", spec, "--out", out), env=ENV_S, capture_output=True, text=True)
  assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr[-2000:]
  have = {r["run_id"]: r for r in store.read(out)}
  assert sorted(have) == sorted(want)
  for k in want:
    same(have[k], want[k])


def test_a_real_sigterm_in_process_checkpoints_at_the_chunk_end_and_the_rerun_is_bit_for_bit(
  tmp_path, run_toml, reference
):
  cfg = config.load(run_toml, ["checkpoint_every=0"])  # the same run id as the reference's
  assert cfg.run_id() == reference["run_id"]

  def progress(done, total, msg):
    if done == 20:
      os.kill(os.getpid(), signal.SIGTERM)  # a real signal, while the loop is between chunks

  with pytest.raises(faults.Interrupted) as e:
    loop.fit(cfg, out=tmp_path / "run", progress=progress)
  COUNTS["kills"] += 1
  assert e.value.exit_code == 143 and e.value.saved and e.value.step == 20
  assert steps_in(tmp_path / "run" / "checkpoints" / cfg.run_id()) == [20]
  assert signal.getsignal(signal.SIGTERM) is not None and not (tmp_path / "run" / "record.json").exists()
  loop.fit(cfg, out=tmp_path / "run")
  same(record(tmp_path / "run"), reference)


def test_settings_that_change_no_number_keep_the_run_id_and_committed_ids_stay():
  cfg = config.parse(tiny.mlp_digits())
  assert cfg.replace(checkpoint_every=100).run_id() == cfg.run_id()
  assert cfg.replace(eval_every=100).run_id() != cfg.run_id()  # changes the chunks, and so the curve
  for row in store.read(ROOT / "results" / "demo"):
    assert config.parse(row["config"]).run_id() == row["run_id"]


# ---- a rerun of an ended run, an interrupt in the last chunk (issue 32) -------------------------------------
def _chunks_seen(monkeypatch, signal_at: int | None = None) -> list[int]:
  """The chunk ends a command reports (its progress bars' updates); SIGINT to this process the first time one
  reaches `signal_at`."""
  from scalezoo.train import progress

  seen, update = [], progress.Progress.update

  def spy(self, done, msg="", force=False):
    if not force:
      seen.append(done)
      if done == signal_at and seen.count(done) == 1:
        os.kill(os.getpid(), signal.SIGINT)  # a real Ctrl-C while the chunk's work is being reported
    return update(self, done, msg, force=force)

  monkeypatch.setattr(progress.Progress, "update", spy)
  return seen


def test_rerunning_an_ended_train_says_so_and_trains_nothing_unless_fresh(
  tmp_path, run_toml, reference, capsys, monkeypatch
):
  out = tmp_path / "run"
  assert main(train_args(run_toml, out)) == 0
  capsys.readouterr()
  files = {p: p.stat().st_mtime_ns for p in out.rglob("*")}
  seen = _chunks_seen(monkeypatch)
  assert main(train_args(run_toml, out)) == 0
  said = capsys.readouterr().out.splitlines()
  assert said[0] == f"{out}: run {reference['run_id']} already finished here (record.json); not trained again (--fresh)"
  assert said[1].startswith(f"finished: {reference['run_id']} ") and "val_loss 2." in said[1]
  assert seen == [] and {p: p.stat().st_mtime_ns for p in out.rglob("*")} == files  # nothing trained or written
  refused([*train_args(run_toml, out), "--export", tmp_path / "model.jax"], capsys, needle="--fresh")
  assert main([*train_args(run_toml, out), "--fresh"]) == 0
  assert seen == [20, 40, 60]  # from step 0, not from the last checkpoint
  assert (out / "record.json").stat().st_mtime_ns != files[out / "record.json"]
  same(record(out), reference)
  other = write(tmp_path / "other.toml", RUN.replace("width = 16", "width = 8"))
  refused(train_args(other, out), capsys, needle="another config")  # another config's folder: as before


def test_sigint_in_the_last_chunk_still_writes_the_record(tmp_path, run_toml, reference, capsys, monkeypatch):
  out = tmp_path / "run"
  before = signal.getsignal(signal.SIGINT)  # Python's default, or SIG_IGN under nohup or a background job
  _chunks_seen(monkeypatch, signal_at=60)
  assert main(train_args(run_toml, out)) == 130
  COUNTS["kills"] += 1
  err = [ln for ln in capsys.readouterr().err.splitlines() if ln.strip()]
  assert err == ["scalezoo train: interrupted (SIGINT) as it ended: its results are written"]
  same(record(out), reference)
  assert signal.getsignal(signal.SIGINT) == before  # the handlers are given back


def test_sigint_before_the_last_chunk_still_stops_with_a_checkpoint(tmp_path, run_toml, reference, capsys, monkeypatch):
  out = tmp_path / "run"
  _chunks_seen(monkeypatch, signal_at=40)
  refused(train_args(run_toml, out), capsys, code=130, needle="checkpoint saved at step 40")
  COUNTS["kills"] += 1
  assert not (out / "record.json").exists()
  assert main(train_args(run_toml, out)) == 0
  same(record(out), reference)


def test_sigint_in_a_sweep_groups_last_chunk_keeps_its_records_and_stops_the_sweep(
  tmp_path, jax_cache, capsys, monkeypatch
):
  spec = write(tmp_path / "spec.toml", SPEC)  # two groups (depth 1, 2) of two seeds, 40 steps
  assert main(["sweep", spec, "--out", tmp_path / "ref", "--quiet"]) == 0
  want = {r["run_id"]: r for r in store.read(tmp_path / "ref")}
  out = tmp_path / "out"
  _chunks_seen(monkeypatch, signal_at=40)
  assert main(["sweep", spec, "--out", out, "--quiet"]) == 130
  COUNTS["kills"] += 1
  assert "interrupted (SIGINT)" in capsys.readouterr().err
  kept = store.read(out)
  assert len(kept) == 2  # the first group's runs, recorded; the second group never started
  for r in kept:
    same(r, want[r["run_id"]])
  assert main(["sweep", spec, "--out", out, "--quiet"]) == 0
  assert sorted(r["run_id"] for r in store.read(out)) == sorted(want)


def test_a_process_workers_group_interrupted_in_its_last_chunk_returns_its_records(tmp_path, jax_cache, monkeypatch):
  from scalezoo.sweep import executors

  cfgs = [config.parse(tiny.merge(SPEC_RAW["base"], {"seed": s})) for s in (0, 1)]  # one group: seeds vmapped
  job = {"out": str(tmp_path), "cache": str(tmp_path / "cache"), "every": 20, "progress": False, "link": None}
  before = signal.getsignal(signal.SIGINT)  # Python's default, or SIG_IGN under nohup or a background job
  _chunks_seen(monkeypatch, signal_at=40)  # the driver's SIGINT, passed on, as the worker's last chunk ends
  got = json.loads(executors.work(json.dumps({"configs": [c.to_dict() for c in cfgs], **job})))
  COUNTS["kills"] += 1
  assert [r["run_id"] for r in got] == [c.run_id() for c in cfgs] and {r["status"] for r in got} == {"finished"}
  assert faults.pending() is None and signal.getsignal(signal.SIGINT) == before
