"""Docs that stay true: the command outputs and numbers quoted in README.md, docs/ and results/*/README.md are
produced again here from the committed results (or the code) and compared, so they cannot drift unnoticed.

When one fails, the message holds the output the code gives now: paste it into the doc (and say why it moved)."""

import argparse
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from scalezoo.cli import main

ROOT = Path(__file__).resolve().parents[1]
NUMBER = re.compile(r"-?\d+(?:\.\d+)?(?:e[-+]?\d+)?")


def _console(doc: Path, command: str) -> list[str]:
  """The output quoted under `$ command` in a console block of `doc` (up to the next prompt or the block's end)."""
  lines = doc.read_text().splitlines()
  starts = [i for i, ln in enumerate(lines) if ln.split("  #")[0].strip() == f"$ {command}"]
  assert starts, f"{doc.name} quotes no `$ {command}`"
  out = []
  for ln in lines[starts[0] + 1 :]:
    if ln.startswith("$ ") or ln.startswith("```"):
      break
    out.append(ln)
  return out


def _norm(lines: list[str]) -> list[str]:
  """Numbers to 4 significant digits, so a quote survives a last-digit difference between CPUs, not a change."""
  return [NUMBER.sub(lambda m: f"{float(m.group()):.4g}", ln.rstrip()) for ln in lines]


def _run(capsys, argv: list[str]) -> list[str]:
  capsys.readouterr()
  assert main(argv) == 0
  return capsys.readouterr().out.splitlines()


def test_sweeps_md_fit_and_plot_are_what_the_code_prints_on_the_committed_runs(tmp_path, capsys):
  doc, src, d = ROOT / "docs" / "sweeps.md", ROOT / "results" / "sweep_tiny", tmp_path / "sweep_tiny"
  d.mkdir()
  for name in ("runs.jsonl", "spec.toml"):
    shutil.copy(src / name, d / name)
  capsys.readouterr()
  assert main(["fit", str(d), "--law", "power"]) == 2  # two widths: a three-parameter law is refused
  got = capsys.readouterr().err.replace(str(d), "/tmp/sweep_tiny").splitlines()
  assert got == _console(doc, "scalezoo fit /tmp/sweep_tiny --law power"), "\n".join(got)
  got = _run(capsys, ["fit", str(d), "--law", "power", "--fix", "E=0"])
  got = [ln.replace(str(d), "/tmp/sweep_tiny") for ln in got]
  assert _norm(got) == _norm(_console(doc, "scalezoo fit /tmp/sweep_tiny --law power --fix E=0")), "\n".join(got)
  got = [ln.replace(str(d), "/tmp/sweep_tiny") for ln in _run(capsys, ["plot", str(d)])]
  assert got == _console(doc, "scalezoo plot /tmp/sweep_tiny"), "\n".join(got)
  ours, committed = (json.loads(p.read_text()) for p in (d / "fit_power.json", src / "fit_power.json"))
  for k, v in committed["params"].items():  # results/sweep_tiny/fit_power.json is that same fit
    assert ours["params"][k] == pytest.approx(v, rel=1e-6), k


def test_sweeps_md_hparam_fit_is_what_the_code_prints_on_the_transfer_study(tmp_path, capsys):
  d = tmp_path / "mup_sp"
  d.mkdir()
  shutil.copy(ROOT / "results" / "mup_transfer" / "sp" / "runs.jsonl", d / "runs.jsonl")
  command = "fit /tmp/mup_sp --hparam lr --x model_args.d_model --y metrics.val_bits_per_byte --method parabola"
  got = [ln.replace(str(d), "/tmp/mup_sp") for ln in _run(capsys, command.replace("/tmp/mup_sp", str(d)).split())]
  assert _norm(got) == _norm(_console(ROOT / "docs" / "sweeps.md", f"scalezoo {command}")), "\n".join(got)


def test_sweeps_md_dry_run_ids(tmp_path, capsys):
  got = _run(capsys, ["sweep", str(ROOT / "configs" / "sweep_tiny.toml"), "--out", str(tmp_path), "--dry-run"])
  doc = ROOT / "docs" / "sweeps.md"
  assert got[:3] == _console(doc, "scalezoo sweep configs/sweep_tiny.toml --out /tmp/sweep_tiny --dry-run | head -3")


