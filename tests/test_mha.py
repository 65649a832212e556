"""zoo/mha.py against flax's nn.MultiHeadDotProductAttention, which bert, vit and transformer used before: the same
parameter tree, and on a CPU the same bits, layer by layer and model by model (masks, cross-attention, dropout on
the probabilities in training, the gradients); μP's attn_mult equal to float rounding (it scales the query, flax's
hook scaled the logits)."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from scalezoo import zoo
from scalezoo.zoo import bert, mha, transformer, vit


class _Flax(nn.MultiHeadDotProductAttention):
  """flax's layer behind zoo/mha.py's call: what the models ran before."""

  def __call__(self, x, kv=None, mask_BxLxS=None, *, causal=False, train=False):
    mask = None if mask_BxLxS is None else mask_BxLxS[:, None]
    return super().__call__(x, kv, mask=mask, deterministic=not train)


def flax_mha(
  n_heads, dropout=0.0, attn_mult=1.0, attention="auto", kernel_init=nn.linear.default_kernel_init, name=None
):
  hooks = {}
  if attn_mult != 1.0:  # vit's hooks before zoo/mha.py
    qk = lambda: lambda s, q, k: jnp.einsum(s, q, k) * attn_mult
    hooks = dict(qk_attn_weights_einsum_cls=qk, attn_weights_value_einsum_cls=lambda: jnp.einsum)
  return _Flax(num_heads=n_heads, dropout_rate=dropout, kernel_init=kernel_init, name=name, **hooks)


def _pair(module, x, kv, mask, train, rngs=None, **call):
  theirs = flax_mha(module.n_heads, module.dropout, module.attn_mult)
  variables = module.init(jax.random.key(0), x, kv, mask)
  assert jax.tree.map(jnp.shape, variables) == jax.tree.map(jnp.shape, theirs.init(jax.random.key(0), x, kv, mask))
  ours = module.apply(variables, x, kv, mask, train=train, rngs=rngs, **call)
  return np.asarray(ours), np.asarray(theirs.apply(variables, x, kv, mask, train=train, rngs=rngs))


@pytest.mark.parametrize("cross", [False, True])
def test_the_layer_is_flaxs_bit_for_bit_with_a_padding_mask_and_dropout(cross):
  kx, kk, km = jax.random.split(jax.random.key(1), 3)
  x = jax.random.normal(kx, (3, 7, 24))
  kv = jax.random.normal(kk, (3, 5, 24)) if cross else None
  keep_BxS = jax.random.bernoulli(km, 0.7, (3, 5 if cross else 7)).at[:, 0].set(True)
  mask = jnp.ones((3, 7, 1), bool) & keep_BxS[:, None, :]
  layer = mha.MultiHeadAttention(4, dropout=0.3)  # head width 6: sqrt(6) is no power of two
  np.testing.assert_array_equal(*_pair(layer, x, kv, mask, train=False))
  np.testing.assert_array_equal(*_pair(layer, x, kv, mask, train=True, rngs={"dropout": jax.random.key(2)}))


def test_attn_mult_is_flaxs_hook_to_float_rounding():
  x = jax.random.normal(jax.random.key(3), (2, 9, 24))
  ours, theirs = _pair(mha.MultiHeadAttention(4, attn_mult=0.37), x, None, None, train=False)
  np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-6)


def test_in_bf16_the_softmax_runs_in_f32_closer_to_the_f32_layer_than_flaxs_bf16_softmax():
  """A run's precision "bf16" casts params and inputs: flax's layer took the softmax in bf16 too, this one in f32
  (the zoo's rule, gpt's): bert's and vit's bf16 outputs move by bf16 rounding (transformer_base's sum with its
  f32 sinusoids runs its layers in f32: unchanged)."""
  x = jax.random.normal(jax.random.key(8), (4, 64, 64))
  layer = mha.MultiHeadAttention(4)
  variables = layer.init(jax.random.key(0), x)
  bf16 = lambda t: jax.tree.map(lambda a: a.astype(jnp.bfloat16), t)
  f32 = layer.apply(variables, x)
  ours = layer.apply(bf16(variables), bf16(x)).astype(jnp.float32)
  flax = flax_mha(4).apply(bf16(variables), bf16(x)).astype(jnp.float32)
  err = lambda y: float(jnp.sqrt(jnp.mean((y - f32) ** 2)))
  assert err(ours) < err(flax) < 0.05, (err(ours), err(flax))


def _before(monkeypatch, module):
  """The model as it was: flax's layer wherever zoo/mha.py's is."""
  monkeypatch.setattr(module, "MultiHeadAttention", flax_mha)


@pytest.mark.parametrize(
  "name, args, module",
  [
    ("bert", dict(d_model=32, n_layers=2, n_heads=4, d_ff=64, vocab=50, max_len=16, mlm_head=False), bert),
    ("vit_ti16", dict(image_size=32, patch=8, d_model=24, n_layers=2, n_heads=4, mlp_dim=48, num_classes=5), vit),
    ("transformer_base", dict(vocab=40, d_model=32, n_layers=2, n_heads=4, d_ff=64), transformer),
  ],
)
def test_bert_vit_and_transformer_give_the_outputs_they_gave_with_flaxs_layer(name, args, module, monkeypatch):
  model = zoo.create(name, **args)
  if name == "vit_ti16":
    inputs = (jax.random.normal(jax.random.key(4), (2, 32, 32, 3)),)
  else:  # tokens with padding (id 0) at the ends
    tokens = jax.random.randint(jax.random.key(4), (2, 2, 12), 1, 40).at[:, :, 9:].set(0)
    inputs = (tokens[0],) if name == "bert" else (tokens[0], tokens[1])
  variables = model.init(jax.random.key(5), *inputs)
  train = dict(train=True, rngs={"dropout": jax.random.key(6)})  # dropout 0.1: bert's on the probabilities too

  def outputs():  # eval, train and the train-mode gradient, jitted as the engine runs them
    loss = lambda v: sum(jnp.sum(jnp.sin(y)) for y in jax.tree.leaves(model.apply(v, *inputs, **train)))
    eval_, train_ = jax.jit(lambda v: model.apply(v, *inputs)), jax.jit(lambda v: model.apply(v, *inputs, **train))
    return [eval_(variables), train_(variables), jax.jit(jax.grad(loss))(variables)]

  now = outputs()
  if name == "vit_ti16":  # μP's multiplier, to float rounding
    scaled = model.clone(attn_mult=0.5**0.5)
    now.append(scaled.apply(variables, *inputs))
  _before(monkeypatch, module)
  assert jax.tree.map(jnp.shape, zoo.create(name, **args).init(jax.random.key(5), *inputs)) == jax.tree.map(
    jnp.shape, variables
  )
  before = outputs()
  for a, b in zip(jax.tree.leaves(now[:3]), jax.tree.leaves(before), strict=True):
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
  if name == "vit_ti16":
    np.testing.assert_allclose(now[3], scaled.apply(variables, *inputs), rtol=1e-5, atol=1e-6)


def test_a_negative_pad_id_masks_nothing_and_the_decoder_says_causal(monkeypatch):
  seen = []
  real = mha.dot_product_attention
  spy = lambda *a, **k: seen.append((a[3] is None, k["causal"])) or real(*a, **k)
  monkeypatch.setattr(mha, "dot_product_attention", spy)
  model = zoo.create("transformer_base", vocab=40, d_model=32, n_layers=1, n_heads=4, d_ff=64, pad_id=-1)
  tokens = jax.random.randint(jax.random.key(7), (2, 8), 0, 40)
  model.init(jax.random.key(0), tokens, tokens)
  assert seen == [(True, False), (False, True), (True, False)]  # encoder, decoder self (causal), cross
