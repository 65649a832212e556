"""The training loop: RunConfigs in, trained states and RunRecords out.

`fit_group` trains runs that share a compiled shape (they differ only in seed and learning rate) together under
jax.vmap; `fit` trains one run, into a run folder when given one. Steps run in lax.scan chunks between
evaluations; divergence, early stopping, checkpoints and progress are handled at chunk boundaries, so a resumed run
repeats the same chunks.
"""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import io
import json
import logging
import math
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from scalezoo import zoo
from scalezoo.train import data as data_lib
from scalezoo.train import faults, files, mfu
from scalezoo.train import mesh as mesh_lib
from scalezoo.train import step as S
from scalezoo.train.checkpoint import Checkpointer, owner_of
from scalezoo.train.config import ConfigError, RunConfig, show
from scalezoo.train.data import tokens
from scalezoo.train.init_from import load_init, load_weights_init, start_from
from scalezoo.train.record import RunRecord, now
from scalezoo.train.tasks import get as get_task
from scalezoo.train.writers import open_writers
from scalezoo.zoo import mup as zoo_mup

# Model options a data set fills in when the config leaves them out.
FROM_DATA = {
  "num_outputs": "num_classes",
  "num_classes": "num_classes",
  "vocab_size": "vocab_size",
  "vocab": "vocab_size",
}


def group_key(cfg: RunConfig) -> str:
  """Runs with the same key share every shape and can train together: they differ in seed and lr only."""
  return cfg.program().run_id()


def model_args(cfg: RunConfig, info: dict[str, Any]) -> dict[str, Any]:
  """The config's model options completed from the data set (classes, vocabulary, input size)."""
  defaults = zoo.spec(cfg.model).defaults
  args = dict(cfg.model_args)
  for opt, fact in FROM_DATA.items():
    if opt in defaults and opt not in args and info.get(fact):
      args[opt] = int(info[fact])
  if "in_features" in defaults and "in_features" not in args and info.get("input_shape"):
    args["in_features"] = int(np.prod(info["input_shape"]))
  if cfg.remat == "block":
    if "remat" not in defaults:
      with_blocks = ", ".join(n for n in zoo.names() if "remat" in zoo.spec(n).defaults)
      raise ConfigError(f"remat = 'block' needs a model with transformer blocks ({with_blocks}), not {cfg.model!r}")
    args["remat"] = True
  return args


def load_split(cfg: RunConfig) -> data_lib.Split:
  return _own_masks(data_lib.load(cfg.data, seed=cfg.data_seed, **cfg.data_args))


def load_split_checked(cfg: RunConfig) -> data_lib.Split:
  """load_split with a data error (a missing user file, a bad option) as bad input, before anything is written."""
  try:
    return load_split(cfg)
  except ValueError as e:
    raise ConfigError(f"data {cfg.data!r}: {faults.one_line(e, 300)}") from None


def check_model_fits(cfg: RunConfig, info: dict[str, Any], group: int = 1) -> None:
  """Refuse, before building it, a model whose parameters and optimizer state alone exceed the machine's memory
  (counted by zoo with jax.eval_shape: nothing allocated)."""
  try:
    n = zoo.count_params(cfg.model, **model_args(cfg, info))
  except (ValueError, TypeError, MemoryError) as e:
    raise ConfigError(f"model {cfg.model!r} {show(cfg.model_args)}: {faults.one_line(e)}") from None
  need = n * 4 * (4 + bool(cfg.early_stopping_patience)) * group  # params, gradient, 2 optimizer moments, best
  have = faults.memory_bytes()
  if need > have:
    raise ConfigError(
      f"model {cfg.model!r} has {n:,} parameters: about {need / 2**30:.1f} GiB with gradients and optimizer "
      f"state{f' for {group} runs' if group > 1 else ''}, more than the {have / 2**30:.1f} GiB of memory here"
    )


def _own_masks(split: data_lib.Split) -> data_lib.Split:
  """One-graph node tasks hold the graph in every split with three masks: each split keeps its own as `mask`."""
  if "train_mask" not in split.train:
    return split
  own = lambda a, name: {**{k: v for k, v in a.items() if not k.endswith("_mask")}, "mask": a[f"{name}_mask"]}
  return dataclasses.replace(
    split, train=own(split.train, "train"), val=own(split.val, "val"), test=own(split.test, "test")
  )


