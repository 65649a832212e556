"""Stochastic block models: node classification on one graph (block = class), or with graphs=True graph
classification of many small graphs by their number of blocks (1..num_classes).

For graph classification p_out is solved per graph so the expected degree is `mean_degree` whatever the number of
blocks (p_in = ratio * p_out): edge counts alone do not give the label, the community structure must.
Graph layout: x (G, n_max, 2) node features [1, degree / n_max], adj (G, n_max, n_max) zero-padded, mask (G, n_max)
bool real nodes, y (G,) = number of blocks - 1. Nodes are randomly permuted so their order carries no label.
"""

from __future__ import annotations

import functools

import numpy as np

from scalezoo.data.base import DataSpec, Split, register, stratified_split, take
from scalezoo.data.graphs import node_features, node_split

OPTIONS = {
  "graphs": False,
  "blocks": 3,
  "block_size": 40,
  "p_in": 0.25,
  "p_out": 0.03,
  "features": "identity",
  "num_graphs": 1000,
  "n_min": 16,
  "n_max": 32,
  "num_classes": 3,
  "mean_degree": 5.0,
  "ratio": 8.0,
  "data_seed": 0,
}


def sample(rng: np.random.Generator, block_NN: np.ndarray, p_in: float, p_out: float) -> np.ndarray:
  """A symmetric 0/1 adjacency without self-loops; block_NN[i, j] says whether i and j share a block."""
  p = np.where(block_NN, p_in, p_out)
  upper = np.triu(rng.random(p.shape) < p, 1)
  return (upper | upper.T).astype(np.float32)


@functools.lru_cache(maxsize=4)
def _one_graph(blocks: int, block_size: int, p_in: float, p_out: float, data_seed: int):
  y = np.repeat(np.arange(blocks), block_size).astype(np.int32)
  return sample(np.random.default_rng(data_seed), y[:, None] == y[None], p_in, p_out), y


@functools.lru_cache(maxsize=4)
def _many_graphs(num_graphs, n_min, n_max, num_classes, mean_degree, ratio, data_seed):
  rng = np.random.default_rng(data_seed)
  x = np.zeros((num_graphs, n_max, 2), np.float32)
  adj = np.zeros((num_graphs, n_max, n_max), np.float32)
  mask = np.zeros((num_graphs, n_max), bool)
  y = np.arange(num_graphs, dtype=np.int32) % num_classes  # balanced classes
  for g in range(num_graphs):
    n, k = int(rng.integers(n_min, n_max + 1)), int(y[g]) + 1
    blk = rng.permutation(np.arange(n) % k)  # near-equal blocks, nodes in random order
    same = blk[:, None] == blk[None]
    pairs_in, pairs_out = (same.sum() - n) / n, (~same).sum() / n  # per-node counts of same/other-block pairs
    p_out = mean_degree / (ratio * pairs_in + pairs_out)
    a = sample(rng, same, min(ratio * p_out, 1.0), min(p_out, 1.0))
    adj[g, :n, :n], mask[g, :n] = a, True
    x[g, :n] = np.stack([np.ones(n), a.sum(1) / n_max], 1)
  return x, adj, mask, y


def load(
  *,
  seed: int,
  graphs: bool,
  blocks: int,
  block_size: int,
  p_in: float,
  p_out: float,
  features: str,
  num_graphs: int,
  n_min: int,
  n_max: int,
  num_classes: int,
  mean_degree: float,
  ratio: float,
  data_seed: int,
) -> Split:
  if not graphs:
    adj, y = _one_graph(blocks, block_size, float(p_in), float(p_out), data_seed)
    info = dict(
      num_classes=blocks,
      num_edges=int(adj.sum() // 2),
      features=features,
      source=f"SBM {blocks}x{block_size} nodes p_in={p_in} p_out={p_out} data_seed={data_seed}",
    )
    return node_split(node_features(adj, features), adj, y, seed, info)
  if not 1 <= n_min <= n_max or n_min < num_classes:
    raise ValueError(f"sbm graphs: need num_classes <= n_min <= n_max, got {num_classes}, {n_min}, {n_max}")
  x, adj, mask, y = _many_graphs(num_graphs, n_min, n_max, num_classes, float(mean_degree), float(ratio), data_seed)
  a = {"x": x, "adj": adj, "mask": mask, "y": y}
  info = dict(
    task="graph_classification",
    num_classes=num_classes,
    input_shape=x.shape[1:],
    standardize=False,
    layout="x (G, n_max, 2), adj (G, n_max, n_max) zero-padded, mask (G, n_max) real nodes, y (G,) = blocks - 1",
    source=f"SBM graphs n in [{n_min}, {n_max}], 1..{num_classes} blocks, mean degree "
    f"{mean_degree}, p_in/p_out={ratio}, data_seed={data_seed}",
  )
  return Split(*(take(a, p) for p in stratified_split(y, (0.70, 0.15, 0.15), seed)), info)


register(
  DataSpec(
    "sbm",
    load,
    "node_classification",
    OPTIONS,
    "stochastic block model: node classes on one graph "
    "(karate's layout), or graphs=True: classify small graphs by their number of blocks",
  )
)