def _md_table(text: str, header_start: str) -> list[list[str]]:
  lines = text.splitlines()
  i = next(i for i, ln in enumerate(lines) if ln.startswith(header_start))
  rows = []
  for ln in lines[i + 2 :]:
    if not ln.startswith("|"):
      break
    rows.append([c.strip() for c in ln.strip("|").split("|")])
  return rows


def _demo():
  runs = [json.loads(ln) for ln in (ROOT / "results" / "demo" / "runs.jsonl").read_text().splitlines() if ln]
  summary = json.loads((ROOT / "results" / "demo" / "summary.json").read_text())
  return runs, {f["x"]: f for f in summary["fits"]}


def test_demo_readme_losses_are_the_committed_runs():
  runs, _ = _demo()
  loss = {
    (r["config"]["model_args"]["width"], r["config"]["data_args"]["n_train"]): r["metrics"]["test_loss"] for r in runs
  }
  text = (ROOT / "results" / "demo" / "README.md").read_text()
  header = next(ln for ln in text.splitlines() if ln.startswith("| width \\ n_train |"))
  n_trains = [int(c) for c in header.strip("|").split("|")[1:]]
  rows = _md_table(text, "| width \\ n_train |")
  assert len(rows) == 6
  for row in rows:
    width = int(row[0].split()[0])
    assert [float(c) for c in row[1:]] == [round(loss[width, n], 3) for n in n_trains], row


def test_demo_readme_fits_are_the_committed_summary():
  _, fits = _demo()
  rows = _md_table((ROOT / "results" / "demo" / "README.md").read_text(), "| x | where |")
  for row, key in zip(rows, ("params", "data", "compute")):
    f = fits[key]
    E, A, alpha = (float(c) for c in row[3:6])
    lo, hi = (float(c) for c in row[6].strip("[]").split(","))
    assert int(row[2]) == f["points"]
    assert (E, alpha, lo, hi) == tuple(round(v, 3) for v in (f["E"], f["alpha"], *f["alpha_interval"])), row
    assert A == pytest.approx(f["A"], rel=5e-3), row


def test_readme_headline_is_the_committed_demo_fit():
  f = _demo()[1]["params"]
  lo, hi = f["alpha_interval"]
  quote = f"L = {f['E']:.2f} + {f['A']:.1f}·N^−{f['alpha']:.2f} (α's 95% interval [{lo:.2f}, {hi:.2f}] from "
  quote += f"{int(f['points'])} points)"
  assert quote in (ROOT / "README.md").read_text(), quote


def test_readme_export_snippet_loads_an_export(tmp_path):
  """The README's lines for loading an `--export` file, run in a fresh process on a jax.export file of the same
  kind (a (b, 64) -> (b, 10) function with a symbolic batch)."""
  import jax
  import jax.numpy as jnp
  from jax import export

  text = (ROOT / "README.md").read_text()
  snippet = next(b for b in re.findall(r"```python\n(.*?)```", text, re.S) if "export.deserialize" in b)
  W = jnp.ones((64, 10), jnp.float32)
  (b,) = export.symbolic_shape("b")
  blob = export.export(jax.jit(lambda x: x @ W))(jax.ShapeDtypeStruct((b, 64), jnp.float32)).serialize()
  (tmp_path / "runs" / "lr").mkdir(parents=True)
  (tmp_path / "runs" / "lr" / "model.jaxexport").write_bytes(blob)
  code = snippet + "\nassert logits.shape == (5, 10), logits.shape\n"
  res = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=120)
  assert res.returncode == 0, res.stderr
  assert "64" in res.stdout


def test_make_demo_writes_only_where_git_ignores():
  make = (ROOT / "Makefile").read_text()
  target = re.search(r"^demo:.*\n\t(.*)$", make, re.M).group(1)
  out = re.search(r"--out (\S+)", target).group(1)
  for path in (f"{out}/runs.jsonl", "build/lib/x.py"):
    res = subprocess.run(["git", "check-ignore", "-q", path], cwd=ROOT)
    if res.returncode == 128:
      pytest.skip("not a git checkout")
    assert res.returncode == 0, f"{path} is not git-ignored"