def make_engine(cfg: RunConfig, split: data_lib.Split) -> S.Engine:
  stream = split.info.get("stream")
  n_train = stream.n_windows if stream else len(split.train["y"])
  example = {k: v[:1] for k, v in (split.val if stream else split.train).items()}
  return engine_for(cfg, split.info, split.task, n_train, example)


def engine_for(cfg: RunConfig, info: dict, task: str, n_train: int, example: dict, devices=None) -> S.Engine:
  """The run's engine from its data's facts (info, task, size, one example), on `devices` (default: here)."""
  mup = zoo_mup.of_config(cfg)
  model = zoo.create(cfg.model, **model_args(cfg, info))
  return S.Engine(
    cfg,
    model if mup is None else mup.model(model),
    get_task(task),
    int(info.get("num_classes") or 0),
    n_train,
    mesh_lib.make_mesh(cfg, devices),
    example,
    mup,
  )


TRAIN_EVAL_MAX = 10_000  # examples of the training set an evaluation uses at most
EVAL_BATCH = 512


def chunk_length(steps: int, eval_every: int) -> int:
  """Steps per lax.scan chunk: eval_every, else about 20 chunks (and evaluations) per run."""
  return eval_every or max(1, math.ceil(steps / 20))


def eval_subset(arrays: dict[str, np.ndarray], k: int) -> dict[str, np.ndarray]:
  """The examples an evaluation uses: a fixed random subset of k (all of them when k is 0 or covers the set)."""
  n = len(arrays["y"])
  if not 0 < k < n:
    return arrays
  keep = np.sort(np.random.default_rng(0).permutation(n)[:k])
  return {key: v[keep] for key, v in arrays.items()}


def eval_sets(cfg: RunConfig, split: data_lib.Split) -> dict[str, list]:
  """Padded evaluation batches of each split: every example, or eval_examples of each when set (a language model's
  splits hold far more windows than are worth a pass); the training set at most TRAIN_EVAL_MAX examples."""
  train = split.train
  if "stream" in split.info:  # a token corpus: a fixed sample of training windows, the same on every host
    n = cfg.eval_examples or len(split.val["y"])
    train = dict(tokens.batches(split.info["stream"], global_batch=n, seed=0)[0])
  batch = min(EVAL_BATCH, max(len(p["y"]) for p in (train, split.val, split.test)))
  k = cfg.eval_examples
  return {
    name: S.pad_for_eval(eval_subset(arrs, k or cap), batch)
    for name, arrs, cap in (("train", train, TRAIN_EVAL_MAX), ("val", split.val, 0), ("test", split.test, 0))
  }


@dataclasses.dataclass(frozen=True)
class Branch:
  """Where a group of cooldown branches starts: the checkpoint at `step` in `directory` of the stable group whose
  run ids, in order, are `parents` (member i of the branch group continues parent i)."""

  directory: Path
  parents: tuple[str, ...]
  step: int


def start_branch(branch: Branch, cfgs: Sequence[RunConfig], abstract) -> tuple[Any, list[dict], list[dict]]:
  """The stable group's state at the branch point, and its progress (statuses, curves up to there) as the
  branches' own. A missing branch point is an error of the group (its parent failed, or its checkpoints went)."""
  d = Path(branch.directory)
  src = Checkpointer(d, owner_of(list(branch.parents)), branch.step, read_only=True) if d.is_dir() else None
  got = src.restore(branch.step, abstract) if src else None
  if src:
    src.close()
  if got is None:
    raise ValueError(f"no checkpoint of the stable runs at step {branch.step} in {d}: the branch cannot start")
  restored, meta = got
  runs = [{**r, "run_id": c.run_id(), "config": c.to_dict()} for r, c in zip(meta["runs"], cfgs)]
  curves = []
  for cv in meta["curves"]:
    n = sum(s <= branch.step for s in cv["step"])
    curves.append({k: v[:n] for k, v in cv.items()})
  return restored, runs, curves


