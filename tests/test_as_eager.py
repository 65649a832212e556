"""train.as_eager: one compiled program with the eager path's bits (the init that committed results started from)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import zoo
from train.as_eager import NotBitExact, as_eager


def same(a, b):
  la, lb = jax.tree.leaves(a), jax.tree.leaves(b)
  return len(la) == len(lb) and all(np.array_equal(np.asarray(x), np.asarray(y)) for x, y in zip(la, lb))


def test_constant_folding_across_ops_is_blocked():
  # a plain jit folds normal's sqrt(2) into the 0.02 and moves the last bit of ~27% of the values
  k = jax.random.key(0)
  f = lambda k: jax.random.normal(k, (256, 256)) * 0.02
  assert same(jax.jit(as_eager(f))(k), f(k))


def test_a_possible_fma_is_refused():
  a, b, c = (jnp.asarray(np.random.default_rng(i).normal(size=(64,)), jnp.float32) for i in range(3))
  with pytest.raises(NotBitExact):
    jax.jit(as_eager(lambda a, b, c: a * b + c))(a, b, c)
  assert same(jax.jit(as_eager(lambda a, b, c: (a * b, a + c)))(a, b, c), (a * b, a + c))


def test_zoo_inits_equal_the_eager_init():
  for name, args in [("gpt", dict(vocab=13, context=8, d_model=16, n_layers=2, n_heads=2)),
                     ("mlp", dict(width=8, batch_norm=True)), ("lstm", dict(seq_len=6, vocab=11, hidden=8))]:
    model, xs = zoo.create(name, **args), zoo.example_input(name, 1, **args)
    rngs = {"params": jax.random.key(3), "dropout": jax.random.key(3)}
    init = lambda r, *xs, model=model: model.init(r, *xs, train=False)
    assert same(jax.jit(as_eager(init))(rngs, *xs), init(rngs, *xs)), name
