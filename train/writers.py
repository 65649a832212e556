"""Live metrics: where a run's evaluations go while it trains, chosen by the config's `log` (default ["jsonl"]).

- `jsonl`: the curve of the run's record (runs.jsonl of a sweep, record.json of a run), always kept: it is what
  the fits read. It is complete when the run ends, so it has no live writer here.
- `tensorboard`: event files in <folder>/tensorboard/<run id> through tensorboardX (no TensorFlow; the extra
  `[tensorboard]`), with the run's config as its hyperparameters (the HParams tab).
- `wandb`: a Weights & Biases run in offline mode under <folder>/wandb (`wandb sync` uploads it later; the extra
  `[wandb]`).

A resumed run writes again the evaluations after its checkpoint; TensorBoard keeps the last value of a step.
"""

from __future__ import annotations

import importlib.util
import json
import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, Protocol

from scalezoo.train.config import LOG_KINDS as KINDS


class Writer(Protocol):
  def scalars(self, step: int, values: dict[str, float]) -> None: ...
  def close(self) -> None: ...


def flat(config: dict[str, Any], prefix: str = "") -> dict[str, bool | int | float | str]:
  """A config as dotted keys to scalars (lists and tables as JSON text): what hyperparameter views take."""
  out: dict[str, bool | int | float | str] = {}
  for k, v in config.items():
    if isinstance(v, dict) and v:
      out.update(flat(v, f"{prefix}{k}."))
    elif isinstance(v, bool | int | float | str):
      out[prefix + k] = v
    else:
      out[prefix + k] = json.dumps(v, sort_keys=True)
  return out


MODULES = {"tensorboard": "tensorboardX", "wandb": "wandb"}


def _missing(kind: str) -> Exception:
  from scalezoo.train.config import ConfigError

  return ConfigError(f"log = [{kind!r}] needs {MODULES[kind]}, not installed: pip install 'scalezoo[{kind}]'")


def require(kinds: Iterable[str]) -> None:
  """One line naming the missing package, before anything trains (a sweep's driver checks every run's `log`)."""
  for k in sorted(set(kinds) & set(MODULES)):
    if importlib.util.find_spec(MODULES[k]) is None:
      raise _missing(k)


class TensorBoard:
  def __init__(self, folder: Path, run_id: str, config: dict[str, Any]):
    try:
      from tensorboardX import SummaryWriter
      from tensorboardX.summary import hparams
    except ImportError:
      raise _missing("tensorboard") from None
    self.w = SummaryWriter(logdir=str(folder / "tensorboard" / run_id), flush_secs=10)
    # the hparams session in the run's own folder (add_hparams would open a time-named sub-run), its metric the
    # val_loss scalar written below
    for summary in hparams(flat(config), {"val_loss": 0.0}):
      self.w.file_writer.add_summary(summary)

  def scalars(self, step: int, values: dict[str, float]) -> None:
    for k, v in values.items():
      if v is not None:
        self.w.add_scalar(k, v, step)

  def close(self) -> None:
    self.w.close()


class WandB:
  def __init__(self, folder: Path, run_id: str, config: dict[str, Any]):
    try:
      import wandb
    except ImportError:
      raise _missing("wandb") from None
    (folder / "wandb").mkdir(parents=True, exist_ok=True)
    mode = os.environ.get("WANDB_MODE", "offline")  # offline unless the user asks for more
    self.run = wandb.init(
      mode=mode, dir=str(folder), id=run_id, name=run_id, config=config, reinit="create_new", resume="allow"
    )

  def scalars(self, step: int, values: dict[str, float]) -> None:
    self.run.log({k: v for k, v in values.items() if v is not None}, step=step)

  def close(self) -> None:
    self.run.finish()


class Writers:
  """Every writer of one run, as one."""

  def __init__(self, writers: Sequence[Writer]):
    self.writers = list(writers)

  def scalars(self, step: int, values: dict[str, float]) -> None:
    for w in self.writers:
      w.scalars(step, values)

  def close(self) -> None:
    for w in self.writers:
      w.close()


def open_writers(kinds: Sequence[str], folder: str | Path, run_id: str, config: dict[str, Any]) -> Writers:
  """The live writers of one run under `folder` (a sweep's --out or a run's folder)."""
  bad = [k for k in kinds if k not in KINDS]
  if bad:
    raise ValueError(f"log: unknown writer {bad[0]!r}; allowed: {', '.join(KINDS)}")
  make = {"tensorboard": TensorBoard, "wandb": WandB}
  return Writers([make[k](Path(folder), run_id, config) for k in kinds if k in make])