class ChunkTimer:
  """Wall time of the chunks: a chunk length's first call compiles (and runs), so it counts as compile time; and of
  what the loop waits for between them (`timed`): the data, evaluations, checkpoints."""

  def __init__(self, compile_time: float = 0.0, train_time: float = 0.0, timed_steps: int = 0, waits=None):
    self.compile_time, self.train_time, self.timed_steps, self.seen = compile_time, train_time, timed_steps, set()
    self.waits = {"data": 0.0, "eval": 0.0, "checkpoint": 0.0, **(waits or {})}

  @contextlib.contextmanager
  def timed(self, what: str):
    t0 = time.perf_counter()
    try:
      yield
    finally:
      self.waits[what] += time.perf_counter() - t0

  def run(self, fn, length: int, *args):
    t0 = time.perf_counter()
    out = jax.block_until_ready(fn(*args))
    dt = time.perf_counter() - t0
    if length in self.seen:
      self.train_time, self.timed_steps = self.train_time + dt, self.timed_steps + length
    else:
      self.seen.add(length)
      self.compile_time += dt
    return out

  @property
  def step_time(self) -> float | None:
    return self.train_time / self.timed_steps if self.timed_steps else None

  def state(self) -> dict[str, float]:
    return {
      "compile_time": self.compile_time,
      "train_time": self.train_time,
      "timed_steps": self.timed_steps,
      "waits": dict(self.waits),
    }

  def breakdown(self, wall: float) -> dict[str, float]:
    """Seconds of the fit by what they went to; `other`: the rest of `wall` (init, setup, the host's bookkeeping;
    0 after a resume, whose earlier segments count in the others but not in this process's wall)."""
    out = {"compile": self.compile_time, "steps": self.train_time, **self.waits}
    return {**out, "other": max(0.0, wall - sum(out.values()))}


class Trained(NamedTuple):
  records: list[RunRecord]  # one per run, in order
  state: S.TrainState  # the final (or best) state, stacked over the group when it has several runs
  engine: S.Engine

  @property
  def record(self) -> RunRecord:
    return self.records[0]


def _index(tree, i):
  return jax.tree.map(lambda a: a[i], tree)


def _status_record(cfg: RunConfig) -> dict[str, Any]:
  return {
    "run_id": cfg.run_id(),
    "config": cfg.to_dict(),
    "status": "running",
    "diverged_step": None,
    "stopped_step": None,
    "first_loss": None,
    "best_val": math.inf,
    "evals_since_best": 0,
  }


