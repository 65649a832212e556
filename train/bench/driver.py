"""`scalezoo bench`: ours against PyTorch on this machine, same model, batch, optimizer, dtype and threads.

Each side runs in a worker process of its own (its own thread pool, its own peak RSS), driven over JSON lines;
the driver alternates them repeat by repeat, so a shared, noisy machine slows both alike, and reports medians
and the median of the per-repeat ratios. Rows:

  gpt_tiny_step   one AdamW step of GPT d256 L4 H4, context 128, batch 16, vocab 256 (ours: the engine's scan-fused
                  chunk, per step) vs PyTorch eager (and torch.compile); also FLOP/s over an f32 matmul's, interleaved
  resnet20_step   one SGD-momentum step of ResNet-20, 32x32x3, batch 64 vs PyTorch eager
  mlp_sweep32     32 MNIST-1D runs (MLP 40-256-256-10, Adam, batch 128, 500 steps, 8 seeds x 4 lrs) through the sweep
                  engine (warm compilation cache) vs 32 sequential PyTorch eager runs with the same evaluations
  chinchilla_fit  our batched fitter vs scipy L-BFGS-B from the same starts on the same synthetic points
  compile_cache   compile seconds of a sweep run again in a fresh process (JAX's persistent cache and the engine's
                  executable cache, its loads counted) vs its first run
  peak_memory     peak RSS of the gpt_tiny_step workers (all of it: runtime, compilation, training)

--quick times the same work per repeat (the rows as the issue defines them) with fewer repeats and no torch.compile.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any

import numpy as np

GPT = dict(vocab=256, context=128, d_model=256, n_layers=4, n_heads=4)
WORK = dict(gpt_steps=10, resnet_steps=5, mlp_runs=32, mlp_steps=500, fit_points=250, fit_starts=500)  # one repeat
SIZES = {  # full and --quick time the same work (the rows); --quick repeats less and skips torch.compile
  "full": dict(WORK, gpt_reps=7, resnet_reps=7, mlp_reps=3, fit_reps=5, torch_compile=True),
  "quick": dict(WORK, gpt_reps=3, resnet_reps=3, mlp_reps=2, fit_reps=3, torch_compile=False),
}
GOALS = {"gpt_tiny_step": "speedup >= 1.25 and fraction_of_matmul_peak >= 0.65", "resnet20_step": "speedup >= 1.0",
         "mlp_sweep32": "speedup >= 5",
         "chinchilla_fit": "speedup >= 20, optimum as good (objective within 1e-6 or lower)",
         "compile_cache": "ratio <= 0.10", "peak_memory": "ratio <= 1.0"}


# ---------------------------------------------------------------- the JAX side (runs in a worker process)
class JaxSide:
  def __init__(self):
    import jax

    self.jax, self.s = jax, {}

  def _engine(self, name, model, model_args, data, optimizer, batch):
    import jax.numpy as jnp

    from scalezoo import zoo
    from scalezoo.train import config
    from scalezoo.train import step as S
    from scalezoo.train.tasks import get as get_task

    cfg = config.parse(dict(model=model, data="text", steps=100_000, batch_size=batch, model_args=model_args,
                            optimizer=optimizer))
    arrays = {k: jnp.asarray(v) for k, v in data.items()}
    eng = S.Engine(cfg, zoo.create(model, **model_args), get_task("lm" if model == "gpt" else "classification"),
                   10, len(data["y"]))
    lr, key = jnp.float32(cfg.optimizer.lr), self.jax.random.key(1)
    mem = {"start": _vm_mb()}
    state = S.init_state(eng, self.jax.random.key(0), arrays, lr)
    mem["init"] = _vm_mb()
    flops = S.flops_of_step(eng, state, arrays, lr, key)
    mem["flops_of_step"] = _vm_mb()
    n_params = sum(int(np.prod(a.shape)) for a in self.jax.tree.leaves(state.params))
    self.s[name] = [eng, state, arrays, lr, key]
    return {"flops_per_step": flops, "params": n_params, "memory_mb": mem}

  def setup_gpt(self, steps, model_args=None):
    rng = np.random.default_rng(0)
    toks = rng.integers(0, GPT["vocab"], (2048, GPT["context"] + 1)).astype(np.int32)
    args = {**GPT, **(model_args or {})}
    return self._setup("gpt", steps, "gpt", args, {"x": toks[:, :-1], "y": toks[:, 1:]},
                       dict(name="adamw", lr=3e-4, weight_decay=0.1), 16)

  def setup_resnet(self, steps):
    rng = np.random.default_rng(0)
    data = {"x": rng.normal(size=(1024, 32, 32, 3)).astype(np.float32), "y": rng.integers(0, 10, 1024).astype(np.int32)}
    return self._setup("resnet", steps, "resnet20", {}, data, dict(name="sgd", lr=0.1, momentum=0.9,
                                                                    weight_decay=5e-4), 64)

  def _setup(self, name, steps, model, args, data, opt, batch):
    from scalezoo.train import step as S

    info = self._engine(name, model, args, data, opt, batch)
    t = time.perf_counter()
    self.s[name].append(S.compiled_chunk(self.s[name][0], steps, 1))
    self.run(name)  # compiles and runs one chunk
    info["memory_mb"]["first_chunk"] = _vm_mb()
    info["compile_s"] = time.perf_counter() - t
    info["steps"] = steps
    return info

  def run(self, name):
    """Seconds per step: one scan-fused chunk of `steps` train steps, donated state, one sync at the end."""
    eng, state, arrays, lr, key, fn = self.s[name]
    t, c = time.perf_counter(), _cpu_s()
    state, m = fn(state, arrays, lr, key)
    float(m["loss"][-1])
    dt, dc = time.perf_counter() - t, _cpu_s() - c
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
    """One sweep through the engine in a fresh folder; compile seconds from JAX's own compile events plus the time
    spent finding and loading executables from the engine's executable cache (which skips those events)."""
    from jax import monitoring

    from scalezoo.train import exec_cache
    from scalezoo.train import sweep as SW

    if cache:
      os.environ["JAX_COMPILATION_CACHE_DIR"] = cache
    compile_s = [0.0]
    events = ("/jax/core/compile/jaxpr_trace_duration", "/jax/core/compile/jaxpr_to_mlir_module_duration",
              "/jax/core/compile/backend_compile_duration")

    def listen(event, duration, **_):
      if event in events:
        compile_s[0] += duration

    monitoring.register_event_duration_secs_listener(listen)
    before = dict(exec_cache.stats)
    try:
      t = time.perf_counter()
      counts = SW.run(SW.parse(raw, "bench"), out, log=lambda s: None, progress=False)
      wall = time.perf_counter() - t
    finally:
      monitoring.unregister_event_duration_listener(listen)
    from scalezoo.train.sweep import store

    recs = [r for r in store.read(Path(out)) if r.get("status") == "finished"]
    ec = {k: v - before[k] for k, v in exec_cache.stats.items()}
    return {"s": wall, "compile_s": compile_s[0] + ec["load_s"], "jax_events_s": compile_s[0], "exec_cache": ec,
            "counts": counts, "runs": len(recs),
            "engine_compile_time": max((r["compile_time"] for r in recs), default=None),
            "test_loss": float(np.median([r["metrics"]["test_loss"] for r in recs])) if recs else None}

  def chinchilla(self, which, n_points, n_starts):
    from scalezoo.scaling import laws
    from scalezoo.scaling.synthetic import synthetic_chinchilla
    from scalezoo.scaling.fit import fit_law
    from scalezoo.scaling.reference import fit_reference_scipy

    X, L = synthetic_chinchilla(n_points, seed=0)
    grid = laws.chinchilla.grid(None, None)
    grid = grid[np.random.default_rng(0).choice(grid.shape[0], n_starts, replace=False)]
    t = time.perf_counter()
    if which == "jax":
      fit = fit_law("chinchilla", X, L, grid=grid)
    else:
      fit = fit_reference_scipy("chinchilla", X, L, grid=grid)
    return {"s": time.perf_counter() - t, "objective": fit.objective, "params": fit.params}


