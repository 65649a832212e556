"""The Llama family without torch: causality by gradient (and the sliding window's reach), jit equals no-jit, the
grouped attention equals multi-head attention on repeated heads and the plain formula, rotary embeddings'
properties, exact parameter counts, the KV-cache decode equal to full forwards' argmax (llama and gpt), the LM
task's z-loss, the size helper. The equivalence with transformers is tests/test_llama_reference.py (make test-ci)."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from scalezoo import zoo
from scalezoo.train import tasks
from scalezoo.zoo import attention, llama, rope

TINY = dict(vocab=23, context=24, d_model=24, n_layers=2, n_heads=6, n_kv_heads=2, head_dim=8, d_ff=40)


def _model(**kw):
  return zoo.create("llama", **{**TINY, **kw})


def _init(model, L=12, seed=0):
  toks = jnp.asarray(np.random.default_rng(seed).integers(0, 23, (2, L)), jnp.int32)
  v = model.init(jax.random.key(seed), toks)
  # norms away from 1 so a dropped or swapped one shows
  v = jax.tree_util.tree_map_with_path(
    lambda p, a: a + 0.1 * jax.random.normal(jax.random.key(len(str(p))), a.shape) if "scale" in str(p) else a, v
  )
  return v, toks


@pytest.mark.parametrize("window", [0, 4])
def test_causal_by_gradient(window):
  """d logits[t] / d embeddings[s] is zero for s > t, and under a sliding window for s <= t - window (one layer:
  through n layers a window reaches n (window - 1) positions back)."""
  model = _model(qkv_bias=True, qk_norm=True, sliding_window=window, n_layers=1)
  v, toks = _init(model)
  L = toks.shape[1]
  x_BxLxD = v["params"]["embed"]["embedding"][toks]

  def logit(x_BxLxD, w_L):
    # the model from its embeddings: token i at position i (vocab 23 >= L), the logits at the positions w picks
    emb = v["params"]["embed"]["embedding"].at[:L].set(x_BxLxD[0])
    params = {**v["params"], "embed": {"embedding": emb}}
    return jnp.sum(model.apply({"params": params}, jnp.arange(L)[None])[0] * w_L[:, None])

  ts = (0, 5, L - 1)
  g_TxLxD = jax.jit(jax.vmap(jax.grad(logit), in_axes=(None, 0)))(x_BxLxD, jnp.eye(L)[np.array(ts)])[:, 0]
  for t, g_LxD in zip(ts, g_TxLxD):
    reach = np.abs(np.asarray(g_LxD)).sum(-1) > 0
    want = np.arange(L) <= t
    if window:
      want &= np.arange(L) > t - window
    np.testing.assert_array_equal(reach, want)


def test_jit_equals_no_jit_and_scan_equals_loop():
  model = _model(qkv_bias=True, qk_norm=True, sliding_window=5, rope_scaling=(8.0, 1.0, 4.0, 8))
  v, toks = _init(model)
  y = model.apply(v, toks)
  np.testing.assert_allclose(jax.jit(model.apply)(v, toks), y, rtol=1e-6, atol=1e-6)
  scanned = model.clone(scan_layers=True)
  stacked = {
    **v["params"],
    "layers": jax.tree.map(lambda *a: jnp.stack(a), v["params"]["layer_0"], v["params"]["layer_1"]),
  }
  stacked = {"params": {k: a for k, a in stacked.items() if not k.startswith("layer_")}}
  np.testing.assert_allclose(scanned.apply(stacked, toks), y, rtol=1e-6, atol=1e-6)
  np.testing.assert_array_equal(model.clone(remat=True).apply(v, toks), y)
  y16 = model.clone(dtype=jnp.bfloat16).apply(v, toks)
  assert y16.dtype == jnp.float32 and float(jnp.abs(y16 - y).max()) < 0.05 * float(jnp.abs(y).max())


def test_grouped_attention_is_multi_head_attention_on_repeated_heads():
  rng = np.random.default_rng(0)
  B, L, S, H, K = 2, 5, 7, 6, 4
  q = jnp.asarray(rng.normal(size=(B, L, H, K)), jnp.float32)
  mask = jnp.asarray(rng.random((1, L, S)) > 0.3).at[:, :, 0].set(True)
  for G in (1, 2, 3):
    k, v = (jnp.asarray(rng.normal(size=(B, S, G, K)), jnp.float32) for _ in range(2))
    grouped = attention.dot_product_attention(q, k, v, mask)
    mha = attention.dot_product_attention(q, jnp.repeat(k, H // G, axis=2), jnp.repeat(v, H // G, axis=2), mask)
    np.testing.assert_allclose(grouped, mha, rtol=1e-6, atol=1e-6)
    # the plain formula, per head h reading kv head h // (H / G)
    kr, vr = np.repeat(np.asarray(k), H // G, 2), np.repeat(np.asarray(v), H // G, 2)
    logits = np.einsum("blhk,bshk->bhls", np.asarray(q), kr) / math.sqrt(K)
    logits = np.where(np.asarray(mask)[:, None], logits, -np.inf)
    p = np.exp(logits - logits.max(-1, keepdims=True))
    p /= p.sum(-1, keepdims=True)
    np.testing.assert_allclose(grouped, np.einsum("bhls,bshk->blhk", p, vr), rtol=1e-5, atol=1e-6)
  with pytest.raises(ValueError, match="do not split"):
    attention.dot_product_attention(q, k[:, :, :1].repeat(4, 2), v[:, :, :1].repeat(4, 2))


def test_n_kv_heads_equal_to_n_heads_is_multi_head_attention():
  """n_kv_heads = n_heads (MHA) and n_kv_heads = 0 (the default) build the same model; GQA's k/v are smaller."""
  a, b = _model(n_kv_heads=6), _model(n_kv_heads=0)
  v, toks = _init(a)
  np.testing.assert_array_equal(a.apply(v, toks), b.apply(v, toks))
  assert v["params"]["layer_0"]["k_proj"]["kernel"].shape == (24, 6, 8)
  assert _init(_model())[0]["params"]["layer_0"]["k_proj"]["kernel"].shape == (24, 2, 8)


