"""Mixture of experts: a routed SwiGLU feed-forward for the Llama-family decoder (zoo/llama.py's `n_experts`).

A router (a D x E' kernel, in f32) scores each token: softmax (Switch, Mixtral) or sigmoid (DeepSeek-V3). The
top k' experts by score are chosen; their scores are the weights, renormalised to sum to 1 or not (`renorm`).
Fine-grained experts (DeepSeek-MoE, Krajewski et al. 2024): granularity G makes E' = E·G experts of width
d_ff / G and k' = k·G of them per token, the same active compute as (E, k). Shared experts (DeepSeek-MoE) see
every token: n_shared of width d_ff / G, one SwiGLU of width n_shared·d_ff / G (the same function as separate
ones, summed).

Dropless by default (MegaBlocks, MaxText's sparse_matmul): the T·k' (token, expert) assignments are sorted by
expert and each expert's rows are multiplied by its weights with `jax.lax.ragged_dot`, so no token is dropped and
no expert is padded. `capacity_factor` > 0 gives a capacity's semantics: an expert keeps its first
C = ceil(capacity_factor · T·k' / E') assignments in token order (Switch) and the rest contribute nothing; the
compute stays the dropless one's. Each expert's share of the assignments and the dropped fraction are sown into
`intermediates` (`expert_stats` reads them; the engine records each layer's busiest and idlest share).

Losses, sown into the `losses` collection (the engine adds their sum to the training loss, train/step.py):
  - load balancing (Switch, Mixtral): aux_loss_coef · E' · Σ_e f_e · P_e, f_e the fraction of assignments that
    went to e, P_e the mean router probability of e (sigmoid scores normalised per token); 1 when balanced;
  - router z-loss (ST-MoE, Zoph et al. 2022): router_z_loss_coef · mean over tokens of logsumexp(logits)².
Auxiliary-loss-free balancing (DeepSeek-V3): with bias_update_rate γ > 0 a per-expert bias in the non-trainable
`router_bias` collection is added to the scores for the choice only (the weights stay the scores). The layer
updates it itself whenever the collection is mutable (the engine's train steps, each microbatch piece under
`microbatches`; never its evaluation):
b_e += γ · sign(mean load - load_e) from this batch's loads, outside the gradient; the next step routes with it.

Known gap: on the CPU backend jax (0.10.2) lowers ragged_dot to a masked dense product of all T·k' rows with every
expert, so the routed layers do E' times their work there and XLA's cost analysis (zoo.flops_of, a record's
flops_per_step) counts it; other backends' lowerings are unchecked here.
"""

from __future__ import annotations

import dataclasses
import math
import re
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

ROUTERS = ("softmax", "sigmoid")


@dataclasses.dataclass(frozen=True)
class Routing:
  """A MoE layer's options: the Llama model's of the same names (n_shared is its n_shared_experts, renorm its
  router_renorm)."""

  n_experts: int  # E, before granularity
  top_k: int = 2
  granularity: int = 1  # G: E·G experts of width d_ff / G, top k·G
  n_shared: int = 0
  router: str = "softmax"
  renorm: bool = True  # the chosen weights renormalised to sum to 1
  capacity_factor: float = 0.0  # 0: dropless
  aux_loss_coef: float = 0.0
  router_z_loss_coef: float = 0.0
  bias_update_rate: float = 0.0  # γ of DeepSeek-V3's auxiliary-loss-free balancing; 0: no bias

  def __post_init__(self):
    if self.n_experts < 1 or self.granularity < 1 or self.n_shared < 0:
      raise ValueError(f"n_experts and granularity must be >= 1 and n_shared_experts >= 0, got {self}")
    if not 1 <= self.top_k <= self.n_experts:
      raise ValueError(f"top_k must be in 1..n_experts = {self.n_experts}, got {self.top_k}")
    if self.router not in ROUTERS:
      raise ValueError(f"router must be one of {', '.join(ROUTERS)}, got {self.router!r}")
    if min(self.capacity_factor, self.aux_loss_coef, self.router_z_loss_coef, self.bias_update_rate) < 0:
      raise ValueError(f"capacity_factor, the loss coefficients and bias_update_rate must be >= 0, got {self}")

  @property
  def experts(self) -> int:
    return self.n_experts * self.granularity

  @property
  def k(self) -> int:
    return self.top_k * self.granularity


