"""The training loop: RunConfigs in, trained states and RunRecords out.

`fit_group` trains runs that share a compiled program (they differ only in seed and learning rate) together under
jax.vmap; `fit` trains one run, into a run folder when given one. Steps run in lax.scan chunks (train/step.py)
between evaluations (train/eval.py); each run's divergence, early stopping and curve (train/status.py), checkpoints
and progress are handled at chunk boundaries, so a run resumed from its checkpoint (train/resume.py) repeats the same
chunks and ends with the same bits.
"""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import io
import json
import logging
import math
import shutil
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from scalezoo import data as data_lib
from scalezoo import zoo
from scalezoo.data import atomic
from scalezoo.train import eval as E
from scalezoo.train import faults, mfu, mup_optim, outdir, resume
from scalezoo.train import mesh as mesh_lib
from scalezoo.train import step as S
from scalezoo.train.checkpoint import Checkpointer, owner_of
from scalezoo.train.config import ConfigError, RunConfig
from scalezoo.train.feed import Feed
from scalezoo.train.init_from import load_init, load_pretrained_init, load_weights_init, start_from
from scalezoo.train.model_args import model_args
from scalezoo.train.record import RunRecord, now
from scalezoo.train.resume import Branch
from scalezoo.train.status import GroupFacts, to_record
from scalezoo.train.tasks import get as get_task
from scalezoo.train.writers import open_writers


def load_split(cfg: RunConfig) -> data_lib.Split:
  return _own_masks(data_lib.load(cfg.data, seed=cfg.data_seed, **cfg.data_args))


def load_split_checked(cfg: RunConfig) -> data_lib.Split:
  """load_split with a data error (a missing user file, a bad option) as bad input, before anything is written."""
  try:
    return load_split(cfg)
  except ValueError as e:
    raise ConfigError(f"data {cfg.data!r}: {faults.one_line(e, 300)}") from None


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
  """The run's engine from its data's facts (info, task, size, one example), on `devices` (default: here; a
  target's compile-only devices for a deviceless compile)."""
  mup = mup_optim.of_config(cfg)
  model = zoo.create(cfg.model, **model_args(cfg, info))
  return S.Engine(
    cfg,
    model if mup is None else mup.model(model),
    _task(cfg, task),
    int(info.get("num_classes") or 0),
    n_train,
    mesh_lib.make_mesh(cfg, devices),
    example,
    mup,
  )


def _task(cfg: RunConfig, name: str):
  try:
    return get_task(name, z_loss=cfg.z_loss)
  except ValueError as e:  # z-loss on a task other than a language model's
    raise ConfigError(f"z_loss = {cfg.z_loss}: {e}") from None


def chunk_length(steps: int, eval_every: int) -> int:
  """Steps per lax.scan chunk: eval_every, else about 20 chunks (and evaluations) per run."""
  return eval_every or max(1, math.ceil(steps / 20))


class Trained(NamedTuple):
  records: list[RunRecord]  # one per run, in order
  state: S.TrainState  # the final (or best) state, stacked over the group when it has several runs
  engine: S.Engine

  @property
  def record(self) -> RunRecord:
    return self.records[0]