# ---------------------------------------------------------------- worker processes and the driver's handle
def _cpu_s() -> float:
  """CPU seconds of this process, all threads: less disturbed than wall time by other processes on the cores."""
  t = os.times()
  return t.user + t.system


def _vm_mb() -> dict[str, float]:
  """This process's peak (VmHWM) and current (VmRSS) resident memory, MB: the peak after each setup stage."""
  try:
    with open("/proc/self/status") as f:
      vm = dict(line.split(":", 1) for line in f if line.startswith(("VmHWM", "VmRSS")))
  except OSError:  # not Linux
    return {}
  return {k: int(v.split()[0]) / 1024 for k, v in vm.items()}


def _peak_rss_mb() -> float:
  import resource

  return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def worker(kind: str) -> None:
  """A worker: one JSON command per stdin line -> one JSON reply line. Library chatter goes to stderr."""
  out = os.fdopen(os.dup(1), "w", buffering=1)
  os.dup2(2, 1)
  if kind == "jax":
    side = JaxSide()
  else:
    from scalezoo.train.bench.torch_side import TorchSide

    side = TorchSide()
  for line in sys.stdin:
    cmd = json.loads(line)
    op = cmd.pop("op")
    try:
      reply = {"ok": True, **(getattr(side, op)(**cmd) or {})}
    except Exception:  # noqa: BLE001 - reported to the driver, which stops the row
      reply = {"ok": False, "error": traceback.format_exc()[-2000:]}
    reply["peak_rss_mb"] = _peak_rss_mb()
    out.write(json.dumps(reply) + "\n")


