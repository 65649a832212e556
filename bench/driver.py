"""`scalezoo bench`: ours against PyTorch on this machine, same model, batch, optimizer, dtype and threads.

Each side runs in a worker process of its own (bench.worker; jax_side and torch_side do the work), and the
driver alternates them repeat by repeat, so a shared, noisy machine slows both alike, and reports medians and the
median of the per-repeat ratios. Rows (workloads in bench.workloads):

  gpt_tiny_step         one AdamW step of GPT d256 L4 H4, context 128, batch 16, vocab 256 (ours: the engine's
                        scan-fused chunk, per step) vs PyTorch eager (and torch.compile); also FLOP/s over an f32
                        matmul's, interleaved
  resnet20_step         one SGD-momentum step of ResNet-20, 32x32x3, batch 64 vs PyTorch eager
  resnet18_step         the same for ResNet-18 (torchvision's layout, 10 classes), 64x64x3, batch 32
  efficientnet_b0_step  the same for EfficientNet-B0 (depthwise convolutions), 64x64x3, batch 16
  mlp_sweep32           32 MNIST-1D runs (MLP 40-256-256-10, Adam, batch 128, 500 steps, 8 seeds x 4 lrs) through
                        the sweep engine (warm compilation cache) vs 32 sequential PyTorch eager runs
  chinchilla_fit        our batched fitter vs scipy L-BFGS-B from the same starts on the same synthetic points
  fit_cli               `scalezoo fit` wall seconds in a fresh process (imports, fit, 200-resample bootstrap, JSON) on
                        12 and 1,000 synthetic runs (power and chinchilla laws); the slowest counts
  compile_cache         compile seconds of a sweep run again in a fresh process, with JAX's persistent compilation
                        cache, vs its first run
  loader_throughput     tokens/s of the token loader on one core, batch 32x1024, from a generated 1B-token corpus;
                        with it loader_peak_rss, the peak RSS streaming from that corpus vs a 10M-token one (loader.py)
  fsdp_memory           a GPT's parameter + optimizer bytes per device under fsdp=8 vs replicated, 8 host CPU
                        devices, by XLA's memory analysis of the compiled step (fsdp.py)
  models_cli            wall seconds of `scalezoo models` in a fresh process (bench.cli_rows)
  sweep_expand          wall seconds of `scalezoo sweep SPEC --dry-run` of a 10^5-run grid (10 widths x 10^4
                        seeds) in a fresh process vs every run parsed and hashed; with it the 10^6-run grid's time,
                        CPU and peak RSS (bench.cli_rows)
  peak_memory           peak RSS of the gpt_tiny_step workers (all of it: runtime, compilation, training)

--quick times the same work per repeat (the rows as the issue defines them) with fewer repeats and no torch.compile.
"""

from __future__ import annotations

import importlib.util
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from scalezoo.bench import cli_rows, fsdp, loader, probes
from scalezoo.bench import workloads as W
from scalezoo.bench.worker import Worker, Workers

WORK = dict(gpt_steps=10, conv_steps=5, mlp_runs=32, mlp_steps=500, fit_points=250, fit_starts=500)  # one repeat
WORK |= dict(loader_steps=2000, loader_small_tokens=10_000_000, loader_big_tokens=1_000_000_000)
SIZES = {  # full and --quick time the same work (the rows); --quick repeats less and skips torch.compile
  "full": dict(WORK, gpt_reps=7, conv_reps=7, mlp_reps=3, fit_reps=5, loader_reps=5, torch_compile=True),
  "quick": dict(WORK, gpt_reps=3, conv_reps=3, mlp_reps=2, fit_reps=3, loader_reps=3, torch_compile=False),
}
GOALS = {
  "gpt_tiny_step": "speedup >= 1.25 and fraction_of_matmul_peak >= 0.65",
  "resnet20_step": "speedup >= 1.0",
  "resnet18_step": "speedup >= 1.0",
  "efficientnet_b0_step": "speedup >= 1.0",
  "mlp_sweep32": "speedup >= 5",
  "chinchilla_fit": "speedup >= 20, optimum as good (objective within 1e-6 or lower)",
  "compile_cache": "ratio <= 0.10",
  "fit_cli": "ratio <= 1.0 (<= 3 s cold, up to 1,000 points)",
  "peak_memory": "ratio <= 1.0",
  "loader_throughput": f"tokens_per_cpu_s >= {loader.GOAL_TOKENS_PER_S:.0e} (one core)",
  "fsdp_memory": fsdp.GOAL,
  "loader_peak_rss": f"delta_mb <= {loader.GOAL_RSS_DELTA_MB:.0f} (1B-token corpus vs 10M)",
  "models_cli": "ours_s <= 3",
  "sweep_expand": "ours_s <= 3 (10^5 runs, cold)",
}
ROWS = (
  "gpt_tiny_step",
  "resnet20_step",
  "resnet18_step",
  "efficientnet_b0_step",
  "mlp_sweep32",
  "chinchilla_fit",
  "fit_cli",
  "compile_cache",
  "loader_throughput",
  "fsdp_memory",
  "models_cli",
  "sweep_expand",
)  # peak_memory comes with gpt_tiny_step, loader_peak_rss with loader_throughput
TORCH_ROWS = {"gpt_tiny_step", "mlp_sweep32", *W.CONVNETS}


