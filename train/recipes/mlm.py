"""BERT's masked-language-model objective as a `recipes.generative.Recipe` (the engine's tasks take no rng, and the
masks here are drawn afresh every step: dynamic masking, as RoBERTa does).

Each position is chosen with probability `rate`; a chosen token becomes MASK 80% of the time, a random token 10%
and stays 10%; the loss is the cross-entropy of the original token at the chosen positions (Devlin et al. 2018).
Tokens are bytes (0..255); MASK is id 256, so the model's vocabulary is 257.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import optax

from scalezoo import zoo
from scalezoo.train import losses
from scalezoo.train.recipes.generative import Recipe, count_leaves
from scalezoo.train.step import TrainState

MASK = 256


def corrupt(key: jax.Array, x_BxL: jax.Array, rate: float = 0.15) -> tuple[jax.Array, jax.Array]:
  """(corrupted tokens, 0/1 float mask of the positions to predict)."""
  k_pick, k_how, k_tok = jax.random.split(key, 3)
  chosen = jax.random.bernoulli(k_pick, rate, x_BxL.shape)
  u = jax.random.uniform(k_how, x_BxL.shape)
  random_tok = jax.random.randint(k_tok, x_BxL.shape, 0, MASK)
  out = jnp.where(chosen & (u < 0.8), MASK, jnp.where(chosen & (u < 0.9), random_tok, x_BxL))
  return out.astype(x_BxL.dtype), chosen.astype(jnp.float32)


def mlm(model_args: dict, lr: float = 1e-3, rate: float = 0.15, warmup: int = 50, steps: int = 1000) -> Recipe:
  model = zoo.create("bert", **{"vocab": MASK + 1, "mlm_head": True, **model_args})
  sched = optax.warmup_cosine_decay_schedule(0.0, lr, min(warmup, steps - 1), max(steps, 2))
  tx = optax.chain(optax.clip_by_global_norm(1.0), optax.adamw(sched, weight_decay=0.01))

  def init(key, x):
    params = model.init({"params": key}, x[:1])["params"]
    return TrainState(jnp.zeros((), jnp.int32), params, {}, tx.init(params))

  def loss_and_acc(params, x, key, train):
    k_mask, k_drop = jax.random.split(key)
    inp, m = corrupt(k_mask, x, rate)
    logits = model.apply({"params": params}, inp, train=train, rngs={"dropout": k_drop})
    ce = losses.cross_entropy(logits.reshape(-1, logits.shape[-1]), x.reshape(-1)).reshape(x.shape)
    w = jnp.maximum(m.sum(), 1.0)
    return jnp.sum(ce * m) / w, jnp.sum((jnp.argmax(logits, -1) == x) * m) / w

  def step(s, x, key):
    (loss, _), g = jax.value_and_grad(loss_and_acc, has_aux=True)(s.params, x, key, True)
    updates, opt = tx.update(g, s.opt_state, s.params)
    return s.replace(step=s.step + 1, params=optax.apply_updates(s.params, updates), opt_state=opt), {"loss": loss}

  def evaluate(s, x, key):
    loss, acc = loss_and_acc(s.params, x, key, False)
    return {"masked_loss": loss, "masked_accuracy": acc}  # nats per masked byte; fixed masks from `key`

  return Recipe(init, step, evaluate, None, lambda s: count_leaves(s.params))
