"""Multi-Power Law and Tissue et al.'s form on Luo et al. 2025's 27 loss curves (tests/data/multipower_law, MIT):
fitted on the three training schedules, scored on the six held-out ones, for the 25M, 100M and 400M models.

Run from the repository root: `nice -n 10 .venv/bin/python results/schedule_laws/compare.py` (the Tissue fits take
a second; each Multi-Power fit a few minutes of CPU, skipped with --tissue-only). Writes compare.json here.
"""

import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parents[2] / "tests"))
from test_scaling_curve_laws import PUBLISHED, TRAIN, _curve, _test_set  # noqa: E402  the tests' loader, one copy

from scalezoo.scaling import curve_laws as S  # noqa: E402

HERE = Path(__file__).parent


def main(tissue_only: bool):
  out = {}
  for size in (25, 100, 400):
    curves = [_curve(size, n) for n in TRAIN]
    row = {"mpl_published": {"theta": PUBLISHED[size][0], "PredE_published": PUBLISHED[size][1]}}
    row["mpl_published"] |= _test_set(size, S.multi_power, PUBLISHED[size][0])
    for lam in (0.99, 0.995, 0.999, 0.9995):
      th, obj = S.fit("tissue", curves, lam=lam)
      m = _test_set(size, lambda t, c, lam=lam: S.tissue(t, c, lam=lam), th)
      row[f"tissue_lam{lam}"] = {"theta": th.tolist(), "train_objective": obj} | m
    th, obj = S.fit("tissue", curves, [2.4, 0.65, 0.43, 1.0], lam=0.999)  # the old fixed start, for the record
    row["tissue_old_start"] = {"theta": th.tolist(), "train_objective": obj} | _test_set(size, S.tissue, th)
    if not tissue_only:
      t = time.process_time()
      th, obj = S.fit("multi_power", curves, PUBLISHED[size][0])
      row["mpl_fit"] = {"theta": th.tolist(), "train_objective": obj, "cpu_s": time.process_time() - t}
      row["mpl_fit"] |= _test_set(size, S.multi_power, th)
    out[str(size)] = row
    print(size, {k: round(v["PredE"], 5) for k, v in row.items()}, flush=True)
    name = "compare_tissue.json" if tissue_only else "compare.json"
    (HERE / name).write_text(json.dumps(out, indent=1) + "\n")  # after every size: a long run keeps what it has


if __name__ == "__main__":
  main("--tissue-only" in sys.argv)
