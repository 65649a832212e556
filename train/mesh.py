"""The device mesh of a run and where each array lives on it.

A run config's `mesh = {data = -1, fsdp = 1, tensor = 1}` (-1: every device the other axes leave) becomes a
`jax.sharding.Mesh` with those three axes. Parameters are placed by their logical axis names (zoo/sharding.py)
through RULES, as MaxText's logical axis rules do: FSDP splits the model width of every weight over `fsdp`,
tensor parallelism splits attention heads and feed-forward units over `tensor`, and the batch is split over
(`data`, `fsdp`). Optimizer moments live where their parameters do; everything else is replicated.
"""

from __future__ import annotations

import math

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

from scalezoo.train.config import ConfigError, RunConfig
from scalezoo.zoo import sharding as logical

AXES = ("data", "fsdp", "tensor")
BATCH = ("data", "fsdp")
# The one table from logical names to mesh axes: parameters' dimensions (zoo/sharding.py's names) and activations'
# (`activation_*`, MaxText's): the batch split over (data, fsdp) in every layer, heads and feed-forward units over
# tensor, the model width of an activation whole on each device (fsdp gathers the weights, not the activations).
RULES: dict[str, str | tuple[str, ...] | None] = {
  "embed": "fsdp",
  "heads": "tensor",
  "kv_heads": "tensor",
  "mlp": "tensor",
  "expert": None,  # a mixture's experts (zoo/moe.py): whole on each device until a mesh has an expert axis
  "kv": None,
  "vocab": None,
  "activation_batch": BATCH,
  "activation_length": None,
  "activation_embed": None,
  "activation_heads": "tensor",
  "activation_kv_heads": "tensor",
  "activation_kv": None,
  "activation_mlp": "tensor",
  "activation_vocab": None,
}


