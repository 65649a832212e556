"""The zoo's Llama family against Hugging Face transformers: tiny random Llama, Qwen2, Qwen3 and Mistral models
built from their config classes (no downloads) at odd sizes, every constant-initialised tensor perturbed, written
by transformers' save_pretrained and read by zoo.load_pretrained: the same logits, the same greedy tokens; a zoo
model written by zoo.save_pretrained loads in transformers with the same logits; zoo -> folder -> zoo bit for bit;
the reference configs' parameter counts equal transformers' on the meta device. Needs the `reference` extra
(make test-ci).

No float64 bound: transformers computes the rotary angles and their cos/sin in float32 even in a float64 model
(LlamaRotaryEmbedding.forward), so its float64 logits carry float32 rounding; float32 is held to 1e-5 relative or
twice torch's own float32-vs-float64 difference, as tests/test_weights_reference.py does.
"""

from __future__ import annotations

import json

import jax
import numpy as np
import pytest

from scalezoo import zoo
from scalezoo.zoo.weights import huggingface_configs

try:
  import torch
  import transformers
except ImportError:  # make test collects this file without the extra; make test-ci installs it and runs it
  torch = transformers = None

pytestmark = pytest.mark.ci
TOL = 1e-5
V, B, L = 101, 2, 19  # odd sizes; L longer than Mistral's window and Llama 3's original context below
LLAMA3 = {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
          "original_max_position_embeddings": 8}  # fmt: skip
# family -> (config class, its arguments): GQA 3:1 (llama, qwen3), MQA (qwen2), 2:1 with a window of 5 (mistral);
# head widths other than hidden / heads where the family allows them
FAMILIES = {
  "llama": ("LlamaConfig", dict(hidden_size=48, num_attention_heads=6, num_key_value_heads=2, head_dim=12,
                                 intermediate_size=72, rope_theta=500000.0, rope_scaling=LLAMA3, rms_norm_eps=1e-5)),
  "qwen2": ("Qwen2Config", dict(hidden_size=40, num_attention_heads=5, num_key_value_heads=1, intermediate_size=56,
                                 rope_theta=1e6, tie_word_embeddings=True)),
  "qwen3": ("Qwen3Config", dict(hidden_size=48, num_attention_heads=6, num_key_value_heads=2, head_dim=10,
                                 intermediate_size=64, rope_theta=1e6, tie_word_embeddings=True)),
  "mistral": ("MistralConfig", dict(hidden_size=36, num_attention_heads=4, num_key_value_heads=2, head_dim=10,
                                     intermediate_size=60, sliding_window=5)),
}  # fmt: skip


@pytest.fixture(autouse=True)
def _reference_installed():
  assert torch is not None, "the reference extra is missing: make test-ci installs it (pip install -e '.[reference]')"
  torch.manual_seed(0)


def _reference(family: str):
  cls, kw = FAMILIES[family]
  cfg = getattr(transformers, cls)(vocab_size=V, num_hidden_layers=3, max_position_embeddings=64, **kw)
  ref = transformers.AutoModelForCausalLM.from_config(cfg).eval()
  with torch.no_grad():
    for p in ref.parameters():
      if torch.all(p == p.flatten()[0]):  # norm weights (ones), so a swapped or dropped one shows
        p.add_(0.1 * torch.randn_like(p))
  return ref


def _rel(y, y_ref) -> float:
  return float(np.abs(np.asarray(y, np.float64) - y_ref).max() / np.abs(y_ref).max())


def _tokens(shape=(B, L), seed=0):
  return np.random.default_rng(seed).integers(0, V, shape)


def _logits(ref, toks, double=False):
  with torch.no_grad():
    out = (ref.double() if double else ref.float())(torch.tensor(toks)).logits.numpy()
  ref.float()
  return out


def _same_bits(a: dict, b: dict) -> None:
  fa, fb = jax.tree_util.tree_flatten_with_path(a)[0], jax.tree_util.tree_flatten_with_path(b)[0]
  assert [p for p, _ in fa] == [p for p, _ in fb]
  for (path, x), (_, y) in zip(fa, fb):
    assert np.asarray(x).dtype == np.asarray(y).dtype and np.array_equal(np.asarray(x), np.asarray(y)), path


@pytest.mark.parametrize("family", FAMILIES)
def test_logits_match_transformers(family, tmp_path):
  ref = _reference(family)
  ref.save_pretrained(tmp_path / "hf")
  model, v = zoo.load_pretrained(tmp_path / "hf")
  toks = _tokens()
  y_ref, y_ref64 = _logits(ref, toks), _logits(ref, toks, double=True)
  y = np.asarray(jax.jit(model.apply)(v, toks))
  rel, own = _rel(y, y_ref), _rel(y_ref, y_ref64)
  print(f"{family}: max rel diff float32 {rel:.2e} (torch's own float32 vs float64 {own:.2e})")
  assert rel <= max(TOL, 2 * own)
  assert (y.argmax(-1) == y_ref.argmax(-1)).all()
  # the option under test is what makes them agree: without it the logits differ
  off = {"llama": dict(rope_scaling=()), "qwen2": {}, "qwen3": {}, "mistral": dict(sliding_window=0)}[family]
  if off:
    assert _rel(model.clone(**off).apply(v, toks), y_ref) > 1e-3