def _index(tree, i):
  return jax.tree.map(lambda a: a[i], tree)


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
  """Train runs that share a compiled program (they differ only in seed and lr) together, resuming from
  `checkpoint_dir` when it holds a checkpoint of theirs. `writers` (one per run, train/writers.py) get each
  evaluation as it is made. `keep_steps`: chunks end and checkpoints are kept at these steps (a stable run's branch
  points); `branch`: a fresh start continues another group's checkpoint instead of a new init (cooldown branches)."""
  cfgs, started, t_start = list(cfgs), now(), time.perf_counter()
  base = cfgs[0]
  if any(c.program().run_id() != base.program().run_id() for c in cfgs):
    raise ValueError("fit_group needs runs that differ only in seed and optimizer.lr")
  G, vm = len(cfgs), len(cfgs) > 1
  split = split if split is not None else load_split(base)
  eng = make_engine(base, split)
  put = (lambda a: mesh_lib.global_array(a, mesh_lib.replicated(eng.mesh))) if eng.mesh is not None else jnp.asarray
  stream = split.info.get("stream")  # a token corpus on disk: the host reads each chunk's batches
  arrays = {k: put(v) for k, v in split.train.items()}  # an in-memory training set, whole on every device
  lrs = jnp.asarray([c.optimizer.lr for c in cfgs], jnp.float32)
  keys = [jax.random.key(c.seed) for c in cfgs]
  init_keys, train_keys = [jax.random.fold_in(k, 0) for k in keys], [jax.random.fold_in(k, 1) for k in keys]
  states, init_report = _init_states(eng, init_keys, lrs)
  state = S.stack(states, eng) if vm else states[0]
  lr, key = (lrs, jnp.stack(train_keys)) if vm else (lrs[0], train_keys[0])
  if eng.mesh is not None:  # init_from's values onto the mesh (a no-op for a fresh init, made in place)
    state = jax.device_put(state, S.state_shardings(eng, state, int(vm)))
  flops_step = _flops_per_step(eng, states[0], arrays if not stream else None, lrs[0], train_keys[0])

  steps, chunk, evals = base.steps, chunk_length(base.steps, base.eval_every), E.eval_sets(base, split)
  best = jax.tree.map(jnp.copy, state) if base.early_stopping_patience else None  # state's buffers are donated
  # with checkpoint_every 0 a checkpoint is still written on an interrupt, so the rerun resumes from it
  owner = owner_of([c.run_id() for c in cfgs])
  ckpt = Checkpointer(checkpoint_dir, owner, steps, keep_steps=keep_steps) if checkpoint_dir else None
  at = resume.start(ckpt, branch, cfgs, {"state": state, "best": best})
  done, runs, timer, started = at.step, at.runs, at.timer, at.started_at or started
  state, best = at.tree["state"], at.tree["best"]

  last_saved = done
  feed = Feed(eng, stream, [c.seed for c in cfgs], done) if stream else None
  while done < steps and any(r.running for r in runs):
    n = min(chunk, steps - done, *(k - done for k in keep_steps if k > done))
    with timer.timed("data"):
      data = feed.next(n) if stream else arrays
    state, m = timer.run(S.compiled_chunk(eng, n, G, bool(stream)), n, state, data, lr, key)
    loss, gnorm = (np.asarray(m[k]).reshape(G, n) for k in ("loss", "grad_norm"))
    if "expert_load" in m:  # a mixture of experts: (G, n, layers, experts) and (G, n, layers)
      load, dropped = np.asarray(m["expert_load"]), np.asarray(m["expert_dropped"])
      load, dropped = load.reshape(G, n, *load.shape[-2:]), dropped.reshape(G, n, -1)
      for i, r in enumerate(runs):
        if r.running:
          r.add_expert_load(load[i], dropped[i])
    with timer.timed("eval"):
      ev = E.evaluate_split(eng, G, state.params, state.model_state, evals["val"])
    val = ev["loss"].reshape(G) / np.maximum(ev["weight"].reshape(G), 1)
    for i, r in enumerate(runs):
      if not (r.running and r.after_chunk(loss[i], done, base.divergence_factor)):
        continue
      r.add_point(_point(eng, done + n, flops_step, loss[i], gnorm[i], val[i], _index(ev, i) if vm else ev))
      if writers:
        writers[i].scalars(done + n, {k: v[-1] for k, v in r.curve.items() if k != "step"})
      if base.early_stopping_patience and r.after_eval(val[i], done + n, base.early_stopping_patience):
        best = _put_member(best, state, i, vm)
    done += n
    if progress:
      alive = [float(loss[i, -1]) for i, r in enumerate(runs) if r.status in ("running", "stopped")]
      msg = f"loss {np.mean(alive):.4f}" if alive else "diverged"
      use = _utilisation(eng, flops_step, timer, G)
      if use["mfu"] is not None:
        msg += f", {use['model_flops_per_device'] / 1e9:.3g} GFLOP/s/device, MFU {use['mfu']:.1%}"
      progress(done, steps, msg)
    signum = faults.pending()
    over = done >= steps or not any(r.running for r in runs)
    stop = faults.take() if signum and not over else None  # in the last chunk: the records are still made, and
    # the signal stays pending for the caller (the CLI says so and exits 128 + signum; a sweep stops after this group)
    every = base.checkpoint_every
    if ckpt and (signum or done in keep_steps or every and (done - last_saved >= every or done == steps)):
      with timer.timed("checkpoint"):
        ckpt.save(done, {"state": state, "best": best}, resume.meta(runs, started, timer))
      last_saved = done
    if stop:
      _close(ckpt, feed)
      raise faults.Interrupted(stop, done, saved=ckpt is not None)
  _close(ckpt, feed)

  final = best if base.early_stopping_patience else state
  with timer.timed("eval"):
    results = {name: E.evaluate_split(eng, G, final.params, final.model_state, b) for name, b in evals.items()}
  wall = time.perf_counter() - t_start  # the test set was evaluated once, just now
  margs = model_args(base, split.info)
  seq = split.task in ("lm", "seq_labeling")
  table = split.info.get("token_bytes")
  nbytes = None if table is None else {name: E.target_bytes(b, table) for name, b in evals.items()}
  facts = GroupFacts(
    eng, split.task, split.info, margs, zoo.count_params_split(base.model, **margs), flops_step,
    int(np.prod(split.val["y"].shape[1:])) if seq else None, G, done, timer, wall, started, init_report, nbytes,
    _utilisation(eng, flops_step, timer, G),
  )  # fmt: skip
  records = [to_record(c, r, _index(results, i) if vm else results, facts) for i, (c, r) in enumerate(zip(cfgs, runs))]
  for rec, parent in zip(records, branch.parents if branch else ()):
    rec.parent, rec.branched_at = parent, branch.step
  return Trained(records, final, eng)


