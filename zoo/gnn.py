"""Graph networks on padded dense graphs: GCN (Kipf & Welling 2017), GAT (Velickovic et al. 2018), GIN (Xu et al.
2019). Inputs: node features x_BxNxF, adjacency adj_BxNxN (0/1, no self loops needed) and optionally
node_mask_BxN (1 for real nodes; default all). readout "none" gives node logits_BxNxO, "mean"/"sum"/"max" graph
logits_BxO from the pooled last hidden layer.
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp

from scalezoo.zoo.registry import ModelSpec, normal_input, register


def _with_self_loops(adj_BxNxN: jax.Array, mask_BxN: jax.Array) -> jax.Array:
  N = adj_BxNxN.shape[-1]
  edges = jnp.maximum(adj_BxNxN, jnp.eye(N, dtype=adj_BxNxN.dtype)[None])
  return edges * mask_BxN[:, :, None] * mask_BxN[:, None, :]


def gcn_norm(adj_BxNxN: jax.Array, mask_BxN: jax.Array) -> jax.Array:
  """D^-1/2 (A + I) D^-1/2 over the real nodes."""
  a_BxNxN = _with_self_loops(adj_BxNxN, mask_BxN)
  d_BxN = a_BxNxN.sum(-1)
  inv_BxN = jnp.where(d_BxN > 0, 1.0 / jnp.sqrt(jnp.maximum(d_BxN, 1e-12)), 0.0)
  return inv_BxN[:, :, None] * a_BxNxN * inv_BxN[:, None, :]


def readout(h_BxNxF: jax.Array, mask_BxN: jax.Array, how: str) -> jax.Array:
  m_BxNx1 = mask_BxN[:, :, None]
  if how == "sum":
    return (h_BxNxF * m_BxNx1).sum(1)
  if how == "mean":
    return (h_BxNxF * m_BxNx1).sum(1) / jnp.maximum(m_BxNx1.sum(1), 1.0)
  if how == "max":
    return jnp.where(m_BxNx1 > 0, h_BxNxF, -jnp.inf).max(1)
  raise ValueError(f"readout must be 'none', 'mean', 'sum' or 'max', got {how!r}")


class GATLayer(nn.Module):
  features: int
  heads: int
  concat: bool
  dropout: float

  @nn.compact
  def __call__(self, h_BxNxF: jax.Array, edges_BxNxN: jax.Array, train: bool) -> jax.Array:
    H, F = self.heads, self.features
    wh_BxNxHxF = nn.DenseGeneral((H, F), use_bias=False, name="proj")(h_BxNxF)
    a_src_HxF = self.param("att_src", nn.initializers.glorot_uniform(), (H, F))
    a_dst_HxF = self.param("att_dst", nn.initializers.glorot_uniform(), (H, F))
    src_BxHxN = jnp.einsum("bnhf,hf->bhn", wh_BxNxHxF, a_src_HxF)
    dst_BxHxN = jnp.einsum("bnhf,hf->bhn", wh_BxNxHxF, a_dst_HxF)
    e_BxHxNxN = nn.leaky_relu(dst_BxHxN[:, :, :, None] + src_BxHxN[:, :, None, :], 0.2)  # row i attends to j
    e_BxHxNxN = jnp.where(edges_BxNxN[:, None] > 0, e_BxHxNxN, -1e9)
    alpha_BxHxNxN = nn.Dropout(self.dropout, deterministic=not train)(jax.nn.softmax(e_BxHxNxN, axis=-1))
    out_BxNxHxF = jnp.einsum("bhij,bjhf->bihf", alpha_BxHxNxN, wh_BxNxHxF)
    B, N = out_BxNxHxF.shape[:2]
    out = out_BxNxHxF.reshape(B, N, H * F) if self.concat else out_BxNxHxF.mean(2)
    return out + self.param("bias", nn.initializers.zeros, (out.shape[-1],))[None, None]


class GNN(nn.Module):
  kind: str = "gcn"  # "gcn", "gat" or "gin"
  hidden: tuple[int, ...] = (16,)
  num_outputs: int = 7
  heads: int = 8  # gat: heads of the hidden layers (the node output layer has one)
  dropout: float = 0.5
  readout: str = "none"
  learn_eps: bool = True  # gin: learn epsilon in (1 + eps) h_v + sum of neighbours

  @nn.compact
  def __call__(
    self, x_BxNxF: jax.Array, adj_BxNxN: jax.Array, node_mask_BxN: jax.Array | None = None, *, train: bool = False
  ) -> jax.Array:
    mask_BxN = jnp.ones(x_BxNxF.shape[:2], x_BxNxF.dtype) if node_mask_BxN is None else node_mask_BxN
    mask_BxNx1 = mask_BxN[:, :, None]
    drop = nn.Dropout(self.dropout, deterministic=not train)
    norm_BxNxN = gcn_norm(adj_BxNxN, mask_BxN)
    edges_BxNxN = _with_self_loops(adj_BxNxN, mask_BxN)
    node_level = self.readout == "none"

    def layer(h, width, i, last):
      if self.kind == "gcn":
        return jnp.einsum("bij,bjf->bif", norm_BxNxN, nn.Dense(width, name=f"gcn_{i}")(h))
      if self.kind == "gat":
        gat = GATLayer(width, 1 if last else self.heads, not last, self.dropout, name=f"gat_{i}")
        return gat(h, edges_BxNxN, train)
      if self.kind == "gin":
        eps = self.param(f"eps_{i}", nn.initializers.zeros, ()) if self.learn_eps else 0.0
        h = (1.0 + eps) * h + jnp.einsum("bij,bjf->bif", adj_BxNxN * mask_BxN[:, None, :], h)
        h = nn.Dense(width, name=f"gin_{i}_dense_0")(h)
        h = nn.BatchNorm(use_running_average=not train, momentum=0.9, name=f"gin_{i}_bn")(h, mask=mask_BxNx1 > 0)
        return nn.Dense(width, name=f"gin_{i}_dense_1")(nn.relu(h))
      raise ValueError(f"kind must be 'gcn', 'gat' or 'gin', got {self.kind!r}")

    h = x_BxNxF
    for i, width in enumerate(self.hidden):
      h = nn.elu(layer(drop(h), width, i, False)) if self.kind == "gat" else nn.relu(layer(drop(h), width, i, False))
      h = h * mask_BxNx1
    if node_level:
      return layer(drop(h), self.num_outputs, len(self.hidden), True)
    return nn.Dense(self.num_outputs, name="head")(drop(readout(h, mask_BxN, self.readout)))


def _graph_inputs(b: int, cfg: dict) -> tuple[jax.Array, jax.Array]:
  n = cfg["num_nodes"]
  u = jax.random.uniform(jax.random.key(1), (b, n, n))
  adj = (jnp.triu(u, 1) > 0.8).astype(jnp.float32)
  return normal_input((b, n, cfg["in_features"])), adj + jnp.swapaxes(adj, 1, 2)


def _spec(name: str, task: str, count: int | None, **defaults) -> None:
  register(
    ModelSpec(
      name=name,
      family="gnn",
      build=lambda num_nodes, in_features, hidden, **cfg: GNN(hidden=tuple(hidden), **cfg),
      defaults=dict(
        num_nodes=32,
        in_features=1433,
        kind=name,
        hidden=(16,),
        num_outputs=7,
        heads=8,
        dropout=0.5,
        readout="none",
        learn_eps=True,
      )
      | defaults,
      inputs=_graph_inputs,
      task=task,
      reference_params=count,
    )
  )


# Cora-sized defaults (1433 features, 7 classes) as in the papers; counts are layer arithmetic (none is published)
_spec("gcn", "node_classification", 23_063)  # 1433*16 + 16 + 16*7 + 7
_spec("gat", "node_classification", 92_373, hidden=(8,), dropout=0.6)  # 8 heads x 8 features, then 1 head
_spec(
  "gin",
  "graph_classification",
  None,
  in_features=7,
  hidden=(64, 64, 64, 64, 64),
  num_outputs=2,
  heads=1,
  dropout=0.5,
  readout="sum",
)  # MUTAG-sized
