"""zoo/moe.py: the dropless routed feed-forward against every expert run on every token and masked, on odd sizes;
routers, capacity, the losses, the bias; the Llama options and counts; the losses reaching a train step, a tiny run."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from scalezoo import zoo
from scalezoo.train import config, loop
from scalezoo.train import step as S
from scalezoo.zoo import moe


def reference(x_TxD, idx_TxK, w_TxK, wg, wu, wd, keep_TxK=None):
  """Every expert on every token (T x E x D), weighted by a dense T x E combine matrix: 0 where not chosen."""
  T, E = x_TxD.shape[0], wg.shape[0]
  keep_TxK = jnp.ones(idx_TxK.shape) if keep_TxK is None else keep_TxK
  combine_TxE = jnp.zeros((T, E)).at[jnp.arange(T)[:, None], idx_TxK].add(w_TxK * keep_TxK)
  h_TxExF = jax.nn.silu(jnp.einsum("td,edf->tef", x_TxD, wg)) * jnp.einsum("td,edf->tef", x_TxD, wu)
  return jnp.einsum("tef,efd,te->td", h_TxExF, wd, combine_TxE)


def weights(E, D, F, seed=0):
  k = jax.random.split(jax.random.key(seed), 3)
  return (
    jax.random.normal(k[0], (E, D, F)) / D**0.5,
    jax.random.normal(k[1], (E, D, F)) / D**0.5,
    jax.random.normal(k[2], (E, F, D)) / F**0.5,
  )


def choices(T, E, K, seed=1, used=None):
  """K distinct experts per token (from `used` only, when given) and positive weights."""
  used = np.arange(E) if used is None else np.asarray(used)
  rng = np.random.default_rng(seed)
  idx = np.stack([rng.choice(used, K, replace=False) for _ in range(T)]).astype(np.int32)
  return jnp.asarray(idx), jnp.asarray(rng.uniform(0.1, 1.0, (T, K)), jnp.float32)


@pytest.mark.parametrize(
  "T, E, K, D, F, used", [(13, 5, 2, 6, 10, None), (7, 7, 3, 5, 9, [1, 4, 6]), (11, 4, 1, 3, 7, [2])]
)
def test_dropless_dispatch_is_the_masked_dense_reference_with_its_gradients(T, E, K, D, F, used):
  x = jax.random.normal(jax.random.key(2), (T, D))
  idx, w = choices(T, E, K, used=used)
  ws = weights(E, D, F)
  y, keep = moe.dispatch(x, idx, w, *ws)
  np.testing.assert_allclose(y, reference(x, idx, w, *ws), rtol=1e-5, atol=1e-5)
  assert float(keep.min()) == 1.0
  # ragged_dot's backward too: an unused expert gets a zero gradient, not another expert's
  f = lambda fn: jax.grad(
    lambda x, w, ws: jnp.sum(jnp.sin(fn(x, idx, w, *ws)[0] if fn is moe.dispatch else fn(x, idx, w, *ws))), (0, 1, 2)
  )
  got, want = f(moe.dispatch)(x, w, ws), f(reference)(x, w, ws)
  for a, b in zip(jax.tree.leaves(got), jax.tree.leaves(want)):
    np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)
  if used is not None:
    unused = np.setdiff1d(np.arange(E), used)
    assert all(float(jnp.abs(g[unused]).max()) == 0.0 for g in got[2])


def test_capacity_keeps_each_experts_first_assignments_in_token_order():
  T, E, K, D, F, C = 10, 3, 2, 4, 6, 4
  x = jax.random.normal(jax.random.key(3), (T, D))
  idx, w = choices(T, E, K, seed=5)
  ws = weights(E, D, F)
  seen, keep = np.zeros(E, int), np.zeros((T, K), np.float32)
  for t in range(T):  # Switch's rule: an expert takes tokens in order until it is full
    for j in range(K):
      e = int(idx[t, j])
      keep[t, j] = seen[e] < C
      seen[e] += 1
  assert 0 < keep.mean() < 1  # the case has drops
  y, got_keep = moe.dispatch(x, idx, w, *ws, capacity=C)
  np.testing.assert_array_equal(got_keep, keep)
  np.testing.assert_allclose(y, reference(x, idx, w, *ws, jnp.asarray(keep)), rtol=1e-5, atol=1e-5)


def layer(x, **routing):
  r = moe.Routing(**{"n_experts": 4, "top_k": 2, **routing})
  m = moe.MoE(r, d_ff=12)
  return m, m.init(jax.random.key(0), x)


def run(m, variables, x, mutable=("losses", "intermediates")):
  return m.apply(variables, x, mutable=list(mutable))


def test_a_layer_is_the_reference_with_its_routers_scores_as_weights():
  x = jax.random.normal(jax.random.key(4), (3, 5, 8))
  for router, renorm in (("softmax", True), ("sigmoid", False), ("sigmoid", True)):
    m, v = layer(x, router=router, renorm=renorm, top_k=3)
    p = v["params"]
    y, _ = run(m, v, x)
    logits = x.reshape(15, 8) @ p["router"]
    s = jax.nn.softmax(logits) if router == "softmax" else jax.nn.sigmoid(logits)
    w, idx = jax.lax.top_k(s, 3)
    w = w / w.sum(-1, keepdims=True) if renorm else w
    want = reference(x.reshape(15, 8), idx, w, p["expert_gate"], p["expert_up"], p["expert_down"])
    np.testing.assert_allclose(y.reshape(15, 8), want, rtol=1e-5, atol=1e-6)


def test_the_bias_shifts_the_choice_not_the_weights_and_moves_toward_balance():
  x = jax.random.normal(jax.random.key(5), (2, 9, 8))
  m, v = layer(x, bias_update_rate=0.01)
  assert v["router_bias"]["bias"].shape == (4,) and float(jnp.abs(v["router_bias"]["bias"]).max()) == 0.0
  bias = jnp.asarray([0.0, -10.0, 0.0, -10.0])  # experts 1 and 3 are never chosen (scores are in (0, 1))
  v = {"params": v["params"], "router_bias": {"bias": bias}}
  y, st = run(m, v, x, ("losses", "intermediates", "router_bias"))
  load = st["intermediates"]["load"][0]
  np.testing.assert_allclose(load, [0.5, 0.0, 0.5, 0.0])
  p = v["params"]
  s = jax.nn.softmax(x.reshape(18, 8) @ p["router"])
  idx = jnp.tile(jnp.asarray([[0, 2]]), (18, 1))
  w = jnp.take_along_axis(s, idx, -1)
  w = w / w.sum(-1, keepdims=True)  # the scores of the experts the bias left, not the biased scores
  want = reference(x.reshape(18, 8), idx, w, p["expert_gate"], p["expert_up"], p["expert_down"])
  np.testing.assert_allclose(y.reshape(18, 8), want, rtol=1e-5, atol=1e-6)
  # DeepSeek-V3's update: overloaded experts down by γ, idle ones up by γ
  np.testing.assert_allclose(st["router_bias"]["bias"] - bias, [-0.01, 0.01, -0.01, 0.01], atol=1e-6)
  _, st_eval = run(m, v, x, ("losses",))  # not mutable (evaluation): no update, no error
  assert "router_bias" not in st_eval


def test_balancing_and_z_losses_at_a_uniform_router():
  x = jax.random.normal(jax.random.key(6), (2, 7, 8))
  m, v = layer(x, n_experts=5, top_k=2, granularity=2, aux_loss_coef=0.3, router_z_loss_coef=0.07)
  v = {"params": {**v["params"], "router": jnp.zeros((8, 10))}}  # P_e = 1/E: E · Σ f_e / E = 1 whatever f is
  _, st = run(m, v, x)
  np.testing.assert_allclose(st["losses"]["aux"][0], 0.3 * 1.0 + 0.07 * math.log(10) ** 2, rtol=1e-6)
  # a router that sends everything to one expert with probability ~1: E · 1 · 1 = E
  x_pos = jnp.abs(x) + 0.1
  m, _ = layer(x_pos, n_experts=5, top_k=1, granularity=1, aux_loss_coef=1.0)
  v1 = m.init(jax.random.key(0), x_pos)
  v1 = {"params": {**v1["params"], "router": jnp.zeros((8, 5)).at[:, 0].set(1e3)}}
  _, st = run(m, v1, x_pos)
  np.testing.assert_allclose(st["losses"]["aux"][0], 5.0 + 0.001 * 0, rtol=1e-5)  # z-loss coefficient 0 here
  assert float(st["intermediates"]["dropped"][0]) == 0.0


def test_capacity_factor_reports_the_dropped_fraction():
  x = jnp.abs(jax.random.normal(jax.random.key(7), (2, 8, 8))) + 0.1
  m, v = layer(x, top_k=1, capacity_factor=1.0)
  v = {"params": {**v["params"], "router": jnp.zeros((8, 4)).at[:, 2].set(1e3)}}  # all 16 tokens want expert 2
  y, st = run(m, v, x)
  assert float(st["intermediates"]["dropped"][0]) == pytest.approx(1 - 4 / 16)  # capacity ceil(16 · 1 / 4) = 4
  assert float(jnp.abs(y[1]).max()) == 0.0 and float(jnp.abs(y[0, :4]).min()) > 0  # the first four tokens kept


def test_expert_stats_are_in_layer_order():
  one = lambda e: {"moe": {"load": (jnp.full((3,), e),), "dropped": (jnp.asarray(e),)}}
  sown = {f"layer_{i}": one(float(i)) for i in (10, 2, 9)}  # a dict's key order: layer_10 before layer_2
  got = moe.expert_stats(sown)
  np.testing.assert_array_equal(got["load"][:, 0], [2, 9, 10])
  np.testing.assert_array_equal(got["dropped"], [2, 9, 10])
  scanned = {"layers": {"moe": {"load": (jnp.ones((4, 3)),), "dropped": (jnp.zeros((4,)),)}}}
  assert moe.expert_stats(scanned)["load"].shape == (4, 3) and moe.expert_stats({}) == {}


def test_llama_options_counts_and_active_params():
  D, F, V, L, E, G, S, k = 16, 24, 64, 4, 3, 2, 1, 2
  args = dict(vocab=V, context=8, d_model=D, n_layers=L, n_heads=2, n_kv_heads=1, d_ff=F, n_experts=E, top_k=k)
  dense = zoo.count_params_split("llama", **{a: b for a, b in args.items() if a not in ("n_experts", "top_k")})
  got = zoo.count_params_split("llama", **args, granularity=G, n_shared_experts=S, moe_every=2)
  routed_layer = D * E * G + 3 * D * F * (E * G + S) // G  # router + routed and shared experts, replacing 3·D·F
  assert got["all"] == dense["all"] + 2 * (routed_layer - 3 * D * F)  # layers 1 and 3 of 4 are routed
  assert got["active"] == got["all"] - 2 * 3 * D * (F // G) * (E * G - k * G)
  assert dense["active"] == dense["all"]
  params = zoo.abstract_variables("llama", **args, moe_every=2)["params"]
  assert "moe" in params["layer_1"] and "gate_proj" in params["layer_0"] and "moe" not in params["layer_2"]
  assert params["layer_1"]["moe"]["expert_down"].shape == (E, F, D)
  with pytest.raises(ValueError, match="top_k must be in 1..n_experts"):
    zoo.count_params("llama", **{**args, "top_k": 4})
  with pytest.raises(ValueError, match="scan_layers stacks identical blocks"):
    zoo.count_params("llama", **args, moe_every=2, scan_layers=True)


def test_scanned_and_unrolled_moe_llamas_agree_and_sow_per_layer():
  args = dict(vocab=32, context=8, d_model=16, n_layers=2, n_heads=2, n_kv_heads=1, d_ff=12, n_experts=3)
  tokens = zoo.example_input("llama_moe", 2, **args)[0]
  flat = zoo.create("llama_moe", **args)
  scan = zoo.create("llama_moe", **args, scan_layers=True)
  v = flat.init(jax.random.key(0), tokens)
  assert set(v) == {"params"}  # nothing sown at init: it would be carried as model state and summed every step
  stacked = jax.tree.map(lambda *a: jnp.stack(a), v["params"]["layer_0"], v["params"]["layer_1"])
  vs = {"params": {**{k: p for k, p in v["params"].items() if not k.startswith("layer_")}, "layers": stacked}}
  (a, sa), (b, sb) = (m.apply(w, tokens, mutable=["losses"]) for m, w in ((flat, v), (scan, vs)))
  np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)
  assert len(jax.tree.leaves(sa)) == 2  # one per layer
  aux_flat = sum(float(x) for x in jax.tree.leaves(sa))
  aux_scan = float(jnp.sum(jax.tree.leaves(sb)[0]))  # one value per layer, stacked by the scan
  assert aux_flat > 0 and aux_flat == pytest.approx(aux_scan, rel=1e-5)


ARGS = dict(context=16, d_model=16, n_layers=2, n_heads=2, n_kv_heads=1, d_ff=40, n_experts=4, top_k=2)


def lm(steps=6, microbatches=1, **model_args):
  return config.parse(
    dict(
      model="llama_moe", data="pycode", steps=steps, batch_size=4, eval_examples=8, data_args={"context": 16},
      model_args={**ARGS, **model_args}, optimizer={"name": "adamw", "lr": 3e-3}, microbatches=microbatches,
    )
  )  # fmt: skip


def test_the_balancing_loss_is_added_to_the_loss_a_step_minimises():
  cfg0, cfg1 = lm(aux_loss_coef=0.0, router_z_loss_coef=0.0), lm(aux_loss_coef=1.0, router_z_loss_coef=0.5)
  split = loop.load_split(cfg0)
  arrays = {k: jnp.asarray(v) for k, v in split.train.items()}
  batch = S.gather(arrays, jnp.arange(4))
  eng0, eng1 = loop.make_engine(cfg0, split), loop.make_engine(cfg1, split)
  state = S.init_state(eng0, jax.random.key(0), arrays, 1e-3)
  _, m0 = S.train_step(eng0, state, batch, 1e-3, jax.random.key(1))
  _, m1 = S.train_step(eng1, state, batch, 1e-3, jax.random.key(1))
  aux = S.apply_model(eng1, state.params, state.model_state, batch, train=True)[2].aux
  _, sown = eng1.model.apply({"params": state.params}, batch["x"], mutable=["losses"])
  assert float(aux) > 1.0  # two routed layers, each at least about 1 (a balanced router's value) + z-loss
  np.testing.assert_allclose(aux, sum(jax.tree.leaves(sown)), rtol=1e-6)
  np.testing.assert_allclose(m1["loss"] - m0["loss"], aux, rtol=1e-4)
  assert m1["expert_load"].shape == (2, 4) and np.allclose(m1["expert_load"].sum(-1), 1.0)  # layers x experts
  np.testing.assert_array_equal(m1["expert_dropped"], [0.0, 0.0])  # dropless
  # a capacity drops assignments; microbatches average their pieces' statistics
  cap = lm(capacity_factor=0.5, microbatches=2)
  _, m2 = S.train_step(loop.make_engine(cap, split), state, batch, 1e-3, jax.random.key(1))
  assert m2["expert_load"].shape == (2, 4) and np.all(m2["expert_dropped"] >= 0.5 - 1e-6)  # at most half kept
  assert S.apply_model(eng1, state.params, state.model_state, batch, train=False)[2].aux == 0.0  # evaluation: none


def test_a_tiny_moe_llama_trains_on_pycode_and_records_its_active_params():
  cfg = lm(bias_update_rate=1e-3)
  trained = loop.fit(cfg)
  rec = trained.record.to_dict()
  assert rec["status"] == "finished"
  val = rec["curve"]["val_loss"]
  assert val[-1] < val[0] - 0.1, val
  counts = zoo.count_params_split("llama_moe", **rec["model_args"])
  assert rec["params"] == counts["all"] and rec["params_active"] == counts["active"] < counts["all"]
  load = rec["expert_load"]  # per routed layer: 2 here
  assert len(load["busiest"]) == len(load["idlest"]) == 2 and load["dropped"] == [0.0, 0.0]
  assert all(lo <= 1 / 4 <= hi <= 1 for lo, hi in zip(load["idlest"], load["busiest"]))
  assert "expert_load" not in loop.fit(lm(n_experts=0, steps=1)).record.to_dict()  # a dense run has none
  bias = trained.state.model_state["router_bias"]  # carried by the engine as model state and updated each step
  assert all(float(jnp.abs(b).max()) > 0 for b in jax.tree.leaves(bias))


def test_a_mesh_run_equals_one_device():
  """fsdp splits the experts' model width, tensor their hidden units; the routed layers' losses stay the same."""
  kw = dict(n_kv_heads=2, steps=2)
  one = loop.fit(lm(**kw)).record.to_dict()
  cfg = config.parse({**lm(**kw).to_dict(), "mesh": {"fsdp": 2, "tensor": 2}})
  split = loop.fit(cfg).record.to_dict()
  np.testing.assert_allclose(split["curve"]["train_loss"], one["curve"]["train_loss"], rtol=1e-5)
  np.testing.assert_allclose(split["expert_load"]["busiest"], one["expert_load"]["busiest"])


def test_hugging_face_folders_refuse_a_mixture_in_one_line(tmp_path):
  args = dict(vocab=32, context=8, d_model=16, n_layers=1, n_heads=2, d_ff=12, n_experts=3)
  model = zoo.create("llama_moe", **args)
  v = model.init(jax.random.key(0), zoo.example_input("llama_moe", 1, **args)[0])
  with pytest.raises(ValueError, match="n_experts = 3: a mixture of experts has no Hugging Face map yet"):
    zoo.save_pretrained(model, v, tmp_path / "hf")
  assert not (tmp_path / "hf").exists()


def test_mup_treats_experts_as_hidden_matrices_and_the_router_as_a_readout():
  from scalezoo.zoo import mup

  args = dict(vocab=32, context=8, d_model=16, n_layers=1, n_heads=2, d_ff=12, n_experts=3, n_shared_experts=1)
  roles = mup.roles(zoo.abstract_variables("llama_moe", **args)["params"])
  assert {p: r for p, r in roles.items() if "/moe/" in p} == {
    **{f"layer_0/moe/expert_{m}": "hidden" for m in ("gate", "up", "down")},
    **{f"layer_0/moe/shared/{m}_proj/kernel": "hidden" for m in ("gate", "up", "down")},
    "layer_0/moe/router": "vector",
  }
  assert mup.make("llama_moe", {**args, "d_model": 32, "d_ff": 24}, {"d_model": 16}).ratio == 2.0


def test_a_checkpoints_run_status_keeps_its_expert_load():
  from scalezoo.train.status import RunStatus

  run = RunStatus.start(lm())
  run.add_expert_load(np.asarray([[[0.5, 0.25, 0.25, 0.0]], [[0.25, 0.25, 0.25, 0.25]]]), np.asarray([[0.0], [0.5]]))
  assert run.expert_load == {"busiest": [0.375], "idlest": [0.125], "dropped": [0.25]}  # the steps' means
  meta, curve = run.meta()
  assert RunStatus.from_meta(meta, curve).expert_load == run.expert_load
  del meta["expert_load"]  # a checkpoint from before the field
  assert RunStatus.from_meta(meta, curve).expert_load is None
