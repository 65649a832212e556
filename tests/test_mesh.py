"""Runs on a device mesh: placement by logical axis names, bad meshes refused, equal losses on any mesh."""

import json
import os
import subprocess
import sys
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from scalezoo import cli, zoo
from scalezoo.train import checksum, config, loop
from scalezoo.train import mesh as mesh_lib
from scalezoo.train import step as S
from scalezoo.zoo import sharding

WORKER = Path(__file__).parent / "workers" / "mesh_runs.py"
GPT = {
  "model": "gpt",
  "data": "pycode",
  "steps": 2,
  "batch_size": 8,
  "eval_examples": 16,
  "model_args": {"d_model": 32, "n_layers": 1, "n_heads": 4, "context": 16},
  "data_args": {"context": 16},
}


def gpt(**changes):
  return config.parse({**GPT, **changes})


@pytest.mark.parametrize("name", sharding.COVERED)
def test_every_parameter_of_the_covered_models_has_logical_names(name):
  assert sharding.unnamed(zoo.abstract_variables(name)["params"]) == []


def test_fsdp_and_tensor_split_the_weights_they_name():
  cfg = gpt(mesh={"fsdp": 2, "tensor": 2})
  split = loop.load_split(cfg)
  eng = loop.make_engine(cfg, split)
  arrays = {k: jnp.asarray(v) for k, v in split.train.items()}
  state = S.init_state(eng, jax.random.key(0), arrays, 1e-3)
  spec = lambda a: tuple(a.sharding.spec)
  blk = state.params["block_0"]
  assert spec(blk["qkv"]["kernel"]) == ("fsdp", None, "tensor", None)  # embed over fsdp, heads over tensor
  assert spec(blk["fc"]["kernel"]) == ("fsdp", "tensor")
  assert spec(blk["fc_proj"]["kernel"]) == ("tensor", "fsdp")
  assert spec(state.params["wte"]["embedding"]) == (None, "fsdp")
  mu = state.opt_state[-1][0].mu if hasattr(state.opt_state[-1][0], "mu") else None
  moments = [a for a in jax.tree.leaves(state.opt_state) if a.shape == blk["fc"]["kernel"].shape]
  assert moments and all(spec(m) == ("fsdp", "tensor") for m in moments), mu
  # the same values as a run on one device: the init is written into its shards, not computed differently
  one = S.init_state(loop.make_engine(gpt(), split), jax.random.key(0), arrays, 1e-3)
  for a, b in zip(jax.tree.leaves(one.params), jax.tree.leaves(state.params)):
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


@pytest.mark.parametrize(
  "mesh, message",
  [
    ("{data = 3}", "needs 3 devices, which does not divide the 4 visible"),
    ("{data = 4}", "batch_size / microbatches = 6 is not divisible by data x fsdp = 4"),
    ("{data = -1, fsdp = -1}", "at most one axis may be -1"),
    ("{data = -1, fsdp = 3}", "3 does not divide the 4 visible devices"),
    ("{pipeline = 2}", "unknown mesh axis 'pipeline'"),
    ("{tensor = 0}", "must be a positive int or -1"),
    ("{tensor = 4, data = 1}", "tensor=4 does not divide 'heads' = 2"),
  ],
)
def test_bad_meshes_exit_2_with_one_line(tmp_path, capsys, mesh, message):
  cfg_file = tmp_path / "run.toml"
  args = dict(GPT["model_args"], n_heads=2)
  cfg_file.write_text(
    'model = "gpt"\ndata = "pycode"\nsteps = 2\nbatch_size = 6\n'
    f"mesh = {mesh}\n[model_args]\n" + "".join(f"{k} = {v}\n" for k, v in args.items()) + "[data_args]\ncontext = 16\n"
  )
  assert cli.main(["train", str(cfg_file), "--out", str(tmp_path / "out"), "--quiet"]) == 2
  err = capsys.readouterr().err.strip()
  assert message in err and len(err.splitlines()) == 1, err


def test_microbatches_make_the_same_update_as_the_whole_batch():
  mlp = lambda **c: config.parse({"model": "mlp", "data": "mnist1d", "steps": 5, "model_args": {"width": 16}, **c})
  whole, pieces = loop.fit(mlp(batch_size=64)).record, loop.fit(mlp(batch_size=64, microbatches=4)).record
  np.testing.assert_allclose(pieces.curve["train_loss"], whole.curve["train_loss"], rtol=1e-5)
  np.testing.assert_allclose(pieces.metrics["test_loss"], whole.metrics["test_loss"], rtol=1e-5)
  assert gpt(microbatches=4).run_id() != gpt().run_id() and gpt(microbatches=1).run_id() == gpt().run_id()
  with pytest.raises(config.ConfigError, match="must divide batch_size"):
    gpt(microbatches=3)


def test_the_fingerprint_is_the_same_on_every_mesh_and_sees_one_flipped_bit():
  x = np.arange(4 * 8, dtype=np.float32).reshape(4, 8)
  tree = {"w": x, "step": np.int32(7), "h": x.astype(jnp.bfloat16)}
  m = jax.make_mesh((2, 2), ("a", "b"))
  placed = [
    jax.tree.map(jnp.asarray, tree),
    {**tree, "w": jax.device_put(x, jax.sharding.NamedSharding(m, jax.sharding.PartitionSpec("a", "b")))},
    {**tree, "w": jax.device_put(x, jax.sharding.NamedSharding(m, jax.sharding.PartitionSpec(None, ("a", "b"))))},
  ]
  prints = {checksum.fingerprint(t) for t in placed}
  assert len(prints) == 1
  flipped = x.copy()
  flipped.view(np.uint32)[2, 3] ^= 1
  assert checksum.fingerprint({**tree, "w": flipped}) not in prints
  swapped = x.copy()
  swapped[0, [0, 1]] = swapped[0, [1, 0]]
  assert checksum.fingerprint({**tree, "w": swapped}) not in prints
  assert checksum.fingerprint({**tree, "w": x.reshape(8, 4)}) not in prints


