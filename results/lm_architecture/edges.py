"""The learning-rate edge rounds of the lm_architecture study: where a (size, steps) point's best rate is the lowest
or highest trained there, train one more a factor 2 beyond it; round by round until no best sits at an edge.

    python results/lm_architecture/edges.py [--rounds 4]

Each round rewrites configs/lm_architecture_edges.toml with every edge run so far (the rule applied to the runs as
they ended) and runs it into results/lm_architecture/edges (resumable: finished runs are skipped).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "results" / "lm_architecture"
SPEC = ROOT / "configs" / "lm_architecture_edges.toml"
HEADER = """# The GPT-2 recipe against the Llama recipe (issue 29, part 6): the Llama arm's lr grid extensions.
# Where a point's best lr (of configs/lm_architecture.toml, and of the rounds before) sat at an edge of its grid, one
# more lr a factor 2 beyond that edge; this file lists every such run, written by results/lm_architecture/edges.py
# from the runs as they ended. Same base config as configs/lm_architecture.toml.
#   scalezoo sweep configs/lm_architecture_edges.toml --out results/lm_architecture/edges
name = "lm_architecture_edges"
"""


def records() -> list[dict]:
  out = []
  for f in (OUT / "runs.jsonl", OUT / "edges" / "runs.jsonl"):
    if f.exists():
      out += [json.loads(line) for line in f.read_text().splitlines() if line.strip()]
  return [r for r in out if r["status"] == "finished"]


def edge_runs(recs: list[dict]) -> list[tuple[int, dict, float]]:
  points: dict = {}
  for r in recs:
    key = (r["config"]["steps"], json.dumps(r["config"]["model_args"], sort_keys=True))
    points.setdefault(key, []).append((r["config"]["optimizer"]["lr"], r["metrics"]["val_bits_per_byte"]))
  new = []
  for (steps, margs), tried in sorted(points.items()):
    lrs = sorted(lr for lr, _ in tried)
    best = min(tried, key=lambda t: t[1])[0]
    if best == lrs[0]:
      new.append((steps, json.loads(margs), round(best / 2, 8)))
    elif best == lrs[-1]:
      new.append((steps, json.loads(margs), round(best * 2, 8)))
  return new


def toml_value(v) -> str:
  if isinstance(v, dict):
    return "{" + ", ".join(f"{k} = {toml_value(x)}" for k, x in sorted(v.items())) + "}"
  return json.dumps(v)


def write_spec(runs: list[tuple[int, dict, float]]) -> None:
  base = (ROOT / "configs" / "lm_architecture.toml").read_text()
  body = base[base.index("[base]") : base.index("[axes]")]
  rows = "\n".join(f"  [{s}, {toml_value(m)}, {lr}]," for s, m, lr in runs)
  SPEC.write_text(
    HEADER
    + "\n"
    + body
    + '[axes]\n"steps, model_args, optimizer.lr" = [\n'
    + rows
    + "\n]\n\n[sweep]\ncheckpoint_every = 1000\n"
  )


def main() -> int:
  p = argparse.ArgumentParser()
  p.add_argument("--rounds", type=int, default=4)
  args = p.parse_args()
  done: list = []
  if SPEC.exists():  # the runs of the rounds before stay in the spec
    import tomllib

    done = [tuple(r) for r in tomllib.loads(SPEC.read_text())["axes"]["steps, model_args, optimizer.lr"]]
  for k in range(args.rounds):
    new = [r for r in edge_runs(records()) if (r[0], r[1], r[2]) not in done]
    print(f"round {k + 1}: {len(new)} edge runs", flush=True)
    if not new:
      return 0
    done += new
    write_spec(done)
    scalezoo = Path(sys.executable).with_name("scalezoo")
    subprocess.run([str(scalezoo), "sweep", str(SPEC), "--out", str(OUT / "edges"), "--quiet"], cwd=ROOT, check=True)
  return 0


if __name__ == "__main__":
  raise SystemExit(main())
