"""zoo.conv: nn.Conv's and nn.ConvTranspose's parameters and forward bit for bit, and a CPU backward equal to
autodiff's, for every kind of convolution the zoo's models use (odd sizes too), and whole models with it."""

import pathlib

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from scalezoo import zoo
from scalezoo.zoo import conv

# (name, input HxW, in channels, features, kernel, stride, padding, groups, bias): the zoo's convolutions
CONVS = [
  ("resnet_stem_7x7_s2", (13, 13), 3, 8, 7, 2, ((3, 3), (3, 3)), 1, False),
  ("resnet_3x3_s1", (7, 9), 4, 6, 3, 1, ((1, 1), (1, 1)), 1, False),
  ("resnet_3x3_s2", (7, 9), 4, 6, 3, 2, ((1, 1), (1, 1)), 1, False),
  ("resnet_3x3_s2_even", (8, 8), 4, 6, 3, 2, ((1, 1), (1, 1)), 1, False),
  ("resnet_1x1_s2", (7, 9), 4, 8, 1, 2, ((0, 0), (0, 0)), 1, False),
  ("resnet_1x1_s1", (5, 5), 2, 3, 1, 1, ((0, 0), (0, 0)), 1, False),
  ("tiny_2x2_under_3x3", (2, 2), 8, 8, 3, 1, ((1, 1), (1, 1)), 1, False),  # XLA would swap its operands
  ("tiny_4x4_3x3_s2", (4, 4), 8, 8, 3, 2, ((1, 1), (1, 1)), 1, False),
  ("vgg_3x3_bias", (7, 9), 3, 5, 3, 1, ((1, 1), (1, 1)), 1, True),
  ("lenet_5x5_valid", (13, 13), 3, 4, 5, 1, "VALID", 1, True),
  ("efficientnet_dw_3x3_s2", (13, 13), 6, 6, 3, 2, ((1, 1), (1, 1)), 6, False),
  ("efficientnet_dw_5x5_s1", (13, 13), 6, 6, 5, 1, ((2, 2), (2, 2)), 6, False),
  ("efficientnet_dw_5x5_s2", (7, 9), 6, 6, 5, 2, ((2, 2), (2, 2)), 6, False),
  ("efficientnet_1x1_same", (7, 9), 6, 4, 1, 1, "SAME", 1, False),
  ("efficientnet_se_1x1_bias", (1, 1), 6, 2, 1, 1, "SAME", 1, True),
  ("grouped_x2", (7, 9), 6, 12, 3, 1, ((1, 1), (1, 1)), 3, True),
  ("ddpm_3x3_same", (7, 9), 4, 4, 3, 1, "SAME", 1, True),
  ("ddpm_3x3_same_s2", (13, 13), 4, 4, 3, 2, "SAME", 1, True),
  ("vit_patch_4x4_s4", (13, 13), 3, 8, 4, 4, "VALID", 1, True),
  ("dcgan_4x4_s2", (8, 8), 3, 4, 4, 2, ((1, 1), (1, 1)), 1, False),
  ("dcgan_4x4_s2_odd", (7, 9), 3, 4, 4, 2, ((1, 1), (1, 1)), 1, False),
  ("dcgan_4x4_valid_to_1x1", (4, 4), 4, 1, 4, 1, "VALID", 1, False),
]
# (name, input HxW, in channels, features, kernel, stride, padding, bias): nn.ConvTranspose as DCGAN uses it
TRANSPOSED = [
  ("dcgan_1x1_to_4x4", (1, 1), 8, 6, 4, 1, "VALID", False),
  ("dcgan_4x4_s2_same", (4, 4), 6, 5, 4, 2, "SAME", False),
  ("odd_3x3_s2_same", (5, 7), 6, 5, 3, 2, "SAME", True),
  ("odd_3x3_s2_valid", (5, 7), 6, 5, 3, 2, "VALID", True),
  ("explicit_pads", (5, 6), 3, 4, 4, 2, ((1, 2), (2, 1)), True),
]


def _layers(case, transposed):
  if transposed:
    _, _, _, F, K, s, pad, bias = case
    return conv.ConvTranspose(F, (K, K), s, pad, use_bias=bias), nn.ConvTranspose(F, (K, K), (s, s), pad, use_bias=bias)
  _, _, _, F, K, s, pad, g, bias = case
  return (
    conv.Conv(F, (K, K), s, pad, feature_group_count=g, use_bias=bias),
    nn.Conv(F, (K, K), s, pad, feature_group_count=g, use_bias=bias),
  )


def _setup(case, transposed):
  ours, ref = _layers(case, transposed)
  rng = np.random.default_rng(sum(map(ord, case[0])))
  x = jnp.asarray(rng.normal(size=(3, *case[1], case[2])), jnp.float32)
  v = ref.init(jax.random.key(0), x)
  # the same parameters (names, shapes, initial values) as flax's layer
  assert jax.tree.structure(ours.init(jax.random.key(0), x)) == jax.tree.structure(v)
  jax.tree.map(np.testing.assert_array_equal, ours.init(jax.random.key(0), x), v)
  v = jax.tree.map(lambda a: a + jnp.asarray(rng.normal(size=a.shape) * 0.1, a.dtype), v)  # non-zero bias too
  return ours, ref, v, x, rng