@faults.deferring  # SIGINT/SIGTERM: a checkpoint at the next chunk boundary, then Interrupted
def fit_group(
  cfgs: Sequence[RunConfig],
  *,
  checkpoint_dir: str | Path | None = None,
  progress: Callable[[int, int, str], None] | None = None,
  split: data_lib.Split | None = None,
  writers: Sequence[Any] | None = None,
  keep_steps: Sequence[int] = (),
  branch: Branch | None = None,
) -> Trained:
  """Train runs that share a shape (same group_key) together, resuming from `checkpoint_dir` when it holds a
  checkpoint of theirs. `writers` (one per run, train/writers.py) get each evaluation as it is made.
  `keep_steps`: chunks end and checkpoints are kept at these steps (a stable run's branch points); `branch`: a
  fresh start continues another group's checkpoint instead of a new init (cooldown branches)."""
  cfgs = list(cfgs)
  started = now()
  base = cfgs[0]
  if any(group_key(c) != group_key(base) for c in cfgs):
    raise ValueError("fit_group needs runs that differ only in seed and optimizer.lr")
  t_start = time.perf_counter()
  G, vm = len(cfgs), len(cfgs) > 1
  split = split if split is not None else load_split(base)
  eng = make_engine(base, split)
  put = (lambda a: mesh_lib.global_array(a, mesh_lib.replicated(eng.mesh))) if eng.mesh is not None else jnp.asarray
  stream = split.info.get("stream")  # a token corpus on disk: the host reads each chunk's batches
  arrays = {k: put(v) for k, v in split.train.items()}  # an in-memory training set, whole on every device
  lrs = jnp.asarray([c.optimizer.lr for c in cfgs], jnp.float32)
  keys = [jax.random.key(c.seed) for c in cfgs]
  init_keys, train_keys = [jax.random.fold_in(k, 0) for k in keys], [jax.random.fold_in(k, 1) for k in keys]
  states = S.init_states(eng, init_keys, eng.example, lrs)
  init_report = None
  if base.init_from:  # the group shares init_from (it is part of group_key)
    w = base.init_from.startswith("weights:")  # a reference's weights file (zoo/weights), else a run
    source = load_weights_init(base.init_from, base.model, base.model_args) if w else load_init(base.init_from)
    pairs = [start_from(eng, s, source, lr) for s, lr in zip(states, lrs)]
    states, init_report = [p[0] for p in pairs], pairs[0][1]
  state = S.stack(states, eng) if vm else states[0]
  lr, key = (lrs, jnp.stack(train_keys)) if vm else (lrs[0], train_keys[0])
  if eng.mesh is not None:  # init_from's values onto the mesh (a no-op for a fresh init, made in place)
    state = jax.device_put(state, S.state_shardings(eng, state, int(vm)))

  steps = base.steps
  chunk = chunk_length(steps, base.eval_every)
  evals = eval_sets(base, split)
  curve_set = evals["val"]
  runs = [_status_record(c) for c in cfgs]
  curve: dict[str, list] = {k: [] for k in ("step", "examples", "flops", "train_loss", "val_loss", "grad_norm")}
  curves = [{k: [] for k in curve} for _ in cfgs]
  best = jax.tree.map(jnp.copy, state) if base.early_stopping_patience else None  # state's buffers are donated

  # FLOPs of one step by XLA's count (lowering only, no compile).
  if stream:
    one_batch = jax.tree.map(lambda a: np.repeat(a, eng.batch_size, axis=0), eng.example)
    flops_step = S.flops_of_step(eng, states[0], one_batch, lrs[0], train_keys[0], fed=True)
  else:
    flops_step = S.flops_of_step(eng, states[0], arrays, lrs[0], train_keys[0])

  # with checkpoint_every 0 a checkpoint is still written on an interrupt, so the rerun resumes from it
  owner = owner_of([c.run_id() for c in cfgs])
  ckpt = Checkpointer(checkpoint_dir, owner, steps, keep_steps=keep_steps) if checkpoint_dir else None
  done, timer, got = 0, ChunkTimer(), None
  like = lambda a: jax.ShapeDtypeStruct(a.shape, a.dtype, sharding=a.sharding)  # onto this run's mesh
  if ckpt:
    got = ckpt.restore_latest(jax.tree.map(like, {"state": state, "best": best}))
    if got is not None:
      done, restored, meta = got
      state, best = restored["state"], restored["best"]
      runs, curves, started = meta["runs"], meta["curves"], meta.get("started_at", started)
      timer = ChunkTimer(meta["compile_time"], meta["train_time"], meta.get("timed_steps", 0), meta.get("waits"))
  if got is None and branch is not None:
    restored, runs, curves = start_branch(branch, cfgs, jax.tree.map(like, {"state": state, "best": best}))
    state, best, done = restored["state"], restored["best"], branch.step
  for r in runs:
    r["best_val"] = math.inf if r["best_val"] is None else r["best_val"]

  last_saved = done
  feed = Feed(eng, stream, [c.seed for c in cfgs], done) if stream else None
  while done < steps and any(r["status"] == "running" for r in runs):
    n = min(chunk, steps - done, *(k - done for k in keep_steps if k > done))
    with timer.timed("data"):
      data = feed.next(n) if stream else arrays
    state, m = timer.run(S.compiled_chunk(eng, n, G, bool(stream)), n, state, data, lr, key)
    loss = np.asarray(m["loss"]).reshape(G, n)
    gnorm = np.asarray(m["grad_norm"]).reshape(G, n)
    with timer.timed("eval"):
      ev = S.evaluate_split(eng, G, state.params, state.model_state, curve_set)
    val = ev["loss"].reshape(G) / np.maximum(ev["weight"].reshape(G), 1)
    for i, r in enumerate(runs):
      if r["status"] != "running":
        continue
      if r["first_loss"] is None:
        r["first_loss"] = float(loss[i, 0])
      bad = ~np.isfinite(loss[i]) | (loss[i] > base.divergence_factor * r["first_loss"])
      if bad.any():
        r["status"], r["diverged_step"] = "diverged", done + int(np.argmax(bad)) + 1
        continue
      c = curves[i]
      c["step"].append(done + n)
      c["examples"].append((done + n) * eng.batch_size)
      c["flops"].append((done + n) * flops_step)
      c["train_loss"].append(float(loss[i].mean()))
      c["val_loss"].append(float(val[i]))
      stats = {k: v for k, v in (_index(ev, i) if vm else ev).items() if k not in ("loss", "weight")}
      if stats:  # the task's own metrics at no extra cost, e.g. val accuracy for epoch-wise error curves
        c.setdefault("val_accuracy", []).append(eng.task.finish(stats).get("accuracy"))
      c["grad_norm"].append(float(gnorm[i].mean()))
      if writers:
        writers[i].scalars(done + n, {k: v[-1] for k, v in c.items() if k != "step"})
      if base.early_stopping_patience:
        if val[i] < r["best_val"]:
          r["best_val"], r["evals_since_best"] = float(val[i]), 0
          best = _put_member(best, state, i, vm)
        else:
          r["evals_since_best"] += 1
          if r["evals_since_best"] >= base.early_stopping_patience:
            r["status"], r["stopped_step"] = "stopped", done + n
    done += n
    if progress:
      alive = [float(loss[i, -1]) for i, r in enumerate(runs) if r["status"] in ("running", "stopped")]
      msg = f"loss {np.mean(alive):.4f}" if alive else "diverged"
      use = _utilisation(eng, flops_step, timer, G)
      if use["mfu"] is not None:
        msg += f", {use['model_flops_per_device'] / 1e9:.3g} GFLOP/s/device, MFU {use['mfu']:.1%}"
      progress(done, steps, msg)
    stop = faults.take()
    every = base.checkpoint_every
    if ckpt and (stop or done in keep_steps or every and (done - last_saved >= every or done == steps)):
      meta = {"runs": runs, "curves": curves, "started_at": started, **timer.state()}
      with timer.timed("checkpoint"):
        ckpt.save(done, {"state": state, "best": best}, files.json_safe(meta))
      last_saved = done
    if stop:
      if ckpt:
        ckpt.close()
      if feed:
        feed.close()
      raise faults.Interrupted(stop, done, saved=ckpt is not None)
  if ckpt:
    ckpt.close()
  if feed:
    feed.close()

  final = best if base.early_stopping_patience else state
  with timer.timed("eval"):
    results = {
      name: S.evaluate_split(eng, G, final.params, final.model_state, batches) for name, batches in evals.items()
    }  # the test set: evaluated once, here
  wall = time.perf_counter() - t_start
  n_split = zoo.count_params_split(base.model, **model_args(base, split.info))  # traces init: once, not once per run
  records = [
    _record(
      cfg,
      r,
      curves[i],
      _index(results, i) if vm else results,
      eng,
      split,
      flops_step,
      done,
      timer,
      wall,
      n_split,
      G,
      init_report,
      started,
    )
    for i, (cfg, r) in enumerate(zip(cfgs, runs))
  ]
  for rec, parent in zip(records, branch.parents if branch else ()):
    rec.parent, rec.branched_at = parent, branch.step
  return Trained(records, final, eng)