class Worker:
  def __init__(self, kind: str, env: dict[str, str] | None = None):
    self.kind = kind
    root = str(Path(__file__).resolve().parent.parent)
    full_env = {**os.environ, **(env or {}), "PYTHONPATH": os.pathsep.join([root, os.environ.get("PYTHONPATH", "")])}
    self.p = subprocess.Popen([sys.executable, "-m", "train.bench", "--worker", kind], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL if not os.environ.get(
                                "SCALEZOO_BENCH_DEBUG") else None, env=full_env, text=True, cwd=root)
    self.peak_rss_mb = 0.0

  def __call__(self, op: str, **kw) -> dict[str, Any]:
    self.p.stdin.write(json.dumps({"op": op, **kw}) + "\n")
    self.p.stdin.flush()
    line = self.p.stdout.readline()
    if not line:
      raise RuntimeError(f"bench worker {self.kind} died during {op!r} (exit {self.p.wait()})")
    reply = json.loads(line)
    self.peak_rss_mb = reply["peak_rss_mb"]
    if not reply["ok"]:
      raise RuntimeError(f"bench worker {self.kind}, {op!r}:\n{reply['error']}")
    return reply

  def close(self) -> None:
    if self.p.poll() is None:
      self.p.stdin.close()
      self.p.wait()

  def __enter__(self):
    return self

  def __exit__(self, *exc):
    self.close()


def _load() -> float:
  return os.getloadavg()[0]


def _row(name, ours, baseline_name, baseline, *, ratios=None, **extra) -> dict[str, Any]:
  """A row from per-repeat seconds (ours[i] and baseline[i] ran back to back)."""
  ratios = ratios if ratios is not None else [b / o for o, b in zip(ours, baseline)]
  return {"name": name, "ours_s": float(np.median(ours)), "baseline": baseline_name,
          "baseline_s": float(np.median(baseline)), "speedup": float(np.median(ratios)), "goal": GOALS[name],
          "ours_runs_s": [round(x, 5) for x in ours], "baseline_runs_s": [round(x, 5) for x in baseline], **extra}


def _torch_env(policy: str | None) -> dict[str, str]:
  n = str(os.cpu_count() or 1)
  env = {"SCALEZOO_BENCH_THREADS": n}
  if policy:
    env["OMP_WAIT_POLICY"] = policy
  return env


