"""Export a model's eval-mode function to ONNX with jax2onnx (the parameters inside, a symbolic batch dimension
"B"), beside export.py's jax.export; onnxruntime runs the file without JAX.

jax2onnx 0.17.1 replaces flax's nn.max_pool while it traces with a version that takes keyword arguments and string
padding only, and the zoo's ResNet pools with torch's explicit (1, 1) padding (lowered without the patch, that pool
fails in onnxruntime: "Unsupported pooling size"). An adapter in front of the patch takes nn.max_pool's own
signature and turns explicit padding into -inf padding and a VALID pool: the same maximum over the same windows.
Its BatchNorm patch is switched off: it leaves a BatchNorm after a convolution in NCHW, which a residual add in
NHWC then meets (ResNet's projection shortcut: "Incompatible dimensions"); flax's own BatchNorm lowers to plain
elementwise ops, which jax2onnx converts in any layout.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import jax
import jax.numpy as jnp


def _adapt_plugins() -> None:
  from jax2onnx.plugins.flax.linen.max_pool import MaxPoolPlugin

  if getattr(MaxPoolPlugin, "_scalezoo_adapted", False):
    return
  make = MaxPoolPlugin._make_patch.__func__

  def make_adapted(cls, orig):
    patched = make(cls, orig)

    def max_pool(x, window_shape, strides=None, padding="VALID"):
      if not isinstance(padding, str):
        pads = [(0, 0), *(tuple(p) for p in padding)] + [(0, 0)] * (x.ndim - 1 - len(padding))
        x, padding = jnp.pad(x, pads, constant_values=-jnp.inf), "VALID"
      return patched(x, window_shape=tuple(window_shape), strides=strides, padding=padding)

    return max_pool

  MaxPoolPlugin._make_patch = classmethod(make_adapted)
  MaxPoolPlugin._scalezoo_adapted = True
  from jax2onnx.plugins.flax.linen.batch_norm import BatchNormPlugin

  BatchNormPlugin.binding_specs = classmethod(lambda cls: [])


def export_onnx(fn: Callable, example: Sequence[jax.Array], name: str = "scalezoo") -> bytes:
  """Serialized ONNX of `fn(*inputs)`, for inputs shaped like `example` with any batch size."""
  from jax2onnx import to_onnx

  _adapt_plugins()
  specs = [jax.ShapeDtypeStruct(("B", *x.shape[1:]), x.dtype) for x in example]
  return to_onnx(fn, specs, model_name=name).SerializeToString()


def export_model(model, variables: dict, example: Sequence[jax.Array], name: str = "scalezoo") -> bytes:
  return export_onnx(lambda *xs: model.apply(variables, *xs, train=False), example, name)