def _init_states(eng: S.Engine, keys: list[jax.Array], lrs: jax.Array) -> tuple[list[S.TrainState], dict | None]:
  """A fresh state per run, or init_from's weights in it (shared by the group: init_from is in its program)."""
  states = S.init_states(eng, keys, eng.example, lrs)
  source = eng.cfg.init_from
  if not source:
    return states, None
  if source.startswith("weights:"):  # a reference's weights file (zoo/weights)
    loaded = load_weights_init(source, eng.cfg.model, eng.cfg.model_args)
  elif source.startswith("pretrained:"):  # a Hugging Face model folder
    loaded = load_pretrained_init(source, eng.cfg.model, eng.cfg.model_args)
  else:  # a finished run
    loaded = load_init(source)
  pairs = [start_from(eng, s, loaded, lr) for s, lr in zip(states, lrs)]
  return [p[0] for p in pairs], pairs[0][1]


def _flops_per_step(eng: S.Engine, state: S.TrainState, arrays: dict | None, lr, key) -> float:
  """XLA's count of one train step (lowering only, no compile): on the in-memory training set, or on one batch of
  the shape the host feeds."""
  if arrays is not None:
    return S.flops_of_step(eng, state, arrays, lr, key)
  one_batch = jax.tree.map(lambda a: np.repeat(a, eng.batch_size, axis=0), eng.example)
  return S.flops_of_step(eng, state, one_batch, lr, key, fed=True)


def _point(eng: S.Engine, step: int, flops_step: float, loss_n, gnorm_n, val: float, ev: dict) -> dict:
  """One evaluation's point of a run's curve."""
  point = {
    "step": step,
    "examples": step * eng.batch_size,
    "flops": step * flops_step,
    "train_loss": float(loss_n.mean()),
    "val_loss": float(val),
  }
  stats = E.task_stats(ev)
  if stats:  # the task's own metrics at no extra cost, e.g. val accuracy for epoch-wise error curves
    point["val_accuracy"] = eng.task.finish(stats).get("accuracy")
  point["grad_norm"] = float(gnorm_n.mean())
  return point


def _utilisation(eng: S.Engine, flops_step: float, timer, G: int) -> dict:
  devices = eng.mesh.devices.flat if eng.mesh is not None else jax.devices()[:1]
  return mfu.utilisation(flops_step, timer.step_time, len(devices), G, devices[0])


def _close(ckpt: Checkpointer | None, feed: Feed | None) -> None:
  if ckpt:
    ckpt.close()
  if feed:
    feed.close()


def _put_member(best, state, i, vm):
  if not vm:
    return jax.tree.map(jnp.copy, state)
  return jax.tree.map(lambda b, s: b.at[i].set(s[i]), best, state)


@faults.deferring  # an interrupt in the last chunk: record.json is written before the signal is delivered again
def fit(
  cfg: RunConfig,
  *,
  out: str | Path | None = None,
  progress: Callable[[int, int, str], None] | None = None,
  split: data_lib.Split | None = None,
  fresh: bool = False,
) -> Trained:
  """Train one run. With `out`, a run folder: checkpoints/ (when checkpoint_every > 0, resumed from on a rerun;
  with `fresh` removed first, so the run starts at step 0), then record.json and curve.csv."""
  if out is None:
    return fit_group([cfg], progress=progress, split=split)
  split = split if split is not None else load_split_checked(cfg)
  out = Path(out)
  outdir.check_out(out, "run", ("record.json", "curve.csv", ".lock"), ("checkpoints",))
  out.mkdir(parents=True, exist_ok=True)
  primary = jax.process_index() == 0  # many hosts: one writer of the run's files (all write checkpoint shards)
  with outdir.FolderLock(out, "train") if primary else contextlib.nullcontext():
    check_record_owner(out / "record.json", cfg)
    if fresh and primary:
      shutil.rmtree(out / "checkpoints" / cfg.run_id(), ignore_errors=True)
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
      atomic.write_json(out / "record.json", trained.record.to_dict())
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


def ended_record(out: Path, cfg: RunConfig) -> dict | None:
  """The record in run folder `out` when it is this config's and the run ended (finished or diverged), else None."""
  path = out / "record.json"
  if not path.is_file():
    return None
  check_record_owner(path, cfg)
  rec = json.loads(path.read_text())
  return rec if rec.get("status") in ("finished", "diverged") else None


def write_curve_csv(path: Path, curve: dict[str, list]) -> None:
  text = io.StringIO()
  w = csv.writer(text)
  w.writerow(list(curve))
  w.writerows(zip(*curve.values()))
  atomic.write_atomic(path, text.getvalue())
