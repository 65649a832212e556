"""Evaluation: which examples each split is measured on, padded batches one compiled program serves, the sums over
a split, and the metrics a record reports from them (each named for what it is)."""

from __future__ import annotations

import functools
import math
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from scalezoo import data as data_lib
from scalezoo.data import tokens
from scalezoo.train.config import RunConfig
from scalezoo.train.step import Engine, apply_model

TRAIN_EVAL_MAX = 10_000  # examples of the training set an evaluation uses at most
EVAL_BATCH = 512
HELD_OUT = ("val", "test")
MIN_HELD_OUT = 100  # examples (a language model's windows) below which a held-out loss's standard error is rough


def eval_subset(arrays: dict[str, np.ndarray], k: int) -> dict[str, np.ndarray]:
  """The examples an evaluation uses: a fixed random subset of k (all of them when k is 0 or covers the set)."""
  n = len(arrays["y"])
  if not 0 < k < n:
    return arrays
  keep = np.sort(np.random.default_rng(0).permutation(n)[:k])
  return {key: v[keep] for key, v in arrays.items()}


def eval_sets(cfg: RunConfig, split: data_lib.Split) -> dict[str, list]:
  """Padded evaluation batches of each split: every example, or eval_examples of each when set (a language model's
  splits hold far more windows than are worth a pass); the training set at most TRAIN_EVAL_MAX examples."""
  train = split.train
  if "stream" in split.info:  # a token corpus: a fixed sample of training windows, the same on every host
    n = cfg.eval_examples or len(split.val["y"])
    train = dict(tokens.batches(split.info["stream"], global_batch=n, seed=0)[0])
  batch = min(EVAL_BATCH, max(len(p["y"]) for p in (train, split.val, split.test)))
  k = cfg.eval_examples
  return {
    name: pad_for_eval(eval_subset(arrs, k or cap), batch)
    for name, arrs, cap in (("train", train, TRAIN_EVAL_MAX), ("val", split.val, 0), ("test", split.test, 0))
  }


def pad_for_eval(arrays: dict[str, np.ndarray], batch: int) -> list[tuple[dict[str, np.ndarray], np.ndarray]]:
  """Batches of exactly `batch` examples (the last padded by repeats) with a 0/1 weight per example, so one
  compiled evaluation program serves every split."""
  n = len(next(iter(arrays.values())))
  out = []
  for i in range(0, n, batch):
    m = min(batch, n - i)
    idx = np.concatenate([np.arange(i, i + m), np.full(batch - m, i)])
    out.append(({k: v[idx] for k, v in arrays.items()}, (np.arange(batch) < m).astype(np.float32)))
  return out


def evaluate(eng: Engine, params, model_state, batch: dict, w_B: jax.Array):
  """Sums over one batch in eval mode: loss, weight, and the task's statistics."""
  out, _, _ = apply_model(eng, params, model_state, batch, train=False)
  loss_B, wt_B = eng.task.loss(out, batch)
  return {
    "loss": jnp.sum(loss_B * w_B),
    "weight": jnp.sum(wt_B * w_B),
    "per_example": jnp.stack([loss_B * w_B, wt_B * w_B, w_B]),  # 3 x B, for the standard error: kept, not summed
    **eng.task.stats(out, batch, w_B, eng.num_classes),
  }


def task_stats(res: dict) -> dict:
  """The task's own sums of a split's results (what `task.finish` takes)."""
  return {k: v for k, v in res.items() if k not in ("loss", "weight", "per_example")}


@functools.lru_cache(maxsize=64)
def compiled_eval(eng: Engine, group: int):
  fn = functools.partial(evaluate, eng)
  if group > 1:
    fn = jax.vmap(fn, in_axes=(0, 0, None, None))
  if eng.mesh is None:
    return jax.jit(fn)
  # every output whole on every process: the per-example values are split over the batch's devices, and a host
  # can read only what it holds (the sums were already whole)
  return jax.jit(fn, out_shardings=jax.sharding.NamedSharding(eng.mesh, jax.sharding.PartitionSpec()))


