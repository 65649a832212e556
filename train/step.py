"""The pure pieces of training: state, one train step, and many steps in one lax.scan.

The batches come in the data order (data/order.py), a pure function of (seed, step), so a resumed run needs only
the step and the state, and runs that share a shape can train together under jax.vmap. Evaluation is train/eval.py.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any, NamedTuple

import flax.linen as nn
import jax
import jax.numpy as jnp
import optax
from flax import struct
from jax.sharding import NamedSharding

from scalezoo import zoo
from scalezoo.data.order import batch_indices
from scalezoo.train import mesh, mup_optim, optim, target
from scalezoo.train.config import RunConfig
from scalezoo.train.tasks import Task
from scalezoo.zoo import moe
from scalezoo.zoo import sharding as logical


class TrainState(struct.PyTreeNode):
  step: jax.Array  # int32 scalar: steps taken
  params: Any
  model_state: Any  # non-trainable collections (batch_stats); {} when there are none
  opt_state: Any


@dataclasses.dataclass(frozen=True, eq=False)  # hashed by identity: compiled programs are cached per engine
class Engine:
  """What fixes a compiled program: model, task, optimizer structure, data size and batch size."""

  cfg: RunConfig
  model: nn.Module
  task: Task
  num_classes: int
  n_train: int
  mesh: jax.sharding.Mesh | None = None
  example: Any = None  # one training example (dict of arrays): the shapes programs are traced with
  mup: Any = None  # zoo.mup.Mup under parametrization = "mup" (the model is already transformed), else None

  @property
  def batch_size(self) -> int:
    return min(self.cfg.batch_size, self.n_train)

  def tx(self, lr) -> optax.GradientTransformationExtraArgs:
    tx = optim.optimizer(self.cfg.optimizer, self.cfg.schedule, self.cfg.steps, lr)
    return mup_optim.with_mup(tx, self.mup, self.cfg.optimizer.name)

  def init_params(self, params):
    """The model's fresh params, with μP's init rescale when it is on."""
    return params if self.mup is None else self.mup.init(params)

  def inputs(self, batch: dict) -> tuple[jax.Array, ...]:
    return tuple(batch[k] for k in self.task.inputs)

  @property
  def platform(self) -> str:
    """The XLA platform the engine's programs compile for: its mesh's devices' (a target's), else the host's."""
    return jax.default_backend() if self.mesh is None else self.mesh.devices.flat[0].platform

  def activations(self):
    """While a step is traced: the model's activations placed by the mesh's rules (nothing without a mesh), and the
    platform it compiles for (the attention backend's default: zoo/attention.py)."""
    return logical.activation_sharding(self.mesh, mesh.activation_rules(), self.platform)


def init_state(eng: Engine, key: jax.Array, arrays: dict, lr) -> TrainState:
  return init_states(eng, [key], arrays, [lr])[0]


def init_states(eng: Engine, keys: list[jax.Array], arrays: dict, lrs) -> list[TrainState]:
  """A fresh TrainState per (key, lr): model and optimizer init as one jitted program, compiled once for all keys.
  On a mesh the program writes each array straight into its shards (never whole on one device)."""
  example = jax.tree.map(lambda a: a[:1], arrays)

  def fresh(key, lr, *xs):
    variables = dict(eng.model.init({"params": key, "dropout": key, "noise": key}, *xs, train=False))
    params = eng.init_params(variables.pop("params"))
    return TrainState(jnp.zeros((), jnp.int32), params, variables, eng.tx(lr).init(params))

  args = lambda key, lr: (key, jnp.asarray(lr, jnp.float32), *eng.inputs(example))
  out = None if eng.mesh is None else state_shardings(eng, jax.eval_shape(fresh, *args(keys[0], lrs[0])))
  fresh = jax.jit(fresh, out_shardings=out)
  return [fresh(*args(key, lr)) for key, lr in zip(keys, lrs)]


def state_shardings(eng: Engine, state, leading: int = 0):
  return mesh.state_shardings(eng.mesh, state, leading)


def stack(states: list[TrainState], eng: Engine | None = None) -> TrainState:
  """The states of a vmapped group as one TrainState with a leading axis (on `eng`'s mesh when it has one)."""
  out = None if eng is None or eng.mesh is None else state_shardings(eng, jax.eval_shape(_stack, states), 1)
  return jax.jit(_stack, out_shardings=out)(states)


def _stack(states):
  return jax.tree.map(lambda *xs: jnp.stack(xs), *states)


def shift_images(key: jax.Array, x_BxHxWxC: jax.Array, pad: int = 2) -> jax.Array:
  """Random translations by up to `pad` pixels (zero fill), independently per example."""
  b, h, w, _ = x_BxHxWxC.shape
  xp = jnp.pad(x_BxHxWxC, ((0, 0), (pad, pad), (pad, pad), (0, 0)))
  offsets = jax.random.randint(key, (b, 2), 0, 2 * pad + 1)
  crop = lambda img, o: jax.lax.dynamic_slice(img, (o[0], o[1], 0), (h, w, img.shape[-1]))
  return jax.vmap(crop)(xp, offsets)


