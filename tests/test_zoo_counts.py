"""Parameter counts of every reference config (abstract shapes only, so 138M costs nothing) and the registry's data."""

import functools

import jax
import jax.numpy as jnp
import pytest

from scalezoo import zoo
from scalezoo.zoo import gpt as gpt_module
from scalezoo.zoo import transformer as transformer_module

REFERENCED = [n for n in zoo.names() if zoo.spec(n).reference_params is not None]
TASKS = {
  "classification",
  "lm",
  "seq2seq",
  "mlm",
  "generative",
  "node_classification",
  "graph_classification",
  "regression",
}

REQUIRED = [
  "lenet5",
  "vgg11",
  "vgg16",
  "vgg11_bn",
  "vgg16_bn",
  "resnet18",
  "resnet34",
  "resnet50",
  "resnet20",
  "resnet56",
  "plain20",
  "plain56",
  "resnet_cifar",
  "efficientnet_b0",
  "rnn",
  "lstm",
  "gru",
  "transformer_base",
  "gpt2_small",
  "gpt",
  "bert_base",
  "vit_ti16",
  "vit_s16",
  "vit_b16",
  "dcgan_generator",
  "dcgan_discriminator",
  "autoencoder",
  "vae",
  "ddpm_unet_cifar10",
  "ddpm_unet",
  "gcn",
  "gat",
  "gin",
  "llama",
  "llama3_2_1b",
  "llama3_1_8b",
  "qwen2_5_0_5b",
  "qwen3_0_6b",
  "mistral_7b",
]


@functools.cache
def _params(name):
  """zoo.abstract_variables(name)["params"], with the example inputs traced too: under eval_shape nothing is
  compiled, and each jax.random call would otherwise compile (up to a second each on a loaded CPU)."""
  out = {}

  def f():
    out["params"] = zoo.abstract_variables(name)["params"]
    return jnp.zeros(())

  jax.eval_shape(f)
  return out["params"]


def _count(name):
  return sum(x.size for x in jax.tree_util.tree_leaves(_params(name)))


def test_every_required_model_is_registered():
  assert not set(REQUIRED) - set(zoo.names())


@pytest.mark.parametrize("name", ["lenet5", "gpt2_small"])
def test_count_params_directly(name):
  assert zoo.count_params(name) == zoo.spec(name).reference_params


@pytest.mark.parametrize("name", REFERENCED)
def test_reference_count(name):
  assert _count(name) == zoo.spec(name).reference_params


@pytest.mark.parametrize(
  "name, published",
  [
    ("vgg11", 132_863_336),
    ("vgg16", 138_357_544),
    ("vgg11_bn", 132_868_840),
    ("vgg16_bn", 138_365_992),
    ("resnet18", 11_689_512),
    ("resnet34", 21_797_672),
    ("resnet50", 25_557_032),
    ("resnet20", 269_722),
    ("resnet56", 853_018),
    ("plain20", 269_722),
    ("plain56", 853_018),
    ("efficientnet_b0", 5_288_548),
    ("gpt2_small", 124_439_808),
    ("bert_base", 109_482_240),
    ("vit_ti16", 5_717_416),
    ("vit_s16", 22_050_664),
    ("vit_b16", 86_567_656),
    ("lenet5", 61_706),
    # the Hugging Face hub's safetensors totals (tests/test_llama_reference.py counts them in transformers too)
    ("llama3_2_1b", 1_235_814_400),
    ("llama3_1_8b", 8_030_261_248),
    ("qwen2_5_0_5b", 494_032_768),
    ("qwen3_0_6b", 596_049_920),
    ("mistral_7b", 7_241_732_096),
  ],
)
def test_published_counts_are_the_registered_ones(name, published):
  # guards the registry's reference_params against edits: these are torchvision / HF / paper numbers
  assert zoo.spec(name).reference_params == published


def test_counts_quoted_in_millions():
  assert round(_count("ddpm_unet_cifar10") / 1e6, 1) == 35.7  # Ho et al. 2020
  # Vaswani et al. say 65M; 37,000 tokens x 512 tied plus 6+6 layers is 63.1M (see transformer.py)
  assert round(_count("transformer_base") / 1e6, 1) == 63.1


def test_transformer_base_docstring_states_the_exact_count():
  assert f"{_count('transformer_base'):,}" in transformer_module.__doc__


@pytest.mark.parametrize("name", zoo.names())
def test_spec_metadata(name):
  s = zoo.spec(name)
  assert s.family and s.task in TASKS
  assert set(s.embedding) <= set(_params(name)), "embedding names must be top-level param subtrees"


def test_gpt_count_is_the_layer_arithmetic():
  V, C, D, L = 97, 64, 48, 3
  expected = V * D + C * D + L * (12 * D * D + 13 * D) + 2 * D
  assert zoo.count_params("gpt", vocab=V, context=C, d_model=D, n_layers=L, n_heads=4) == expected
  assert zoo.count_params("gpt", vocab=V, context=C, d_model=D, n_layers=L, n_heads=4, scan_layers=True) == expected
  split = zoo.count_params_split("gpt", vocab=V, context=C, d_model=D, n_layers=L, n_heads=4)
  emb = (V + C) * D
  assert split == {"all": expected, "embedding": emb, "non_embedding": expected - emb, "active": expected}  # dense


def test_gpt2_small_kaplan_split():
  split = zoo.count_params_split("gpt2_small")
  assert split["embedding"] == 50257 * 768 + 1024 * 768
  assert split["non_embedding"] == 124_439_808 - split["embedding"]


def test_gpt_family_accepts_size_overrides():
  assert zoo.create("gpt", d_model=128, n_layers=4).d_model == 128


@pytest.mark.parametrize("target", [3e5, 1e6, 1e7, 85e6, 1e9])
def test_gpt_shape_for_hits_the_target(target):
  shape = zoo.gpt_shape_for(target)
  D, L, H = shape["d_model"], shape["n_layers"], shape["n_heads"]
  assert D % H == 0 and D // H == 64
  assert 12 * L * D * D == pytest.approx(target, rel=0.35)
  assert zoo.gpt_shape_for(85e6) == dict(d_model=768, n_layers=12, n_heads=12)  # GPT-2 small's shape
  assert gpt_module.gpt_shape_for is zoo.gpt_shape_for


def test_gpt_shape_for_rejects_nonsense():
  with pytest.raises(ValueError, match="positive"):
    zoo.gpt_shape_for(0)


def test_the_catalog_table_is_every_model_traced():
  """zoo/catalog.json (what `scalezoo models` prints) against eval_shape: `python -m scalezoo.zoo.catalog` fixes it."""
  from scalezoo.zoo import catalog

  table, fix = catalog.load(), "stale: `python -m scalezoo.zoo.catalog` rewrites zoo/catalog.json"
  assert sorted(table) == zoo.names(), fix
  for name in zoo.names():
    s = zoo.spec(name)
    shapes = ["x".join(map(str, x[1:])) for x in catalog.input_shapes(name)]
    want = {"family": s.family, "task": s.task, "params": _count(name), "inputs": shapes}
    assert table[name] == want, f"{name}: {fix}"
