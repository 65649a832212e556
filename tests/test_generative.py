"""recipes.generative and recipes.mlm at tiny sizes: losses fall, runs repeat bit for bit, samplers give images."""

import jax
import numpy as np
import pytest

from scalezoo.train.recipes import generative as G
from scalezoo.train.recipes import mlm


def _images(n=64, size=8, seed=0):
  """Bright squares at random places: an easy distribution."""
  rng = np.random.default_rng(seed)
  x = np.zeros((n, size, size, 1), np.float32)
  for i, (r, c) in enumerate(rng.integers(0, size - 3, (n, 2))):
    x[i, r : r + 3, c : c + 3] = 1.0
  return x


TINY = {
  "vae": lambda: G.vae({"shape": (8, 8, 1), "hidden": (32,), "latent": 4}, lr=3e-3),
  "gan": lambda: G.gan({"image_size": 8, "channels": 1, "latent": 8, "features": 8}),
  "ddpm": lambda: G.ddpm(
    {
      "image_size": 8,
      "in_channels": 1,
      "timesteps": 20,
      "ch": 8,
      "ch_mult": (1,),
      "num_res_blocks": 1,
      "attn_resolutions": (),
      "groups": 4,
    },
    lr=3e-3,
  ),
}


MARKS = {"ddpm": pytest.mark.slow, "gan": pytest.mark.long}  # gan: two networks, trained twice


@pytest.mark.parametrize("kind", [pytest.param(k, marks=MARKS[k]) if k in MARKS else k for k in sorted(TINY)])
def test_trains_deterministically_and_samples(kind):
  x = _images()
  run = lambda: G.fit(TINY[kind](), x, x[:32], steps=30, batch_size=16, seed=1, chunk=10, n_samples=6, mmd_real=x)
  _, a = run()
  _, b = run()
  assert a["samples_after"].shape == (6, 8, 8, 1)
  assert np.all((a["samples_after"] >= 0) & (a["samples_after"] <= 1))
  assert a["curve"]["step"] == [10, 20, 30] and a["params"] > 0
  for key in a["metrics_after"]:
    assert a["metrics_after"][key] == b["metrics_after"][key]  # bit for bit
  np.testing.assert_array_equal(a["samples_after"], b["samples_after"])
  if kind == "vae":
    assert a["metrics_after"]["neg_elbo"] < 0.8 * a["metrics_before"]["neg_elbo"]
  if kind == "ddpm":
    assert a["metrics_after"]["noise_mse"] < a["metrics_before"]["noise_mse"]
  if kind == "gan":  # two losses that move; sample quality is the driver's business
    assert np.isfinite(a["curve"]["train_d_loss"]).all() and np.isfinite(a["curve"]["train_g_loss"]).all()


@pytest.mark.long  # a transformer trained for 40 steps
def test_mlm_corrupts_and_learns():
  x = np.tile(np.arange(32, 48, dtype=np.int32), (64, 2))  # a repeating byte pattern, 32 long
  inp, m = mlm.corrupt(jax.random.key(0), x, 0.5)
  assert set(np.unique(np.asarray(m))) <= {0.0, 1.0} and 0.3 < float(m.mean()) < 0.7
  assert np.all(np.asarray(inp)[np.asarray(m) == 0] == x[np.asarray(m) == 0])  # unchosen tokens stay
  rec = mlm.mlm(
    {"d_model": 32, "n_layers": 1, "n_heads": 2, "d_ff": 64, "max_len": 32, "dropout": 0.0}, lr=3e-3, warmup=5, steps=40
  )
  _, r = G.fit(rec, x, x[:16], steps=40, batch_size=16, chunk=20)
  assert r["metrics_after"]["masked_loss"] < 0.5 * r["metrics_before"]["masked_loss"]
  assert r["samples_after"] is None


def test_mmd_separates():
  x, y = _images(64, seed=1), _images(64, seed=2)
  bw = G.median_bandwidth(x.reshape(64, -1))
  same = G.mmd(x.reshape(64, -1), y.reshape(64, -1), bw)
  other = G.mmd(x.reshape(64, -1), np.random.default_rng(0).random((64, 64)), bw)
  assert abs(same) < 0.05 < other
