"""Cooldown branches: a branch from a stable run's checkpoint equals a from-scratch wsd run of its length (bit for
bit), and a sweep with branches trains each stable part once, records every branch once with its parent, and
survives SIGKILLs with the same numbers."""

import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import jax
import numpy as np
import pytest
import tiny
from test_tokens_training import corpus, run_cfg  # noqa: F401 - the module's corpus fixture

from scalezoo import cli, sweep
from scalezoo.sweep import store
from scalezoo.train import config, loop, resume
from scalezoo.train.optim import cooldown_start

ROOT = Path(__file__).resolve().parents[1]
RAW = tiny.spec(
  "branches_tiny",
  tiny.mlp_digits(
    model_args={"depth": 1}, optimizer={"name": "adam"}, schedule={"warmup": 4, "cooldown_shape": "linear"}
  ),
  {"optimizer.lr": [1e-2, 3e-2]},
  branches={"steps": [50, 100], "cooldown": 0.2},
)
SPEC = tiny.toml(RAW)


def same_tree(a, b) -> bool:
  return all(jax.tree.leaves(jax.tree.map(lambda x, y: bool(np.array_equal(x, y)), a, b)))


@pytest.mark.long  # three fits of one run, each its own compiled program
def test_a_branch_of_a_small_run_equals_the_from_scratch_wsd_run_bit_for_bit(tmp_path):
  raw = tiny.mlp_digits(steps=20, model_args={"depth": 1}, schedule={"name": "wsd", "warmup": 2, "cooldown": 0.25})
  full, k = config.parse(raw), cooldown_start(20, 0.25)
  stable = config.parse({**raw, "steps": k, "schedule": {**raw["schedule"], "cooldown": 0.0}})
  loop.fit_group([stable], checkpoint_dir=tmp_path / "stable", keep_steps=[k])
  branch = loop.fit_group([full], branch=resume.Branch(tmp_path / "stable", (stable.run_id(),), k))
  scratch = loop.fit_group([full])
  assert same_tree(branch.state, scratch.state) and branch.record.metrics == scratch.record.metrics
  assert (branch.record.parent, branch.record.branched_at, scratch.record.parent) == (stable.run_id(), 15, None)


@pytest.mark.slow
def test_a_branch_of_a_stable_token_run_equals_the_from_scratch_wsd_run_bit_for_bit(corpus, tmp_path):  # noqa: F811
  # two lrs under vmap; 50 steps: the branch starts at 40 and its chunks (3 steps) do not line up with the scratch
  # run's (0, 3, ..., 39, 42, ...): the data order and the schedule are functions of the step alone
  sched = {"name": "wsd", "warmup": 4, "cooldown": 0.2}
  full = [run_cfg(corpus, steps=50, eval_every=0, schedule=sched, optimizer={"lr": lr}) for lr in (3e-3, 1e-2)]
  k = cooldown_start(50, 0.2)
  stable = [c.replace(steps=k, schedule=c.schedule.__class__(**{**sched, "cooldown": 0.0})) for c in full]
  loop.fit_group(stable, checkpoint_dir=tmp_path / "stable", keep_steps=[k])
  parent = resume.Branch(tmp_path / "stable", tuple(c.run_id() for c in stable), k)
  branch = loop.fit_group(full, checkpoint_dir=tmp_path / "branch", branch=parent)
  scratch = loop.fit_group(full)
  assert same_tree(branch.state.params, scratch.state.params)
  assert same_tree(branch.state.opt_state, scratch.state.opt_state)
  for b, s, p in zip(branch.records, scratch.records, stable):
    assert b.metrics == s.metrics and b.run_id == s.run_id and b.steps_run == s.steps_run == 50
    assert (b.parent, b.branched_at) == (p.run_id(), 40) and s.parent is None
    assert b.curve["step"][-1] == 50 and all(t <= 40 or t in (43, 46, 49, 50) for t in b.curve["step"])


def test_a_missing_branch_point_is_the_groups_error(tmp_path):
  cfg = config.parse(tiny.mlp_digits(steps=10, schedule={"name": "wsd"}))
  with pytest.raises(ValueError, match="no checkpoint of the stable runs at step 8"):
    resume.start_branch(resume.Branch(tmp_path / "nothing", ("abc",), 8), [cfg], None)


