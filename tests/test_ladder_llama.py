"""configs/ladder/llama.toml: OLMo 2's ladder shapes with gpt.toml's token, batch and learning-rate rules; `plan`
handles it (every run fits 16 v5e); its tiny mode trains every size end to end on a corpus tokenized here."""

import math
import tomllib
from pathlib import Path

import numpy as np
import pytest

from scalezoo import cli, sweep, zoo
from scalezoo.data import tokenize
from scalezoo.sweep import store

LADDER = Path(__file__).resolve().parents[1] / "configs" / "ladder" / "llama.toml"
# OLMo-core's olmo2_190M, _370M, _600M, _760M and its ladder's 1B: (d_model, n_layers, n_heads)
OLMO2 = ((768, 12, 12), (1024, 16, 16), (1344, 16, 16), (1536, 16, 16), (2048, 16, 16))


def _olmo_ffn(d: int) -> int:
  h = int(1.5 * int(8 * d / 3))
  return 256 * math.ceil(h / 256)


def test_the_ladder_is_olmo2s_shapes_with_the_gpt_ladders_rules():
  runs = sweep.load(LADDER).runs
  assert [(r.model_args["d_model"], r.model_args["n_layers"], r.model_args["n_heads"]) for r in runs] == list(OLMO2)
  for cfg in runs:
    args = cfg.model_args
    assert args["d_ff"] == _olmo_ffn(args["d_model"]) and args["n_kv_heads"] == 0 and args["qk_norm"]
    n = zoo.count_params_split("llama", **args)["non_embedding"]
    tokens = cfg.steps * cfg.batch_size * cfg.data_args["context"]
    assert abs(tokens / (20 * n) - 1) < 0.01  # Chinchilla's 20 tokens per parameter
    C = 6 * n * tokens
    assert cfg.optimizer.lr == pytest.approx(0.3118 * C**-0.125, rel=0.03)  # DeepSeek LLM's fit, 2 digits
    assert abs(math.log2(cfg.batch_size * 1024 / (0.292 * C**0.3271))) <= 0.5
  lrs, batches = [r.optimizer.lr for r in runs], [r.batch_size for r in runs]
  assert all(a > b for a, b in zip(lrs, lrs[1:])) and all(a <= b for a, b in zip(batches, batches[1:]))
  gpt = tomllib.loads((LADDER.parent / "gpt.toml").read_text())
  ours = tomllib.loads(LADDER.read_text())
  assert ours["base"]["optimizer"] == gpt["base"]["optimizer"] and ours["base"]["schedule"] == gpt["base"]["schedule"]


@pytest.mark.ci  # lowers 10 programs of up to 1.2B parameters
def test_plan_handles_the_ladder_and_every_run_fits_16_v5e(capsys):
  assert cli.main(["plan", str(LADDER), "--chip", "v5e", "--chips", "16"]) == 0
  out = capsys.readouterr().out
  assert "every run fits" in out and out.count(" yes ") == len(OLMO2)


@pytest.mark.ci  # five compiled programs, three sharded over the 4 test devices
def test_tiny_mode_trains_every_size_of_the_ladder_on_a_corpus(tmp_path):
  rng = np.random.default_rng(0)
  words = ["def", "return", "x", "y", "(", ")", ":", "+", "\n", "if"]
  (tmp_path / "src").mkdir()
  for i in range(12):
    (tmp_path / "src" / f"doc{i:02d}.txt").write_text(" ".join(rng.choice(words, 120)))
  tokenize.tokenize(tmp_path / "src", tmp_path / "tok")
  spec = sweep.load(LADDER, ["sweep.tiny=true", f"base.data_args.path={str(tmp_path / 'tok')!r}"])
  full = sweep.load(LADDER).runs
  assert [r.model_args["n_layers"] for r in spec.runs] == [r.model_args["n_layers"] for r in full]
  assert [(r.mesh, r.remat, r.optimizer.lr) for r in spec.runs] == [(r.mesh, r.remat, r.optimizer.lr) for r in full]
  counts = sweep.run(spec, tmp_path / "out", log=lambda _: None, progress=False)
  assert counts == {"finished": len(OLMO2)}
  for r in store.read(tmp_path / "out"):
    assert r["tokens_seen"] == 4 * 8 * 16 and np.isfinite(r["metrics"]["test_loss"])
    assert r["metrics"]["test_loss"] < 1.2 * np.log(257)


@pytest.mark.ci  # three compiles of a train step
@pytest.mark.parametrize(
  "margs, batch, microbatches, remat, scan",
  [
    (dict(d_model=128, n_layers=4, n_heads=4, vocab=256, context=128), 16, 1, "none", False),
    (dict(d_model=256, n_layers=4, n_heads=4, vocab=2048, context=128, d_ff=1024), 8, 1, "block", True),
    (dict(d_model=128, n_layers=4, n_heads=2, vocab=256, context=128, d_ff=256), 16, 2, "none", False),
  ],
)
def test_the_llama_memory_estimate_is_within_20_percent_of_xlas_memory_analysis(
  margs, batch, microbatches, remat, scan
):
  import functools

  import jax
  import jax.numpy as jnp

  from scalezoo.sweep import plan
  from scalezoo.train import config
  from scalezoo.train import step as S

  margs = {**margs, "n_kv_heads": 0, "qk_norm": True, "scan_layers": scan}
  L = margs["context"]
  cfg = config.parse(
    dict(model="llama", data="tokens", data_args={"context": L}, batch_size=batch, remat=remat,
         microbatches=microbatches, model_args=margs, optimizer={"name": "adamw"})
  )  # fmt: skip
  row = plan.plan_run(cfg, "cpu", 1, 0.4)
  eng = plan._engine(cfg, {**zoo.spec("llama").defaults, **margs, "remat": remat == "block"}, L)
  data = {k: jax.ShapeDtypeStruct((batch, L), jnp.int32) for k in ("x", "y")}
  step = jax.jit(functools.partial(S.train_step, eng), donate_argnums=0)
  m = step.lower(S.abstract_state(eng), data, jnp.float32(1e-3), jax.random.key(0)).compile().memory_analysis()
  xla = m.argument_size_in_bytes + m.output_size_in_bytes - m.alias_size_in_bytes + m.temp_size_in_bytes
  print(f"estimate / XLA = {row.memory['total'] / xla:.3f}")
  assert row.memory["total"] == pytest.approx(xla, rel=0.2), (row.memory, xla)
