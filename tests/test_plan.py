"""`scalezoo plan`: counts and FLOPs that agree with the zoo and with XLA, per-device state bytes equal to the shards
a real mesh holds, a memory estimate within 20% of XLA's memory analysis of the compiled step, one-line bad input."""

import dataclasses
import functools
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.sharding import NamedSharding

from scalezoo import cli, sweep, zoo
from scalezoo.sweep import plan
from scalezoo.train import mesh as mesh_lib
from scalezoo.train import step as S

ROOT = Path(__file__).resolve().parents[1]
LADDER = ROOT / "configs" / "ladder" / "gpt.toml"


@pytest.mark.parametrize(
  "flags, says",
  [
    (["--chip", "tpu9"], "--chip 'tpu9' is not a known chip; chips: h100, a100, v4, v5e, v5p, v6e, cpu"),
    (["--chips", "0"], "--chips must be >= 1, got 0"),
    (["--chips", "two"], "--chips 'two' must be an integer"),
    (["--mfu", "0"], "--mfu must be in (0, 1], got 0.0"),
    (["--mfu", "1.5"], "--mfu must be in (0, 1], got 1.5"),
  ],
)
def test_bad_flags_exit_2_with_one_line(flags, says, capsys):
  assert cli.main(["plan", str(LADDER), *flags]) == 2
  err = capsys.readouterr().err
  assert err.count("\n") == 1 and says in err, err


def test_a_missing_spec_exits_2_with_one_line(tmp_path, capsys):
  assert cli.main(["plan", str(tmp_path / "none.toml")]) == 2
  err = capsys.readouterr().err
  assert err.count("\n") == 1 and "no such file" in err


def test_options_the_model_refuses_exit_2_with_one_line(tmp_path, capsys):
  spec = tmp_path / "s.toml"  # the llama family's default n_kv_heads is 2: one query head cannot share it
  spec.write_text('name = "s"\n[base]\nmodel = "llama"\ndata = "pycode"\nsteps = 2\nbatch_size = 4\n'
                  "model_args = {context = 16, d_model = 16, n_layers = 1, n_heads = 1}\n")  # fmt: skip
  assert cli.main(["plan", str(spec)]) == 2
  err = capsys.readouterr().err
  assert err.count("\n") == 1 and "n_heads 1 is not a multiple of n_kv_heads 2" in err, err


def test_rows_of_the_tiny_ladder_agree_with_the_zoo_xla_and_the_shards_of_a_real_mesh():
  runs = sweep.load(LADDER, ["sweep.tiny=true"]).runs
  small, sharded = runs[0], runs[4]  # 4 x data; 1 x data, 4 x fsdp on the 4 test devices
  for cfg in (small, sharded):
    row = plan.plan_run(cfg, "v5e", 4, 0.5)
    counts = zoo.count_params_split("gpt", **cfg.model_args)
    assert (row.params, row.non_embedding) == (counts["all"], counts["non_embedding"])
    assert row.tokens == cfg.steps * cfg.batch_size * 16 and row.flops_6nd == 6 * row.non_embedding * row.tokens
    assert row.hours == pytest.approx(row.flops_xla / (4 * 197e12 * 0.5) / 3600)
    assert row.fits and row.memory["total"] == sum(v for k, v in row.memory.items() if k != "total")
  assert plan.plan_run(small, "v5e", 4, 0.5).mesh == (4, 1, 1)
  row = plan.plan_run(sharded, "v5e", 4, 0.5)
  assert row.mesh == (1, 4, 1)
  # the state's bytes per device are exactly what the shards of a real fsdp=4 state hold
  eng = S.Engine(
    sharded,
    zoo.create("gpt", **sharded.model_args),
    plan._engine(sharded, sharded.model_args, 16).task,
    0,
    10**6,
    mesh_lib.make_mesh(sharded),
    {"x": np.zeros((1, 16), np.int32), "y": np.zeros((1, 16), np.int32)},
  )
  state = S.init_state(eng, jax.random.key(0), eng.example, 1e-3)
  assert row.memory["params"] == mesh_lib.per_device_bytes(state.params)
  assert row.memory["optimizer"] == mesh_lib.per_device_bytes(state.opt_state)
  assert row.memory["params"] < plan.plan_run(sharded.replace(mesh={"data": 1}), "v5e", 4, 0.5).memory["params"] / 3


