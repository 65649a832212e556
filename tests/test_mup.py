"""μP (zoo/mup.py, train/mup_optim.py, studies/coordcheck.py): the standard parametrization stays bit for bit, μP at
the base width is the standard model, the roles and multipliers follow the paper's table, and the coordinate
check is flat in width under μP where SP's grows."""

import json
import math
from pathlib import Path

import jax
import numpy as np
import optax
import pytest
import tiny

from scalezoo import sweep
from scalezoo.studies import coordcheck
from scalezoo.train import config, loop, mup_optim
from scalezoo.zoo import mup, registry

ROOT = Path(__file__).resolve().parents[1]
GPT = dict(
  model="gpt",
  data="pycode",
  data_args={"context": 16},
  model_args={"d_model": 32, "n_layers": 1, "n_heads": 2, "context": 16},
  steps=6,
  batch_size=8,
  eval_every=6,
  eval_examples=64,
  optimizer={"name": "adam", "lr": 0.01},
)
VIT = dict(
  model="vit_ti16",
  data="digits",
  model_args=dict(image_size=8, in_channels=1, patch=2, n_layers=2, n_heads=4, d_model=32, mlp_dim=128),
  batch_size=32,
  optimizer={"name": "adam", "lr": 2**-8},
)
MLP = tiny.mlp_digits(model_args={"depth": 2, "width": 64}, optimizer={"name": "adam", "lr": 0.01})


def parse(base, **changes):
  raw = json.loads(json.dumps(base))
  for k, v in changes.items():
    if k == "model_args":
      raw[k].update(v)
    else:
      raw[k] = v
  return config.parse(raw)


def test_committed_run_ids_are_unchanged():
  """Every run of a committed sweep keeps its id: the new keys are hashed only when set."""
  spec = sweep.load(ROOT / "configs" / "lm_scaling.toml")
  ids = {json.loads(line)["run_id"] for line in (ROOT / "results" / "lm_scaling" / "runs.jsonl").open()}
  assert {c.run_id() for c in spec.runs} <= ids
  c = parse(GPT)
  assert parse(GPT, parametrization="sp").run_id() == c.run_id()
  assert parse(GPT, parametrization="mup", mup={"base": {"d_model": 32}}).run_id() != c.run_id()


def test_standard_parametrization_builds_the_plain_engine():
  c = parse(GPT)
  eng = loop.make_engine(c, loop.load_split(c))
  assert eng.mup is None and eng.model.out_mult == 1.0 and eng.model.attn_mult == 1.0
  params = {"a": np.ones(3)}
  assert eng.init_params(params) is params
  assert K_SCALE_EXACT


K_SCALE_EXACT = all(k**-0.5 * 1.0 == k**-0.5 for k in range(1, 1025))  # GPT's attention scale with attn_mult 1.0


@pytest.mark.parametrize(
  "base",
  [pytest.param(b, marks=m) for b, m in ((GPT, pytest.mark.slow), (MLP, pytest.mark.long), (VIT, pytest.mark.long))],
  ids=["gpt", "mlp", "vit"],
)
def test_mup_at_the_base_width_is_the_standard_model_bit_for_bit(base):
  width = mup.MODELS[base["model"]][0]
  w = base["model_args"].get(width, 32)
  sp = parse({**base, "steps": 6, "eval_every": 6})
  mu = parse({**base, "steps": 6, "eval_every": 6}, parametrization="mup", mup={"base": {width: w}})
  a, b = loop.fit(sp).records[0].metrics, loop.fit(mu).records[0].metrics
  assert a == b


