"""Every zoo model at a tiny size: output shapes, jit equals no-jit, finite non-zero gradients for every param."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from scalezoo import zoo

B = 2
VGG = dict(image_size=32, width=4, hidden=16, pool_size=2, num_classes=10, depth=11)  # the layouts differ in counts
RESNET = dict(image_size=32, width=4, num_classes=10, stage_sizes=(1, 1, 1, 1))
CIFAR = dict(image_size=8, width=4, depth=8)
RNN = dict(seq_len=6, vocab=11, hidden=8, embed_dim=4)
GPT = dict(vocab=13, context=8, d_model=16, n_layers=2, n_heads=2, dropout=0.1)
LLAMA = dict(vocab=13, context=8, d_model=16, n_layers=2, n_heads=4, n_kv_heads=2, head_dim=6, d_ff=24)
BERT = dict(vocab=17, max_len=16, d_model=16, n_layers=1, n_heads=2, d_ff=32, seq_len=8)
VIT = dict(image_size=16, patch=8, d_model=16, n_layers=1, n_heads=2, mlp_dim=32, num_classes=10, dropout=0.1)
UNET = dict(image_size=8, ch=8, num_res_blocks=1, groups=4)
GRAPH = dict(num_nodes=6, in_features=5, num_outputs=3)

# id -> (model name, tiny overrides, output shape(s)); equal tiny models share one compiled program
CASES = {
  "mlp": ("mlp", dict(width=8, batch_norm=True, dropout=0.5), (B, 10)),
  "lenet5": ("lenet5", {}, (B, 10)),
  **{n: (n, VGG, (B, 10)) for n in ("vgg11", "vgg16", "vgg11_bn", "vgg16_bn")},
  **{n: (n, RESNET, (B, 10)) for n in ("resnet18", "resnet34", "resnet50", "resnet101", "resnet152")},
  **{n: (n, CIFAR, (B, 10)) for n in ("resnet_cifar", "resnet20", "resnet56", "plain20", "plain56")},
  "resnet_cifar_B": ("resnet_cifar", {**CIFAR, "shortcut": "B"}, (B, 10)),
  "efficientnet_b0": (
    "efficientnet_b0",
    dict(image_size=32, width_mult=0.25, depth_mult=0.25, num_classes=10),
    (B, 10),
  ),
  "rnn": ("rnn", RNN, (B, 6, 11)),
  "lstm": ("lstm", {**RNN, "n_layers": 2, "dropout": 0.5}, (B, 6, 11)),
  "lstm_classify": ("lstm", {**RNN, "head": "classify", "num_outputs": 3}, (B, 3)),
  "gru_float": ("gru", dict(seq_len=6, vocab=0, in_features=3, hidden=8, num_outputs=2), (B, 6, 2)),
  "gpt": ("gpt", GPT, (B, 8, 13)),
  "gpt_scan": ("gpt", {**GPT, "scan_layers": True}, (B, 8, 13)),
  "gpt2_small": ("gpt2_small", GPT, (B, 8, 13)),
  "llama": ("llama", LLAMA, (B, 8, 13)),
  "llama_scan": ("llama", {**LLAMA, "scan_layers": True, "remat": True}, (B, 8, 13)),
  "llama_moe": ("llama_moe", {**LLAMA, "n_experts": 3, "top_k": 2, "n_shared_experts": 1}, (B, 8, 13)),
  **{n: (n, LLAMA, (B, 8, 13)) for n in ("llama3_2_1b", "llama3_1_8b", "qwen2_5_0_5b", "qwen3_0_6b")},
  "mistral_7b": ("mistral_7b", {**LLAMA, "sliding_window": 3}, (B, 8, 13)),
  "transformer_base": (
    "transformer_base",
    dict(vocab=17, d_model=16, n_layers=1, n_heads=2, d_ff=32, src_len=7, tgt_len=5),
    (B, 5, 17),
  ),
  "bert_base": ("bert_base", BERT, ((B, 8, 16), (B, 16))),
  "bert": ("bert", BERT, (B, 8, 17)),
  **{n: (n, VIT, (B, 10)) for n in ("vit_ti16", "vit_s16", "vit_b16")},
  "dcgan_generator": ("dcgan_generator", dict(latent=8, image_size=8, channels=1, features=4), (B, 8, 8, 1)),
  "dcgan_discriminator": ("dcgan_discriminator", dict(image_size=16, channels=1, features=4), (B,)),
  "autoencoder": ("autoencoder", dict(shape=(8, 8, 1), hidden=(16,), latent=4), (B, 8, 8, 1)),
  "vae": ("vae", dict(shape=(8, 8, 1), hidden=(16,), latent=4), ((B, 8, 8, 1), (B, 4), (B, 4))),
  "ddpm_unet_cifar10": ("ddpm_unet_cifar10", {**UNET, "ch_mult": (1,), "attn_resolutions": (8,)}, (B, 8, 8, 3)),
  "ddpm_unet": ("ddpm_unet", {**UNET, "ch_mult": (1, 2), "attn_resolutions": (4,)}, (B, 8, 8, 1)),
  "gcn": ("gcn", GRAPH, (B, 6, 3)),
  "gcn_mean": ("gcn", {**GRAPH, "readout": "mean"}, (B, 3)),
  "gat": ("gat", {**GRAPH, "heads": 2}, (B, 6, 3)),
  "gin": ("gin", dict(num_nodes=6, in_features=5, hidden=(8, 8)), (B, 2)),
  "gin_nodes": ("gin", dict(num_nodes=6, in_features=5, hidden=(8,), readout="none", num_outputs=3), (B, 6, 3)),
}
RNGS = {"params": jax.random.key(0), "dropout": jax.random.key(1), "noise": jax.random.key(2)}


def fake(abstract, rng, high=None):
  """numpy values in place of jax.random ones: each threefry compile costs up to a second on a loaded CPU."""
  if jnp.issubdtype(abstract.dtype, jnp.integer):
    return jnp.asarray(rng.integers(0, high, abstract.shape), abstract.dtype)
  return jnp.asarray(rng.normal(size=abstract.shape), abstract.dtype)


@functools.cache
def setup(case):
  """(model, variables, inputs): random params of the init's shapes, without running the initialisers."""
  name, overrides, _ = CASES[case]
  cfg, rng = zoo.resolve(name, **overrides), np.random.default_rng(0)
  model = zoo.create(name, **overrides)
  abstract_xs = jax.eval_shape(lambda: zoo.example_input(name, B, **overrides))
  xs = [fake(a, rng, cfg.get("vocab") or cfg.get("timesteps")) for a in abstract_xs]
  if zoo.spec(name).family == "gnn":  # a symmetric 0/1 adjacency
    upper = np.triu(rng.random((B, cfg["num_nodes"], cfg["num_nodes"])) > 0.6, 1)
    xs[1] = jnp.asarray(upper | upper.transpose(0, 2, 1), jnp.float32)

  def value(path, a):
    key = jax.tree_util.keystr(path)
    if "batch_stats" in key:
      return jnp.asarray(np.ones(a.shape, a.dtype) if key.endswith("['var']") else np.zeros(a.shape, a.dtype))
    std = 1.0 / np.sqrt(np.prod(a.shape[:-1])) if a.ndim >= 2 else 0.1
    return jnp.asarray(rng.normal(size=a.shape) * std + (key.endswith("['scale']")), a.dtype)

  abstract_v = jax.eval_shape(lambda: model.init(RNGS, *xs))
  return model, jax.tree_util.tree_map_with_path(value, abstract_v), tuple(xs)


