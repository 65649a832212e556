"""zoo.weights without the reference implementations: exact layouts, the map's accounting and its one error, files,
BatchNorm's PyTorch running variance, init_from a weights file, the convert command. (Equivalence with torchvision
and transformers: tests/test_weights_reference.py, make test-ci.)"""

from __future__ import annotations

import json

import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_dtypes
import numpy as np
import pytest

from scalezoo import cli, zoo
from scalezoo.train import config, loop
from scalezoo.zoo import weights as W
from scalezoo.zoo.batchnorm import TorchBatchNorm
from scalezoo.zoo.weights import layouts

GPT = dict(vocab=61, context=16, d_model=32, n_layers=2, n_heads=4)


@pytest.fixture(scope="module")
def gpt_vars():
  """Random values in every variable (an init's ones and zeros would hide a swapped norm scale and bias), shaped
  by jax.eval_shape: no model is run."""
  rng = np.random.default_rng(0)
  shapes = zoo.abstract_variables("gpt", **GPT)
  return jax.tree.map(lambda s: rng.standard_normal(s.shape).astype(s.dtype), shapes)


@pytest.mark.parametrize(
  "layout, shape",
  [("conv", (3, 5, 4, 6)), ("linear", (7, 9)), ("linear:2", (2, 3, 6)), ("conv1d:1", (6, 3, 2, 3)),
   ("vec", (4, 5)), ("linear_chw:4:2:3", (24, 5))],
)  # fmt: skip
def test_layouts_are_exact_inverses(layout, shape):
  z = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
  t = layouts.to_reference(layout, z)
  assert np.array_equal(layouts.to_zoo(layout, t, shape), z)


def test_linear_chw_reorders_a_torch_flatten():
  """torch flattens (C, H, W) before a classifier, the zoo (H, W, C): the same feature map gives the same logits."""
  rng = np.random.default_rng(0)
  f_CxHxW, w_Oxin = rng.standard_normal((4, 2, 3)), rng.standard_normal((5, 24))
  z = layouts.to_zoo("linear_chw:4:2:3", w_Oxin, (24, 5))
  np.testing.assert_allclose(f_CxHxW.transpose(1, 2, 0).reshape(-1) @ z, w_Oxin @ f_CxHxW.reshape(-1), rtol=1e-12)


def test_round_trip_through_a_safetensors_file_is_bit_identical(gpt_vars, tmp_path):
  path = tmp_path / "gpt.safetensors"
  zoo.save_weights("gpt", gpt_vars, path, **GPT)
  back = zoo.load_weights("gpt", path, **GPT)
  assert jax.tree.structure(back) == jax.tree.structure(gpt_vars)
  assert all(np.array_equal(a, b) for a, b in zip(jax.tree.leaves(back), jax.tree.leaves(gpt_vars)))


def test_gpt2_state_dict_layout(gpt_vars):
  sd = W.to_state_dict("gpt", gpt_vars, **GPT)
  assert sd["transformer.h.0.attn.c_attn.weight"].shape == (32, 96)  # Conv1D: (in, out), q|k|v along out
  q = gpt_vars["params"]["block_0"]["qkv"]["kernel"][:, 0]  # (D, H, K)
  assert np.array_equal(sd["transformer.h.0.attn.c_attn.weight"][:, :32], q.reshape(32, 32))
  assert np.array_equal(sd["lm_head.weight"], sd["transformer.wte.weight"])  # tied
  bare = {k.removeprefix("transformer."): v for k, v in sd.items() if k != "lm_head.weight"}  # GPT2Model's keys
  assert all(np.array_equal(a, b) for a, b in zip(jax.tree.leaves(W.from_state_dict("gpt", bare, **GPT)),
                                                  jax.tree.leaves(gpt_vars)))  # fmt: skip


def test_one_error_names_every_problem(gpt_vars):
  sd = W.to_state_dict("gpt", gpt_vars, **GPT)
  del sd["transformer.h.1.ln_2.bias"]
  sd["transformer.h.0.mlp.c_fc.weight"] = sd["transformer.h.0.mlp.c_fc.weight"][:, :10]
  sd["cls.extra"] = np.zeros(3, np.float32)
  sd["lm_head.weight"] = sd["lm_head.weight"] + 1
  with pytest.raises(ValueError) as e:
    W.from_state_dict("gpt", sd, **GPT)
  msg = str(e.value)
  assert "\n" not in msg
  for part in ("transformer.h.1.ln_2.bias", "transformer.h.0.mlp.c_fc.weight (32, 10)", "cls.extra", "tied"):
    assert part in msg


