"""Export a trained model's inference function with jax.export: one file that a fresh process loads and runs
without scalezoo, with the parameters inside and a symbolic batch dimension.

Loading it needs JAX only (the README shows the same lines; tests/test_docs.py runs them):

    import numpy as np
    from jax import export
    infer = export.deserialize(bytearray(open("runs/lr/model.jaxexport", "rb").read()))
    print(infer.in_avals)                                 # the inputs: (b, 64) float32, any batch size b
    logits = infer.call(np.zeros((5, 64), np.float32))   # eval mode (no dropout): shape (5, 10)

The file is StableHLO plus the weights, not a pickle: loading it runs no Python from the file. It runs on the
platform it was exported for (the one that trained it; `infer.platforms`).
"""

from __future__ import annotations

from pathlib import Path

import jax
from jax import export as jax_export

from scalezoo.data import atomic
from scalezoo.train import step as S


def export_apply(eng: S.Engine, state: S.TrainState, example: dict) -> bytes:
  """Serialized `inputs -> outputs` in eval mode for any batch size; `example` holds one batch of inputs."""
  variables = {"params": state.params, **state.model_state}

  def infer(*inputs):
    return eng.model.apply(variables, *inputs, train=False)

  (b,) = jax_export.symbolic_shape("b")
  specs = [jax.ShapeDtypeStruct((b,) + example[k].shape[1:], example[k].dtype) for k in eng.task.inputs]
  return jax_export.export(jax.jit(infer))(*specs).serialize()


def save(path: str | Path, blob: bytes) -> None:
  atomic.write_atomic(path, blob)


def load(path: str | Path) -> jax_export.Exported:
  """The exported function (call it with `.call(*inputs)`); what the module docstring does by hand."""
  return jax_export.deserialize(bytearray(Path(path).read_bytes()))


def export_model(model, variables: dict, example) -> bytes:
  """Serialized `inputs -> outputs` of a zoo module in eval mode, any batch size; `example`: one batch of inputs."""
  (b,) = jax_export.symbolic_shape("b")
  specs = [jax.ShapeDtypeStruct((b,) + x.shape[1:], x.dtype) for x in example]
  return jax_export.export(jax.jit(lambda *xs: model.apply(variables, *xs, train=False)))(*specs).serialize()
