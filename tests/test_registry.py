import jax
import numpy as np
import pytest

from scalezoo import zoo


def test_mlp_count_matches_layer_arithmetic():
  # 40->256->256->10 with biases
  assert zoo.count_params("mlp") == 40 * 256 + 256 + 256 * 256 + 256 + 256 * 10 + 10
  assert zoo.count_params("mlp", width=8, depth=1) == 40 * 8 + 8 + 8 * 10 + 10


def test_unknown_model_and_option_are_clear_errors():
  with pytest.raises(ValueError, match="unknown model 'nope'"):
    zoo.create("nope")
  with pytest.raises(ValueError, match="has no option 'widht'"):
    zoo.create("mlp", widht=3)


def test_mlp_forward_and_jit_equal():
  model = zoo.create("mlp", width=16)
  (x,) = zoo.example_input("mlp", batch_size=3)
  v = model.init(jax.random.key(0), x)
  y = model.apply(v, x)
  assert y.shape == (3, 10)
  np.testing.assert_allclose(jax.jit(model.apply)(v, x), y, rtol=1e-6, atol=1e-6)


def test_flops_scale_with_batch():
  f1, f4 = zoo.count_flops("mlp", batch_size=1), zoo.count_flops("mlp", batch_size=4)
  assert f1 > 2 * (40 * 256 + 256 * 256)  # at least the multiply-adds
  assert f4 == pytest.approx(4 * f1, rel=0.05)