def test_non_finite_or_integer_tensors_are_refused(gpt_vars):
  sd = W.to_state_dict("gpt", gpt_vars, **GPT)
  sd["transformer.h.0.attn.c_attn.weight"] = sd["transformer.h.0.attn.c_attn.weight"].copy()
  sd["transformer.h.0.attn.c_attn.weight"][3, 5] = np.nan
  sd["transformer.h.1.ln_1.weight"] = np.full_like(sd["transformer.h.1.ln_1.weight"], np.inf)
  sd["transformer.ln_f.bias"] = np.zeros(sd["transformer.ln_f.bias"].shape, np.int64)
  sd["transformer.h.1.ln_2.bias"] = sd["transformer.h.1.ln_2.bias"].astype(ml_dtypes.bfloat16)  # a float: taken
  with pytest.raises(ValueError) as e:
    W.from_state_dict("gpt", sd, **GPT)
  msg = str(e.value)
  assert "\n" not in msg and "c_attn.weight holds 1 NaN or inf" in msg and "ln_1.weight holds 32 NaN or inf" in msg
  assert "transformer.ln_f.bias has dtype int64" in msg and "ln_2" not in msg


def test_every_zoo_variable_must_be_filled(gpt_vars):
  """A map that forgets a layer: the zoo variables nothing fills are named."""
  from scalezoo.zoo.weights import huggingface_maps, mapping

  kw = {**GPT, "n_layers": 3}
  sd = W.to_state_dict("gpt", gpt_vars, **GPT)
  m = huggingface_maps.gpt2(zoo.resolve("gpt", **kw))
  m = mapping.Map(tuple(r for r in m.rules if ".h.2." not in r[0]), m.tied, m.fill, m.ignore, m.prefix)
  with pytest.raises(ValueError, match="nothing fills: params/block_2/fc/bias"):
    mapping.load(m, sd, zoo.abstract_variables("gpt", **kw), "gpt")


def test_bad_names_and_files(tmp_path):
  with pytest.raises(ValueError, match="no weight converter; models with one: .*resnet50"):
    W.from_state_dict("mlp", {})
  with pytest.raises(ValueError, match="unknown source 'timm'; sources: torchvision"):
    W.from_state_dict("resnet18", {}, source="timm")
  with pytest.raises(ValueError, match="ends in one of .safetensors"):
    zoo.load_weights("gpt", tmp_path / "w.npz")
  with pytest.raises(ValueError, match="no such file"):
    zoo.load_weights("gpt", tmp_path / "w.safetensors")


def test_save_refuses_variables_of_another_shape(gpt_vars, tmp_path):
  path = tmp_path / "keep.safetensors"
  path.write_bytes(b"old")
  with pytest.raises(ValueError, match="wrong shapes: params/wpe"):
    zoo.save_weights("gpt", gpt_vars, path, **{**GPT, "context": 8})
  assert path.read_bytes() == b"old"  # nothing written


def test_torch_batchnorm_eval_is_flax_and_train_updates_the_unbiased_variance():
  x = jnp.asarray(np.random.default_rng(0).standard_normal((3, 4, 5, 6)) * 2 + 1, jnp.float32)
  flax_bn = nn.BatchNorm(use_running_average=False, momentum=0.9, epsilon=1e-5)
  torch_bn = TorchBatchNorm(use_running_average=False, momentum=0.9, epsilon=1e-5)
  v = flax_bn.init(jax.random.key(0), x)
  assert jax.tree.structure(torch_bn.init(jax.random.key(0), x)) == jax.tree.structure(v)
  y_f, s_f = flax_bn.apply(v, x, mutable=["batch_stats"])
  y_t, s_t = torch_bn.apply(v, x, mutable=["batch_stats"])
  np.testing.assert_allclose(y_t, y_f, atol=1e-5)
  var = np.asarray(x).reshape(-1, 6).var(0, ddof=1)
  np.testing.assert_allclose(s_t["batch_stats"]["var"], 0.9 + 0.1 * var, rtol=1e-5)
  np.testing.assert_allclose(s_f["batch_stats"]["var"], 0.9 + 0.1 * var * 59 / 60, rtol=1e-5)
  ev = nn.BatchNorm(use_running_average=True, momentum=0.9, epsilon=1e-5)
  tev = TorchBatchNorm(use_running_average=True, momentum=0.9, epsilon=1e-5)
  assert np.array_equal(ev.apply(s_t | {"params": v["params"]}, x), tev.apply(s_t | {"params": v["params"]}, x))