def _cast(tree, dtype):
  return jax.tree.map(lambda a: a.astype(dtype) if jnp.issubdtype(a.dtype, jnp.floating) else a, tree)


class Sown(NamedTuple):
  """What a model sowed in a train step (nothing in evaluation): the sum of its `losses` (a mixture of experts'
  balancing and router z-losses, zoo/moe.py; 0 for other models) and a mixture's per-layer expert statistics
  (zoo.moe.expert_stats: "load", routed layers x experts, and "dropped"; {} for other models)."""

  aux: jax.Array
  experts: dict[str, jax.Array]


def apply_model(eng: Engine, params, model_state, batch: dict, *, train: bool, key: jax.Array | None = None):
  """The model's output (f32), its updated non-trainable state, and what it sowed (`Sown`)."""
  inputs = eng.inputs(batch)
  if eng.cfg.precision == "bf16":
    params, inputs = _cast(params, jnp.bfloat16), _cast(inputs, jnp.bfloat16)
  rngs = {} if key is None else {"dropout": key, "noise": jax.random.fold_in(key, 1)}
  mutable = [*model_state, "losses", "intermediates"] if train else False
  with eng.activations():
    res = eng.model.apply({"params": params, **model_state}, *inputs, train=train, rngs=rngs, mutable=mutable)
  out, new_state = res if mutable else (res, model_state)
  new_state = dict(new_state)
  aux = sum((jnp.sum(x.astype(jnp.float32)) for x in jax.tree.leaves(new_state.pop("losses", {}))), jnp.zeros(()))
  sown = Sown(aux, moe.expert_stats(new_state.pop("intermediates", {})))
  return _cast(out, jnp.float32), new_state, sown


