"""Zachary's karate club (networkx): 34 members, the club's split after the 1977 dispute as 2 node classes."""

from __future__ import annotations

import numpy as np

from scalezoo.data.base import DataSpec, Split, register
from scalezoo.data.graphs import node_features, node_split


def load(*, seed: int, features: str = "identity") -> Split:
  import networkx as nx  # here, not at import: `import data` stays light

  g = nx.karate_club_graph()
  nodes = sorted(g.nodes)
  adj = nx.to_numpy_array(g, nodelist=nodes, weight=None)  # unweighted: the interaction counts are dropped
  y = np.array([g.nodes[v]["club"] != "Mr. Hi" for v in nodes], np.int32)  # 0 Mr. Hi, 1 Officer
  info = dict(
    num_classes=2,
    num_edges=g.number_of_edges(),
    features=features,
    source=f"networkx {nx.__version__} karate_club_graph (Zachary 1977), unweighted",
  )
  return node_split(node_features(adj, features), adj, y, seed, info)


register(
  DataSpec(
    "karate",
    load,
    "node_classification",
    {"features": "identity"},
    "karate club node classification, 34 nodes, 2 classes; x (1, N, F), adj (1, N, N), y (1, N) + boolean node masks",
  )
)
