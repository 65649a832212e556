"""What each task feeds the model, how it scores the output, and which metrics it reports.

`loss(out, batch)` returns (loss_sum_B, weight_B) per example, so a mean over any batch, padded or masked,
is sum(loss) / sum(weight). `stats` returns sums an evaluation accumulates; `finish` turns them into metrics.
`penalty(out, batch)` (optional, per-example sums like the loss) is added to the loss the optimizer minimises and
to nothing that is reported: the LM task's z-loss, z_loss * logsumexp(logits)^2 per token (PaLM, Chowdhery et al.
2022; OLMo 2 uses 1e-5), which keeps the softmax normaliser near 1. `get("lm", z_loss=1e-4)` turns it on. A model's
own losses (a mixture of experts' balancing losses) reach the same sum through `train_loss`'s `aux`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np

from scalezoo.train import losses, metrics


@dataclasses.dataclass(frozen=True)
class Task:
  inputs: tuple[str, ...]
  loss: Callable[[jax.Array, dict], tuple[jax.Array, jax.Array]]
  stats: Callable[[jax.Array, dict, jax.Array, int], dict[str, jax.Array]]
  finish: Callable[[dict[str, np.ndarray]], dict[str, float]]
  penalty: Callable[[jax.Array, dict], jax.Array] | None = None

  def train_loss(self, out, batch, aux=0.0) -> tuple[jax.Array, jax.Array]:
    """(loss_sum_B + penalty_B + aux · weight_B, weight_B): what a training step minimises. `aux` is the model's
    own loss for the batch (a mixture's balancing losses, train/step.py's apply_model): weighted so that it adds
    itself to the mean."""
    loss_B, w_B = self.loss(out, batch)
    loss_B = loss_B + aux * w_B
    return (loss_B if self.penalty is None else loss_B + self.penalty(out, batch)), w_B


def _ones(batch):
  return jnp.ones(batch["y"].shape[0], jnp.float32)


def _mask(batch, shape):
  m = batch.get("mask")
  return jnp.ones(shape, jnp.float32) if m is None else m.astype(jnp.float32).reshape(shape)


# -- classification: one label per example, logits B x K
def _cls_loss(out, batch):
  return losses.cross_entropy(out, batch["y"]), _ones(batch)


def _cls_stats(out, batch, w, k):
  onehot_y = jax.nn.one_hot(batch["y"], k, dtype=jnp.float32) * w.reshape(-1, 1)
  onehot_p = jax.nn.one_hot(jnp.argmax(out, -1), k, dtype=jnp.float32)
  return {"confusion": onehot_y.T @ onehot_p}


def _cls_finish(s):
  c = s["confusion"]
  return {
    "accuracy": metrics.accuracy(c),
    "macro_f1": metrics.macro_f1(c),
    "per_class_error": metrics.per_class_error(c),
  }


# -- token-level prediction (language models, sequence labelling): logits B x L x V, targets B x L
def _tok_loss(out, batch):
  y = batch["y"]
  m = _mask(batch, y.shape) if "mask" in batch else (y >= 0).astype(jnp.float32)
  ce = losses.cross_entropy(out.reshape(-1, out.shape[-1]), jnp.maximum(y, 0).reshape(-1)).reshape(y.shape)
  return jnp.sum(ce * m, axis=1), jnp.sum(m, axis=1)


def _z_loss(coef: float):
  def penalty(out, batch):
    y = batch["y"]
    m = _mask(batch, y.shape) if "mask" in batch else (y >= 0).astype(jnp.float32)
    z = jax.nn.logsumexp(out.astype(jnp.float32), axis=-1)
    return coef * jnp.sum(jnp.square(z) * m, axis=1)

  return penalty


def _tok_stats(out, batch, w, k):
  y = batch["y"]
  m = (_mask(batch, y.shape) if "mask" in batch else (y >= 0).astype(jnp.float32)) * w.reshape(-1, 1)
  return {"correct": jnp.sum((jnp.argmax(out, -1) == y) * m), "tokens": jnp.sum(m)}


def _tok_finish(s):
  return {"accuracy": float(s["correct"] / max(s["tokens"], 1))}


# -- sequence to sequence with padding id 0 in the targets
def _s2s_loss(out, batch):
  y = batch["y"]
  m = (y != 0).astype(jnp.float32)
  ce = losses.cross_entropy(out.reshape(-1, out.shape[-1]), y.reshape(-1)).reshape(y.shape)
  return jnp.sum(ce * m, axis=1), jnp.sum(m, axis=1)


def _s2s_stats(out, batch, w, k):
  y = batch["y"]
  m = (y != 0).astype(jnp.float32) * w.reshape(-1, 1)
  tok_ok = (jnp.argmax(out, -1) == y) | (y == 0)
  return {
    "correct": jnp.sum((jnp.argmax(out, -1) == y) * m),
    "tokens": jnp.sum(m),
    "seq_correct": jnp.sum(jnp.all(tok_ok, axis=1) * w),
  }


def _s2s_finish(s):
  return {"accuracy": float(s["correct"] / max(s["tokens"], 1))}


# -- node classification on one padded graph: logits 1 x N x K, labels 1 x N, a node mask per split
def _node_loss(out, batch):
  y, m = batch["y"], batch["mask"].astype(jnp.float32)
  ce = losses.cross_entropy(out.reshape(-1, out.shape[-1]), y.reshape(-1)).reshape(y.shape)
  return jnp.sum(ce * m, axis=1), jnp.sum(m, axis=1)


def _node_stats(out, batch, w, k):
  m = batch["mask"].astype(jnp.float32) * w.reshape(-1, 1)
  return {"correct": jnp.sum((jnp.argmax(out, -1) == batch["y"]) * m), "tokens": jnp.sum(m)}


# -- regression
def _reg_loss(out, batch):
  return losses.mse(out, batch["y"].reshape(out.shape)), _ones(batch)


def _no_stats(out, batch, w, k):
  return {}


TASKS = {
  "classification": Task(("x",), _cls_loss, _cls_stats, _cls_finish),
  "graph_classification": Task(("x", "adj", "mask"), _cls_loss, _cls_stats, _cls_finish),
  "lm": Task(("x",), _tok_loss, _tok_stats, _tok_finish),
  "seq_labeling": Task(("x",), _tok_loss, _tok_stats, _tok_finish),
  "seq2seq": Task(("x", "y_in"), _s2s_loss, _s2s_stats, _s2s_finish),
  "node_classification": Task(("x", "adj"), _node_loss, _node_stats, _tok_finish),
  "regression": Task(("x",), _reg_loss, _no_stats, lambda s: {}),
}


def get(name: str, *, z_loss: float = 0.0) -> Task:
  """The task `name`; z_loss > 0 (the LM task only) adds z-loss to its training loss."""
  try:
    task = TASKS[name]
  except KeyError:
    raise ValueError(f"no training task {name!r}; tasks: {', '.join(sorted(TASKS))}") from None
  if z_loss < 0 or (z_loss and name != "lm"):
    raise ValueError(f"z_loss must be >= 0 and is an option of the 'lm' task, got {z_loss} for {name!r}")
  return dataclasses.replace(task, penalty=_z_loss(z_loss)) if z_loss else task