@pytest.fixture(scope="module")
def spec(tmp_path_factory) -> Path:
  path = tmp_path_factory.mktemp("spec") / "branches.toml"
  path.write_text(SPEC)
  return path


@pytest.fixture(scope="module")
def reference(tmp_path_factory, spec):
  out = tmp_path_factory.mktemp("reference") / "out"
  assert cli.main(["sweep", str(spec), "--out", str(out), "--quiet"]) == 0
  return out


def records(out) -> dict:
  rows = store.read(out)
  assert len(rows) == len({r["run_id"] for r in rows}), "a run id appears twice in runs.jsonl"
  return {r["run_id"]: r for r in rows}


def test_the_spec_expands_to_stable_runs_and_branches_and_dry_run_names_them(spec, tmp_path, capsys):
  s = sweep.load(spec)
  assert [(r.steps, r.schedule.cooldown) for r in s.runs] == [(80, 0.0), (50, 0.2), (100, 0.2)] * 2
  stable = [r.run_id() for r in s.runs if r.schedule.cooldown == 0]
  assert sorted(s.parents.values()) == sorted((p, k) for p in stable for k in (40, 80))
  gs = sweep.groups(s.runs, parents=s.parents)
  assert [[r.steps for r in g] for g in gs] == [[80, 80], [50, 50], [100, 100]]  # vmapped over the two lrs
  links = sweep.links(gs, s.parents)
  assert links[sweep.group_id(gs[0])] == {"keep": [40, 80]}
  assert links[sweep.group_id(gs[1])] == {"parent": sweep.group_id(gs[0]), "parents": stable, "step": 40}
  again = sweep.parse(__import__("tomllib").loads(sweep.spec_text(s)), "spec.toml")
  assert [r.run_id() for r in again.runs] == [r.run_id() for r in s.runs]
  assert cli.main(["sweep", str(spec), "--out", str(tmp_path / "o"), "--dry-run"]) == 0
  lines = capsys.readouterr().out.splitlines()
  assert lines[0] == f"{stable[0]} stable to step 80"
  assert lines[1] == f"{s.runs[1].run_id()} branch of {stable[0]} at step 40, cooling down to 50"
  assert not (tmp_path / "o").exists()


BAD = {
  "steps with branches": (SPEC, ["axes.steps=[10]"], "'steps' cannot be set with 'branches'"),
  "another schedule": (SPEC, ['base.schedule.name="cosine"'], "'base.schedule.name' is 'cosine'"),
  "cooldown 1": (SPEC, ["branches.cooldown=1.0"], "'branches.cooldown' must be a fraction in (0, 1)"),
  "steps and tokens": (SPEC, ["branches.tokens=[1]"], "one of steps or tokens"),
  "no room": (SPEC, ["branches.steps=[2]", "branches.cooldown=0.1"], "each needs its own branch point"),
  "tokens on images": (
    tiny.toml({**RAW, "branches": {"tokens": [4096], "cooldown": 0.2}}),
    [],
    "needs a token data set",
  ),
}


@pytest.mark.parametrize("case", BAD)
def test_bad_branches_are_one_line_exit_2(case, tmp_path, capsys):
  text, sets, needle = BAD[case]
  path = tmp_path / "spec.toml"
  path.write_text(text)
  argv = ["sweep", str(path), "--out", str(tmp_path / "o"), "--dry-run", *[a for s in sets for a in ("--set", s)]]
  assert cli.main(argv) == 2
  err = capsys.readouterr().err.strip()
  assert needle in err and "\n" not in err and "Traceback" not in err and not (tmp_path / "o").exists()