def test_per_device_bytes_counts_shards():
  m = jax.make_mesh((4,), ("d",))
  a = jax.device_put(np.zeros((8, 4), np.float32), jax.sharding.NamedSharding(m, jax.sharding.PartitionSpec("d")))
  assert mesh_lib.per_device_bytes({"a": a, "b": np.zeros(3, np.float32)}) == 2 * 4 * 4 + 12


@pytest.mark.ci  # a process of its own, with 8 host devices
def test_gpt_and_vit_lose_the_same_on_every_mesh_of_8_devices():
  env = {**os.environ, "XLA_FLAGS": "--xla_force_host_platform_device_count=8", "JAX_PLATFORMS": "cpu"}
  res = subprocess.run(
    [sys.executable, str(WORKER), "meshes", "features"], env=env, capture_output=True, text=True, timeout=1800
  )
  assert res.returncode == 0, res.stderr[-3000:]
  out = json.loads(res.stdout.strip().splitlines()[-1])
  for model in ("gpt", "vit"):
    one = out[model]["one"]
    for name, r in out[model].items():
      np.testing.assert_allclose(r["train_loss"], one["train_loss"], rtol=1e-5, err_msg=f"{model} {name}")
      np.testing.assert_allclose(r["val_loss"], one["val_loss"], rtol=1e-5, err_msg=f"{model} {name}")
      np.testing.assert_allclose(r["test_loss"], one["test_loss"], rtol=1e-5, err_msg=f"{model} {name}")
    # fsdp=8 holds about an eighth of the parameters and the optimizer state on each device
    for part in ("param_bytes_per_device", "opt_bytes_per_device"):
      assert out[model]["fsdp8"][part] < 0.15 * one[part], (model, part)
      assert out[model]["data8"][part] == one[part]
  feats = out["features"]
  for name in ("micro4", "remat_block", "remat_full"):
    np.testing.assert_allclose(feats[name]["train_loss"], feats["plain"]["train_loss"], rtol=1e-5, err_msg=name)
    np.testing.assert_allclose(feats[name]["test_loss"], feats["plain"]["test_loss"], rtol=1e-5, err_msg=name)
  # bf16 compute with f32 master weights: close to f32, not equal
  bf16, f32 = feats["bf16"]["train_loss"], feats["plain"]["train_loss"]
  assert np.allclose(bf16, f32, rtol=2e-2) and not np.allclose(bf16, f32, rtol=1e-6)


def test_a_checkpoint_saved_on_one_mesh_restores_onto_another(tmp_path):
  from scalezoo.train.checkpoint import Checkpointer

  split = loop.load_split(gpt())
  arrays = {k: jnp.asarray(v) for k, v in split.train.items()}
  states = {}
  for name, m in (("data4", {"data": 4}), ("d2f2", {"data": 2, "fsdp": 2}), ("one", {"data": 1})):
    eng = loop.make_engine(gpt(mesh=m), split)
    states[name] = (eng, S.init_state(eng, jax.random.key(name == "one"), arrays, 1e-3))
  eng, saved = states["data4"]
  ckpt = Checkpointer(tmp_path / "ck", "owner", 10)
  ckpt.save(3, {"state": saved}, {"note": "from data=4"})
  for target in ("d2f2", "one"):
    like = states[target][1]  # another mesh (and other values: restoring must overwrite them)
    abstract = jax.tree.map(lambda a: jax.ShapeDtypeStruct(a.shape, a.dtype, sharding=a.sharding), {"state": like})
    step, got, meta = Checkpointer(tmp_path / "ck", "owner", 10).restore_latest(abstract)
    assert step == 3 and meta["note"] == "from data=4"
    for a, b, t in zip(jax.tree.leaves(got["state"]), jax.tree.leaves(saved), jax.tree.leaves(like)):
      np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
      assert a.sharding == t.sharding
    assert checksum.fingerprint(got["state"]) == checksum.fingerprint(saved)


def test_a_vmapped_group_on_a_sharded_mesh_equals_its_runs_alone():
  mlp = lambda **c: config.parse(
    {"model": "mlp", "data": "mnist1d", "steps": 4, "batch_size": 32, "model_args": {"width": 16}, **c}
  )
  group = loop.fit_group([mlp(seed=0, mesh={"data": 2, "fsdp": 2}), mlp(seed=1, mesh={"data": 2, "fsdp": 2})])
  assert group.state.params["dense_1"]["kernel"].sharding.spec == jax.sharding.PartitionSpec(None, "fsdp", None)
  for seed, rec in enumerate(group.records):
    alone = loop.fit(mlp(seed=seed)).record
    np.testing.assert_allclose(rec.curve["train_loss"], alone.curve["train_loss"], rtol=1e-5)
    np.testing.assert_allclose(rec.metrics["test_loss"], alone.metrics["test_loss"], rtol=1e-5)