def _row(name, ours, baseline_name, baseline, *, ratios=None, **extra) -> dict[str, Any]:
  """A row from per-repeat seconds (ours[i] and baseline[i] ran back to back)."""
  ratios = ratios if ratios is not None else [b / o for o, b in zip(ours, baseline)]
  return {
    "name": name,
    "ours_s": float(np.median(ours)),
    "baseline": baseline_name,
    "baseline_s": float(np.median(baseline)),
    "speedup": float(np.median(ratios)),
    "goal": GOALS[name],
    "ours_runs_s": [round(x, 5) for x in ours],
    "baseline_runs_s": [round(x, 5) for x in baseline],
    **extra,
  }


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
  with Workers([Worker("jax"), Worker("jax")] + [Worker("torch", _torch_env(p)) for p in policies]) as ws:
    ours, peak, eager = ws.ws[0], ws.ws[1], ws.ws[2:]  # the matmul in its own process: not in ours' peak RSS
    info = ours("setup_gpt", steps=n)
    log(
      f"  ours: {info['params']:,} params, {info['flops_per_step'] / 1e9:.1f} GFLOP/step by XLA's count, "
      f"compiled in {info['compile_s']:.1f}s"
    )
    log(
      "  ours, peak/current RSS after each stage: "
      + ", ".join(f"{k} {v.get('VmHWM', 0):.0f}/{v.get('VmRSS', 0):.0f} MB" for k, v in info["memory_mb"].items())
    )
    for p, w in zip(policies, eager):
      tinfo = w("setup_gpt", compile=False)
      _same_params("gpt_tiny_step", info, tinfo)
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
      log(
        f"  repeat {r + 1}: ours {o[-1] * 1e3:.0f} ms, eager "
        + ", ".join(f"{x[-1] * 1e3:.0f}" for x in b)
        + (f", compiled {c[-1] * 1e3:.0f}" if c else "")
        + f" ms, matmul {mm[-1]:.0f} GFLOP/s (load {probes.load():.1f})"
      )
    best = int(np.argmin([np.median(x) for x in b]))
    rss = {"ours": ours.peak_rss_mb, "torch": eager[best].peak_rss_mb}
  flops = info["flops_per_step"]
  extra = {
    "gflops": flops / float(np.median(o)) / 1e9,
    "flops_per_step": flops,
    "matmul_gflops": float(np.median(mm)),
    "fraction_of_matmul_peak": float(np.median([flops / s / 1e9 / g for s, g in zip(o, mm)])),
    "params": info["params"],
    "ours_compile_s": info["compile_s"],
    "torch_omp_wait_policy": policies[best] or "default",
    "baseline_by_policy_s": {p or "default": float(np.median(x)) for p, x in zip(policies, b)},
    "matmul_runs_gflops": [round(x, 1) for x in mm],
  }
  if c:
    extra |= {
      "torch_compile_s": float(np.median(c)),
      "speedup_vs_torch_compile": float(np.median([y / x for x, y in zip(o, c)])),
      "torch_compile_runs_s": [round(x, 5) for x in c],
    }
  row = _row("gpt_tiny_step", o, "pytorch eager", b[best], **extra)
  mem = {
    "name": "peak_memory",
    "ours_s": None,
    "baseline": "pytorch eager",
    "baseline_s": None,
    "ours_mb": rss["ours"],
    "baseline_mb": rss["torch"],
    "ratio": rss["ours"] / rss["torch"],
    "speedup": rss["torch"] / rss["ours"],
    "goal": GOALS["peak_memory"],
    "what": "peak RSS of the worker process that built, compiled and trained gpt_tiny_step",
    "ours_stages_mb": info["memory_mb"],
  }
  return [row, mem], policies[best]