_COMPILED = {}


def fast_jit(fn, model, *args):
  """fn(model, *args), compiled once per (fn, model, argument shapes) and without LLVM's optimisations: these
  programs are tiny and XLA's compile time dominates the suite."""
  key = (fn, model, str(jax.tree.map(lambda a: (a.shape, a.dtype), args)))
  if key not in _COMPILED:
    lowered = jax.jit(fn, static_argnums=0).lower(model, *args)
    _COMPILED[key] = lowered.compile({"xla_backend_optimization_level": 0})
  return _COMPILED[key](*args)


def leaves(tree):
  return jax.tree_util.tree_leaves(tree)


def loss_and_grad(model, v, xs):
  def loss(params):
    y = model.apply({**v, "params": params}, *xs)
    return sum(jnp.mean(jnp.sin(3.0 * a) + a**2) for a in leaves(y)), y

  return jax.value_and_grad(loss, has_aux=True)(v["params"])


def run_eval(model, v, xs, key):
  return model.apply(v, *xs, train=False, rngs={"dropout": key, "noise": key})


def run_train(model, v, xs, key):
  return model.apply(v, *xs, train=True, rngs={"dropout": key, "noise": key}, mutable=["batch_stats"])


def test_every_model_has_a_tiny_case():
  assert set(zoo.names()) <= {name for name, _, _ in CASES.values()}


@pytest.mark.parametrize("case", CASES)
def test_output_shapes_and_gradients_finite_and_nonzero(case):
  model, v, xs = setup(case)
  shape = CASES[case][2]
  (_, y), grads = jax.device_get(fast_jit(loss_and_grad, model, v, xs))  # numpy: checks compile nothing
  assert [a.shape for a in leaves(y)] == ([shape] if isinstance(shape[0], int) else list(shape))
  assert all(a.dtype == np.float32 and np.isfinite(a).all() for a in leaves(y))
  for path, g in jax.tree_util.tree_leaves_with_path(grads):
    assert np.isfinite(g).all(), f"non-finite gradient at {jax.tree_util.keystr(path)}"
    assert np.any(g != 0), f"zero gradient at {jax.tree_util.keystr(path)}"