def test_rotary_properties():
  K, theta = 16, 10000.0
  inv = rope.inv_frequencies(K, theta)
  np.testing.assert_allclose(inv, theta ** (-np.arange(0, K, 2) / K), rtol=1e-6)
  rng = np.random.default_rng(0)
  x = jnp.asarray(rng.normal(size=(1, 6, 2, K)), jnp.float32)
  y = jnp.asarray(rng.normal(size=(1, 6, 2, K)), jnp.float32)
  pos = jnp.arange(6)[None]
  rx = rope.apply_rotary(x, pos, inv)
  np.testing.assert_allclose(rope.apply_rotary(x, jnp.zeros_like(pos), inv), x)  # position 0: identity
  np.testing.assert_allclose(jnp.linalg.norm(rx, axis=-1), jnp.linalg.norm(x, axis=-1), rtol=1e-5)  # a rotation
  # q.k depends on the positions' difference only
  dots = [jnp.sum(rope.apply_rotary(x, pos + s, inv) * rope.apply_rotary(y, pos[:, ::-1] + s, inv), -1) for s in (0, 7)]
  np.testing.assert_allclose(dots[0], dots[1], rtol=1e-4, atol=1e-4)
  with pytest.raises(ValueError, match="even"):
    rope.inv_frequencies(7, theta)


def test_llama3_frequency_scaling():
  """Llama 3.1 8B's settings: wavelengths under 8192 / 4 kept, over 8192 / 1 divided by 8, the band between
  interpolated (monotone in between)."""
  K, theta = 128, 500000.0
  plain = rope.inv_frequencies(K, theta)
  scaled = rope.inv_frequencies(K, theta, (8.0, 1.0, 4.0, 8192))
  wavelen = 2 * np.pi / plain
  high, low = wavelen < 8192 / 4, wavelen > 8192
  np.testing.assert_array_equal(scaled[high], plain[high])
  np.testing.assert_allclose(scaled[low], plain[low] / 8, rtol=1e-6)
  mid = ~high & ~low
  assert mid.any() and np.all(scaled[mid] <= plain[mid]) and np.all(scaled[mid] >= plain[mid] / 8)
  assert np.all(np.diff(scaled) < 0)