def test_argument_errors_are_one_line_exit_2(capsys, tmp_path):
  (tmp_path / "runs.jsonl").write_text("")
  for argv, needle in (
    (["fit", str(tmp_path), "--law", "nosuchlaw"], "--law 'nosuchlaw' is not a law; laws: chinchilla"),
    (["fit", str(tmp_path), "--bootstrap", "-3"], "--bootstrap -3: must be an integer from 0 to"),
    (["nosuchcommand"], "invalid choice: 'nosuchcommand'"),
  ):
    try:
      code = main(argv)
    except SystemExit as e:  # argparse's own errors
      code = e.code
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and err.startswith("scalezoo") and needle in err, err


def test_numbers_are_compared_to_four_digits():
  assert _norm(["E 4.74831e-06 [7.91318e-22, 0.196178]"]) == _norm(["E 4.748312e-06 [7.913179e-22, 0.1961781]"])
  assert _norm(["alpha 0.789872"]) != _norm(["alpha 0.7912"])


def test_the_sweep_transcripts_name_the_specs_groups_and_its_runs():
  """The kill-and-resume transcripts carry timings (not reproducible), but their run counts and group ids are."""
  from scalezoo import sweep

  spec = sweep.load(ROOT / "configs" / "sweep_tiny.toml")
  ids = {sweep.group_id(g) for g in sweep.groups(spec.runs)}
  for doc in (ROOT / "docs" / "sweeps.md", ROOT / "README.md"):
    text = doc.read_text()
    quoted = set(re.findall(r"group ([0-9a-f]{12})", text))
    assert quoted and quoted <= ids, (doc.name, quoted - ids, ids)
    assert (
      f"sweep sweep_tiny: {len(spec.runs)} runs, 0 already ended, {len(spec.runs)} to run in {len(ids)} groups" in text
    )


def test_sweeps_md_bad_input_line(tmp_path, capsys):
  doc = ROOT / "docs" / "sweeps.md"
  argv = ["sweep", str(ROOT / "configs" / "sweep_tiny.toml"), "--out", str(tmp_path / "x"), "--set"]
  assert main(argv + ["base.data_args.size=4"]) == 2
  err = capsys.readouterr().err.splitlines()
  assert err == _console(doc, "scalezoo sweep configs/sweep_tiny.toml --out /tmp/sweep_x --set base.data_args.size=4")
  assert not (tmp_path / "x").exists()


class _Commands:
  """Stands in for argparse's subparsers when each command module's add(sub) runs: keeps the one-line helps."""

  def __init__(self):
    self.helps: dict[str, str] = {}

  def add_parser(self, name: str, *, help: str, **kw) -> argparse.ArgumentParser:
    self.helps[name] = help
    return argparse.ArgumentParser(prog=f"scalezoo {name}", **kw)


def _command_helps() -> dict[str, str]:
  """Every command's one-line help, in cli.app.COMMANDS' order (the order `scalezoo --help` lists them)."""
  from scalezoo.cli import app

  sub = _Commands()
  for command in app.COMMANDS.values():
    command.add(sub)
  assert list(sub.helps) == list(app.COMMANDS)
  return sub.helps


def test_the_readme_lists_every_command_with_its_help():
  rows = re.findall(r"^\| `scalezoo (\w+)` \| (.*) \|$", (ROOT / "README.md").read_text(), re.M)
  want = {name: help.replace("|", "\\|") for name, help in _command_helps().items()}
  assert dict(rows) == want and [name for name, _ in rows] == list(want), rows
  assert f"{len(want)} commands" in (ROOT / "README.md").read_text()


def test_every_doc_that_lists_the_commands_lists_them_all():
  """A line that names the command line's commands (`models`, `train`, `sweep`, ...) names all of them, in order."""
  names = list(_command_helps())
  listed = 0
  for doc in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
    text = " ".join(doc.read_text().split())
    for m in re.finditer(r"(`\w+`(?:, `\w+`)+)", text):
      found = re.findall(r"`(\w+)`", m.group(1))
      if set(found) >= {"models", "train", "sweep", "fit"}:
        assert found == names, f"{doc.name}: {found}"
        listed += 1
  assert listed >= 1