def mesh_shape(cfg: RunConfig, n_visible: int) -> tuple[int, int, int]:
  """(data, fsdp, tensor) from `mesh`, or from the older `devices` (data parallel) when `mesh` is not set."""
  if not cfg.mesh:
    n = n_visible if cfg.devices == 0 else cfg.devices
    if n > n_visible:  # a run's own failure in a sweep (an axis of devices), as before meshes
      raise ValueError(f"devices={n} but only {n_visible} are visible")
    return (n, 1, 1)
  sizes = {a: cfg.mesh.get(a, -1 if a == "data" else 1) for a in AXES}
  free = [a for a, s in sizes.items() if s == -1]
  fixed = math.prod(s for s in sizes.values() if s != -1)
  if len(free) > 1:
    raise ConfigError(f"mesh: at most one axis may be -1, got {cfg.mesh}")
  if free:
    if n_visible % fixed:
      raise ConfigError(f"mesh {cfg.mesh}: {fixed} does not divide the {n_visible} visible devices")
    sizes[free[0]] = n_visible // fixed
  total = math.prod(sizes.values())
  if total > n_visible or n_visible % total:
    raise ConfigError(f"mesh {sizes} needs {total} devices, which does not divide the {n_visible} visible ones")
  split = sizes["data"] * sizes["fsdp"]
  if (cfg.batch_size // cfg.microbatches) % split:
    raise ConfigError(
      f"mesh {sizes}: batch_size / microbatches = {cfg.batch_size // cfg.microbatches} is not divisible by"
      f" data x fsdp = {split}"
    )
  if jax.process_count() > 1 and total != n_visible:
    raise ConfigError(f"mesh {sizes} must span all {n_visible} devices of a {jax.process_count()}-process run")
  return tuple(sizes[a] for a in AXES)


def make_mesh(cfg: RunConfig, devices=None) -> Mesh | None:
  """The run's mesh over `devices` (default: the devices here), or None on one device here (a plain jit, no
  sharding). A target's devices (train/target.py, compile-only) always make a mesh, one device too."""
  here = devices is None
  devices = jax.devices() if here else list(devices)
  shape = mesh_shape(cfg, len(devices))
  n = math.prod(shape)
  if n == 1 and here:
    return None
  auto = (jax.sharding.AxisType.Auto,) * len(AXES)
  try:
    return jax.make_mesh(shape, AXES, devices=devices[:n], axis_types=auto)
  except AssertionError:  # a slice whose chips show each core (v4:2x2x1): no physical layout to follow, in order
    return Mesh(np.asarray(devices[:n]).reshape(shape), AXES, axis_types=auto)


def activation_rules() -> tuple[tuple[str, str | tuple[str, ...] | None], ...]:
  """RULES' activation names as (name, mesh axes) pairs, as zoo.sharding.activation_sharding takes them."""
  return tuple((k, v) for k, v in RULES.items() if k.startswith("activation_"))


def replicated(mesh: Mesh) -> NamedSharding:
  return NamedSharding(mesh, P())


def batch_spec(leading: int = 0) -> P:
  """Examples split over (data, fsdp); `leading` unsplit axes before the batch axis (steps, group)."""
  return P(*(None,) * leading, BATCH)


def _spec(mesh: Mesh, path: str, shape: tuple[int, ...], leading: int) -> P:
  axes = logical.axes_of(path, len(shape) - leading) or (None,) * (len(shape) - leading)
  spec = [None] * leading
  for dim, name in zip(shape[leading:], axes):
    axis = RULES.get(name) if name else None
    if axis and mesh.shape[axis] > 1 and dim % mesh.shape[axis]:
      raise ConfigError(
        f"mesh {axis}={mesh.shape[axis]} does not divide {name!r} = {dim} of parameter {path} {tuple(shape)}"
      )
    spec.append(axis if axis and mesh.shape[axis] > 1 else None)
  return P(*spec)


def param_shardings(mesh: Mesh, params, leading: int = 0):
  """A NamedSharding per parameter by its logical axis names; `leading` stacked axes (a vmapped group) unsplit."""
  flat, treedef = jax.tree_util.tree_flatten_with_path(params)
  out = [NamedSharding(mesh, _spec(mesh, logical.path_of(p), leaf.shape, leading)) for p, leaf in flat]
  return jax.tree_util.tree_unflatten(treedef, out)


def state_shardings(mesh: Mesh, state, leading: int = 0):
  """Shardings of a whole TrainState (abstract or concrete): parameters by their names, each optimizer leaf whose
  path ends in a parameter's path and has its shape like that parameter (Adam's moments), the rest replicated."""
  params = param_shardings(mesh, state.params, leading)
  by_path = {
    logical.path_of(p): (leaf.shape, s)
    for (p, leaf), s in zip(jax.tree_util.tree_flatten_with_path(state.params)[0], jax.tree.leaves(params))
  }
  repl = replicated(mesh)

  def opt_leaf(p, leaf):
    path = logical.path_of(p)
    for ppath, (shape, s) in by_path.items():
      if (path == ppath or path.endswith("/" + ppath)) and tuple(leaf.shape) == tuple(shape):
        return s
    return repl

  opt = jax.tree_util.tree_map_with_path(opt_leaf, state.opt_state)
  return state.replace(
    step=repl, params=params, model_state=jax.tree.map(lambda _: repl, state.model_state), opt_state=opt
  )


def global_array(x: np.ndarray, sharding: NamedSharding) -> jax.Array:
  """A global array from a host value every process holds in full (the in-memory data sets)."""
  x = np.asarray(x)
  return jax.make_array_from_callback(x.shape, sharding, lambda idx: x[idx])


def host_batch(local: np.ndarray, mesh: Mesh, leading: int = 0) -> jax.Array:
  """A global batch from this process's slice of it (a token corpus' rows for this host)."""
  return jax.make_array_from_process_local_data(NamedSharding(mesh, batch_spec(leading)), np.asarray(local))


def per_device_bytes(tree) -> int:
  """Bytes of `tree` held on one device (the largest shard of each leaf)."""
  total = 0
  for a in jax.tree.leaves(tree):
    shard = a.sharding.shard_shape(a.shape) if hasattr(a, "sharding") else a.shape
    total += math.prod(shard) * np.dtype(a.dtype).itemsize
  return total
