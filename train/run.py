"""One run into one folder: record.json, curve.csv and checkpoints/, resumable by running it again."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

from train import store
from train.config import ConfigError, RunConfig
from train.loop import load_split, train_group
from train.progress import Progress


def train_to_dir(cfg: RunConfig, out: Path, *, progress: bool = True, export: Path | None = None) -> dict[str, Any]:
  try:
    split = load_split(cfg)  # data errors (a missing user file, a bad option) stop here, before any write
  except ValueError as e:
    raise ConfigError(f"data {cfg.data!r}: {e}") from None
  out.mkdir(parents=True, exist_ok=True)
  bar = Progress(cfg.steps, f"train {cfg.model}", enabled=progress)
  ckpt = out / "checkpoints" if cfg.checkpoint_every else None
  recs, state, eng = train_group([cfg], checkpoint_dir=ckpt, split=split, progress=lambda d, t, m: bar.update(d, m))
  rec = recs[0]
  bar.update(cfg.steps if rec["status"] == "finished" else rec["steps_run"], rec["status"], force=True)
  bar.close()
  if export is not None and rec["status"] == "finished":
    from train import export as ex

    ex.save(export, ex.export_apply(eng, state, split.test))
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