def _formula(V, D, N, H, G, K, F, bias=False, qk_norm=False, tied=False):
  layer = D * (H + 2 * G) * K + H * K * D + 3 * D * F + 2 * D + (H + 2 * G) * K * bias + 2 * K * qk_norm
  return V * D * (1 if tied else 2) + D + N * layer


@pytest.mark.parametrize(
  "kw",
  [
    {},
    dict(qkv_bias=True, tie_embeddings=True),
    dict(qk_norm=True, n_kv_heads=1, head_dim=10),
    dict(d_ff=0, n_kv_heads=0, head_dim=0, scan_layers=True),
  ],
)
def test_exact_param_count(kw):
  cfg = {**TINY, **kw}
  H, G, K = cfg["n_heads"], cfg["n_kv_heads"] or cfg["n_heads"], cfg["head_dim"] or cfg["d_model"] // cfg["n_heads"]
  F = cfg["d_ff"] or llama.ffn_width(cfg["d_model"])
  want = _formula(
    23, 24, 2, H, G, K, F, cfg.get("qkv_bias", False), cfg.get("qk_norm", False), cfg.get("tie_embeddings", False)
  )
  assert zoo.count_params("llama", **cfg) == want
  split = zoo.count_params_split("llama", **cfg)
  assert split["embedding"] == 23 * 24 * (1 if cfg.get("tie_embeddings") else 2)


@pytest.mark.parametrize("target", [1e6, 1e7, 1e8, 1e9])
def test_llama_shape_for_hits_the_target(target):
  s = zoo.llama_shape_for(target)
  D, H, G = s["d_model"], s["n_heads"], s["n_kv_heads"]
  assert D == 64 * H and H % G == 0 and H // G <= 4 and (G == H or H // G > 2)
  non_embedding = zoo.count_params("llama", vocab=1, **s) - 2 * D  # vocab 1: the embedding and head are 2 D
  assert non_embedding == pytest.approx(target, rel=0.4)
  with pytest.raises(ValueError, match="positive"):
    zoo.llama_shape_for(0)


@pytest.mark.parametrize(
  "name, kw",
  [
    ("llama", dict(TINY, sliding_window=5, qk_norm=True)),
    ("llama", dict(TINY, scan_layers=True, n_kv_heads=1, tie_embeddings=True)),
    ("llama_moe", dict(TINY, n_experts=3, top_k=2, n_shared_experts=1, moe_every=2, router="sigmoid")),  # dropless
    ("gpt", dict(vocab=23, context=24, d_model=16, n_layers=2, n_heads=2)),
    ("gpt", dict(vocab=23, context=24, d_model=16, n_layers=2, n_heads=2, scan_layers=True)),
  ],
)
def test_kv_cache_decode_equals_full_forward_argmax(name, kw):
  model = zoo.create(name, **kw)
  prompt = np.random.default_rng(1).integers(0, 23, (3, 6))
  v = model.init(jax.random.key(0), jnp.asarray(prompt))
  got = zoo.generate(model, v, prompt, 10)
  # the model is causal: the full forward of the whole sequence has every step's logits; each new token is the
  # argmax at the position before it
  apply = jax.jit(model.apply)
  logits = apply(v, jnp.asarray(got))
  np.testing.assert_array_equal(got[:, :6], prompt)
  np.testing.assert_array_equal(got[:, 6:], np.asarray(jnp.argmax(logits[:, 5:-1], -1)))
  # the cached forward's logits are the full forward's at every position
  cache = zoo.decode.empty_cache(model, 3, 16)
  cached = jax.jit(lambda v, t, c: model.apply(v, t, cache=c))
  a, cache = cached(v, jnp.asarray(got[:, :9]), cache)
  b, cache = cached(v, jnp.asarray(got[:, 9:16]), cache)
  np.testing.assert_allclose(jnp.concatenate([a, b], 1), logits[:, :16], rtol=1e-5, atol=1e-5)
  assert int(cache["end"]) == 16