ALL = [pytest.param(c, False, id=c[0]) for c in CONVS] + [pytest.param(c, True, id="T_" + c[0]) for c in TRANSPOSED]


@pytest.mark.parametrize("case,transposed", ALL)
def test_parameters_and_forward_are_flax_bit_for_bit(case, transposed):
  ours, ref, v, x, _ = _setup(case, transposed)
  y, want = jax.jit(ours.apply)(v, x), jax.jit(ref.apply)(v, x)
  assert y.shape == want.shape and y.dtype == want.dtype
  np.testing.assert_array_equal(y, want)


@pytest.mark.parametrize("case,transposed", ALL)
def test_gradients_equal_autodiff(case, transposed):
  ours, ref, v, x, rng = _setup(case, transposed)
  dy = jnp.asarray(rng.normal(size=ref.apply(v, x).shape), jnp.float32)
  got = jax.jit(lambda v, x: jax.vjp(ours.apply, v, x)[1](dy))(v, x)
  want = jax.jit(lambda v, x: jax.vjp(ref.apply, v, x)[1](dy))(v, x)  # flax's layer, autodiff through lax
  for g, w in zip(jax.tree.leaves(got), jax.tree.leaves(want), strict=True):  # bias, kernel, input
    assert g.shape == w.shape and g.dtype == w.dtype
    np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-6 * float(jnp.max(jnp.abs(w))))


def test_custom_vjp_on_cpu_only(monkeypatch):
  layer = conv.Conv(4, (3, 3), 2, ((1, 1), (1, 1)))
  x = jnp.ones((2, 7, 7, 3))
  v = layer.init(jax.random.key(0), x)
  assert jax.default_backend() == "cpu" and "custom_vjp_call" in str(jax.make_jaxpr(layer.apply)(v, x))
  monkeypatch.setattr(jax, "default_backend", lambda: "gpu")  # decided at trace time
  assert "custom_vjp_call" not in str(jax.make_jaxpr(lambda v, x: layer.apply(v, x))(v, x))


def test_no_flax_convolutions_left_in_the_zoo():
  for f in pathlib.Path(zoo.__file__).parent.glob("*.py"):
    if f.name != "conv.py":
      src = f.read_text()
      assert "nn.Conv(" not in src and "nn.ConvTranspose(" not in src, f"{f.name}: use zoo.conv's layers"


# whole models: gradients with the CPU backward vs with autodiff through the same (bit-identical) forward
MODELS = {
  "resnet_cifar_B": ("resnet_cifar", dict(image_size=8, width=4, depth=8, shortcut="B")),
  "resnet18": ("resnet18", dict(image_size=32, width=4, num_classes=10, stage_sizes=(1, 1, 1, 1))),
  "dcgan_generator": ("dcgan_generator", dict(latent=8, image_size=8, channels=1, features=4)),
  "vit_ti16": ("vit_ti16", dict(image_size=16, patch=8, d_model=16, n_layers=1, n_heads=2, mlp_dim=32, num_classes=10)),
}


SLOW_MODELS = {"resnet18"}  # the deepest, the longest to compile: `make test-slow`


def _random_variables(model, xs):
  """Variables of the model's shapes, fan-in scaled normals: XLA:CPU is slow to compile a ResNet's init (its
  random-bit programs), slower than the gradients under test. Train mode normalises by the batch, so the
  BatchNorm statistics' values do not enter the loss."""
  shapes = jax.eval_shape(model.init, {"params": jax.random.key(0), "dropout": jax.random.key(1)}, *xs)
  rng = np.random.default_rng(0)
  scale = lambda s: 1.0 / np.sqrt(np.prod(s[:-1])) if len(s) > 1 else 0.1
  return jax.tree.map(lambda a: (rng.normal(size=a.shape) * scale(a.shape)).astype(a.dtype), shapes)


@pytest.mark.parametrize("case", [pytest.param(m, marks=pytest.mark.slow) if m in SLOW_MODELS else m for m in MODELS])
def test_model_gradients_equal_autodiff(case, monkeypatch):
  name, cfg = MODELS[case]
  model = zoo.create(name, **cfg)
  xs = zoo.example_input(name, 3, **cfg)
  v = _random_variables(model, xs)

  def loss(params, xs):
    out = model.apply(
      {**v, "params": params}, *xs, train=True, mutable=["batch_stats"], rngs={"dropout": jax.random.key(1)}
    )[0]
    return jnp.sum(jnp.sin(out))

  got = jax.jit(jax.grad(loss))(v["params"], xs)
  monkeypatch.setattr(conv, "_conv_cpu", conv._conv)  # plain lax op: autodiff
  want = jax.jit(lambda p, xs: jax.grad(loss)(p, xs))(v["params"], xs)
  scale = max(float(jnp.max(jnp.abs(w))) for w in jax.tree.leaves(want))
  for g, w in zip(jax.tree.leaves(got), jax.tree.leaves(want), strict=True):
    np.testing.assert_allclose(g, w, rtol=1e-4, atol=1e-6 * scale)


def test_forward_mode_is_unsupported_on_cpu():
  layer = conv.Conv(2, (3, 3))
  x = jnp.ones((1, 5, 5, 1))
  v = layer.init(jax.random.key(0), x)
  with pytest.raises(TypeError, match="custom_vjp"):
    jax.jvp(lambda x: layer.apply(v, x), (x,), (x,))
