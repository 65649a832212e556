"""One run into one folder: record.json, curve.csv and checkpoints/, resumable by running it again."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

from train import store
from train.config import ConfigError, RunConfig
from train.loop import fit_group, load_split
from train.progress import Progress


def train_to_dir(cfg: RunConfig, out: Path, *, progress: bool = True) -> dict[str, Any]:
  try:
    split = load_split(cfg)  # data errors (a missing user file, a bad option) stop here, before any write
  except ValueError as e:
    raise ConfigError(f"data {cfg.data!r}: {e}") from None
  out.mkdir(parents=True, exist_ok=True)
  bar = Progress(cfg.steps, f"train {cfg.model}", enabled=progress)
  ckpt = out / "checkpoints" if cfg.checkpoint_every else None
  rec = fit_group([cfg], checkpoint_dir=ckpt, split=split, progress=lambda d, t, m: bar.update(d, m))[0]
  bar.close()
  store.write_json(out / "record.json", rec)
  write_curve_csv(out / "curve.csv", rec["curve"])
  return rec


def write_curve_csv(path: Path, curve: dict[str, list]) -> None:
  keys = list(curve)
  tmp = path.with_suffix(".tmp")
  with open(tmp, "w", newline="") as f:
    w = csv.writer(f)
    w.writerow(keys)
    w.writerows(zip(*(curve[k] for k in keys)))
  tmp.replace(path)