def dispatch(x_TxD, idx_TxK, w_TxK, wg_ExDxF, wu_ExDxF, wd_ExFxD, capacity: int = 0):
  """Σ_k w · SwiGLU_e(x) over each token's chosen experts, dropless: the assignments sorted by expert, one
  ragged_dot per matrix. `capacity` > 0 keeps each expert's first `capacity` assignments in token order.
  Returns (y_TxD in f32, keep_TxK: 1 where an assignment was computed)."""
  T, K = idx_TxK.shape
  E = wg_ExDxF.shape[0]
  e_A = idx_TxK.reshape(-1)
  order_A = jnp.argsort(e_A, stable=True)  # stable: token order within an expert (who is dropped first)
  inv_A = jnp.zeros_like(order_A).at[order_A].set(jnp.arange(T * K))
  sizes_E = jnp.bincount(e_A, length=E).astype(jnp.int32)
  xs_AxD = x_TxD[order_A // K]
  gate_AxF = jax.lax.ragged_dot(xs_AxD, wg_ExDxF, sizes_E)
  up_AxF = jax.lax.ragged_dot(xs_AxD, wu_ExDxF, sizes_E)
  ys_AxD = jax.lax.ragged_dot(nn.silu(gate_AxF) * up_AxF, wd_ExFxD, sizes_E)
  y_TxKxD = ys_AxD[inv_A].reshape(T, K, -1).astype(jnp.float32)
  keep_TxK = jnp.ones((T, K), jnp.float32)
  if capacity:
    starts_E = jnp.cumsum(sizes_E) - sizes_E
    pos_A = jnp.arange(T * K) - starts_E[e_A[order_A]]  # rank of each sorted assignment within its expert
    keep_TxK = (pos_A < capacity)[inv_A].reshape(T, K).astype(jnp.float32)
  return jnp.einsum("tkd,tk->td", y_TxKxD, w_TxK.astype(jnp.float32) * keep_TxK), keep_TxK


class SwiGLU(nn.Module):
  """down(silu(gate x) * up x) of width d_ff, with the Llama family's layer names."""

  d_ff: int
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x_TxD: jax.Array) -> jax.Array:
    dense = lambda n, out: nn.Dense(
      out, use_bias=False, dtype=self.dtype, kernel_init=nn.initializers.normal(0.02), name=n
    )
    return dense("down_proj", x_TxD.shape[-1])(
      nn.silu(dense("gate_proj", self.d_ff)(x_TxD)) * dense("up_proj", self.d_ff)(x_TxD)
    )