def test_roles_and_multipliers_follow_the_table():
  c = parse(GPT, model_args={"d_model": 128}, parametrization="mup", mup={"base": {"d_model": 32}})
  m = mup_optim.of_config(c)
  assert m.ratio == 4 and m.head_ratio == 4
  params = jax.eval_shape(lambda: loop.make_engine(c, loop.load_split(c)).model.init(
    jax.random.key(0), np.zeros((1, 16), np.int32))["params"])  # fmt: skip
  roles = mup.roles(params)
  hidden = {p for p, r in roles.items() if r == "hidden"}
  assert hidden == {f"block_0/{n}/kernel" for n in ("qkv", "proj", "fc", "fc_proj")}
  assert roles["wte/embedding"] == roles["wpe"] == roles["block_0/ln_1/scale"] == roles["block_0/fc/bias"] == "vector"
  assert (
    mup_optim.lr_multiplier(m, "block_0/fc/kernel", "adamw") == 0.25
    and mup_optim.lr_multiplier(m, "wte/embedding", "adam") == 1
  )
  assert (
    mup_optim.lr_multiplier(m, "block_0/fc/kernel", "sgd") == 1
    and mup_optim.lr_multiplier(m, "block_0/ln_1/bias", "sgd") == 4
  )
  model = m.model(loop.make_engine(parse(GPT, model_args={"d_model": 128}), loop.load_split(c)).model)
  assert model.out_mult == 0.25
  # logits scale sqrt(d_base)/d: 1/sqrt(16) at the base head width 16, 1/64 * 4 at head width 64
  assert math.isclose((64**-0.5) * model.attn_mult, math.sqrt(16) / 64)
  mlp = mup.make("mlp", {"width": 256}, {"width": 64})
  assert mup.role_of("dense_0/kernel") == "vector" and mup.role_of("dense_1/kernel") == "hidden"
  assert mup.role_of("head/kernel") == "vector" and mup_optim.lr_multiplier(mlp, "head/bias", "sgd") == 1


def test_vit_roles_and_hooks():
  """ViT's blocks are the hidden matrices; attn_mult scales the logits as a query scaled by it would (flax's einsum
  hook), out_mult the logits; mlp_dim scales with d_model, and coordcheck widens both."""
  c = parse(VIT, model_args={"d_model": 128, "mlp_dim": 512}, parametrization="mup", mup={"base": {"d_model": 32}})
  model = mup_optim.of_config(c).model(registry.create(c.model, **c.model_args))
  x = np.asarray(jax.random.normal(jax.random.key(1), (3, 8, 8, 1)))
  shapes = jax.eval_shape(model.init, jax.random.key(0), x)["params"]
  rng = np.random.default_rng(0)  # random weights without compiling an init: the test compares forward passes
  params = jax.tree_util.tree_map(lambda s: rng.normal(0, 0.3, s.shape).astype(np.float32), shapes)
  hidden = {p for p, r in mup.roles(params).items() if r == "hidden"}
  names = ("self_attention/query", "self_attention/key", "self_attention/value", "self_attention/out", "mlp_1", "mlp_2")
  assert hidden == {f"encoder_layer_{i}/{n}/kernel" for i in range(2) for n in names}
  assert mup_optim.of_config(c).ratio == 4 and model.out_mult == 0.25 and math.isclose(model.attn_mult, 0.5)
  scaled = jax.tree_util.tree_map(lambda a: a, params)
  for i in range(2):
    q = params[f"encoder_layer_{i}"]["self_attention"]["query"]
    scaled[f"encoder_layer_{i}"]["self_attention"]["query"] = {k: v * 0.5 for k, v in q.items()}
  forward = jax.jit(lambda m, p: m.apply({"params": p}, x), static_argnums=0)
  plain = model.clone(attn_mult=1.0, out_mult=1.0)
  hooked = forward(model, params)
  np.testing.assert_allclose(hooked, forward(plain, scaled) * 0.25, rtol=1e-5, atol=1e-6)
  assert not np.allclose(hooked, forward(plain, params) * 0.25, atol=1e-3)
  z = mup.make("vit_ti16", c.model_args, {"d_model": 32}, zero_query=True).init(params)
  assert not np.asarray(z["encoder_layer_1"]["self_attention"]["query"]["kernel"]).any()
  assert np.asarray(z["encoder_layer_1"]["self_attention"]["key"]["kernel"]).any()
  wide = coordcheck.widths_of(c, [64, 256])
  assert [(w.model_args["d_model"], w.model_args["mlp_dim"]) for w in wide] == [(64, 256), (256, 1024)]
  with pytest.raises(config.ConfigError, match="scales mlp_dim with d_model"):
    parse(VIT, model_args={"d_model": 96, "mlp_dim": 200}, parametrization="mup", mup={"base": {"d_model": 32}})


def test_init_rescale_and_zero_options():
  m = mup.make("gpt", {"d_model": 128, "n_heads": 2}, {"d_model": 32}, zero_query=True)
  p = {"block_0": {"qkv": {"kernel": np.ones((128, 3, 2, 64))}, "ln_1": {"scale": np.ones(128)}}}
  out = m.init(p)
  q = np.asarray(out["block_0"]["qkv"]["kernel"])
  assert (q[:, 0] == 0).all() and np.allclose(q[:, 1:], 0.5)  # hidden std x (128/32)^-1/2
  assert (np.asarray(out["block_0"]["ln_1"]["scale"]) == 1).all()
  m = mup.make("mlp", {"width": 256}, {"width": 64}, zero_readout=True)
  out = m.init({"head": {"kernel": np.ones((256, 10))}, "dense_1": {"kernel": np.ones((256, 256))}})
  assert (np.asarray(out["head"]["kernel"]) == 0).all() and (np.asarray(out["dense_1"]["kernel"]) == 1).all()


