"""The main job: a real scaling sweep (MLP widths x training-set sizes on MNIST-1D), power-law fits of test
loss against parameters and against data, and loss-vs-compute figures with the fitted curves."""

from __future__ import annotations

import time
from pathlib import Path

import scaling
from train import sweep

SPEC = Path(__file__).resolve().parent.parent / "configs" / "demo.toml"


def main(out: Path, progress: bool = True, spec: Path = SPEC) -> int:
  t0 = time.perf_counter()
  s = sweep.load(spec)
  counts = sweep.run(s, out, progress=progress)
  t = scaling.table(out)
  ok = t["status"] == "finished"
  N, D, L = t["params"][ok], t["config.data_args.n_train"][ok].astype(float), t["metrics.test_loss"][ok]
  fits = {}
  big_d, big_n = D == D.max(), N == N.max()
  fits["params"] = scaling.fit_law("power", {"N": N[big_d]}, L[big_d], bootstrap=200, seed=0,
                                   meta={"x": "params", "at": f"n_train={int(D.max())}"})
  fits["data"] = scaling.fit_law("power", {"D": D[big_n]}, L[big_n], bootstrap=200, seed=0,
                                 meta={"x": "n_train", "at": f"params={int(N.max())}"})
  for name, f in fits.items():
    (out / f"fit_power_{name}.json").write_text(f.to_json())
  figures = scaling.plots.demo_figures(t, fits, out)
  print(f"\n{'fit':<22} {'E':>8} {'A':>10} {'alpha':>7}  95% interval of alpha")
  for name, f in fits.items():
    lo, hi = f.intervals["alpha"]
    print(f"test loss vs {name:<9} {f.params['E']:8.4f} {f.params['A']:10.4g} {f.params['alpha']:7.3f}  "
          f"[{lo:.3f}, {hi:.3f}]   ({f.meta['at']})")
  print(f"\n{sum(counts.values())} runs ({', '.join(f'{v} {k}' for k, v in counts.items())}) in "
        f"{time.perf_counter() - t0:.0f}s; wrote {out}/runs.jsonl, fit_power_*.json, "
        + ", ".join(p.name for p in figures))
  return 0 if not counts.get("failed") else 1