class Feed:
  """The batches of a token corpus for the chunks of a group, from step `start` on: each run reads its own order
  (its seed), this host its rows of each global batch, placed as one global array per chunk."""

  def __init__(self, eng: S.Engine, stream, seeds: list[int], start: int):
    self.eng = eng
    self.its = [tokens.train_batches(stream, global_batch=eng.batch_size, seed=s, start_step=start) for s in seeds]

  def next(self, n: int):
    chunks = [[next(it) for _ in range(n)] for it in self.its]
    runs = [{k: np.stack([b[k] for b in bs]) for k in bs[0]} for bs in chunks]
    host = runs[0] if len(runs) == 1 else {k: np.stack([r[k] for r in runs]) for k in runs[0]}
    if self.eng.mesh is None:
      return jax.tree.map(jnp.asarray, host)
    return {k: mesh_lib.host_batch(v, self.eng.mesh, leading=1 + int(len(runs) > 1)) for k, v in host.items()}

  def close(self) -> None:
    for it in self.its:
      it.close()


def _put_member(best, state, i, vm):
  if not vm:
    return jax.tree.map(jnp.copy, state)
  return jax.tree.map(lambda b, s: b.at[i].set(s[i]), best, state)


def _utilisation(eng: S.Engine, flops_step, timer: ChunkTimer, G: int) -> dict:
  devices = eng.mesh.devices.flat if eng.mesh is not None else jax.devices()[:1]
  return mfu.utilisation(flops_step, timer.step_time, len(devices), G, devices[0])


