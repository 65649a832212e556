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
    **eng.task.stats(out, batch, w_B, eng.num_classes),
  }


@functools.lru_cache(maxsize=64)
def compiled_eval(eng: Engine, group: int):
  fn = functools.partial(evaluate, eng)
  if group > 1:
    fn = jax.vmap(fn, in_axes=(0, 0, None, None))
  return jax.jit(fn)


def evaluate_split(eng: Engine, group: int, params, model_state, batches) -> dict[str, np.ndarray]:
  """Sums over a whole split (from pad_for_eval), accumulated on the host."""
  fn = compiled_eval(eng, group)
  total = None
  for batch, w in batches:
    res = jax.tree.map(np.asarray, fn(params, model_state, batch, w))
    total = res if total is None else jax.tree.map(np.add, total, res)
  return total


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
    extra = eng.task.finish({k: v for k, v in res.items() if k not in ("loss", "weight")})
    for k, v in extra.items() if finished else ():
      if name == "test" or k == "accuracy":
        out[f"{name}_{k}"] = v
  if task in ("lm", "text"):
    for name in ("val", "test"):
      bits = out[f"{name}_loss"] / math.log(2)
      if nbytes is None:
        out[f"{name}_bits_per_byte"] = bits
      else:
        out[f"{name}_bits_per_token"] = bits
        nats = float(results[name]["loss"]) if finished else float("nan")
        out[f"{name}_bits_per_byte"] = nats / math.log(2) / max(nbytes[name], 1.0)
  return out
