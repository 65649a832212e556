"""Recurrent networks: Elman RNN, LSTM (Hochreiter & Schmidhuber 1997) and GRU (Cho et al. 2014) over nn.RNN's scan.

Inputs are tokens (vocab > 0, embedded) or float features (vocab = 0). The "lm" head gives logits at every step;
the "classify" head reads the output at each sequence's last valid step (`lengths_B`, default the full length).
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp

from scalezoo.zoo.registry import ModelSpec, normal_input, register, token_input

CELLS = {"rnn": nn.SimpleCell, "lstm": nn.LSTMCell, "gru": nn.GRUCell}


class Recurrent(nn.Module):
  cell: str = "lstm"
  hidden: int = 256
  n_layers: int = 1
  vocab: int = 256  # 0: float inputs B x L x F
  embed_dim: int = 128
  head: str = "lm"  # "lm": logits_BxLxO per step, or "classify": logits_BxO
  num_outputs: int = 0  # 0: the vocabulary (lm over tokens)
  dropout: float = 0.0  # between layers and before the head

  @nn.compact
  def __call__(self, x: jax.Array, lengths_B: jax.Array | None = None, *, train: bool = False) -> jax.Array:
    if self.head not in ("lm", "classify"):
      raise ValueError(f"head must be 'lm' or 'classify', got {self.head!r}")
    out = self.num_outputs or self.vocab
    if out == 0:
      raise ValueError("float inputs (vocab=0) need num_outputs > 0")
    h_BxLxF = nn.Embed(self.vocab, self.embed_dim, name="embed")(x) if self.vocab else x
    drop = nn.Dropout(self.dropout, deterministic=not train)
    for i in range(self.n_layers):
      h_BxLxF = nn.RNN(CELLS[self.cell](self.hidden), name=f"{self.cell}_{i}")(h_BxLxF, seq_lengths=lengths_B)
      h_BxLxF = drop(h_BxLxF)
    if self.head == "classify":
      B, L = h_BxLxF.shape[:2]
      last_B = jnp.full((B,), L - 1) if lengths_B is None else lengths_B - 1
      h_BxF = jnp.take_along_axis(h_BxLxF, last_B[:, None, None], axis=1)[:, 0]
      return nn.Dense(out, name="head")(h_BxF)
    return nn.Dense(out, name="head")(h_BxLxF)


def _inputs(b: int, cfg: dict) -> tuple[jax.Array, ...]:
  if cfg["vocab"]:
    return (token_input((b, cfg["seq_len"]), cfg["vocab"]),)
  return (normal_input((b, cfg["seq_len"], cfg["in_features"])),)


for _cell in CELLS:
  register(
    ModelSpec(
      name=_cell,
      family="rnn",
      build=lambda seq_len, in_features, **cfg: Recurrent(**cfg),
      defaults=dict(
        seq_len=64,
        in_features=1,
        cell=_cell,
        hidden=256,
        n_layers=1,
        vocab=256,
        embed_dim=128,
        head="lm",
        num_outputs=0,
        dropout=0.0,
      ),
      inputs=_inputs,
      task="lm",  # head="classify" turns it into a sequence classifier
      embedding=("embed",),
    )
  )
