"""Generative training the supervised engine does not cover: a GAN (two optimizers, alternating), a VAE (the ELBO)
and DDPM (noise prediction, ancestral sampler).

Each kind is a `Recipe` of pure functions over the engine's `TrainState`; `fit` runs any recipe through the
engine's chunks (`step.scan_steps`, `timer.ChunkTimer`) and data order (a pure function of seed and step), so a run
is a pure function of its arguments. Images come in [0, 1] (B, H, W, C); samples go out in [0, 1].
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax

from scalezoo import zoo
from scalezoo.train import losses
from scalezoo.train.loop import chunk_length
from scalezoo.train.record import now
from scalezoo.train.step import TrainState, scan_steps
from scalezoo.train.timer import ChunkTimer


@dataclasses.dataclass(frozen=True)
class Recipe:
  """init(key, x_B) -> TrainState (a GAN's params, model_state and opt_state are {"g": ..., "d": ...});
  step(state, x_B, key) -> (state, metrics); evaluate(state, x, key) -> metrics;
  sample(state, key, n) -> images in [0, 1] (None for models that do not sample)."""

  init: Callable
  step: Callable
  evaluate: Callable
  sample: Callable | None
  params: Callable  # state -> trainable parameter count


def _split_vars(variables) -> tuple[Any, Any]:
  variables = dict(variables)
  return variables.pop("params"), variables


def count_leaves(tree) -> int:
  return int(sum(x.size for x in jax.tree_util.tree_leaves(tree)))


def _update(tx, grads, opt_state, params):
  updates, opt_state = tx.update(grads, opt_state, params)
  return optax.apply_updates(params, updates), opt_state


# -- VAE: maximise the ELBO, Bernoulli pixels
def vae(model_args: dict, lr: float = 1e-3) -> Recipe:
  model, tx = zoo.create("vae", **model_args), optax.adam(lr)

  def init(key, x):
    params, ms = _split_vars(model.init({"params": key}, x[:1]))
    return TrainState(jnp.zeros((), jnp.int32), params, ms, tx.init(params))

  def neg_elbo(params, x, key):
    logits, mean, logvar = model.apply({"params": params}, x, train=True, rngs={"noise": key})
    return jnp.mean(losses.vae_elbo(logits, x, mean, logvar))

  def step(s, x, key):
    loss, g = jax.value_and_grad(neg_elbo)(s.params, x, key)
    params, opt = _update(tx, g, s.opt_state, s.params)
    return s.replace(step=s.step + 1, params=params, opt_state=opt), {"loss": loss}

  def evaluate(s, x, key):
    return {"neg_elbo": neg_elbo(s.params, x, key)}  # nats per image, one latent sample per image

  def sample(s, key, n):
    z = jax.random.normal(key, (n, model.latent))
    return jax.nn.sigmoid(model.apply({"params": s.params}, z, method="decode"))

  return Recipe(init, step, evaluate, sample, lambda s: count_leaves(s.params))


# -- GAN: DCGAN, non-saturating loss; one discriminator step then one generator step per iteration
def gan(model_args: dict, lr: float = 2e-4, b1: float = 0.5) -> Recipe:
  g_args = {k: v for k, v in model_args.items() if k != "d_features"}
  d_args = {k: v for k, v in model_args.items() if k not in ("latent", "features", "d_features")}
  G = zoo.create("dcgan_generator", **g_args)
  D = zoo.create("dcgan_discriminator", **d_args, features=model_args.get("d_features", g_args.get("features", 64)))
  latent = zoo.resolve("dcgan_generator", **g_args)["latent"]
  tx = optax.adam(lr, b1=b1)  # Radford et al.'s settings, one instance per network

  def init(key, x):
    kg, kd = jax.random.split(key)
    gp, gs = _split_vars(G.init(kg, jnp.zeros((1, latent))))
    dp, ds = _split_vars(D.init(kd, x[:1]))
    params = {"g": gp, "d": dp}
    return TrainState(jnp.zeros((), jnp.int32), params, {"g": gs, "d": ds}, {"g": tx.init(gp), "d": tx.init(dp)})

  def generate(gp, gs, z, train):
    if not train:
      return G.apply({"params": gp, **gs}, z), gs
    return G.apply({"params": gp, **gs}, z, train=True, mutable=["batch_stats"])

  def discriminate(dp, ds, x):
    return D.apply({"params": dp, **ds}, x, train=True, mutable=["batch_stats"])

  def step(s, x, key):
    x = 2.0 * x - 1.0  # the generator's tanh range
    z = jax.random.normal(key, (x.shape[0], latent))
    (gp, dp), (gs, ds) = (s.params["g"], s.params["d"]), (s.model_state["g"], s.model_state["d"])
    fake, gs = generate(gp, gs, z, True)

    def d_loss(dp):
      real_logits, new = discriminate(dp, ds, x)
      fake_logits, new = discriminate(dp, new, jax.lax.stop_gradient(fake))
      return jnp.mean(losses.gan_discriminator(real_logits, fake_logits)), new

    (ld, ds), g = jax.value_and_grad(d_loss, has_aux=True)(dp)
    dp, d_opt = _update(tx, g, s.opt_state["d"], dp)

    def g_loss(gp):
      fake, new_gs = generate(gp, s.model_state["g"], z, True)
      logits, _ = discriminate(dp, ds, fake)  # the discriminator's statistics are not updated here
      return jnp.mean(losses.gan_generator(logits)), new_gs

    (lg, gs), g = jax.value_and_grad(g_loss, has_aux=True)(gp)
    gp, g_opt = _update(tx, g, s.opt_state["g"], gp)
    new = TrainState(s.step + 1, {"g": gp, "d": dp}, {"g": gs, "d": ds}, {"g": g_opt, "d": d_opt})
    return new, {"loss": lg, "d_loss": ld, "g_loss": lg}

  def evaluate(s, x, key):
    z = jax.random.normal(key, (x.shape[0], latent))
    fake, _ = generate(s.params["g"], s.model_state["g"], z, False)
    d = lambda im: D.apply({"params": s.params["d"], **s.model_state["d"]}, im)
    return {
      "d_loss": jnp.mean(losses.gan_discriminator(d(2.0 * x - 1.0), d(fake))),
      "g_loss": jnp.mean(losses.gan_generator(d(fake))),
    }

  def sample(s, key, n):
    fake, _ = generate(s.params["g"], s.model_state["g"], jax.random.normal(key, (n, latent)), False)
    return (fake + 1.0) / 2.0

  return Recipe(init, step, evaluate, sample, lambda s: count_leaves(s.params["g"]) + count_leaves(s.params["d"]))


# -- DDPM: Ho et al.'s simplified loss; ancestral sampling over all T steps or `sample_steps` respaced ones
def ddpm(model_args: dict, lr: float = 2e-4, clip_norm: float = 1.0, sample_steps: int = 0) -> Recipe:
  model = zoo.create("ddpm_unet", **model_args)
  T = zoo.resolve("ddpm_unet", **model_args)["timesteps"]
  tx = optax.chain(optax.clip_by_global_norm(clip_norm), optax.adam(lr))

  def init(key, x):
    params, ms = _split_vars(model.init({"params": key}, x[:1], jnp.zeros((1,), jnp.int32)))
    return TrainState(jnp.zeros((), jnp.int32), params, ms, tx.init(params))

  def loss(params, x, key, train):
    k_noise, k_drop = jax.random.split(key)
    fn = lambda x_t, t: model.apply({"params": params}, x_t, t, train=train, rngs={"dropout": k_drop})
    return jnp.mean(losses.ddpm_noise_loss(fn, 2.0 * x - 1.0, k_noise, T))

  def step(s, x, key):
    value, g = jax.value_and_grad(loss)(s.params, x, key, True)
    params, opt = _update(tx, g, s.opt_state, s.params)
    return s.replace(step=s.step + 1, params=params, opt_state=opt), {"loss": value}

  def evaluate(s, x, key):
    return {"noise_mse": loss(s.params, x, key, False)}

  def sample(s, key, n):
    # Ancestral sampling over K timesteps spread over 0..T-1 (K = T: Ho et al.'s sampler; fewer: the respacing of
    # Nichol & Dhariwal 2021), each step with the posterior variance of the respaced chain.
    ts = jnp.round(jnp.linspace(0, T - 1, sample_steps or T)).astype(jnp.int32)
    ab = jnp.cumprod(1.0 - losses.ddpm_betas(T))[ts]
    ab_prev = jnp.concatenate([jnp.ones((1,)), ab[:-1]])
    beta = 1.0 - ab / ab_prev
    var = beta * (1.0 - ab_prev) / (1.0 - ab)
    k0, key = jax.random.split(key)
    x = jax.random.normal(k0, (n, *model_shape))

    def back(x, i):  # x at ts[i] -> x at ts[i - 1] (or x_0 when i == 0)
      eps = model.apply({"params": s.params}, x, jnp.full((n,), ts[i], jnp.int32))
      mean = (x - beta[i] / jnp.sqrt(1.0 - ab[i]) * eps) / jnp.sqrt(1.0 - beta[i])
      z = jax.random.normal(jax.random.fold_in(key, i), x.shape)
      return mean + jnp.sqrt(var[i]) * z, None  # var[0] is 0: the last step adds no noise

    x, _ = jax.lax.scan(back, x, jnp.arange(len(ts) - 1, -1, -1))
    return jnp.clip((x + 1.0) / 2.0, 0.0, 1.0)

  cfg = zoo.resolve("ddpm_unet", **model_args)
  model_shape = (cfg["image_size"], cfg["image_size"], cfg["in_channels"])
  return Recipe(init, step, evaluate, sample, lambda s: count_leaves(s.params))


RECIPES = {"vae": vae, "gan": gan, "ddpm": ddpm}


def mmd(a_NxD: np.ndarray, b_MxD: np.ndarray, bandwidth: float) -> float:
  """Unbiased squared maximum mean discrepancy with a Gaussian kernel (Gretton et al. 2012): 0 when the two
  samples come from one distribution (it can dip just below 0), larger the further apart they are."""
  a, b = jnp.asarray(a_NxD, jnp.float32), jnp.asarray(b_MxD, jnp.float32)
  k = lambda u, v: jnp.exp(-jnp.sum((u[:, None] - v[None]) ** 2, -1) / (2 * bandwidth**2))
  n, m = len(a), len(b)
  kaa, kbb = k(a, a), k(b, b)
  saa = (kaa.sum() - jnp.trace(kaa)) / (n * (n - 1))
  sbb = (kbb.sum() - jnp.trace(kbb)) / (m * (m - 1))
  return float(saa + sbb - 2 * k(a, b).mean())


def median_bandwidth(x_NxD: np.ndarray) -> float:
  """The median pairwise distance of a sample: the usual kernel bandwidth."""
  d = np.sqrt(((x_NxD[:, None] - x_NxD[None]) ** 2).sum(-1))
  return float(np.median(d[np.triu_indices(len(x_NxD), 1)]))


def fit(
  recipe: Recipe,
  train_x: np.ndarray,
  eval_x: np.ndarray,
  *,
  steps: int,
  batch_size: int = 64,
  seed: int = 0,
  chunk: int = 0,
  n_samples: int = 64,
  mmd_real: np.ndarray | None = None,
) -> tuple[TrainState, dict]:
  """Train `recipe` on `train_x` for `steps` steps; evaluate on `eval_x` (fixed keys) before, during and after.

  Returns the final state and a record: params, step/compile time, curve (train and eval metrics per chunk),
  metrics before and after, samples before and after (n_samples, in [0, 1]) and, when `mmd_real` is given, the
  samples' MMD to those real images (flattened) before and after.
  """
  t_start, started = time.perf_counter(), now()
  key = jax.random.key(seed)
  k_init, k_train, k_eval, k_sample = (jax.random.fold_in(key, i) for i in range(4))
  x_train = jnp.asarray(train_x)
  x_eval = jnp.asarray(eval_x)
  n, b = len(x_train), min(batch_size, len(x_train))
  chunk = chunk or chunk_length(steps, 0)

  def one(s, idx_B):
    return recipe.step(s, jnp.take(x_train, idx_B, axis=0), jax.random.fold_in(k_train, s.step))

  run_chunk = jax.jit(lambda s, length: scan_steps(one, s, k_train, length=length, n=n, b=b), static_argnums=1)
  evaluate = jax.jit(lambda s: recipe.evaluate(s, x_eval, k_eval))
  sample = jax.jit(lambda s: recipe.sample(s, k_sample, n_samples)) if recipe.sample else None
  bandwidth = median_bandwidth(mmd_real.reshape(len(mmd_real), -1)) if mmd_real is not None else 0.0

  def snapshot(s):
    m = {k: float(v) for k, v in evaluate(s).items()}
    imgs = np.asarray(sample(s)) if sample else None
    if imgs is not None and mmd_real is not None:
      m["sample_mmd"] = mmd(imgs.reshape(len(imgs), -1), mmd_real.reshape(len(mmd_real), -1), bandwidth)
    return m, imgs

  state = recipe.init(k_init, x_train)
  before, samples_before = snapshot(state)
  curve: dict[str, list] = {"step": []}
  done, timer = 0, ChunkTimer()
  while done < steps:
    length = min(chunk, steps - done)
    state, m = timer.run(run_chunk, length, state, length)
    done += length
    curve["step"].append(done)
    for k, v in m.items():
      curve.setdefault(f"train_{k}", []).append(float(np.mean(v)))
    for k, v in evaluate(state).items():
      curve.setdefault(f"eval_{k}", []).append(float(v))
  after, samples_after = snapshot(state)
  record = {
    "params": recipe.params(state),
    "steps_run": done,
    "step_time": timer.step_time,  # seconds per step, chunks that did not compile
    "compile_time": timer.compile_time,
    "wall_time": time.perf_counter() - t_start,
    "started_at": started,
    "ended_at": now(),
    "metrics_before": before,
    "metrics_after": after,
    "curve": curve,
    "samples_before": samples_before,
    "samples_after": samples_after,
  }
  return state, record