def bench_convnet(row: str, sz, log, policy) -> dict:
  """One SGD-momentum train step of a zoo convnet (W.CONVNETS[row]) vs the same net in PyTorch eager."""
  n, net = sz["conv_steps"], W.CONVNETS[row]
  with Workers([Worker("jax"), Worker("torch", _torch_env(policy))]) as ws:
    ours, torch_ = ws.ws
    info = ours("setup_convnet", row=row, steps=n)
    tinfo = torch_("setup_convnet", row=row)
    _same_params(row, info, tinfo)
    torch_("run", name=row, steps=2)
    log(
      f"  ours: {info['params']:,} params, {info['flops_per_step'] / 1e9:.1f} GFLOP/step, compiled in "
      f"{info['compile_s']:.1f}s; pytorch: {tinfo['params']:,} params"
    )
    o, b = [], []
    for r in range(sz["conv_reps"]):
      o.append(ours("run", name=row)["s"])
      b.append(torch_("run", name=row, steps=n)["s"])
      log(f"  repeat {r + 1}: ours {o[-1] * 1e3:.0f} ms, pytorch eager {b[-1] * 1e3:.0f} ms (load {probes.load():.1f})")
  return _row(
    row,
    o,
    "pytorch eager",
    b,
    model=net.model,
    image=net.image,
    batch=net.batch,
    params=info["params"],
    gflops=info["flops_per_step"] / float(np.median(o)) / 1e9,
    flops_per_step=info["flops_per_step"],
    ours_compile_s=info["compile_s"],
  )


def _same_params(row: str, ours: dict, theirs: dict) -> None:
  if ours["params"] != theirs["params"]:
    raise RuntimeError(f"{row}: the PyTorch twin has {theirs['params']:,} parameters, ours {ours['params']:,}")


def bench_mlp_sweep(sz, log, policy, tmp: Path) -> dict:
  """Ours: `sweep.run` (local executor) into a fresh folder each repeat, its compilation cache warmed by a first
  run that is not counted. PyTorch: the same runs one after another, with the same evaluations."""
  raw = W.mlp_spec(sz["mlp_runs"], sz["mlp_steps"])
  runs = [{"seed": s, "lr": lr} for s in raw["axes"]["seed"] for lr in raw["axes"]["optimizer.lr"]]
  cache = str(tmp / "mlp_cache")
  with Workers([Worker("jax"), Worker("torch", _torch_env(policy))]) as ws:
    ours, torch_ = ws.ws
    first = ours("sweep", raw=raw, out=str(tmp / "mlp_0"), cache=cache)
    log(f"  ours, first run (cold cache, not counted): {first['s']:.1f}s, {first['runs']} runs")
    o, b, extra = [], [], {}
    for r in range(sz["mlp_reps"]):
      res = ours("sweep", raw=raw, out=str(tmp / f"mlp_{r + 1}"), cache=cache)
      o.append(res["s"])
      tres = torch_("mlp_sweep", runs=runs, steps=sz["mlp_steps"], batch=128, eval_every=100)
      b.append(tres["s"])
      extra = {
        "ours_test_loss_median": res["test_loss"],
        "baseline_test_loss_median": tres["test_loss"],
        "ours_compile_s": res["compile_s"],
      }
      log(
        f"  repeat {r + 1}: ours {o[-1]:.1f}s ({res['runs']} runs, test loss {res['test_loss']:.3f}), "
        f"pytorch {b[-1]:.1f}s (test loss {tres['test_loss']:.3f}) (load {probes.load():.1f})"
      )
  return _row(
    "mlp_sweep32", o, "pytorch eager, runs one after another", b, runs=len(runs), steps=sz["mlp_steps"], **extra
  )