def _record(
  cfg, r, curve, results, eng, split, flops_step, done, timer, wall, n_split, G, init_report, started
) -> RunRecord:
  status = "finished" if r["status"] in ("running", "stopped") else r["status"]
  steps_run = r["diverged_step"] or r["stopped_step"] or done
  metrics: dict[str, Any] = {}
  for name, res in results.items():
    mean = float(res["loss"] / max(res["weight"], 1))
    metrics[f"{name}_loss"] = mean if status == "finished" else float("nan")
    extra = eng.task.finish({k: v for k, v in res.items() if k not in ("loss", "weight")})
    for k, v in extra.items() if status == "finished" else ():
      if name == "test" or k == "accuracy":
        metrics[f"{name}_{k}"] = v
  if split.task in ("lm", "text"):
    metrics["val_bits_per_byte"] = metrics["val_loss"] / math.log(2)
    metrics["test_bits_per_byte"] = metrics["test_loss"] / math.log(2)
  tokens_per_example = int(np.prod(split.val["y"].shape[1:])) if split.task in ("lm", "seq_labeling") else None
  examples = steps_run * eng.batch_size
  return RunRecord(
    run_id=cfg.run_id(),
    status=status,
    config=cfg.to_dict(),
    metrics=metrics,
    model_args=model_args(cfg, split.info),
    data_info={k: v for k, v in split.info.items() if isinstance(v, str | int | float | bool | list | tuple)},
    params=n_split["all"],
    params_non_embedding=n_split["non_embedding"],
    flops_per_step=flops_step,
    flops_total=flops_step * steps_run,
    steps_run=steps_run,
    batch_size=eng.batch_size,
    examples_seen=examples,
    tokens_seen=examples * tokens_per_example if tokens_per_example else None,
    diverged_step=r["diverged_step"],
    stopped_step=r["stopped_step"],
    wall_time=wall,
    step_time=timer.step_time,
    compile_time=timer.compile_time,
    **_utilisation(eng, flops_step, timer, G),
    time_breakdown=timer.breakdown(wall),
    group_size=G,
    curve=curve,
    init=init_report,
    started_at=started,
    ended_at=now(),
  )


def fit(
  cfg: RunConfig,
  *,
  out: str | Path | None = None,
  progress: Callable[[int, int, str], None] | None = None,
  split: data_lib.Split | None = None,
) -> Trained:
  """Train one run. With `out`, a run folder: checkpoints/ (when checkpoint_every > 0, resumed from on a rerun),
  then record.json and curve.csv."""
  if out is None:
    return fit_group([cfg], progress=progress, split=split)
  split = split if split is not None else load_split_checked(cfg)
  out = Path(out)
  files.check_out(out, "run", ("record.json", "curve.csv", ".lock"), ("checkpoints",))
  out.mkdir(parents=True, exist_ok=True)
  primary = jax.process_index() == 0  # many hosts: one writer of the run's files (all write checkpoint shards)
  with files.FolderLock(out, "train") if primary else contextlib.nullcontext():
    check_record_owner(out / "record.json", cfg)
    if old := sorted(int(p.name) for p in (out / "checkpoints").glob("*") if p.name.isdigit()):
      logging.getLogger(__name__).warning(
        "%s: checkpoints at steps %s are in the layout before a run's checkpoints went under checkpoints/<run id>/ "
        "(no owner to check): kept, not used; this run starts from step 0",
        out / "checkpoints",
        old,
      )
    writers = [open_writers(cfg.log, out, cfg.run_id(), cfg.to_dict())] if primary else None
    try:
      checkpoints = out / "checkpoints" / cfg.run_id()
      trained = fit_group([cfg], checkpoint_dir=checkpoints, progress=progress, split=split, writers=writers)
    finally:
      for w in writers or []:
        w.close()
    if primary:
      files.write_json(out / "record.json", trained.record.to_dict())
      write_curve_csv(out / "curve.csv", trained.record.curve)
  return trained


def check_record_owner(path: Path, cfg: RunConfig) -> None:
  """A run folder holds one run: a record of another config is never overwritten."""
  if not path.exists():
    return
  try:
    other = json.loads(path.read_text()).get("run_id")
  except (OSError, ValueError, AttributeError) as e:
    raise ConfigError(f"{path}: not a readable run record ({faults.one_line(e)}); move it away first") from None
  if other != cfg.run_id():
    raise ConfigError(
      f"{path.parent}: holds run {other} (another config); this config is run {cfg.run_id()}: use another --out"
    )


def write_curve_csv(path: Path, curve: dict[str, list]) -> None:
  text = io.StringIO()
  w = csv.writer(text)
  w.writerow(list(curve))
  w.writerows(zip(*curve.values()))
  files.write_atomic(path, text.getvalue())
