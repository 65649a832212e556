"""The token loader's bench rows: tokens per second on one core through `tokens.train_batches`, and the peak RSS of a
process streaming from a 10M-token and a 1B-token corpus (generated here with numpy: random uint16 tokens in
documents of random length, written by the corpus writer into the bench's temp folder and deleted with it).

  loader_throughput  tokens per CPU second of train_batches (global batch 32 x 1024, prefetch 2: the reading thread
                     and the consumer) in a worker pinned to one core, reading the 1B-token corpus; the goal is 5M.
                     Per CPU second rather than per wall second: on a shared machine the pinned core is not ours
                     alone (tokens_per_s, by the wall clock, is in the row too)
  loader_peak_rss    peak RSS of a fresh worker that loads the 1B-token corpus's split and streams N steps, against
                     a worker doing the same on the 10M-token corpus; the goal is at most 50 MB more
"""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path
from typing import Any

import numpy as np

from scalezoo.bench import probes

GOAL_TOKENS_PER_S = 5e6
GOAL_RSS_DELTA_MB = 50.0
LOADER = dict(context=1024, global_batch=32, eval_windows=64, vocab=50257, doc_tokens=4096)


def synthetic_corpus(path: Path, tokens: int, *, vocab: int, doc_tokens: int, seed: int = 0) -> dict[str, Any]:
  """A corpus of about `tokens` tokens (EOS included): documents of uniform random length in [doc_tokens / 2,
  3 doc_tokens / 2), random ids below vocab - 1, EOS vocab - 1. Written in chunks: memory stays small."""
  from scalezoo.data.tokenize import CorpusWriter

  rng = np.random.default_rng(seed)
  with CorpusWriter(path, vocab_size=vocab, eos_id=vocab - 1) as w:
    while w.tokens < tokens:
      lengths = rng.integers(doc_tokens // 2, doc_tokens * 3 // 2, 4096)
      lengths = lengths[: int(np.searchsorted(np.cumsum(lengths + 1), tokens - w.tokens)) + 1]
      ids = rng.integers(0, vocab - 1, int(lengths.sum()), dtype=np.uint16)
      for a, n in zip(np.cumsum(lengths) - lengths, lengths):
        w.add(ids[a : a + n])
        w.end_document()
    return w.commit(tokenizer={"kind": "synthetic", "vocab_size": vocab})


class LoaderSide:
  """The bench worker's loader side (`--worker loader`): imports the data sets and Grain, nothing of JAX's."""

  def __init__(self):
    import grain  # noqa: F401  (imported before the first measurement, as a training process would have it)

    from scalezoo import data
    from scalezoo.data import tokens

    self.data, self.tokens = data, tokens

  def stream(self, path: str, steps: int, context: int, global_batch: int, eval_windows: int, start_step: int = 0):
    """Load the split (val/test windows in memory), then stream `steps` batches; seconds, CPU seconds, memory."""
    t0 = time.perf_counter()
    split = self.data.load("tokens", seed=0, path=path, context=context, eval_windows=eval_windows)
    it = self.tokens.train_batches(
      split.info["stream"], global_batch=global_batch, seed=0, start_step=start_step, process_index=0, process_count=1
    )
    next(it)  # the prefetch thread is running
    load_s, t, c = time.perf_counter() - t0, time.perf_counter(), probes.cpu_s()
    checksum = 0
    for _ in range(steps):
      b = next(it)
      checksum += int(b["x"][0, 0])
    s, cpu = time.perf_counter() - t, probes.cpu_s() - c
    it.close()
    n = steps * global_batch * context
    return {"s": s, "cpu_s": cpu, "tokens": n, "load_s": load_s, "memory_mb": probes.vm_mb(), "checksum": checksum}

  def pin(self):
    """Run on one core from here on: the last one this process may use."""
    core = max(os.sched_getaffinity(0))
    os.sched_setaffinity(0, {core})
    return {"core": core}


def bench(sz: dict, log, tmp: Path, Worker) -> list[dict[str, Any]]:
  """The two rows; Worker is worker.Worker (passed in: the worker process imports this module)."""
  small, big, steps = sz["loader_small_tokens"], sz["loader_big_tokens"], sz["loader_steps"]
  need = big * 2 * 1.1 + small * 2
  if shutil.disk_usage(tmp).free < need:
    raise RuntimeError(f"{tmp}: the loader rows need {need / 2**30:.1f} GiB free to generate their corpora")
  kw = {k: LOADER[k] for k in ("context", "global_batch", "eval_windows")}
  paths = {}
  for name, n in (("small", small), ("big", big)):
    t = time.perf_counter()
    paths[name] = str(tmp / f"loader_{name}")
    index = synthetic_corpus(Path(paths[name]), n, vocab=LOADER["vocab"], doc_tokens=LOADER["doc_tokens"])
    log(
      f"  {name} corpus: {index['tokens']:,} tokens, {index['documents']['count']:,} documents, "
      f"{len(index['shards'])} shard(s), written in {time.perf_counter() - t:.1f}s"
    )
  peak = {}
  for name in ("small", "big"):  # a fresh process each: its peak RSS is this corpus's alone
    with Worker("loader") as w:
      r = w("stream", path=paths[name], steps=steps, **kw)
      peak[name] = r["memory_mb"]["VmHWM"]  # not ru_maxrss: across vfork + exec it keeps the parent's RSS
      log(
        f"  {name}: peak RSS {peak[name]:.1f} MB after {steps} steps (ru_maxrss {w.peak_rss_mb:.1f} MB), "
        f"{r['tokens'] / r['s'] / 1e6:.1f}M tokens/s, split loaded in {r['load_s']:.2f}s (load {probes.load():.1f})"
      )
  runs = []
  with Worker("loader") as w:
    core = w("pin")["core"]
    for rep in range(sz["loader_reps"]):
      r = w("stream", path=paths["big"], steps=steps, start_step=rep * steps, **kw)
      runs.append(r)
      log(
        f"  repeat {rep + 1}: {r['tokens'] / r['s'] / 1e6:.1f}M tokens/s on core {core} "
        f"({r['tokens'] / r['cpu_s'] / 1e6:.1f}M per CPU second) (load {probes.load():.1f})"
      )
  batch_tokens = LOADER["global_batch"] * LOADER["context"]
  per_step = [r["s"] / steps for r in runs]
  tps = [r["tokens"] / r["s"] for r in runs]
  per_cpu = [r["tokens"] / r["cpu_s"] for r in runs]
  throughput = {
    "name": "loader_throughput",
    "ours_s": float(np.median([r["cpu_s"] / steps for r in runs])),
    "baseline": f"the goal: {GOAL_TOKENS_PER_S / 1e6:.0f}M tokens per CPU second",
    "baseline_s": batch_tokens / GOAL_TOKENS_PER_S,
    "speedup": float(np.median(per_cpu)) / GOAL_TOKENS_PER_S,
    "tokens_per_s": float(np.median(tps)),
    "tokens_per_cpu_s": float(np.median(per_cpu)),
    "what": f"CPU seconds per step of train_batches, batch {LOADER['global_batch']}x{LOADER['context']}, one core, "
    f"{big:,}-token corpus",
    "steps": steps,
    "core": core,
    "wall_runs_s": [round(x, 6) for x in per_step],
    "ours_runs_s": [round(r["cpu_s"] / steps, 6) for r in runs],
  }
  rss = {
    "name": "loader_peak_rss",
    "ours_s": None,
    "baseline": f"the same on a {small:,}-token corpus",
    "baseline_s": None,
    "ours_mb": peak["big"],
    "baseline_mb": peak["small"],
    "delta_mb": peak["big"] - peak["small"],
    "ratio": peak["big"] / peak["small"],
    "speedup": peak["small"] / peak["big"],
    "what": f"peak RSS of a process that loads the {big:,}-token corpus's split and streams {steps} steps",
    "steps": steps,
  }
  for p in paths.values():
    shutil.rmtree(p, ignore_errors=True)
  return [throughput, rss]


def goal_met(row: dict) -> bool:
  if row["name"] == "loader_throughput":
    return row["tokens_per_cpu_s"] >= GOAL_TOKENS_PER_S
  return row["delta_mb"] <= GOAL_RSS_DELTA_MB