def train_step(eng: Engine, state: TrainState, batch: dict, lr, key: jax.Array):
  """One optimizer step on `batch`. Returns (state, metrics).

  With `microbatches = k` the batch is split into k pieces whose summed gradients make one update, the same
  update as the whole batch (up to float summation order); BatchNorm statistics are then per piece."""
  _, k_aug, k_drop = jax.random.split(key, 3)
  if eng.mesh is not None:  # examples split over (data, fsdp): XLA reduces the gradients across them
    batch = jax.lax.with_sharding_constraint(batch, NamedSharding(eng.mesh, mesh.batch_spec()))
  if eng.cfg.augment and batch["x"].ndim == 4:
    batch = {**batch, "x": shift_images(jax.random.fold_in(k_aug, state.step), batch["x"])}
  k_drop = jax.random.fold_in(k_drop, state.step)

  def sums(params, model_state, mb, key):
    out, new_ms, sown = apply_model(eng, params, model_state, mb, train=True, key=key)
    loss_B, w_B = eng.task.train_loss(out, mb, sown.aux)
    return jnp.sum(loss_B), (jnp.sum(w_B), new_ms, sown.experts)

  if eng.cfg.remat == "full":
    sums = jax.checkpoint(sums)
  k = eng.cfg.microbatches
  if k == 1:

    def loss_fn(params):
      total, (weight, new_ms, experts) = sums(params, state.model_state, batch, k_drop)
      return total / jnp.maximum(weight, 1.0), (new_ms, experts)

    (loss, (new_ms, experts)), grads = jax.value_and_grad(loss_fn, has_aux=True)(state.params)
  else:
    pieces = jax.tree.map(lambda a: a.reshape(k, a.shape[0] // k, *a.shape[1:]), batch)
    if eng.mesh is not None:  # each piece split over (data, fsdp) as the batch is, not the pieces over devices
      pieces = jax.lax.with_sharding_constraint(pieces, NamedSharding(eng.mesh, mesh.batch_spec(1)))

    def one(carry, i_mb):
      g_sum, l_sum, w_sum, ms = carry
      i, mb = i_mb
      (total, (weight, ms, experts)), g = jax.value_and_grad(sums, has_aux=True)(
        state.params, ms, mb, jax.random.fold_in(k_drop, i)
      )
      return (jax.tree.map(jnp.add, g_sum, g), l_sum + total, w_sum + weight, ms), experts

    zeros = jax.tree.map(jnp.zeros_like, state.params)
    init = (zeros, jnp.zeros((), jnp.float32), jnp.zeros((), jnp.float32), state.model_state)
    (g_sum, l_sum, w_sum, new_ms), experts = jax.lax.scan(one, init, (jnp.arange(k), pieces))
    experts = jax.tree.map(lambda a: jnp.mean(a, axis=0), experts)  # the pieces' mean
    w = jnp.maximum(w_sum, 1.0)
    loss, grads = l_sum / w, jax.tree.map(lambda g: g / w, g_sum)
  updates, opt_state = eng.tx(lr).update(grads, state.opt_state, state.params, value=loss)
  params = optax.apply_updates(state.params, updates)
  new = TrainState(state.step + 1, params, new_ms, opt_state)
  return new, {"loss": loss, "grad_norm": optax.global_norm(grads), **{f"expert_{k}": v for k, v in experts.items()}}


def gather(arrays: dict, idx_B: jax.Array) -> dict:
  return jax.tree.map(lambda a: jnp.take(a, idx_B, axis=0), arrays)


def scan_steps(step_fn, state, data_key: jax.Array, *, length: int, n: int, b: int):
  """`length` steps of `step_fn(state, idx_B) -> (state, metrics)` fused in one lax.scan (one dispatch, no host
  sync in between), on the batches of the data order for steps state.step .. state.step + length - 1."""
  idx = batch_indices(data_key, state.step, length, n, b)
  return jax.lax.scan(step_fn, state, idx)


def train_chunk(eng: Engine, state: TrainState, arrays: dict, lr, key: jax.Array, *, length: int):
  """`length` steps on an in-memory training set: the batches are gathered on the device by the data order."""
  k_data = jax.random.split(key, 3)[0]
  return scan_steps(
    lambda s, idx_B: train_step(eng, s, gather(arrays, idx_B), lr, key),
    state,
    k_data,
    length=length,
    n=eng.n_train,
    b=eng.batch_size,
  )


def train_chunk_fed(eng: Engine, state: TrainState, batches: dict, lr, key: jax.Array, *, length: int):
  """`length` steps on batches the host read (a token corpus): `batches` holds one per step on its leading axis."""
  del length
  return jax.lax.scan(lambda s, batch: train_step(eng, s, batch, lr, key), state, batches)


@functools.lru_cache(maxsize=64)
def compiled_chunk(eng: Engine, length: int, group: int, fed: bool = False):
  """The jitted chunk; vmapped over (state, lr, key) when `group` > 1 runs share this shape (and over the batches
  when they are fed, each run reading its own order). On a mesh the state keeps its shardings in and out."""
  fn = functools.partial(train_chunk_fed if fed else train_chunk, eng, length=length)
  if group > 1:
    fn = jax.vmap(fn, in_axes=(0, 0 if fed else None, 0, 0))
  shardings = {}
  if eng.mesh is not None:
    state = jax.eval_shape(lambda: _init_state(eng))
    if group > 1:
      state = jax.eval_shape(lambda s: jax.tree.map(lambda a: jnp.stack([a] * group), s), state)
    st = state_shardings(eng, state, int(group > 1))
    repl = mesh.replicated(eng.mesh)
    data = NamedSharding(eng.mesh, mesh.batch_spec(1 + int(group > 1))) if fed else repl
    shardings = dict(in_shardings=(st, data, repl, repl), out_shardings=(st, repl))
  return jax.jit(fn, donate_argnums=0, compiler_options=target.xla_options(eng.platform), **shardings)


def abstract_state(eng: Engine, leading: int = 0) -> TrainState:
  """The TrainState as jax.ShapeDtypeStructs (init traced on a dummy example, nothing computed), with the shardings
  the engine gives it on a mesh (no arrays, no devices needed)."""
  state = jax.eval_shape(lambda: _init_state(eng))
  if eng.mesh is None:
    return state
  spec = lambda a, s: jax.ShapeDtypeStruct(a.shape, a.dtype, sharding=s)
  return jax.tree.map(spec, state, state_shardings(eng, state, leading))


def _init_state(eng: Engine) -> TrainState:
  keys = {"params": jax.random.key(0), "dropout": jax.random.key(0), "noise": jax.random.key(0)}
  variables = dict(eng.model.init(keys, *eng.inputs(eng.example), train=False))
  params = variables.pop("params")
  return TrainState(jnp.zeros((), jnp.int32), params, variables, eng.tx(1.0).init(params))


def flops_of_step(eng: Engine, state: TrainState, data: dict, lr, key: jax.Array, *, fed: bool = False) -> float:
  """FLOPs of one train step by XLA's cost analysis of the lowered program (no compile needed): on a batch the
  host feeds, or gathered from the in-memory training set `data` as the chunk does."""
  if fed:
    return zoo.flops_of(jax.jit(functools.partial(train_step, eng)), state, data, lr, key)
  idx = jnp.zeros((eng.batch_size,), jnp.int32)
  step = lambda state, arrays, idx, lr, key: train_step(eng, state, gather(arrays, idx), lr, key)
  return zoo.flops_of(jax.jit(step), state, data, idx, lr, key)
