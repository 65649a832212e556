"""The optimal learning rate against width under SP and μP: `scaling.fit_hparam_law` applied to the transfer
study's runs (issue 18 part 6), read where that study lives (its runs are not copied here).

`.venv/bin/python results/laws_on_our_runs/mup_hparam_law.py /work/wt-mup/results/mup_transfer` reads
`sp/runs.jsonl` and `mup/runs.jsonl` under the folder given, fits η_opt = a·width^b per parametrization (point =
width and seed; DeepSeek's near-optimal band, 0.25%, of validation loss), prints and writes
mup_hparam_law.json here. μP's promise is b ≈ 0; under SP, Adam's optimum is expected near b = −1.
"""

import json
import sys
from pathlib import Path

import numpy as np

from scalezoo import scaling

HERE = Path(__file__).parent


def main(root: Path):
  out = {"source": str(root)}
  for p in ("sp", "mup"):
    f = root / p / "runs.jsonl"
    if not f.exists():
      out[p] = f"no {f}"
      continue
    t = scaling.finished(scaling.table(f))
    r = {
      "width": t["model_args.d_model"].astype(float),
      "lr": t["config.optimizer.lr"].astype(float),
      "loss": t["metrics.val_loss"].astype(float),
      "seed": t["config.seed"],
    }
    ok = np.isfinite(r["loss"])
    r = {k: v[ok] for k, v in r.items()}
    try:
      fit = scaling.fit_hparam_law(r, hparam="lr", loss="loss", on="width", point=("width", "seed"))
    except ValueError as e:
      out[p] = f"not fitted: {e}"
      print(p, out[p])
      continue
    print(p, int(ok.sum()), "runs:", fit.summary())
    out[p] = fit.to_dict() | {"runs": int(ok.sum())}
  (HERE / "mup_hparam_law.json").write_text(json.dumps(out, indent=1) + "\n")


if __name__ == "__main__":
  main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path("/work/wt-mup/results/mup_transfer"))