def test_scale_by_mup_multiplies_each_update_by_its_layer():
  m = mup.make("mlp", {"width": 256}, {"width": 64})
  tx = mup_optim.with_mup(optax.sgd(1.0), m, "adam")
  grads = {"dense_1": {"kernel": np.ones(2)}, "dense_0": {"kernel": np.ones(2)}}
  updates, _ = tx.update(grads, tx.init(grads), grads)
  assert np.allclose(updates["dense_1"]["kernel"], -0.25) and np.allclose(updates["dense_0"]["kernel"], -1.0)
  assert mup_optim.with_mup(tx, None, "adam") is tx


@pytest.mark.parametrize(
  "changes, words",
  [
    (dict(parametrization="mup"), "mup.base must give the base 'd_model'"),
    (dict(parametrization="mup", mup={"base": {"width": 64}}), "mup.base must give the base 'd_model'"),
    (dict(parametrization="mup", mup={"base": {"d_model": 32}, "zero_readout": True}), "untied readout"),
    (dict(parametrization="mup", mup={"base": {"d_model": 31}}), "not divisible"),
    (dict(parametrization="mu"), "allowed: sp, mup"),
  ],
)
def test_bad_mup_configs_are_one_line_errors(changes, words):
  with pytest.raises(config.ConfigError, match=words):
    parse(GPT, **changes)
  with pytest.raises(config.ConfigError, match="supports the models"):
    config.parse(dict(model="lenet5", data="digits", parametrization="mup", mup={"base": {"width": 8}}))


def _spreads(base, par, widths, steps):
  width = mup.MODELS[base["model"]][0]
  c = parse(base, parametrization=par, mup={"base": {width: widths[0]}})
  return coordcheck.spreads(coordcheck.measure(c, widths, steps))


@pytest.mark.long  # 4 engines, 3 programs each
def test_coordcheck_mlp_is_flat_under_mup_and_grows_under_sp():
  """An 8x width range (64 -> 512), 3 Adam steps at lr 0.01: the hidden layer's and the output's mean |activation|
  at step 2, their spread (max/min over widths). `head` is the readout before μP's 1/m multiplier, so it is left
  out. With μP off both would read like SP's."""
  sp = _spreads(MLP, "sp", [64, 512], 3)
  mu = _spreads(MLP, "mup", [64, 512], 3)
  for layer in ("dense_1", "output"):
    assert mu[layer] < 1.8, (layer, mu, sp)
    assert sp[layer] > 1.5 * mu[layer], (layer, mu, sp)
  assert sp["output"] > 3.0


@pytest.mark.long  # 4 ViT engines
def test_coordcheck_vit_is_flat_under_mup_and_grows_under_sp():
  """ViT (2 layers, mlp_dim 4 x d_model) at 32 -> 256, 5 Adam steps at 2^-8, μP with a zero readout (at init μP's
  1/m output multiplier makes the logits shrink with width, which would dominate 5 steps). The head is the readout
  before μP's multiplier, so it is left out."""
  sp = _spreads(VIT, "sp", [32, 256], 5)
  c = parse(VIT, parametrization="mup", mup={"base": {"d_model": 32}, "zero_readout": True})
  mu = coordcheck.spreads(coordcheck.measure(c, [32, 256], 5))
  assert max(v for k, v in mu.items() if k != "head") < 1.6, mu
  for layer in ("encoder_layer_1/mlp_2", "output"):
    assert sp[layer] > 2.0 * mu[layer], (layer, mu, sp)


@pytest.mark.slow
def test_coordcheck_gpt_is_flat_under_mup_and_grows_under_sp():
  """GPT's check at 32 -> 256 (results/mup_transfer/coordcheck has the 2-layer one)."""
  widths = [32, 256]
  sp = _spreads(GPT, "sp", widths, 4)
  mu = _spreads(GPT, "mup", widths, 4)
  assert mu["output"] < 2.0 and sp["output"] > 2.0 * mu["output"], (mu, sp)
  assert max(mu.values()) < max(sp.values())