@pytest.mark.slow
def test_a_branch_sweep_records_each_run_once_with_its_parent_and_the_from_scratch_numbers(spec, reference, capsys):
  s, recs = sweep.load(spec), records(reference)
  assert sorted(recs) == sorted(r.run_id() for r in s.runs)
  for r in s.runs:
    rec = recs[r.run_id()]
    assert rec["status"] == "finished" and rec["steps_run"] == r.steps and rec["group_size"] == 2
    assert (rec.get("parent"), rec.get("branched_at")) == s.parents.get(r.run_id(), (None, None))
  stable_dir = reference / "checkpoints" / sweep.group_id(sweep.groups(s.runs, parents=s.parents)[0])
  assert {40, 80} <= {int(p.name) for p in stable_dir.iterdir() if p.name.isdigit()}  # the branch points stay
  scratch = loop.fit_group([r for r in s.runs if r.steps == 100])  # the 100-step runs from scratch, vmapped too
  for rec in scratch.records:
    assert rec.metrics == recs[rec.run_id]["metrics"]
  before = (reference / "runs.jsonl").read_bytes()
  assert cli.main(["sweep", str(spec), "--out", str(reference), "--quiet"]) == 0
  assert "6 already ended, 0 to run" in capsys.readouterr().out
  assert (reference / "runs.jsonl").read_bytes() == before


def _kill_after(p, event, delay):
  t_end = time.monotonic() + 120
  while not event() and p.poll() is None and time.monotonic() < t_end:
    time.sleep(0.02)
  assert event(), "the sweep ended (or stalled) before the moment to kill it"
  with pytest.raises(subprocess.TimeoutExpired):
    p.wait(delay)
  p.send_signal(signal.SIGKILL)
  p.wait()


@pytest.mark.slow
@pytest.mark.parametrize("trial", [0, 1])
def test_sigkill_in_the_stable_run_and_in_a_branch_then_resume_trains_the_stable_part_once(
  trial, spec, reference, tmp_path
):
  rng, out = random.Random(trial), tmp_path / "out"
  cmd = [sys.executable, "-m", "scalezoo.cli", "sweep", str(spec), "--out", str(out), "--quiet"]
  stable_dir = (
    out / "checkpoints" / sweep.group_id(sweep.groups(sweep.load(spec).runs, parents=sweep.load(spec).parents)[0])
  )
  jsonl = out / "runs.jsonl"
  kills = [
    (lambda: any(p.name.isdigit() for p in stable_dir.glob("*")), rng.uniform(0.0, 0.3)),  # mid stable run
    (lambda: jsonl.exists(), rng.uniform(0.5, 3.0)),  # after the stable runs' records: in a branch group
  ]
  for event, delay in kills:
    p = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _kill_after(p, event, delay)
  got = records(out)
  assert 2 <= len(got) < 6  # the stable runs ended and were recorded; not every branch
  stamps = {p.name: p.stat().st_mtime_ns for p in stable_dir.iterdir()}
  done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
  assert done.returncode == 0, done.stderr[-2000:]
  assert f"{len(got)} already ended" in done.stdout
  assert {p.name: p.stat().st_mtime_ns for p in stable_dir.iterdir()} == stamps  # the stable part: never again
  want, final = records(reference), records(out)
  assert sorted(final) == sorted(want)
  for k, rec in want.items():
    got_k = final[k]
    assert (got_k["metrics"], got_k["steps_run"], got_k.get("parent")) == (
      rec["metrics"],
      rec["steps_run"],
      rec.get("parent"),
    ), k


def test_sweeps_md_quotes_the_dry_run_of_the_wsd_study(capsys):
  spec = ROOT / "configs" / "lm_scaling_wsd.toml"
  assert cli.main(["sweep", str(spec), "--out", "/tmp/x", "--dry-run"]) == 0
  got = capsys.readouterr().out.splitlines()[:5]
  lines = (ROOT / "docs" / "sweeps.md").read_text().splitlines()
  i = lines.index("$ scalezoo sweep configs/lm_scaling_wsd.toml --out /tmp/x --dry-run | head -5")
  assert lines[i + 1 : i + 6] == got


@pytest.mark.slow
def test_the_process_executor_trains_branches_after_their_stable_runs_with_the_same_numbers(spec, reference, tmp_path):
  out = tmp_path / "out"
  assert cli.main(["sweep", str(spec), "--out", str(out), "--quiet", "--executor", "process"]) == 0
  want, got = records(reference), records(out)
  assert sorted(got) == sorted(want)
  for k, rec in want.items():
    assert (got[k]["metrics"], got[k].get("parent"), got[k].get("branched_at")) == (
      rec["metrics"],
      rec.get("parent"),
      rec.get("branched_at"),
    )