def evaluate_split(eng: Engine, group: int, params, model_state, batches) -> dict[str, np.ndarray]:
  """Sums over a whole split (from pad_for_eval), accumulated on the host."""
  fn = compiled_eval(eng, group)
  total, each = None, []
  for batch, w in batches:
    res = jax.tree.map(np.asarray, fn(params, model_state, batch, w))
    each.append(res.pop("per_example"))
    total = res if total is None else jax.tree.map(np.add, total, res)
  return total | {"per_example": np.concatenate(each, axis=-1)}  # (G x) 3 x examples


def standard_error(per_example: np.ndarray) -> tuple[float, int]:
  """(the standard error of a split's mean loss, its examples): the mean is a ratio of sums over examples
  (sum loss / sum weight), so its error is the ratio estimator's, sqrt(n/(n-1) sum (l_i - R w_i)^2) / sum w, which
  is s/sqrt(n) when every example weighs the same. Examples, not tokens, are the units: a window's tokens are not
  independent."""
  loss, wt, mask = np.asarray(per_example, np.float64)
  n = int(np.sum(mask > 0))
  if n < 2 or wt.sum() <= 0:
    return float("nan"), n
  R = loss.sum() / wt.sum()
  return float(np.sqrt(n / (n - 1) * np.sum(((loss - R * wt) * (mask > 0)) ** 2)) / wt.sum()), n


def target_bytes(batches: list[tuple[dict[str, np.ndarray], np.ndarray]], table: np.ndarray) -> float:
  """Bytes of text the evaluated targets stand for (padding excluded): `table` gives each id's bytes."""
  return float(sum(np.sum(w_B * table[b["y"]].reshape(len(w_B), -1).sum(axis=1)) for b, w_B in batches))


def metrics(
  results: dict[str, dict[str, np.ndarray]], eng: Engine, finished: bool, task: str, nbytes: dict[str, float] | None
) -> dict[str, Any]:
  """A record's metrics from each split's sums: {split}_loss (NaN unless the run finished), every task metric of
  the test split and the accuracy of each. A language model's loss also in bits: per byte where a token is a byte
  (byte corpora); per token and, from `nbytes` (the bytes the targets stand for), per byte for a BPE corpus."""
  out: dict[str, Any] = {}
  for name, res in results.items():
    mean = float(res["loss"] / max(res["weight"], 1))
    out[f"{name}_loss"] = mean if finished else float("nan")
    if name in HELD_OUT:
      out[f"{name}_loss_se"] = standard_error(res["per_example"])[0] if finished else float("nan")
    extra = eng.task.finish(task_stats(res))
    for k, v in extra.items() if finished else ():
      if name == "test" or k == "accuracy":
        out[f"{name}_{k}"] = v
  if task in ("lm", "text"):
    for name in HELD_OUT:
      bits, se = out[f"{name}_loss"] / math.log(2), out[f"{name}_loss_se"] / math.log(2)
      if nbytes is None:
        out[f"{name}_bits_per_byte"], out[f"{name}_bits_per_byte_se"] = bits, se
      else:  # per byte over a BPE corpus: bytes per window vary, and the record has no per-window bytes: no se
        out[f"{name}_bits_per_token"], out[f"{name}_bits_per_token_se"] = bits, se
        nats = float(results[name]["loss"]) if finished else float("nan")
        out[f"{name}_bits_per_byte"] = nats / math.log(2) / max(nbytes[name], 1.0)
  return out


def small_held_out(results: dict[str, dict[str, np.ndarray]]) -> list[str]:
  """A warning for each held-out split with fewer than MIN_HELD_OUT examples: its loss is noisy."""
  out = []
  for name in HELD_OUT:
    n = standard_error(results[name]["per_example"])[1]
    if n < MIN_HELD_OUT:
      out.append(
        f"{name}: {n} held-out examples (windows), fewer than {MIN_HELD_OUT}: {name}_loss is noisy (see "
        f"{name}_loss_se); hold out more (a larger split, or eval_examples 0 for all of it)"
      )
  return out