def test_sampling_is_seeded_and_top_k_1_is_greedy():
  model = _model()
  v, _ = _init(model)
  prompt = np.arange(5)
  greedy = zoo.generate(model, v, prompt, 8)
  assert greedy.shape == (13,) and (greedy[:5] == prompt).all()
  np.testing.assert_array_equal(zoo.generate(model, v, prompt, 8, temperature=0.7, top_k=1, seed=3), greedy)
  a = zoo.generate(model, v, prompt, 8, temperature=1.0, seed=1)
  np.testing.assert_array_equal(a, zoo.generate(model, v, prompt, 8, temperature=1.0, seed=1))
  assert any((zoo.generate(model, v, prompt, 8, temperature=1.0, seed=s) != a).any() for s in (2, 3, 4))
  with pytest.raises(ValueError, match="context"):
    zoo.generate(model, v, prompt, 20)
  with pytest.raises(ValueError, match="prompt_ids must lie"):
    zoo.generate(model, v, [23], 2)


def test_z_loss_is_in_the_training_loss_only():
  rng = np.random.default_rng(0)
  out = jnp.asarray(rng.normal(size=(2, 5, 7)) * 3, jnp.float32)
  batch = {"y": jnp.asarray(rng.integers(0, 7, (2, 5))).at[1, 4].set(-1)}  # -1: a padded target
  plain, z = tasks.get("lm"), tasks.get("lm", z_loss=1e-2)
  np.testing.assert_array_equal(z.loss(out, batch)[0], plain.loss(out, batch)[0])  # what is reported
  lse = jax.nn.logsumexp(out, -1) ** 2 * (np.asarray(batch["y"]) >= 0)
  np.testing.assert_allclose(z.train_loss(out, batch)[0] - plain.loss(out, batch)[0], 1e-2 * lse.sum(1), rtol=1e-5)
  np.testing.assert_array_equal(plain.train_loss(out, batch)[0], plain.loss(out, batch)[0])
  with pytest.raises(ValueError, match="'lm' task"):
    tasks.get("classification", z_loss=1e-4)


def test_every_parameter_has_logical_axes_and_kv_heads_split_over_tensor():
  from scalezoo.train import mesh as mesh_lib
  from scalezoo.zoo import sharding

  params = zoo.abstract_variables("llama", **TINY, qkv_bias=True, qk_norm=True)["params"]
  assert sharding.unnamed(params) == []
  mesh = jax.make_mesh((1, 2, 2), mesh_lib.AXES, devices=jax.devices()[:4])
  spec = lambda path: tuple(mesh_lib.param_shardings(mesh, params)["layer_0"][path]["kernel"].spec)
  assert spec("q_proj") == ("fsdp", "tensor", None)
  assert spec("k_proj") == spec("v_proj") == ("fsdp", "tensor", None)  # 2 kv heads over tensor = 2
  assert spec("o_proj") == ("tensor", None, "fsdp")
  assert spec("gate_proj") == spec("up_proj") == ("fsdp", "tensor") and spec("down_proj") == ("tensor", "fsdp")
  stacked = zoo.abstract_variables("llama", **TINY, scan_layers=True)["params"]
  assert tuple(mesh_lib.param_shardings(mesh, stacked)["layers"]["k_proj"]["kernel"].spec) == (
    None,
    "fsdp",
    "tensor",
    None,
  )


def test_mup_roles_and_transform():
  from scalezoo.zoo import mup

  params = zoo.abstract_variables("llama", **TINY, qk_norm=True)["params"]
  roles = mup.roles(params)
  hidden = {p for p, r in roles.items() if r == "hidden"}
  names = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")
  assert hidden == {f"layer_{i}/{n}/kernel" for i in range(2) for n in names}
  assert roles["lm_head/kernel"] == roles["embed/embedding"] == roles["layer_0/q_norm/scale"] == "vector"
  m = mup.make("llama", {**TINY, "d_model": 48, "d_ff": 80}, {"d_model": 24})
  assert m.ratio == 2.0 and m.head_ratio == 1.0  # head_dim fixed at 8: the attention scale stays 1/sqrt(8)
  model = m.model(_model(d_model=48, d_ff=80))
  assert model.out_mult == 0.5 and model.attn_mult == 1.0
  with pytest.raises(ValueError, match="untied"):
    mup.check("llama", {**TINY, "tie_embeddings": True}, {"d_model": 12}, zero_readout=True)


