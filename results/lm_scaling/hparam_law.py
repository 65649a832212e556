"""The optimal learning rate of the lm_scaling study as a power law in N, D and C (issue 18 part 6).

Run from the repository root: `.venv/bin/python results/lm_scaling/hparam_law.py` (about 10 s, numpy and
matplotlib only). Reads the four runs.jsonl files of the study, writes hparam_law.json and hparam_law.png here.
"""

import json
from pathlib import Path

import numpy as np

from scalezoo import scaling

HERE = Path(__file__).parent
DIRS = [HERE, HERE / "long", HERE / "seeds", HERE / "edges"]
KEYS = ["config.optimizer.lr", "params_non_embedding", "tokens_seen", "metrics.val_bits_per_byte", "config.seed"]
KEYS += ["model_args.d_model", "model_args.n_layers", "model_args.context"]
DEEPSEEK = {"a": 0.3118, "b": -0.125}  # Bi et al. 2024, eq. 1: η_opt = 0.3118·C^−0.1250, C = M·D


def runs() -> dict:
  cols = {k: [] for k in KEYS}
  for d in DIRS:
    t = scaling.finished(scaling.table(d))
    for k in KEYS:
      cols[k] += list(t[k])
  r = {k: np.array(v) for k, v in cols.items()}
  r["N"] = r["params_non_embedding"].astype(float)  # non-embedding, the study's convention
  r["D"] = r["tokens_seen"].astype(float)
  r["C"] = 6 * r["N"] * r["D"]
  # DeepSeek's compute: M·D, M = 72·n_layer·d² + 6·n_layer·d·l_seq non-embedding FLOPs per token (attention included)
  d, n, l = (r[f"model_args.{k}"].astype(float) for k in ("d_model", "n_layers", "context"))
  r["C_deepseek"] = (72 * n * d**2 + 6 * n * d * l) * r["D"]
  return r


def main():
  r = runs()
  conv = {
    "N": "non-embedding parameters",
    "D": "training tokens (bytes)",
    "C": "6ND; C_deepseek = (72·n_layer·d² + 6·n_layer·d·l_seq)·D",
    "loss": "validation bits per byte, 512 windows of 64 bytes",
    "runs": "results/lm_scaling/{.,long,seeds,edges}/runs.jsonl, finished runs, final checkpoints",
  }
  kw = dict(
    hparam="config.optimizer.lr", loss="metrics.val_bits_per_byte", point=("N", "D", "config.seed"), conventions=conv
  )
  out = {"runs": int(r["N"].size), "loss": "validation bits per byte", "deepseek": DEEPSEEK, "fits": {}}
  for on in (("C",), ("C_deepseek",), ("N",), ("N", "D")):
    for method in ("near_optimal", "argmin", "parabola"):
      f = scaling.fit_hparam_law(r, on=on, method=method, **kw)
      print(f.summary())
      d = f.to_dict()
      if (on, method) != (("C",), "near_optimal"):
        d.pop("points")
      out["fits"][f"{'_'.join(on)}/{method}"] = d
  best = out["fits"]["C_deepseek/near_optimal"]
  Cs = np.array([p["C"] for p in out["fits"]["C/near_optimal"]["points"]])
  out["deepseek_at_our_C"] = {"C_deepseek range": [float(r["C_deepseek"].min()), float(r["C_deepseek"].max())]}
  out["deepseek_at_our_C"]["lr range"] = [
    DEEPSEEK["a"] * float(c) ** DEEPSEEK["b"] for c in out["deepseek_at_our_C"]["C_deepseek range"]
  ]
  (HERE / "hparam_law.json").write_text(json.dumps(out, indent=1) + "\n")
  plot(r, out, Cs, best)


def plot(r, out, Cs, best):
  import matplotlib

  matplotlib.use("Agg")
  import matplotlib.pyplot as plt

  fig, ax = plt.subplots(1, 2, figsize=(10, 4))
  for a, on in zip(ax, ("C_deepseek", "N")):
    fit = scaling.fit_hparam_law(
      r,
      on=(on,),
      hparam="config.optimizer.lr",
      loss="metrics.val_bits_per_byte",
      point=("N", "D", "config.seed"),
      bootstrap=0,
    )
    x = np.array([p[on] for p in fit.points for _ in p["opt"]])
    y = np.array([h for p in fit.points for h in p["opt"]])
    a.scatter(r[on], r["config.optimizer.lr"], s=8, c="0.8", label="every run trained")
    a.scatter(x, y, s=18, label="near-optimal (within 0.25% of the best)")
    xs = np.logspace(np.log10(x.min()), np.log10(x.max()), 50)
    f = out["fits"][f"{on}/near_optimal"]
    b, (lo, hi) = f["exponents"][on], f["intervals"][on]
    a.plot(xs, f["a"] * xs**b, "k-", label=f"fit: {f['a']:.3g}·{on.split('_')[0]}^{b:.3f} [{lo:.2f}, {hi:.2f}]")
    if on == "C_deepseek":
      a.plot(xs, DEEPSEEK["a"] * xs ** DEEPSEEK["b"], "r--", label="DeepSeek LLM: 0.3118·C^−0.125")
    a.set(
      xscale="log",
      yscale="log",
      xlabel="C = M·D (DeepSeek's FLOPs)" if on == "C_deepseek" else "N (non-embedding)",
      ylabel="AdamW peak learning rate",
    )
    a.legend(fontsize=7)
  fig.suptitle("lm_scaling: optimal learning rate against compute and size (149 runs, 43 points)", fontsize=9)
  fig.tight_layout()
  fig.savefig(HERE / "hparam_law.png", dpi=120)


if __name__ == "__main__":
  main()
