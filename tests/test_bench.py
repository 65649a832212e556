"""scalezoo bench: the PyTorch twins match our models, and the JSON has its schema. No timing assertions."""

import importlib.util
import json
import subprocess
import sys

import pytest

from scalezoo import zoo
from scalezoo.train.bench.driver import driver as bench

needs_torch = pytest.mark.skipif(importlib.util.find_spec("torch") is None, reason="torch not installed (make bench)")


def test_torch_is_not_imported_on_the_normal_path():
  code = "import sys, train.cli, train.loop, train.sweep, train.bench; assert 'torch' not in sys.modules"
  subprocess.run([sys.executable, "-c", code], check=True)


@needs_torch
def test_torch_twins_have_our_parameter_counts():
  from scalezoo.train import bench_torch as T

  assert T.count_params(T.GPT(**bench.GPT)) == zoo.count_params("gpt", **bench.GPT)
  assert T.count_params(T.ResNetCifar(20)) == zoo.count_params("resnet20") == 269_722
  assert T.count_params(T.mlp(40, 256, 2, 10)) == zoo.count_params("mlp", in_features=40, width=256, depth=2)


@needs_torch
def test_torch_gpt_computes_what_ours_computes():
  """Our GPT's parameters copied into the PyTorch twin give the same logits."""
  import jax
  import numpy as np
  import torch

  from scalezoo.train import bench_torch as T

  cfg = dict(vocab=11, context=8, d_model=16, n_layers=2, n_heads=2)
  tokens = np.random.default_rng(0).integers(0, 11, (2, 8))
  params = zoo.create("gpt", **cfg).init(jax.random.key(0), tokens)["params"]
  ours = np.asarray(zoo.create("gpt", **cfg).apply({"params": params}, tokens))
  m = T.GPT(**cfg)
  t = lambda a: torch.as_tensor(np.asarray(a))
  with torch.no_grad():
    m.wte.weight.copy_(t(params["wte"]["embedding"]))
    m.wpe.copy_(t(params["wpe"]))
    for i, b in enumerate(m.blocks):
      p = params[f"block_{i}"]
      for ln in ("ln_1", "ln_2"):
        getattr(b, ln).weight.copy_(t(p[ln]["scale"]))
        getattr(b, ln).bias.copy_(t(p[ln]["bias"]))
      b.qkv.weight.copy_(t(p["qkv"]["kernel"].reshape(16, 48).T))
      b.qkv.bias.copy_(t(p["qkv"]["bias"].reshape(48)))
      b.proj.weight.copy_(t(p["proj"]["kernel"].reshape(16, 16).T))
      b.proj.bias.copy_(t(p["proj"]["bias"]))
      for name in ("fc", "fc_proj"):
        getattr(b, name).weight.copy_(t(p[name]["kernel"].T))
        getattr(b, name).bias.copy_(t(p[name]["bias"]))
    m.ln_f.weight.copy_(t(params["ln_f"]["scale"]))
    m.ln_f.bias.copy_(t(params["ln_f"]["bias"]))
    theirs = m(torch.as_tensor(tokens)).numpy()
  np.testing.assert_allclose(theirs, ours, rtol=1e-4, atol=1e-5)


def test_bench_json_schema(tmp_path):
  """A tiny --quick subset that needs no torch: the fit and the compile-cache rows."""
  out = tmp_path / "bench.json"
  sizes = dict(fit_points=60, fit_starts=4, fit_reps=1, mlp_runs=1, cc_steps=20)
  assert bench.main(quick=True, json_path=str(out), rows=("chinchilla_fit", "compile_cache"), sizes=sizes,
                    log=lambda s: None) == 0
  res = json.loads(out.read_text())
  assert set(res) >= {"matmul_peak_gflops", "machine", "rows"}
  assert [r["name"] for r in res["rows"]] == ["chinchilla_fit", "compile_cache"]
  for r in res["rows"]:
    assert {"name", "ours_s", "baseline", "baseline_s", "speedup", "goal", "goal_met"} <= set(r)
    assert r["ours_s"] > 0 and r["baseline_s"] > 0 and r["speedup"] > 0
  assert "same_optimum" in res["rows"][0]
  assert 0 < res["rows"][1]["ratio"]
  assert "| chinchilla_fit |" in bench.table(res)