def test_folder_round_trip_tokenizer_and_refusals_without_torch(tmp_path):
  import json

  from tokenizers import Tokenizer, models, pre_tokenizers, trainers

  from scalezoo.zoo.weights import huggingface_configs as hfc

  model = _model(qk_norm=True, tie_embeddings=True)
  v, toks = _init(model)
  tok = Tokenizer(models.BPE())
  tok.pre_tokenizer = pre_tokenizers.ByteLevel()
  tok.train_from_iterator(["def f(x): return x + 1"] * 4, trainers.BpeTrainer(vocab_size=300))
  zoo.save_pretrained(model, v, tmp_path / "qwen3", tokenizer=tok)
  config = json.loads((tmp_path / "qwen3" / "config.json").read_text())
  assert config["model_type"] == "qwen3" and config["architectures"] == ["Qwen3ForCausalLM"]
  back, v2 = zoo.load_pretrained(tmp_path / "qwen3")
  assert back == model.clone(n_kv_heads=2, d_ff=40)  # every option as config.json states it
  for a, b in zip(jax.tree.leaves(v), jax.tree.leaves(v2), strict=True):
    assert np.array_equal(np.asarray(a), b) and b.dtype == np.float32
  loaded = zoo.load_tokenizer(tmp_path / "qwen3")
  assert loaded.decode(loaded.encode("return x").ids) == tok.decode(tok.encode("return x").ids)
  with pytest.raises(ValueError, match="not empty"):
    zoo.save_pretrained(model, v, tmp_path / "qwen3")
  with pytest.raises(ValueError, match="rope type 'yarn'"):
    hfc.zoo_options({**config, "rope_parameters": {"rope_type": "yarn", "rope_theta": 1e4, "factor": 4.0}})
  with pytest.raises(ValueError, match="not a qwen2 model: head_dim"):
    hfc.hf_config(zoo.resolve("llama", **TINY, qkv_bias=True), "qwen2")  # head_dim 8 != 24 / 6
  (tmp_path / "no_weights").mkdir()
  (tmp_path / "no_weights" / "config.json").write_text(json.dumps(config))
  with pytest.raises(ValueError, match="neither model.safetensors"):
    zoo.load_pretrained(tmp_path / "no_weights")


def test_convert_and_generate_commands_on_a_folder(tmp_path, capsys):
  """`scalezoo convert FOLDER OUT` (zoo variables, or a folder again) and `scalezoo generate FOLDER --prompt`: the
  same variables and the same tokens as the library calls; a folder that is not one is one line, exit 2."""
  from flax import serialization
  from tokenizers import Tokenizer, models, pre_tokenizers, trainers

  from scalezoo import cli

  model = _model()
  v, _ = _init(model)
  tok = Tokenizer(models.BPE())
  tok.pre_tokenizer = pre_tokenizers.ByteLevel()
  tok.train_from_iterator(["def f(x): return x + 1"] * 4, trainers.BpeTrainer(vocab_size=model.vocab))
  src = tmp_path / "src"
  zoo.save_pretrained(model, v, src, tokenizer=tok)
  assert cli.main(["convert", str(src), str(tmp_path / "v.msgpack")]) == 0
  got = serialization.msgpack_restore((tmp_path / "v.msgpack").read_bytes())
  for a, b in zip(jax.tree.leaves(v), jax.tree.leaves(got), strict=True):
    assert np.array_equal(np.asarray(a), b)
  assert cli.main(["convert", str(src), str(tmp_path / "again")]) == 0
  back, v2 = zoo.load_pretrained(tmp_path / "again")
  assert back == zoo.load_pretrained(src)[0]
  assert all(np.array_equal(np.asarray(a), b) for a, b in zip(jax.tree.leaves(v), jax.tree.leaves(v2), strict=True))
  capsys.readouterr()
  assert cli.main(["generate", str(src), "--prompt", "def f", "--max-new-tokens", "5"]) == 0
  ids = tok.encode("def f").ids
  want = tok.decode([int(i) for i in zoo.generate(*zoo.load_pretrained(src), ids, 5)[len(ids) :]])
  assert capsys.readouterr().out == want + "\n"
  assert cli.main(["convert", str(tmp_path / "nothing"), str(tmp_path / "x.msgpack")]) == 2
  err = capsys.readouterr().err
  assert err.count("\n") == 1 and "Hugging Face folder" in err and not (tmp_path / "x.msgpack").exists()