def test_bn_variance_default_keeps_flax_batchnorm():
  v = zoo.abstract_variables("resnet18", image_size=32)
  u = zoo.abstract_variables("resnet18", image_size=32, bn_variance="unbiased")
  assert jax.tree.structure(v) == jax.tree.structure(u)
  assert isinstance(zoo.create("resnet18").bn_variance, str) and zoo.create("resnet18").bn_variance == "biased"
  with pytest.raises(ValueError, match="bn_variance must be one of biased, unbiased"):
    zoo.abstract_variables("resnet18", image_size=32, bn_variance="sample")


def _lm_cfg(**changes):
  raw = dict(
    model="gpt",
    data="pycode",
    data_args={"context": 16, "n_train": 64},
    model_args={**GPT, "vocab": 256},
    steps=2,
    batch_size=8,
    eval_every=2,
    eval_examples=16,
    checkpoint_every=0,
  )
  raw.update(changes)
  return config.parse(json.loads(json.dumps(raw)))


@pytest.mark.long  # trains (compiles a train step)
def test_init_from_a_weights_file(tmp_path):
  kw = {**GPT, "vocab": 256}
  x = zoo.example_input("gpt", 1, **kw)
  v = jax.tree.map(np.asarray, zoo.create("gpt", **kw).init(jax.random.key(7), *x))
  zoo.save_weights("gpt", v, tmp_path / "w.safetensors", **kw)
  rec = loop.fit(_lm_cfg(init_from=f"weights:huggingface:{tmp_path / 'w.safetensors'}")).record.to_dict()
  assert rec["status"] == "finished"
  assert rec["init"]["restored"] == len(jax.tree.leaves(v["params"])) and rec["init"]["fresh"] == []
  with pytest.raises(ValueError, match="no such file"):
    loop.fit(_lm_cfg(init_from=f"weights:{tmp_path / 'missing.safetensors'}"))


def test_init_from_weights_names_the_reference_options():
  from scalezoo.train.init_from import load_weights_init

  with pytest.raises(ValueError, match="model_args bn_momentum = 0.9, bn_epsilon = 1e-05"):
    load_weights_init("weights:x.pth", "efficientnet_b0", {})


def test_convert_command(gpt_vars, tmp_path, capsys):
  src = tmp_path / "a.safetensors"
  zoo.save_weights("gpt", gpt_vars, src, **GPT)
  sets = [f"--set={k}={v}" for k, v in GPT.items()]
  assert cli.main(["convert", "gpt", str(src), str(tmp_path / "b.safetensors"), *sets]) == 0
  assert "gpt <- huggingface" in capsys.readouterr().out
  back = zoo.load_weights("gpt", tmp_path / "b.safetensors", **GPT)
  assert all(np.array_equal(a, b) for a, b in zip(jax.tree.leaves(back), jax.tree.leaves(gpt_vars)))
  assert cli.main(["convert", "gpt", str(src), str(tmp_path / "c.safetensors")]) == 2  # default sizes: no fit
  assert "does not fit" in capsys.readouterr().err
  assert not (tmp_path / "c.safetensors").exists()
  assert cli.main(["convert", "mlp", str(src), str(tmp_path / "d.safetensors")]) == 2


@pytest.mark.long  # jax.export compiles the model
def test_export_command_jax_format(gpt_vars, tmp_path, capsys):
  from jax import export as jax_export

  zoo.save_weights("gpt", gpt_vars, tmp_path / "w.safetensors", **GPT)
  sets = [f"--set={k}={v}" for k, v in GPT.items()]
  args = ["export", "gpt", str(tmp_path / "w.safetensors"), str(tmp_path / "m.jax"), "--format", "jax", *sets]
  assert cli.main(args) == 0
  x = zoo.example_input("gpt", 3, **GPT)[0]
  y = jax_export.deserialize((tmp_path / "m.jax").read_bytes()).call(x)
  want = np.asarray(zoo.create("gpt", **GPT).apply(gpt_vars, x))
  assert np.abs(np.asarray(y) - want).max() <= 1e-5 * np.abs(want).max()  # jit vs eager: rounding only
  assert cli.main(["export", "gpt", str(tmp_path / "missing.pth"), str(tmp_path / "n.onnx")]) == 2
  assert "no such file" in capsys.readouterr().err and not (tmp_path / "n.onnx").exists()