# op-by-op execution compiles every op, so a few representatives
@pytest.mark.parametrize("case", ["lenet5", "gpt", "vae"])
def test_jit_equals_nojit(case):
  model, v, xs = setup(case)
  y, y_jit = model.apply(v, *xs), jax.jit(model.apply)(v, *xs)
  for a, b in zip(leaves(y), leaves(y_jit), strict=True):
    np.testing.assert_allclose(a, b, rtol=2e-5, atol=2e-5)


@pytest.mark.parametrize("case", ["mlp", "lstm", "gpt", "transformer_base", "vit_ti16", "ddpm_unet_cifar10", "gat"])
def test_dropout_only_in_train_mode(case):
  model, v, xs = setup(case)
  k1, k2 = jax.random.key(1), jax.random.key(2)
  for a, b in zip(leaves(fast_jit(run_eval, model, v, xs, k1)), leaves(fast_jit(run_eval, model, v, xs, k2))):
    np.testing.assert_array_equal(a, b)
  y1, y2 = fast_jit(run_train, model, v, xs, k1)[0], fast_jit(run_train, model, v, xs, k2)[0]
  assert any(not np.allclose(a, b) for a, b in zip(leaves(y1), leaves(y2), strict=True))


@pytest.mark.parametrize("case", ["mlp", "resnet_cifar_B", "dcgan_generator", "gin"])
def test_batch_stats_update_in_train_mode_only(case):
  model, v, xs = setup(case)
  key = jax.random.key(0)
  eval_stats = jax.jit(lambda v: model.apply(v, *xs, rngs={"dropout": key}, mutable=["batch_stats"])[1])(v)
  train_stats = fast_jit(run_train, model, v, xs, key)[1]
  before = leaves(v["batch_stats"])
  assert all(np.array_equal(a, b) for a, b in zip(before, leaves(eval_stats["batch_stats"]), strict=True))
  assert all(not np.allclose(a, b) for a, b in zip(before, leaves(train_stats["batch_stats"]), strict=True))


def position_jacobian(model, v, xs):
  def per_position(wpe):  # d(logits at t) / d(position embedding s)
    return jnp.sum(model.apply({**v, "params": {**v["params"], "wpe": wpe}}, *xs) ** 2, axis=(0, 2))

  return jax.jacrev(per_position)(v["params"]["wpe"])


@pytest.mark.parametrize("case", ["gpt", "gpt_scan", "gpt2_small"])
def test_gpt_is_causal(case):
  model, v, xs = setup(case)
  L = xs[0].shape[1]
  jac_LxCxD = fast_jit(position_jacobian, model, v, xs)
  depends_LxL = np.any(np.asarray(jac_LxCxD)[:, :L] != 0, axis=-1)
  np.testing.assert_array_equal(depends_LxL, np.tril(np.ones((L, L), bool)))


def test_recurrent_lm_is_causal():
  model, v, (x,) = setup("gru_float")
  jac = jax.jit(jax.jacrev(lambda x: jnp.sum(model.apply(v, x) ** 2, axis=(0, 2))))(x)  # L x B x L x F
  depends_LxL = np.any(np.asarray(jac) != 0, axis=(1, 3))
  np.testing.assert_array_equal(depends_LxL, np.tril(np.ones(depends_LxL.shape, bool)))


@pytest.mark.parametrize("case", ["transformer_base", "lstm"])
def test_changing_a_future_token_leaves_the_past_alone(case):
  model, v, xs = setup(case)
  *src, tgt = xs
  t = tgt.shape[1] // 2
  changed = tgt.at[:, t].set((tgt[:, t] + 1) % CASES[case][1]["vocab"])
  run = jax.jit(lambda tgt: model.apply(v, *src, tgt))
  y, y_changed = run(tgt), run(changed)
  np.testing.assert_array_equal(y[:, :t], y_changed[:, :t])
  assert not np.allclose(y[:, t:], y_changed[:, t:])


def test_vae_samples_from_the_noise_stream_and_uses_the_mean_in_eval():
  model, v, xs = setup("vae")
  recon_eval, mean, _ = model.apply(v, *xs)
  np.testing.assert_allclose(recon_eval, model.apply(v, mean, method="decode"), rtol=1e-6, atol=1e-6)
  r1 = model.apply(v, *xs, train=True, rngs={"noise": jax.random.key(1)})[0]
  r2 = model.apply(v, *xs, train=True, rngs={"noise": jax.random.key(2)})[0]
  assert not np.allclose(r1, r2)


def test_gpt_compute_dtype_keeps_params_and_logits_f32():
  overrides = {**GPT, "dtype": "bfloat16"}
  model = zoo.create("gpt", **overrides)
  (x,) = jax.eval_shape(lambda: zoo.example_input("gpt", B, **overrides))
  v = jax.eval_shape(lambda: model.init(RNGS, jnp.zeros(x.shape, x.dtype)))
  assert {a.dtype for a in leaves(v)} == {jnp.dtype(jnp.float32)}
  assert jax.eval_shape(model.apply, v, x).dtype == jnp.float32