class MoE(nn.Module):
  routing: Routing
  d_ff: int  # a granularity-1 expert's width
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x_BxLxD: jax.Array) -> jax.Array:
    r = self.routing
    E, K, (B, L, D) = r.experts, r.k, x_BxLxD.shape
    if self.d_ff % r.granularity:
      raise ValueError(f"granularity {r.granularity} does not divide d_ff {self.d_ff}")
    F = self.d_ff // r.granularity
    init = nn.initializers.normal(0.02)
    x_TxD = x_BxLxD.reshape(B * L, D)
    router_DxE = self.param("router", init, (D, E))
    logits_TxE = x_TxD.astype(jnp.float32) @ router_DxE.astype(jnp.float32)
    if r.router == "softmax":
      scores_TxE = jax.nn.softmax(logits_TxE, axis=-1)
      probs_TxE = scores_TxE
    else:
      scores_TxE = jax.nn.sigmoid(logits_TxE)
      probs_TxE = scores_TxE / jnp.sum(scores_TxE, axis=-1, keepdims=True)
    choice_TxE = jax.lax.stop_gradient(scores_TxE)
    bias = None
    if r.bias_update_rate:
      bias = self.variable("router_bias", "bias", jnp.zeros, (E,), jnp.float32)
      choice_TxE = choice_TxE + bias.value[None]
    _, idx_TxK = jax.lax.top_k(choice_TxE, K)
    w_TxK = jnp.take_along_axis(scores_TxE, idx_TxK, axis=-1)
    if r.renorm:
      w_TxK = w_TxK / jnp.sum(w_TxK, axis=-1, keepdims=True)
    capacity = math.ceil(r.capacity_factor * B * L * K / E) if r.capacity_factor else 0
    experts = lambda n, shape: self.param(n, init, shape).astype(self.dtype)
    y_TxD, keep_TxK = dispatch(
      x_TxD.astype(self.dtype),
      idx_TxK,
      w_TxK,
      experts("expert_gate", (E, D, F)),
      experts("expert_up", (E, D, F)),
      experts("expert_down", (E, F, D)),
      capacity,
    )
    if r.n_shared:
      y_TxD = y_TxD + SwiGLU(r.n_shared * F, self.dtype, name="shared")(x_TxD).astype(jnp.float32)

    if self.is_initializing():  # init's variables are parameters and the bias, never a sown loss
      return y_TxD.reshape(B, L, D)
    load_E = jnp.bincount(idx_TxK.reshape(-1), length=E).astype(jnp.float32) / (B * L * K)  # f_e
    balance = E * jnp.sum(load_E * jnp.mean(probs_TxE, axis=0))
    z = jnp.mean(jnp.square(jax.nn.logsumexp(logits_TxE, axis=-1)))
    self.sow("losses", "aux", r.aux_loss_coef * balance + r.router_z_loss_coef * z)
    self.sow("intermediates", "load", load_E)
    self.sow("intermediates", "dropped", 1.0 - jnp.mean(keep_TxK))
    if bias is not None and self.is_mutable_collection("router_bias"):
      bias.value = bias.value + r.bias_update_rate * jnp.sign(jnp.mean(load_E) - load_E)
    return y_TxD.reshape(B, L, D)


_ROUTED = re.compile(r"expert_(gate|up|down)")


def active_params(params, routing: Routing | None) -> int:
  """Parameters one token uses: all but the routed experts', plus k' of the E' experts' (shared ones are used)."""
  leaves = jax.tree_util.tree_flatten_with_path(params)[0]
  total = sum(x.size for _, x in leaves)
  if routing is None:
    return int(total)
  routed = sum(x.size for p, x in leaves if _ROUTED.fullmatch(str(getattr(p[-1], "key", p[-1]))))
  return int(total - routed + routed // routing.experts * routing.k)


def expert_stats(intermediates) -> dict[str, jax.Array]:
  """The routed layers' sown statistics from a forward's `intermediates`, in layer order: "load" (layers x E', each
  expert's share of the layer's assignments) and "dropped" (layers); {} when the model has no routed layer."""
  found: dict[str, list] = {"load": [], "dropped": []}
  for path, x in jax.tree_util.tree_flatten_with_path(intermediates)[0]:
    names = [str(getattr(k, "key", getattr(k, "idx", k))) for k in path]
    if "moe" in names[:-1] and names[names.index("moe") + 1] in found:
      layer = next((int(n[6:]) for n in names if re.fullmatch(r"layer_\d+", n)), 0)  # layer_10 after layer_9
      found[names[names.index("moe") + 1]].append((layer, x))
  if not found["load"]:
    return {}
  stack = lambda xs, shape: jnp.concatenate([x.reshape(shape) for _, x in sorted(xs, key=lambda lx: lx[0])])
  E = found["load"][0][1].shape[-1]
  return {"load": stack(found["load"], (-1, E)), "dropped": stack(found["dropped"], (-1,))}