def bench_chinchilla(sz, log) -> dict:
  """Ours and scipy's reference (which drives a jitted float64 objective, one start at a time) in two worker
  processes, alternating: neither inherits the other's garbage, caches or threads."""
  kw = dict(n_points=sz["fit_points"], n_starts=sz["fit_starts"])
  with Workers([Worker("jax"), Worker("jax")]) as ws:
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
      log(f"  repeat {r + 1}: ours {o[-1] * 1e3:.0f} ms, scipy {b[-1]:.2f}s (load {probes.load():.1f})")
  rel = {k: abs(jx["params"][k] / sc["params"][k] - 1) for k in jx["params"]}
  same = abs(jx["objective"] / sc["objective"] - 1) <= 1e-6
  return _row(
    "chinchilla_fit",
    o,
    "scipy L-BFGS-B from the same starts",
    b,
    ours_cold_s=cold["s"],
    **kw,
    ours_objective=jx["objective"],
    baseline_objective=sc["objective"],
    ours_params=jx["params"],
    baseline_params=sc["params"],
    max_param_rel_diff=max(rel.values()),
    same_optimum=bool(same),
    ours_optimum_as_good=bool(same or jx["objective"] < sc["objective"]),
  )


def bench_fit_cli(sz, log, tmp: Path) -> dict:
  """`scalezoo fit` as a user runs it, cold: a fresh interpreter each time, on synthetic runs.jsonl folders."""
  import resource
  import subprocess

  from scalezoo.scaling.synthetic import synthetic_chinchilla

  cases, worst = [], None
  for n, law in ((12, "power"), (1000, "power"), (12, "chinchilla"), (1000, "chinchilla")):
    X, L = synthetic_chinchilla(n_points=n, noise=0.01, seed=n)
    d = tmp / f"fit_{law}_{n}"
    d.mkdir(parents=True, exist_ok=True)
    rows = [
      {
        "run_id": f"r{i}",
        "status": "finished",
        "params": X["N"][i],
        "tokens_seen": X["D"][i],
        "metrics": {"test_loss": L[i]},
      }
      for i in range(n)
    ]
    (d / "runs.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    times, cpu = [], []
    for _ in range(sz["fit_reps"]):
      c0 = resource.getrusage(resource.RUSAGE_CHILDREN)
      t = time.perf_counter()
      subprocess.run(
        [sys.executable, "-m", "scalezoo.cli", "fit", str(d), "--law", law], check=True, capture_output=True
      )
      times.append(time.perf_counter() - t)
      c1 = resource.getrusage(resource.RUSAGE_CHILDREN)
      cpu.append(c1.ru_utime + c1.ru_stime - c0.ru_utime - c0.ru_stime)  # what a busy machine does not inflate
    cases.append(
      {
        "points": n,
        "law": law,
        "s": float(np.median(times)),
        "cpu_s": float(np.median(cpu)),
        "runs_s": [round(x, 3) for x in times],
      }
    )
    log(f"  {law}, {n} points: {cases[-1]['s']:.2f}s wall, {cases[-1]['cpu_s']:.2f}s CPU (load {probes.load():.1f})")
    worst = max(worst or cases[-1], cases[-1], key=lambda c: c["s"])
  return {
    "name": "fit_cli",
    "ours_s": worst["s"],
    "baseline": "the goal: 3 s",
    "baseline_s": 3.0,
    "speedup": 3.0 / worst["s"],
    "ratio": worst["s"] / 3.0,
    "goal": GOALS["fit_cli"],
    "cases": cases,
  }


def bench_compile_cache(sz, log, tmp: Path) -> dict:
  """A sweep run twice, each time in a fresh process, sharing one JAX persistent compilation cache folder: compile
  seconds (JAX's own events: tracing, lowering, and XLA compilation or its load from the cache) of the second run
  vs the first. Tracing and lowering are not cached, so they count in both."""
  raw = W.mlp_spec(sz["mlp_runs"], sz.get("cc_steps", 100))
  raw["axes"]["model_args.width"] = [64, 256]  # two groups, so two sets of programs
  cache = str(tmp / "cc_cache")
  res = []
  for r in range(2):
    with Worker("jax") as w:
      res.append(w("sweep", raw=raw, out=str(tmp / f"cc_{r}"), cache=cache))
    ev, pc = res[-1]["compile_events_s"], res[-1]["persistent_cache"]
    log(
      f"  run {r + 1}: compile {res[-1]['compile_s']:.2f}s (trace {ev['jaxpr_trace_duration']:.2f}, lower "
      f"{ev['jaxpr_to_mlir_module_duration']:.2f}, compile or load {ev['backend_compile_duration']:.2f}; cache "
      f"{pc['cache_hits']} hits, {pc['cache_misses']} misses) of {res[-1]['s']:.1f}s (load {probes.load():.1f})"
    )
  first, second = res
  return {
    "name": "compile_cache",
    "ours_s": second["compile_s"],
    "baseline": "the same sweep's first run (cold cache)",
    "baseline_s": first["compile_s"],
    "speedup": first["compile_s"] / second["compile_s"],
    "ratio": second["compile_s"] / first["compile_s"],
    "goal": GOALS["compile_cache"],
    "wall_first_s": first["s"],
    "wall_second_s": second["s"],
    "compile_events_s": [x["compile_events_s"] for x in res],
    "persistent_cache": [x["persistent_cache"] for x in res],
  }


def _goal_met(row: dict) -> bool:
  n = row["name"]
  if n.startswith("loader_"):
    return loader.goal_met(row)
  if n == "fsdp_memory":
    return row["fraction"] <= fsdp.GOAL_FRACTION
  if n == "gpt_tiny_step":
    return row["speedup"] >= 1.25 and row["fraction_of_matmul_peak"] >= 0.65
  if n == "chinchilla_fit":
    return row["speedup"] >= 20 and row["ours_optimum_as_good"]
  if n == "fit_cli":
    return row["ratio"] <= 1.0
  if n in ("models_cli", "sweep_expand"):
    return row["ours_s"] <= 3.0
  if n in ("compile_cache", "peak_memory"):
    return row["ratio"] <= (0.10 if n == "compile_cache" else 1.0)
  return row["speedup"] >= (5.0 if n == "mlp_sweep32" else 1.0)


def main(
  quick: bool = False,
  json_path: str | None = None,
  *,
  rows: tuple[str, ...] = ROWS,
  sizes: dict | None = None,
  log=print,
) -> int:
  if bad := [r for r in rows if r not in ROWS]:
    raise ValueError(f"unknown bench row(s) {', '.join(map(repr, bad))}; rows: {', '.join(ROWS)}")
  if TORCH_ROWS & set(rows) and importlib.util.find_spec("torch") is None:
    print("scalezoo bench: PyTorch is not installed; run `make bench` (installs torch==2.14.1)", file=sys.stderr)
    return 2
  sz = {**SIZES["quick" if quick else "full"], **(sizes or {})}
  t0 = time.perf_counter()
  info = probes.machine()
  log(
    f"scalezoo bench{' --quick' if quick else ''}: {info['cpu']}, {info['cores']} cores, load "
    f"{info['loadavg_start'][0]:.1f}; jax {info['versions']['jax']}, torch {info['versions']['torch']}"
  )
  out, policy = [], os.environ.get("OMP_WAIT_POLICY")
  with tempfile.TemporaryDirectory(prefix="scalezoo-bench-") as d:
    tmp = Path(d)
    for name in rows:
      log(f"{name}:")
      t = time.perf_counter()
      if name == "gpt_tiny_step":
        got, policy = bench_gpt(sz, log)
      elif name in W.CONVNETS:
        got = [bench_convnet(name, sz, log, policy)]
      elif name == "mlp_sweep32":
        got = [bench_mlp_sweep(sz, log, policy, tmp)]
      elif name == "chinchilla_fit":
        got = [bench_chinchilla(sz, log)]
      elif name == "fsdp_memory":
        got = [fsdp.bench(log) | {"goal": GOALS["fsdp_memory"]}]
      elif name == "loader_throughput":
        got = [r | {"goal": GOALS[r["name"]]} for r in loader.bench(sz, log, tmp, Worker)]
      elif name == "fit_cli":
        got = [bench_fit_cli(sz, log, tmp)]
      elif name == "models_cli":
        got = [cli_rows.bench_models(sz, log, GOALS[name])]
      elif name == "sweep_expand":
        got = [cli_rows.bench_sweep_expand(sz, log, GOALS[name], tmp)]
      else:
        got = [bench_compile_cache(sz, log, tmp)]
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
  if "ours_mb" in row:  # peak_memory, loader_peak_rss
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
    lines.append(
      f"| {r['name']} | {_fmt(r, 'ours')} | {r['baseline']} | {_fmt(r, 'base')} | {sp} | {r['goal']} | "
      f"{'yes' if r['goal_met'] else 'no'} |"
    )
  return "\n".join(lines)
