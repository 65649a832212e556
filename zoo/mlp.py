"""Multi-layer perceptron: the feedforward family (width, depth, activation, dropout, batch norm)."""

from __future__ import annotations

import flax.linen as nn
import jax

from scalezoo.zoo.registry import ModelSpec, normal_input, register

ACTIVATIONS = {"relu": nn.relu, "gelu": nn.gelu, "tanh": nn.tanh, "silu": nn.silu, "sigmoid": nn.sigmoid}


class MLP(nn.Module):
  width: int = 256
  depth: int = 2  # hidden layers
  num_outputs: int = 10
  activation: str = "relu"
  dropout: float = 0.0
  batch_norm: bool = False
  out_mult: float = 1.0  # multiplies the output (μP's 1/width ratio, set by zoo/mup.py); 1.0 is the standard model

  @nn.compact
  def __call__(self, x_BxF: jax.Array, *, train: bool = False) -> jax.Array:
    act = ACTIVATIONS[self.activation]
    h = x_BxF.reshape(x_BxF.shape[0], -1)
    for i in range(self.depth):
      h = nn.Dense(self.width, use_bias=not self.batch_norm, name=f"dense_{i}")(h)
      if self.batch_norm:
        h = nn.BatchNorm(use_running_average=not train, momentum=0.9, name=f"bn_{i}")(h)
      h = act(h)
      if self.dropout > 0:
        h = nn.Dropout(self.dropout, deterministic=not train)(h)
    out = nn.Dense(self.num_outputs, name="head")(h)
    return out if self.out_mult == 1.0 else out * self.out_mult


register(
  ModelSpec(
    name="mlp",
    family="mlp",
    build=lambda in_features, **cfg: MLP(**cfg),
    defaults=dict(in_features=40, width=256, depth=2, num_outputs=10, activation="relu", dropout=0.0, batch_norm=False),
    inputs=lambda b, cfg: (normal_input((b, cfg["in_features"])),),
  )
)