# ---------------------------------------------------------------- rows
def bench_gpt(sz, log) -> tuple[list[dict], str | None]:
  """gpt_tiny_step and peak_memory. Returns the rows and the OpenMP wait policy PyTorch ran best with.

  libgomp's default spin-waits; on a loaded machine that can make PyTorch several times slower, so eager PyTorch
  runs under both the default and OMP_WAIT_POLICY=PASSIVE (unless the user set one) and its faster one counts."""
  n = sz["gpt_steps"]
  user_policy = os.environ.get("OMP_WAIT_POLICY")
  policies = [user_policy] if user_policy else [None, "PASSIVE"]
  with _Workers([Worker("jax"), Worker("jax")] + [Worker("torch", _torch_env(p)) for p in policies]) as ws:
    ours, peak, eager = ws.ws[0], ws.ws[1], ws.ws[2:]  # the matmul in its own process: not in ours' peak RSS
    info = ours("setup_gpt", steps=n)
    log(f"  ours: {info['params']:,} params, {info['flops_per_step'] / 1e9:.1f} GFLOP/step by XLA's count, "
        f"compiled in {info['compile_s']:.1f}s")
    log("  ours, peak/current RSS after each stage: " + ", ".join(
      f"{k} {v.get('VmHWM', 0):.0f}/{v.get('VmRSS', 0):.0f} MB" for k, v in info["memory_mb"].items()))
    for p, w in zip(policies, eager):
      tinfo = w("setup_gpt", compile=False)
      w("run", name="gpt", steps=2)
      log(f"  pytorch eager (OMP_WAIT_POLICY={p or 'default'}): {tinfo['params']:,} params")
    calib = [w("run", name="gpt", steps=n)["s"] for w in eager]
    policy = policies[int(np.argmin(calib))]
    compiled = None
    if sz["torch_compile"]:
      compiled = Worker("torch", _torch_env(policy))
      ws.ws.append(compiled)
      t = time.perf_counter()
      compiled("setup_gpt", compile=True)
      compiled("run", name="gpt", steps=2)
      log(f"  torch.compile warm-up {time.perf_counter() - t:.0f}s")
    o, b, c, mm = [], [[] for _ in policies], [], []
    for r in range(sz["gpt_reps"]):
      o.append(ours("run", name="gpt")["s"])
      for i, w in enumerate(eager):
        b[i].append(w("run", name="gpt", steps=n)["s"])
      if compiled:
        c.append(compiled("run", name="gpt", steps=n)["s"])
      mm.append(peak("matmul")["gflops"])
      log(f"  repeat {r + 1}: ours {o[-1] * 1e3:.0f} ms, eager " + ", ".join(f"{x[-1] * 1e3:.0f}" for x in b)
          + (f", compiled {c[-1] * 1e3:.0f}" if c else "") + f" ms, matmul {mm[-1]:.0f} GFLOP/s (load {_load():.1f})")
    best = int(np.argmin([np.median(x) for x in b]))
    rss = {"ours": ours.peak_rss_mb, "torch": eager[best].peak_rss_mb}
  flops = info["flops_per_step"]
  extra = {"gflops": flops / float(np.median(o)) / 1e9, "flops_per_step": flops, "matmul_gflops": float(np.median(mm)),
           "fraction_of_matmul_peak": float(np.median([flops / s / 1e9 / g for s, g in zip(o, mm)])),
           "params": info["params"], "ours_compile_s": info["compile_s"],
           "torch_omp_wait_policy": policies[best] or "default",
           "baseline_by_policy_s": {p or "default": float(np.median(x)) for p, x in zip(policies, b)},
           "matmul_runs_gflops": [round(x, 1) for x in mm]}
  if c:
    extra |= {"torch_compile_s": float(np.median(c)), "speedup_vs_torch_compile": float(np.median(
      [y / x for x, y in zip(o, c)])), "torch_compile_runs_s": [round(x, 5) for x in c]}
  row = _row("gpt_tiny_step", o, "pytorch eager", b[best], **extra)
  mem = {"name": "peak_memory", "ours_s": None, "baseline": "pytorch eager", "baseline_s": None,
         "ours_mb": rss["ours"], "baseline_mb": rss["torch"], "ratio": rss["ours"] / rss["torch"],
         "speedup": rss["torch"] / rss["ours"], "goal": GOALS["peak_memory"],
         "what": "peak RSS of the worker process that built, compiled and trained gpt_tiny_step",
         "ours_stages_mb": info["memory_mb"]}
  return [row, mem], policies[best]


