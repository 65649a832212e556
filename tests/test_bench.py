"""scalezoo bench: the PyTorch twins match our models, rows are chosen and tabled, the JSON has its schema. No timing
assertions: speed goals live in the bench, never in tests."""

import importlib.util
import json
import subprocess
import sys

import pytest

from scalezoo import zoo
from scalezoo.bench import driver as bench
from scalezoo.bench import workloads as W

needs_torch = pytest.mark.skipif(importlib.util.find_spec("torch") is None, reason="torch not installed (make bench)")


def test_torch_is_not_imported_on_the_normal_path():
  code = (
    "import sys, scalezoo.cli, scalezoo.train.loop, scalezoo.sweep, scalezoo.bench.driver, "
    "scalezoo.bench.jax_side, scalezoo.bench.worker; assert 'torch' not in sys.modules"
  )
  subprocess.run([sys.executable, "-c", code], check=True)


def test_unknown_rows_are_refused_before_any_work():
  with pytest.raises(ValueError, match="unknown bench row.*'nope'"):
    bench.main(rows=("chinchilla_fit", "nope"), log=lambda s: None)


def test_rows_that_need_torch_say_so(monkeypatch, capsys):
  real = importlib.util.find_spec
  monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "torch" else real(name, *a))
  assert bench.main(rows=("resnet18_step",), log=lambda s: None) == 2
  assert "make bench" in capsys.readouterr().err
  assert set(W.CONVNETS) <= set(bench.ROWS) and set(bench.ROWS) <= set(bench.GOALS)


def test_table():
  rows = [
    {
      "name": "resnet18_step",
      "ours_s": 0.25,
      "baseline": "pytorch eager",
      "baseline_s": 1.5,
      "speedup": 6.0,
      "goal": bench.GOALS["resnet18_step"],
      "goal_met": True,
    },
    {
      "name": "peak_memory",
      "ours_s": None,
      "baseline": "pytorch eager",
      "baseline_s": None,
      "ours_mb": 500.0,
      "baseline_mb": 600.0,
      "ratio": 0.83,
      "speedup": 1.2,
      "goal": bench.GOALS["peak_memory"],
      "goal_met": True,
    },
    {
      "name": "gpt_tiny_step",
      "ours_s": 0.1,
      "baseline": "pytorch eager",
      "baseline_s": 0.2,
      "speedup": 2.0,
      "fraction_of_matmul_peak": 0.5,
      "goal": bench.GOALS["gpt_tiny_step"],
      "goal_met": False,
    },
  ]
  lines = bench.table({"rows": rows}).splitlines()
  assert lines[2] == "| resnet18_step | 250.0 ms | pytorch eager | 1.50 s | 6.00x | speedup >= 1.0 | yes |"
  assert "| 500 MB | pytorch eager | 600 MB | 1.20x (ratio 0.83) |" in lines[3]
  assert "2.00x, 50% of matmul peak" in lines[4] and lines[4].endswith("| no |")


@needs_torch
def test_torch_twins_have_our_parameter_counts():
  from scalezoo.bench import torch_side as T

  assert T.count_params(T.GPT(**W.GPT)) == zoo.count_params("gpt", **W.GPT)
  for net in W.CONVNETS.values():
    assert T.count_params(T.CONVNETS[net.model]()) == zoo.count_params(net.model, **net.model_args)
  assert T.count_params(T.ResNet18()) == zoo.count_params("resnet18") == 11_689_512  # torchvision's
  assert T.count_params(T.EfficientNetB0()) == zoo.count_params("efficientnet_b0") == 5_288_548
  assert T.count_params(T.mlp(40, 256, 2, 10)) == zoo.count_params("mlp", in_features=40, width=256, depth=2)


@needs_torch
def test_torch_gpt_computes_what_ours_computes():
  """Our GPT's parameters copied into the PyTorch twin give the same logits."""
  import jax
  import numpy as np
  import torch

  from scalezoo.bench import torch_side as T

  cfg = dict(vocab=11, context=8, d_model=16, n_layers=2, n_heads=2)
  tokens = np.random.default_rng(0).integers(0, 11, (2, 8))
  params = zoo.create("gpt", **cfg).init(jax.random.key(0), tokens)["params"]
  ours = np.asarray(zoo.create("gpt", **cfg).apply({"params": params}, tokens))
  m = T.GPT(**cfg)
  t = lambda a: torch.as_tensor(np.array(a))
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


@pytest.mark.slow  # the bench's worker processes: `make test-slow`
def test_bench_json_schema(tmp_path):
  """A tiny --quick subset that needs no torch: the fit and the compile-cache rows, through the worker processes."""
  out = tmp_path / "bench.json"
  sizes = dict(fit_points=60, fit_starts=4, fit_reps=1, mlp_runs=1, cc_steps=20)
  assert (
    bench.main(
      quick=True, json_path=str(out), rows=("chinchilla_fit", "compile_cache"), sizes=sizes, log=lambda s: None
    )
    == 0
  )
  res = json.loads(out.read_text())
  assert set(res) >= {"matmul_peak_gflops", "machine", "rows"} and res["machine"]["cpu"]
  assert [r["name"] for r in res["rows"]] == ["chinchilla_fit", "compile_cache"]
  for r in res["rows"]:
    assert {"name", "ours_s", "baseline", "baseline_s", "speedup", "goal", "goal_met"} <= set(r)
    assert r["ours_s"] > 0 and r["baseline_s"] > 0 and r["speedup"] > 0
  assert "same_optimum" in res["rows"][0]
  cc = res["rows"][1]
  assert 0 < cc["ratio"] and cc["persistent_cache"][0]["cache_misses"] > 0
  assert cc["persistent_cache"][1]["cache_hits"] > 0
  assert "| chinchilla_fit |" in bench.table(res)