def test_the_flops_extended_in_depth_equal_xlas_count_of_the_whole_unrolled_step():
  cfg = sweep.load(LADDER, ["sweep.tiny=true"]).runs[0]
  margs = {**zoo.spec("gpt").defaults, **cfg.model_args, "n_layers": 3}
  eng = plan._engine(cfg, {**margs, "scan_layers": False}, 16, microbatches=1, mesh={}, devices=1)
  batch = {k: jax.ShapeDtypeStruct((cfg.batch_size, 16), jnp.int32) for k in ("x", "y")}
  whole = S.flops_of_step(eng, S.abstract_state(eng), batch, jnp.float32(1e-3), jax.random.key(0), fed=True)
  assert plan.step_flops(cfg, margs, 16) == pytest.approx(whole, rel=1e-9)
  assert whole > 6 * zoo.count_params_split("gpt", **margs)["non_embedding"] * cfg.batch_size * 16


CASES = [  # (model, batch, microbatches, remat, scan_layers, mesh): f32 (on CPU bf16 takes f32's temporaries)
  (dict(d_model=128, n_layers=4, n_heads=4, vocab=256, context=128), 16, 1, "none", False, {}),
  (dict(d_model=256, n_layers=4, n_heads=4, vocab=2048, context=128), 8, 1, "block", True, {}),
  (dict(d_model=128, n_layers=4, n_heads=4, vocab=256, context=128), 16, 2, "none", False, {}),
  (dict(d_model=256, n_layers=2, n_heads=4, vocab=2048, context=64), 16, 1, "none", False, {"data": 4}),
]


@pytest.mark.long  # compiles a train step per case
@pytest.mark.parametrize("margs, batch, microbatches, remat, scan, mesh", CASES)
def test_the_memory_estimate_is_within_20_percent_of_xlas_memory_analysis(
  margs, batch, microbatches, remat, scan, mesh
):
  from scalezoo.train import config

  raw = dict(
    model="gpt",
    data="tokens",
    data_args={"context": margs["context"]},
    batch_size=batch,
    remat=remat,
    microbatches=microbatches,
    model_args={**margs, "scan_layers": scan},
    optimizer={"name": "adamw"},
    mesh=mesh,
  )
  cfg = config.parse(raw)
  row = plan.plan_run(cfg, "cpu", 4 if mesh else 1, 0.4)
  full = {**zoo.spec("gpt").defaults, **cfg.model_args, "remat": remat == "block"}
  eng = plan._engine(cfg, full, margs["context"])
  state = S.abstract_state(eng)
  data = {k: jax.ShapeDtypeStruct((batch, margs["context"]), jnp.int32) for k in ("x", "y")}
  shardings = {}
  if mesh:  # per device on a 4-device data-parallel mesh, placed as the engine places it
    eng = dataclasses.replace(eng, mesh=mesh_lib.make_mesh(cfg))
    st, repl = S.state_shardings(eng, state), mesh_lib.replicated(eng.mesh)
    batch_sharding = NamedSharding(eng.mesh, mesh_lib.batch_spec())
    shardings = dict(in_shardings=(st, batch_sharding, repl, repl), out_shardings=(st, repl))
  step = jax.jit(functools.partial(S.train_step, eng), donate_argnums=0, **shardings)
  m = step.lower(state, data, jnp.float32(1e-3), jax.random.key(0)).compile().memory_analysis()
  xla = m.argument_size_in_bytes + m.output_size_in_bytes - m.alias_size_in_bytes + m.temp_size_in_bytes
  print(f"estimate / XLA = {row.memory['total'] / xla:.3f}")
  assert row.memory["total"] == pytest.approx(xla, rel=0.2), (row.memory, xla)


@pytest.mark.long  # lowers 12 programs of up to 1B parameters
def test_the_readme_quotes_what_plan_prints_for_the_ladder_on_16_v5e(capsys):
  from test_docs import _console, _norm

  capsys.readouterr()
  assert cli.main(["plan", str(LADDER), "--chip", "v5e", "--chips", "16"]) == 0
  got = capsys.readouterr().out.splitlines()
  want = _console(ROOT / "README.md", "scalezoo plan configs/ladder/gpt.toml --chip v5e --chips 16")
  assert _norm(got) == _norm(want), "\n".join(got)
