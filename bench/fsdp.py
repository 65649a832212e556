"""The fsdp_memory bench row: a GPT's parameter-plus-optimizer bytes per device under fsdp=8 against replicated
(data=8), on 8 forced host CPU devices, from XLA's memory analysis of the compiled train step (its argument bytes
less the batch's) and from the shards the state holds. Goal: fsdp=8 holds at most 1/8 + 5% of the replicated bytes.

Run as `python -m scalezoo.bench.fsdp` in a fresh process (the device count is fixed when JAX starts).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

GOAL_FRACTION = 1 / 8 + 0.05
GOAL = "fraction <= 1/8 + 0.05 of the replicated bytes"
MODEL = dict(d_model=512, n_layers=4, n_heads=8, context=128, vocab=256)
BATCH = 16


def measure(mesh: dict[str, int]) -> dict[str, Any]:
  import functools

  import jax
  import jax.numpy as jnp
  import numpy as np
  from jax.sharding import NamedSharding

  from scalezoo import zoo
  from scalezoo.train import config
  from scalezoo.train import mesh as mesh_lib
  from scalezoo.train import step as S
  from scalezoo.train.tasks import get as get_task

  cfg = config.parse(dict(model="gpt", data="pycode", batch_size=BATCH, model_args=MODEL, mesh=mesh))
  x = np.zeros((1, MODEL["context"]), np.int32)
  eng = S.Engine(cfg, zoo.create("gpt", **MODEL), get_task("lm"), 0, 10**6, mesh_lib.make_mesh(cfg), {"x": x, "y": x})
  state = S.init_state(eng, jax.random.key(0), eng.example, 1e-3)
  shardings = S.state_shardings(eng, state)
  data = NamedSharding(eng.mesh, mesh_lib.batch_spec())
  repl = mesh_lib.replicated(eng.mesh)
  step = jax.jit(
    functools.partial(S.train_step, eng), in_shardings=(shardings, data, repl, repl), out_shardings=(shardings, repl)
  )
  batch = {k: jnp.zeros((BATCH, MODEL["context"]), jnp.int32) for k in ("x", "y")}
  mem = step.lower(state, batch, jnp.float32(1e-3), jax.random.key(1)).compile().memory_analysis()
  batch_bytes = 2 * BATCH * MODEL["context"] * 4 // (mesh.get("data", 1) * mesh.get("fsdp", 1))
  return {
    "mesh": mesh,
    "state_bytes_per_device": mesh_lib.per_device_bytes((state.params, state.opt_state)),
    "xla_argument_bytes": int(mem.argument_size_in_bytes),
    "xla_state_bytes": int(mem.argument_size_in_bytes) - batch_bytes - 16,  # less the batch, the lr and the key
    "xla_temp_bytes": int(mem.temp_size_in_bytes),
    "params": sum(int(np.prod(a.shape)) for a in jax.tree.leaves(state.params)),
  }


def bench(log) -> dict[str, Any]:
  env = {**os.environ, "XLA_FLAGS": "--xla_force_host_platform_device_count=8", "JAX_PLATFORMS": "cpu"}
  res = subprocess.run([sys.executable, "-m", "scalezoo.bench.fsdp"], env=env, capture_output=True, text=True)
  if res.returncode:
    raise RuntimeError(f"fsdp_memory worker failed:\n{res.stderr[-2000:]}")
  got = json.loads(res.stdout.strip().splitlines()[-1])
  rep, fsdp = got["replicated"], got["fsdp8"]
  frac = fsdp["xla_state_bytes"] / rep["xla_state_bytes"]
  log(
    f"  GPT {rep['params']:,} params: per device {rep['xla_state_bytes'] / 2**20:.1f} MiB replicated, "
    f"{fsdp['xla_state_bytes'] / 2**20:.2f} MiB under fsdp=8 ({frac:.3f} of it; XLA's memory analysis)"
  )
  return {
    "name": "fsdp_memory",
    "ours_mb": fsdp["xla_state_bytes"] / 2**20,
    "baseline": "replicated (data=8)",
    "baseline_mb": rep["xla_state_bytes"] / 2**20,
    "fraction": frac,
    "ratio": frac,
    "speedup": 1 / frac,
    "detail": got,
  }


if __name__ == "__main__":
  print(json.dumps({"replicated": measure({"data": 8}), "fsdp8": measure({"fsdp": 8})}))
