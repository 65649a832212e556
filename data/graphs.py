"""The one-graph node-classification layout shared by `karate` and `sbm`, and simple node features.

Every split holds the whole graph as a batch of one: x (1, N, F) float32, adj (1, N, N) float32 symmetric 0/1 without
self-loops, y (1, N) int32, and boolean train_mask/val_mask/test_mask (1, N); the masks (disjoint, covering all
nodes, stratified by class) choose which nodes are scored. A GNN sees every node's features and edges in training.
"""

from __future__ import annotations

import numpy as np

from scalezoo.data.base import Split, stratified_split

LAYOUT = (
  "one graph as a batch of one: x (1, N, F), adj (1, N, N), y (1, N), train_mask/val_mask/test_mask (1, N) "
  "bool; every split holds the same graph, its own mask picks the scored nodes"
)


def node_features(adj_NN: np.ndarray, kind: str) -> np.ndarray:
  """identity: one-hot node ids (N, N); degree: [1, degree / max degree] (N, 2), which carries no node identity."""
  if kind == "identity":
    return np.eye(len(adj_NN), dtype=np.float32)
  if kind == "degree":
    d = adj_NN.sum(1)
    return np.stack([np.ones_like(d), d / max(d.max(), 1)], 1).astype(np.float32)
  raise ValueError(f"node features must be 'identity' or 'degree', got {kind!r}")


def node_split(
  x_NF: np.ndarray,
  adj_NN: np.ndarray,
  y_N: np.ndarray,
  seed: int,
  info: dict,
  fractions: tuple[float, float, float] = (0.70, 0.15, 0.15),
) -> Split:
  masks = []
  for idx in stratified_split(y_N, fractions, seed):
    m = np.zeros(len(y_N), bool)
    m[idx] = True
    masks.append(m)
  g = {"x": x_NF[None].astype(np.float32), "adj": adj_NN[None].astype(np.float32), "y": y_N[None].astype(np.int32)}
  parts = [{**g, "train_mask": masks[0][None], "val_mask": masks[1][None], "test_mask": masks[2][None]}] * 3
  info = dict(
    task="node_classification",
    input_shape=x_NF.shape,
    num_nodes=len(y_N),
    num_features=x_NF.shape[1],
    layout=LAYOUT,
    standardize=False,
    **info,
  )
  return Split(*({k: v.copy() for k, v in p.items()} for p in parts), info)
