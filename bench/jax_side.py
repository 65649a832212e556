"""The JAX half of a bench worker: our engine on each row's workload, timed per call."""

from __future__ import annotations

import ctypes
import os
import time
from pathlib import Path

import numpy as np

from scalezoo.bench import probes
from scalezoo.bench import workloads as W

_COMPILE_EVENTS = (
  "/jax/core/compile/jaxpr_trace_duration",
  "/jax/core/compile/jaxpr_to_mlir_module_duration",
  "/jax/core/compile/backend_compile_duration",
)  # the last one includes persistent-cache loads


def _trim_heap() -> None:
  """glibc's malloc_trim: hand the pages freed by setup and compilation back before training (peak_memory row).
  The bench's own business: the engine does not trim."""
  try:
    ctypes.CDLL("libc.so.6").malloc_trim(0)
  except (OSError, AttributeError):  # not glibc
    pass


class JaxSide:
  def __init__(self):
    import jax

    self.jax, self.s = jax, {}

  def _engine(self, name, model, model_args, data, optimizer, batch, task, num_classes):
    import jax.numpy as jnp

    from scalezoo import zoo
    from scalezoo.train import config
    from scalezoo.train import step as S
    from scalezoo.train.tasks import get

    cfg = config.parse(
      dict(model=model, data="text", steps=100_000, batch_size=batch, model_args=model_args, optimizer=optimizer)
    )
    arrays = {k: jnp.asarray(v) for k, v in data.items()}
    eng = S.Engine(cfg, zoo.create(model, **model_args), get(task), num_classes, len(data["y"]))
    lr, key = jnp.float32(cfg.optimizer.lr), self.jax.random.key(1)
    mem = {"start": probes.vm_mb()}
    state = S.init_state(eng, self.jax.random.key(0), arrays, lr)
    _trim_heap()
    mem["init"] = probes.vm_mb()
    flops = S.flops_of_step(eng, state, arrays, lr, key)
    _trim_heap()
    mem["flops_of_step"] = probes.vm_mb()
    n_params = sum(int(np.prod(a.shape)) for a in self.jax.tree.leaves(state.params))
    self.s[name] = [eng, state, arrays, lr, key]
    return {"flops_per_step": flops, "params": n_params, "memory_mb": mem}

  def setup_gpt(self, steps):
    toks = W.gpt_tokens()
    return self._setup(
      "gpt", steps, "gpt", W.GPT, {"x": toks[:, :-1], "y": toks[:, 1:]}, W.GPT_ADAMW, W.GPT_BATCH, "lm", W.GPT["vocab"]
    )

  def setup_convnet(self, row, steps):
    net = W.CONVNETS[row]
    x, y = W.images(net)
    return self._setup(row, steps, net.model, net.model_args, {"x": x, "y": y}, W.SGD, net.batch, "classification", 10)

  def _setup(self, name, steps, *engine_args):
    from scalezoo.train import step as S

    info = self._engine(name, *engine_args)
    t = time.perf_counter()
    self.s[name].append(S.compiled_chunk(self.s[name][0], steps, 1))
    self.run(name)  # compiles and runs one chunk
    info["memory_mb"]["first_chunk"] = probes.vm_mb()
    info["compile_s"] = time.perf_counter() - t
    info["steps"] = steps
    return info

  def run(self, name):
    """Seconds per step: one scan-fused chunk of `steps` train steps, donated state, one sync at the end."""
    eng, state, arrays, lr, key, fn = self.s[name]
    t, c = time.perf_counter(), probes.cpu_s()
    state, m = fn(state, arrays, lr, key)
    float(m["loss"][-1])
    dt, dc = time.perf_counter() - t, probes.cpu_s() - c
    self.s[name][1] = state
    n = m["loss"].shape[0]
    return {"s": dt / n, "cpu_s": dc / n, "loss": float(m["loss"][-1])}

  def matmul(self, n=2048, reps=3):
    import jax.numpy as jnp

    a = jnp.asarray(np.random.default_rng(0).normal(size=(n, n)), jnp.float32)
    f = self.jax.jit(lambda a, b: a @ b)
    f(a, a).block_until_ready()
    ts = []
    for _ in range(reps):
      t = time.perf_counter()
      f(a, a).block_until_ready()
      ts.append(time.perf_counter() - t)
    return {"gflops": 2 * n**3 / float(np.median(ts)) / 1e9}

  def sweep(self, raw, out, cache=None):
    """One sweep through the engine into a fresh folder. Compile seconds are JAX's own compile events (tracing,
    lowering, and XLA compilation or its load from JAX's persistent compilation cache in `cache`); the cache's
    hits and misses are counted too."""
    from jax import monitoring

    from scalezoo import sweep
    from scalezoo.sweep import store

    if cache:
      os.environ["JAX_COMPILATION_CACHE_DIR"] = cache
    secs = dict.fromkeys(_COMPILE_EVENTS, 0.0)
    counts = {"cache_hits": 0, "cache_misses": 0}

    def on_duration(event, duration, **_):
      if event in secs:
        secs[event] += duration

    def on_event(event, **_):
      for k in counts:
        if event == f"/jax/compilation_cache/{k}":
          counts[k] += 1

    monitoring.register_event_duration_secs_listener(on_duration)
    monitoring.register_event_listener(on_event)
    try:
      t = time.perf_counter()
      status = sweep.run(sweep.parse(raw, "bench"), out, log=lambda s: None, progress=False)
      wall = time.perf_counter() - t
    finally:
      monitoring.unregister_event_duration_listener(on_duration)
      monitoring.unregister_event_listener(on_event)
    recs = [r for r in store.read(Path(out)) if r.get("status") == "finished"]
    return {
      "s": wall,
      "compile_s": sum(secs.values()),
      "compile_events_s": {k.rsplit("/", 1)[1]: v for k, v in secs.items()},
      "persistent_cache": counts,
      "counts": status,
      "runs": len(recs),
      "engine_compile_time": max((r["compile_time"] for r in recs), default=None),
      "test_loss": float(np.median([r["metrics"]["test_loss"] for r in recs])) if recs else None,
    }

  def chinchilla(self, which, n_points, n_starts):
    from scalezoo.scaling import laws
    from scalezoo.scaling.fit import fit_law
    from scalezoo.scaling.reference import fit_reference_scipy
    from scalezoo.scaling.synthetic import synthetic_chinchilla

    X, L = synthetic_chinchilla(n_points, seed=0)
    grid = laws.chinchilla.grid(None, None)
    grid = grid[np.random.default_rng(0).choice(grid.shape[0], n_starts, replace=False)]
    t = time.perf_counter()
    if which == "jax":
      fit = fit_law("chinchilla", X, L, grid=grid)
    else:
      fit = fit_reference_scipy("chinchilla", X, L, grid=grid)
    return {"s": time.perf_counter() - t, "objective": fit.objective, "params": fit.params}
