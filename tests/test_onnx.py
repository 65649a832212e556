"""ONNX export (jax2onnx): onnxruntime runs the file and matches the JAX outputs, at another batch size than the
example's (the batch dimension is symbolic). Needs the `reference` extra (make test-ci)."""

from __future__ import annotations

import jax
import numpy as np
import pytest

from scalezoo import zoo

try:
  import onnxruntime

  from scalezoo.train import onnx_export
except ImportError:  # make test collects this file without the extra; make test-ci installs it and runs it
  onnxruntime = None

pytestmark = pytest.mark.ci

MODELS = {
  "resnet18": dict(image_size=33, num_classes=10),
  "vgg11_bn": dict(image_size=33, width=8, hidden=32, num_classes=10),
  "efficientnet_b0": dict(image_size=33, num_classes=10),
  "vit_b16": dict(image_size=32, patch=8, n_layers=2, d_model=64, n_heads=4, mlp_dim=128, num_classes=10),
  "gpt": dict(vocab=61, context=16, d_model=32, n_layers=2, n_heads=4),
}


# EfficientNet-B0's export takes minutes in jax2onnx (its depthwise convolutions): checked by make test-slow
SLOW = {"efficientnet_b0"}


@pytest.mark.parametrize("name", [pytest.param(n, marks=pytest.mark.slow) if n in SLOW else n for n in MODELS])
def test_onnx_matches_jax(name):
  assert onnxruntime is not None, "the reference extra is missing: make test-ci installs it"
  kw = MODELS[name]
  model = zoo.create(name, **kw)
  x2, x3 = zoo.example_input(name, 2, **kw), zoo.example_input(name, 3, **kw)
  v = model.init(jax.random.key(0), *x2)
  if "batch_stats" in v:  # non-trivial running statistics, so a dropped or swapped one shows
    v = {
      **v,
      "batch_stats": jax.tree.map(lambda a: a + 0.1 * np.arange(a.size).reshape(a.shape) / a.size, v["batch_stats"]),
    }
  sess = onnxruntime.InferenceSession(onnx_export.export_model(model, v, x2, name))
  (y,) = sess.run(None, {i.name: np.asarray(a) for i, a in zip(sess.get_inputs(), x3)})
  want = np.asarray(jax.jit(lambda *xs: model.apply(v, *xs))(*x3))
  rel = float(np.abs(y - want).max() / np.abs(want).max())
  print(f"{name}: onnxruntime vs jax max rel diff {rel:.2e}")
  assert y.shape == want.shape and rel <= 1e-5


def test_export_command_writes_onnx_from_a_weights_file(tmp_path):
  from scalezoo import cli

  kw = MODELS["gpt"]
  model = zoo.create("gpt", **kw)
  x = zoo.example_input("gpt", 2, **kw)
  v = jax.tree.map(np.asarray, model.init(jax.random.key(1), *x))
  zoo.save_weights("gpt", v, tmp_path / "w.safetensors", **kw)
  sets = [f"--set={k}={val}" for k, val in kw.items()]
  assert cli.main(["export", "gpt", str(tmp_path / "w.safetensors"), str(tmp_path / "m.onnx"), *sets]) == 0
  sess = onnxruntime.InferenceSession(str(tmp_path / "m.onnx"))
  (y,) = sess.run(None, {sess.get_inputs()[0].name: np.asarray(x[0])})
  want = np.asarray(model.apply(v, *x))
  assert np.abs(y - want).max() <= 1e-5 * np.abs(want).max()