def bench_resnet(sz, log, policy) -> dict:
  n = sz["resnet_steps"]
  with _Workers([Worker("jax"), Worker("torch", _torch_env(policy))]) as ws:
    ours, torch_ = ws.ws
    info = ours("setup_resnet", steps=n)
    tinfo = torch_("setup_resnet")
    torch_("run", name="resnet", steps=2)
    log(f"  ours: {info['params']:,} params, compiled in {info['compile_s']:.1f}s; pytorch: {tinfo['params']:,} params")
    o, b = [], []
    for r in range(sz["resnet_reps"]):
      o.append(ours("run", name="resnet")["s"])
      b.append(torch_("run", name="resnet", steps=n)["s"])
      log(f"  repeat {r + 1}: ours {o[-1] * 1e3:.0f} ms, pytorch eager {b[-1] * 1e3:.0f} ms (load {_load():.1f})")
  return _row("resnet20_step", o, "pytorch eager", b, params=info["params"],
              gflops=info["flops_per_step"] / float(np.median(o)) / 1e9, flops_per_step=info["flops_per_step"])


def mlp_spec(runs: int, steps: int) -> dict[str, Any]:
  """The sweep of mlp_sweep32: 8 seeds x 4 learning rates (fewer of both when `runs` < 32), one vmapped group."""
  seeds = list(range(max(1, runs // 4)))
  lrs = [1e-3, 2e-3, 3e-3, 5e-3][: runs // len(seeds)]
  return {"name": "bench_mlp", "base": {"model": "mlp", "data": "mnist1d", "steps": steps, "batch_size": 128,
                                        "eval_every": 100, "model_args": {"width": 256, "depth": 2},
                                        "optimizer": {"name": "adam"}},
          "axes": {"seed": seeds, "optimizer.lr": lrs}, "sweep": {"checkpoint_every": 0}}


def bench_mlp_sweep(sz, log, policy, tmp: Path) -> dict:
  """Ours: `sweep.run` (local executor) into a fresh folder each repeat, its compilation cache warmed by a first
  run that is not counted. PyTorch: the same runs one after another, with the same evaluations."""
  raw = mlp_spec(sz["mlp_runs"], sz["mlp_steps"])
  runs = [{"seed": s, "lr": lr} for s in raw["axes"]["seed"] for lr in raw["axes"]["optimizer.lr"]]
  cache = str(tmp / "mlp_cache")
  with _Workers([Worker("jax"), Worker("torch", _torch_env(policy))]) as ws:
    ours, torch_ = ws.ws
    first = ours("sweep", raw=raw, out=str(tmp / "mlp_0"), cache=cache)
    log(f"  ours, first run (cold cache, not counted): {first['s']:.1f}s, {first['runs']} runs")
    o, b, extra = [], [], {}
    for r in range(sz["mlp_reps"]):
      res = ours("sweep", raw=raw, out=str(tmp / f"mlp_{r + 1}"), cache=cache)
      o.append(res["s"])
      tres = torch_("mlp_sweep", runs=runs, steps=sz["mlp_steps"], batch=128, eval_every=100)
      b.append(tres["s"])
      extra = {"ours_test_loss_median": res["test_loss"], "baseline_test_loss_median": tres["test_loss"],
               "ours_compile_s": res["compile_s"]}
      log(f"  repeat {r + 1}: ours {o[-1]:.1f}s ({res['runs']} runs, test loss {res['test_loss']:.3f}), "
          f"pytorch {b[-1]:.1f}s (test loss {tres['test_loss']:.3f}) (load {_load():.1f})")
  return _row("mlp_sweep32", o, "pytorch eager, runs one after another", b, runs=len(runs),
              steps=sz["mlp_steps"], **extra)


def bench_chinchilla(sz, log) -> dict:
  """Ours and scipy's reference (which drives a jitted float64 objective, one start at a time) in two worker
  processes, alternating: neither inherits the other's garbage, caches or threads."""
  kw = dict(n_points=sz["fit_points"], n_starts=sz["fit_starts"])
  with _Workers([Worker("jax"), Worker("jax")]) as ws:
    ours, ref = ws.ws
    cold = ours("chinchilla", which="jax", **kw)
    log(f"  ours, first fit (compiles): {cold['s']:.1f}s")
    ref("chinchilla", which="scipy", n_points=kw["n_points"], n_starts=2)  # scipy's first call compiles too
    o, b = [], []
    for r in range(sz["fit_reps"]):
      jx = ours("chinchilla", which="jax", **kw)
      sc = ref("chinchilla", which="scipy", **kw)
      o.append(jx["s"])
      b.append(sc["s"])
      log(f"  repeat {r + 1}: ours {o[-1] * 1e3:.0f} ms, scipy {b[-1]:.2f}s (load {_load():.1f})")
  rel = {k: abs(jx["params"][k] / sc["params"][k] - 1) for k in jx["params"]}
  same = abs(jx["objective"] / sc["objective"] - 1) <= 1e-6
  return _row("chinchilla_fit", o, "scipy L-BFGS-B from the same starts", b, ours_cold_s=cold["s"], **kw,
              ours_objective=jx["objective"], baseline_objective=sc["objective"], ours_params=jx["params"],
              baseline_params=sc["params"], max_param_rel_diff=max(rel.values()), same_optimum=bool(same),
              ours_optimum_as_good=bool(same or jx["objective"] < sc["objective"]))


def bench_compile_cache(sz, log, tmp: Path) -> dict:
  """A sweep run twice, each time in a fresh process, sharing one cache folder (JAX's persistent compilation cache
  and the engine's executables): compile seconds (tracing, lowering and XLA compile or cache load, from JAX's own
  events, plus the executable cache's lookups and loads) of the second vs the first."""
  raw = mlp_spec(sz["mlp_runs"], sz.get("cc_steps", 100))
  raw["axes"]["model_args.width"] = [64, 256]  # two groups, so two sets of programs
  cache = str(tmp / "cc_cache")
  res = []
  for r in range(2):
    with Worker("jax") as w:
      res.append(w("sweep", raw=raw, out=str(tmp / f"cc_{r}"), cache=cache))
    ec = res[-1]["exec_cache"]
    log(f"  run {r + 1}: compile {res[-1]['compile_s']:.2f}s (JAX events {res[-1]['jax_events_s']:.2f}s, executable "
        f"cache loads {ec['load_s']:.2f}s, writes {ec['write_s']:.2f}s not counted) of {res[-1]['s']:.1f}s "
        f"(load {_load():.1f})")
  first, second = res
  return {"name": "compile_cache", "ours_s": second["compile_s"], "baseline": "the same sweep's first run (cold cache)",
          "baseline_s": first["compile_s"], "speedup": first["compile_s"] / second["compile_s"],
          "ratio": second["compile_s"] / first["compile_s"], "goal": GOALS["compile_cache"],
          "wall_first_s": first["s"], "wall_second_s": second["s"], "jax_events_s": [x["jax_events_s"] for x in res],
          "exec_cache": [x["exec_cache"] for x in res]}


def _goal_met(row: dict) -> bool:
  n = row["name"]
  if n == "gpt_tiny_step":
    return row["speedup"] >= 1.25 and row["fraction_of_matmul_peak"] >= 0.65
  if n == "chinchilla_fit":
    return row["speedup"] >= 20 and row["ours_optimum_as_good"]
  if n in ("compile_cache", "peak_memory"):
    return row["ratio"] <= (0.10 if n == "compile_cache" else 1.0)
  return row["speedup"] >= {"resnet20_step": 1.0, "mlp_sweep32": 5.0}[n]


def machine() -> dict[str, Any]:
  cpu = platform.processor() or platform.machine()
  try:
    cpu = next(ln.split(":", 1)[1].strip() for ln in open("/proc/cpuinfo") if ln.startswith("model name"))
  except (OSError, StopIteration):
    pass
  import importlib.metadata as md

  versions = {}
  for pkg in ("jax", "jaxlib", "flax", "optax", "torch", "numpy", "scipy"):
    try:
      versions[pkg] = md.version(pkg)
    except md.PackageNotFoundError:
      versions[pkg] = None
  return {"cpu": cpu, "cores": os.cpu_count(), "python": platform.python_version(), "versions": versions,
          "xla_flags": os.environ.get("XLA_FLAGS", ""), "loadavg_start": os.getloadavg()}


ROWS = ("gpt_tiny_step", "resnet20_step", "mlp_sweep32", "chinchilla_fit", "compile_cache")


def main(quick: bool = False, json_path: str | None = None, *, rows: tuple[str, ...] = ROWS,
         sizes: dict | None = None, log=print) -> int:
  import importlib.util

  if importlib.util.find_spec("torch") is None and {"gpt_tiny_step", "resnet20_step", "mlp_sweep32"} & set(rows):
    print("scalezoo bench: PyTorch is not installed; run `make bench` (installs torch==2.13.0 CPU)", file=sys.stderr)
    return 2
  sz = {**SIZES["quick" if quick else "full"], **(sizes or {})}
  t0 = time.perf_counter()
  info = machine()
  log(f"scalezoo bench{' --quick' if quick else ''}: {info['cpu']}, {info['cores']} cores, load "
      f"{info['loadavg_start'][0]:.1f}; jax {info['versions']['jax']}, torch {info['versions']['torch']}")
  out, policy = [], os.environ.get("OMP_WAIT_POLICY")
  with tempfile.TemporaryDirectory(prefix="scalezoo-bench-") as d:
    tmp = Path(d)
    for name in rows:
      log(f"{name}:")
      t = time.perf_counter()
      if name == "gpt_tiny_step":
        got, policy = bench_gpt(sz, log)
      elif name == "resnet20_step":
        got = [bench_resnet(sz, log, policy)]
      elif name == "mlp_sweep32":
        got = [bench_mlp_sweep(sz, log, policy, tmp)]
      elif name == "chinchilla_fit":
        got = [bench_chinchilla(sz, log)]
      elif name == "compile_cache":
        got = [bench_compile_cache(sz, log, tmp)]
      else:
        raise ValueError(f"unknown bench row {name!r}; rows: {', '.join(ROWS)}")
      for row in got:
        row["goal_met"] = _goal_met(row)
        row["row_wall_s"] = time.perf_counter() - t
      out += got
  gpt = next((r for r in out if r["name"] == "gpt_tiny_step"), None)
  info |= {"loadavg_end": os.getloadavg(), "quick": quick, "sizes": sz, "wall_s": time.perf_counter() - t0}
  result = {"matmul_peak_gflops": gpt["matmul_gflops"] if gpt else None, "machine": info, "rows": out}
  log("\n" + table(result))
  if json_path:
    Path(json_path).parent.mkdir(parents=True, exist_ok=True)
    Path(json_path).write_text(json.dumps(result, indent=1) + "\n")
  return 0


def _fmt(row: dict, key: str) -> str:
  if row["name"] == "peak_memory":
    return f"{row['ours_mb' if key == 'ours' else 'baseline_mb']:.0f} MB"
  v = row["ours_s" if key == "ours" else "baseline_s"]
  return f"{v * 1e3:.1f} ms" if v < 1 else f"{v:.2f} s"


def table(result: dict) -> str:
  """The results as a Markdown table (the README's)."""
  lines = ["| row | ours | baseline | baseline time | speedup | goal | met |", "|---|---|---|---|---|---|---|"]
  for r in result["rows"]:
    sp = f"{r['speedup']:.2f}x" + (f" (ratio {r['ratio']:.2f})" if "ratio" in r else "")
    if "fraction_of_matmul_peak" in r:
      sp += f", {r['fraction_of_matmul_peak']:.0%} of matmul peak"
    lines.append(f"| {r['name']} | {_fmt(r, 'ours')} | {r['baseline']} | {_fmt(r, 'base')} | {sp} | {r['goal']} | "
                 f"{'yes' if r['goal_met'] else 'no'} |")
  return "\n".join(lines)


class _Workers:
  def __init__(self, ws):
    self.ws = ws

  def __enter__(self):
    return self

  def __exit__(self, *exc):
    for w in self.ws:
      w.close()


if __name__ == "__main__":
  if sys.argv[1:2] == ["--worker"]:
    worker(sys.argv[2])