@pytest.mark.parametrize("family", FAMILIES)
def test_greedy_tokens_match_transformers(family, tmp_path):
  """Prompt 7 + 12 new tokens: past Mistral's window and Llama 3's original context, so the cache's masks count."""
  ref = _reference(family)
  ref.save_pretrained(tmp_path / "hf")
  model, v = zoo.load_pretrained(tmp_path / "hf")
  prompt = _tokens((3, 7), seed=1)
  ref.generation_config.eos_token_id = None  # no stop (min_new_tokens would instead forbid the eos id: a difference)
  with torch.no_grad():
    want = ref.generate(
      torch.tensor(prompt), attention_mask=torch.ones(3, 7, dtype=torch.long), do_sample=False, max_new_tokens=12,
      pad_token_id=0,
    ).numpy()  # fmt: skip
  got = zoo.generate(model, v, prompt, 12)
  assert got.shape == want.shape == (3, 19)
  np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("family", FAMILIES)
def test_saved_folder_loads_in_transformers_with_the_same_logits(family, tmp_path):
  ref = _reference(family)
  ref.save_pretrained(tmp_path / "hf")
  model, v = zoo.load_pretrained(tmp_path / "hf")
  zoo.save_pretrained(model, v, tmp_path / "out")
  config = json.loads((tmp_path / "out" / "config.json").read_text())
  assert config["model_type"] == family
  ref2 = transformers.AutoModelForCausalLM.from_pretrained(tmp_path / "out").eval()
  assert type(ref2) is type(ref)
  want = {k: t for k, t in ref.state_dict().items()}
  got = ref2.state_dict()
  assert set(got) == set(want) and all(torch.equal(got[k], want[k]) for k in want)
  toks = _tokens()
  assert np.array_equal(_logits(ref2, toks), _logits(ref, toks))


@pytest.mark.parametrize("family", FAMILIES)
def test_zoo_folder_zoo_round_trip_is_bit_for_bit(family, tmp_path):
  """A zoo model (its own init, norms perturbed) out and back: one file, shards with an index, scan_layers; bf16
  written and read back equals the bf16 rounding of the weights."""
  ref = _reference(family)
  ref.save_pretrained(tmp_path / "hf")
  model, _ = zoo.load_pretrained(tmp_path / "hf")
  v = model.init(jax.random.key(0), _tokens((1, 5)))
  v = jax.tree.map(lambda a: np.asarray(a) + np.float32(0.01) * np.arange(a.size, dtype=np.float32).reshape(a.shape), v)
  zoo.save_pretrained(model, v, tmp_path / "one")
  _same_bits(zoo.load_pretrained(tmp_path / "one")[1], v)
  zoo.save_pretrained(model, v, tmp_path / "sharded", max_shard_bytes=20_000)
  assert len(list((tmp_path / "sharded").glob("model-*-of-*.safetensors"))) > 1
  _same_bits(zoo.load_pretrained(tmp_path / "sharded")[1], v)
  scanned, vs = zoo.load_pretrained(tmp_path / "sharded", scan_layers=True)
  assert scanned.scan_layers and vs["params"]["layers"]["q_proj"]["kernel"].shape[0] == 3
  zoo.save_pretrained(scanned, vs, tmp_path / "from_scan")
  _same_bits(zoo.load_pretrained(tmp_path / "from_scan")[1], v)
  toks = _tokens()
  np.testing.assert_allclose(scanned.apply(vs, toks), model.apply(v, toks), rtol=1e-5, atol=1e-5)
  zoo.save_pretrained(model, v, tmp_path / "bf16", dtype="bfloat16")
  ref_bf16 = transformers.AutoModelForCausalLM.from_pretrained(tmp_path / "bf16")
  assert next(ref_bf16.parameters()).dtype == torch.bfloat16
  rounded = jax.tree.map(lambda a: np.asarray(a).astype(jax.numpy.bfloat16).astype(np.float32), v)
  _same_bits(zoo.load_pretrained(tmp_path / "bf16")[1], rounded)


def test_an_unsupported_folder_is_one_error_naming_what(tmp_path):
  cfg = transformers.LlamaConfig(vocab_size=V, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                                 intermediate_size=24, mlp_bias=True)  # fmt: skip
  transformers.LlamaForCausalLM(cfg).save_pretrained(tmp_path / "mlp_bias")
  with pytest.raises(ValueError, match="mlp_bias"):
    zoo.load_pretrained(tmp_path / "mlp_bias")
  ref = _reference("llama")
  ref.save_pretrained(tmp_path / "hf")
  config = json.loads((tmp_path / "hf" / "config.json").read_text())
  (tmp_path / "hf" / "config.json").write_text(json.dumps({**config, "intermediate_size": 70}))
  with pytest.raises(ValueError, match=r"does not fit: .*mlp\.down_proj\.weight"):
    zoo.load_pretrained(tmp_path / "hf")


@pytest.mark.parametrize("name", ["llama3_2_1b", "llama3_1_8b", "qwen2_5_0_5b", "qwen3_0_6b", "mistral_7b"])
def test_reference_counts_equal_transformers_on_the_meta_device(name):
  """The registered config written as config.json, built by transformers without memory: the same count, the
  published one."""
  hf = huggingface_configs.hf_config(zoo.resolve(name))
  cfg = transformers.AutoConfig.for_model(**hf)
  with torch.device("meta"):
    ref = transformers.AutoModelForCausalLM.from_config(cfg)
  n_ref = sum(p.numel() for p in ref.parameters())  # a tied lm_head is one parameter, counted once
  assert n_ref == zoo.count_params(name) == zoo.spec(name).reference_params
